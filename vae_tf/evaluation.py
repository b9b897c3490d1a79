"""Evaluating a trained VAE: the ELBO and an importance-sampled estimate of log p(x).

All numbers are in nats per image, averaged over the images given. Pass images that
were binarized once with a fixed seed (``evaluate`` does it for you) so that two
models, or two runs, are scored on exactly the same test set.

On 0/1 images the negative ELBO and the IWAE estimate bound -log p(x) of a Bernoulli
model. On grey-level images the same formulas give a Bernoulli *cross-entropy* (what the
original study trained on), which is not a bound on any log-likelihood; ``evaluate``
says which one it computed (``EvaluationResult.binarized`` and ``.quantity``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from vae_tf import validation

# Upper bound on the decoder values held at once by ``iwae_nll``: images per chunk
# times k samples times the decoder's widest layer output (784 pixels for an MLP). 2**23 float32 values is 32 MiB per tensor; larger
# chunks mean fewer calls (measured with ``benchmarks/iwae_scoring.py --arch mlp``: 2,699
# held-out real MNIST images x 500 samples of the MLP of ``BEST`` in 20 s, 18.5 CPU s, on
# 2 cores shared with other jobs).
MAX_CHUNK_VALUES = 2**23

LOG_2PI = math.log(2.0 * math.pi)


def _gaussian_log_density(z, mu, log_var):
    """log N(z; mu, diag(exp(log_var))), summed over the last axis."""
    from keras import ops

    return -0.5 * ops.sum(LOG_2PI + log_var + ops.square(z - mu) * ops.exp(-log_var), axis=-1)


def evaluate_elbo(model, images, *, seed: int = 0, batch_size: int = 500) -> dict[str, float]:
    """A one-sample estimate of the negative ELBO and its two terms, in nats per image.

    Returns a dict with ``neg_elbo`` = ``reconstruction`` + ``kl``, each averaged over
    the images. The KL term is exact (closed form); the reconstruction term uses one
    z per image drawn with ``seed``, so the estimate is unbiased and repeatable.
    On 0/1 images ``neg_elbo`` bounds -log p(x); on grey levels it is a Bernoulli
    cross-entropy plus the KL, not a bound (see the module docstring).

    Parameters
    ----------
    model : VAE
        With ``encoder`` (-> mu, log_var) and ``decoder`` (-> logits).
    images : array (N, 28, 28, 1) or (N, 28, 28)
        Values in [0, 1].
    seed : int
        Seed of the one sample of z per image.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    dict with float values ``neg_elbo``, ``reconstruction``, ``kl``: nats per image.
    """
    from keras import ops

    from vae_tf.losses import kl_divergence, reconstruction_loss

    batch_size = validation.positive_int("batch_size", batch_size)
    images = validation.float_images(images)
    rng = np.random.default_rng(seed)
    reconstruction_sum = 0.0
    kl_sum = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        mu, log_var = model.encoder(x, training=False)
        eps = rng.standard_normal(tuple(mu.shape)).astype(np.float32)
        z = mu + ops.exp(0.5 * log_var) * eps
        logits = model.decoder(z, training=False)
        reconstruction_sum += float(ops.sum(reconstruction_loss(x, logits)))
        kl_sum += float(ops.sum(kl_divergence(mu, log_var)))
    n = len(images)
    reconstruction = reconstruction_sum / n
    kl = kl_sum / n
    return {"neg_elbo": reconstruction + kl, "reconstruction": reconstruction, "kl": kl}


def _largest_activation(network) -> int:
    """Values per input of the widest layer output of ``network`` (at least 784 pixels).

    A convolutional decoder can hold many times its output per code (lesson 08's holds
    14 x 14 x 32 values before its last layer, 8 times its output; the Keras example's
    layout 28 x 28 x 32, 32 times); chunks sized by the output alone held gigabytes
    (measured: 2.9 GB peak memory for the 28 x 28 x 32 layout at k=500, 1.2 GB with chunks
    sized by this, at the same speed). Networks without known layer shapes count as 784.
    """
    largest = 28 * 28
    for layer in getattr(network, "layers", []):
        try:
            outputs = layer.output
        except (AttributeError, ValueError):
            continue
        for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            shape = getattr(output, "shape", None)
            if shape is None or any(size is None for size in shape[1:]):
                continue
            largest = max(largest, math.prod(shape[1:]), _largest_activation(layer))
    return largest


def _chunk_size(k: int, requested: int | None, values_per_sample: int = 28 * 28) -> int:
    if requested is not None:
        return validation.positive_int("chunk_size", requested)
    return max(1, MAX_CHUNK_VALUES // (k * values_per_sample))


def iwae_log_weights(model, x: np.ndarray, eps: np.ndarray):
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for z_i = mu + sigma * eps_i.

    ``x`` has shape (B, 28, 28, 1) and ``eps`` (B, k, latent_dim); returns (B, k).
    """
    from keras import ops

    from vae_tf.losses import reconstruction_loss

    batch, k, latent_dim = eps.shape
    mu, log_var = model.encoder(x, training=False)
    mu = ops.expand_dims(mu, 1)
    log_var = ops.expand_dims(log_var, 1)
    z = mu + ops.exp(0.5 * log_var) * eps  # (B, k, D)
    logits = model.decoder(ops.reshape(z, (batch * k, latent_dim)), training=False)
    x_repeated = ops.repeat(x, k, axis=0)
    log_px_given_z = -ops.reshape(reconstruction_loss(x_repeated, logits), (batch, k))
    log_pz = _gaussian_log_density(z, ops.zeros_like(z), ops.zeros_like(z))
    log_qz = _gaussian_log_density(z, mu, log_var)
    return log_px_given_z + log_pz - log_qz


def iwae_bound(log_weights):
    """The importance-weighted bound on log p(x) of each image, from its k log-weights.

    ``log (1/k) sum_i w_i = logsumexp_i(log w_i) - log k``, computed in log space so that
    log-weights of any magnitude (-1000 as well as +1000) neither under- nor overflow.

    Parameters
    ----------
    log_weights : array or tensor (N, k)
        ``log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)`` of k samples per image, in nats.

    Returns
    -------
    tensor (N,)
        The IWAE_k lower bound on log p(x) of each image, in nats (negate it for -log p(x)).
    """
    from keras import ops

    log_weights = ops.convert_to_tensor(log_weights)
    k = ops.shape(log_weights)[1]
    return ops.logsumexp(log_weights, axis=1) - math.log(k)


def _has_convolutions(network) -> bool:
    """Whether ``network`` (or a network nested in it) has a convolution layer."""
    import keras

    convolution = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv2DTranspose)
    for layer in getattr(network, "layers", []):
        if isinstance(layer, convolution) or _has_convolutions(layer):
            return True
    return False


def use_xla_for(model) -> bool:
    """Whether :func:`iwae_nll` compiles its step with XLA for ``model`` by default.

    Yes for dense decoders; no when the decoder has convolutions. Measured with
    ``benchmarks/iwae_scoring.py`` (lesson 08's convolutional VAE, 300 held-out real MNIST
    images, k=500, 2 shared cores): 112.3 s (69.1 CPU s) with XLA, 33.2 s (32.2 CPU s)
    without it, the same estimate to the printed 0.01 nats.
    """
    return not _has_convolutions(model.decoder)


def _iwae_chunk_function(model, jit_compile: bool):
    """One compiled function: (images (C, 28, 28, 1), eps (C, k, D)) -> IWAE bound (C,).

    The encoder runs once per image, the decoder once on all C * k codes; the
    Bernoulli log-likelihood is broadcast over the k samples instead of repeating x.
    """
    import tensorflow as tf
    from keras import ops

    def chunk_bound(x, eps):
        batch, k, latent_dim = ops.shape(eps)[0], ops.shape(eps)[1], ops.shape(eps)[2]
        mu, log_var = model.encoder(x, training=False)
        mu = ops.expand_dims(mu, 1)
        log_var = ops.expand_dims(log_var, 1)
        z = mu + ops.exp(0.5 * log_var) * eps  # (C, k, D)
        logits = model.decoder(ops.reshape(z, (batch * k, latent_dim)), training=False)
        logits = ops.reshape(logits, (batch, k, -1))
        pixels = ops.expand_dims(ops.reshape(ops.cast(x, logits.dtype), (batch, -1)), 1)
        # log Bernoulli(x; sigmoid(l)) = x * l - softplus(l), stable for any logit.
        log_px_given_z = ops.sum(pixels * logits - ops.softplus(logits), axis=-1)
        log_pz = _gaussian_log_density(z, ops.zeros_like(z), ops.zeros_like(z))
        log_qz = _gaussian_log_density(z, mu, log_var)
        return iwae_bound(log_px_given_z + log_pz - log_qz)

    return tf.function(chunk_bound, jit_compile=jit_compile, reduce_retracing=True)


def iwae_nll(
    model,
    images,
    *,
    k: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    jit_compile: bool | None = None,
) -> float:
    """The importance-weighted estimate of -log p(x), in nats per image.

    ``-log p(x) <= -E[log (1/k) sum_i w_i] = IWAE_k <= -ELBO`` (Burda et al., 2016): with
    k = 1 it is the negative ELBO, and it tightens toward -log p(x) as k grows.
    Images are processed in chunks so that at most ``MAX_CHUNK_VALUES`` values of the
    decoder's widest layer are held at once, whatever the size of the test set; each chunk (its images times k
    samples) goes through one compiled function (XLA with ``jit_compile``), the last one
    padded to the same shape so that it is compiled once. The log-mean-exp over the k
    samples is done with ``logsumexp`` so that it never under- or overflows. The noise is
    drawn image after image from one generator, so the estimate does not depend on
    ``chunk_size``.

    Parameters
    ----------
    model : VAE
        A trained model with ``encoder`` (-> mu, log_var) and ``decoder`` (-> logits).
    images : array (N, 28, 28, 1) or (N, 28, 28)
        Binary (or [0, 1]) test images.
    k : int
        Importance samples per image.
    seed : int
        Seed of the samples, so that the estimate is repeatable.
    chunk_size : int, optional
        Images per chunk; by default as many as fit ``MAX_CHUNK_VALUES``.
    progress : callable(done, total), optional
        Called after each chunk, e.g. :class:`IwaeProgress`.
    jit_compile : bool or None, default None
        Compile the chunk function with XLA (False: a plain ``tf.function`` graph; None:
        :func:`use_xla_for` the model, i.e. XLA unless the decoder has convolutions).
    """
    k = validation.positive_int("k", k)
    validation.one_of("jit_compile", jit_compile, (None, True, False))
    if jit_compile is None:
        jit_compile = use_xla_for(model)
    images = validation.float_images(images)
    chunk = min(_chunk_size(k, chunk_size, _largest_activation(model.decoder)), len(images))
    step = _iwae_chunk_function(model, jit_compile)
    rng = np.random.default_rng(seed)
    total = 0.0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk]
        n = len(x)
        eps = rng.standard_normal((n, k, model.latent_dim)).astype(np.float32)
        if n < chunk:  # pad the last chunk: one shape, one compilation
            x = np.concatenate([x, np.zeros((chunk - n, *x.shape[1:]), np.float32)])
            eps = np.concatenate([eps, np.zeros((chunk - n, *eps.shape[1:]), np.float32)])
        log_px = np.asarray(step(x, eps), dtype=np.float64)[:n]
        total += float(log_px.sum())
        if progress is not None:
            progress(start + n, len(images))
    return -total / len(images)


class IwaeProgress:
    """Progress of :func:`iwae_nll` (a ``progress`` callable), shown with ``tqdm``.

    On a terminal: one tqdm bar, redrawn in place. Elsewhere (a log file, a pipe, CI):
    at most about ``lines`` plain lines, e.g. ``IWAE k=500: 1,000/10,000 images (10%),
    4 s``, so that a log does not get one line per chunk.
    """

    def __init__(self, k: int, *, file=None, lines: int = 10, label: str = "IWAE") -> None:
        import sys

        self.k = validation.positive_int("k", k)
        self.lines = validation.positive_int("lines", lines)
        self.file = sys.stderr if file is None else file
        self.label = label
        self.terminal = bool(getattr(self.file, "isatty", lambda: False)())
        self._bar = None
        self._next = 0
        self._started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.terminal:
            if self._bar is None:
                self._bar = tqdm(
                    total=total, desc=f"{self.label} k={self.k}", unit=" images", file=self.file
                )
            self._bar.update(done - self._bar.n)
            if done >= total:
                self._bar.close()
            return
        if done >= self._next or done >= total:
            seconds = time.perf_counter() - self._started
            print(
                f"  {self.label} k={self.k}: {done:,}/{total:,} images "
                f"({done / total:.0%}), {seconds:.0f} s",
                file=self.file,
                flush=True,
            )
            self._next = done + max(1, math.ceil(total / self.lines))


def encode_posteriors(
    model, images: np.ndarray, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, log_var)`` of q(z|x) for every image, float32 NumPy arrays of shape (N, latent_dim).

    The encoder runs in batches of ``batch_size`` images, so any number of images fits.
    """
    mus, log_vars = [], []
    for start in range(0, len(images), batch_size):
        mu, log_var = model.encoder(images[start : start + batch_size], training=False)
        mus.append(np.asarray(mu, dtype=np.float32))
        log_vars.append(np.asarray(log_var, dtype=np.float32))
    return np.concatenate(mus), np.concatenate(log_vars)


def active_units(model, images, *, threshold: float = 0.01, batch_size: int = 1000) -> int:
    """How many latent dimensions the model uses (Burda et al., 2016).

    A unit u is active when ``Cov_x(E_q[z_u | x]) > threshold``: its posterior mean
    moves with the input. A collapsed unit has mu_u ~ 0 for every image.

    Returns
    -------
    int, between 0 and ``model.latent_dim``.
    """
    threshold = validation.non_negative_float("threshold", threshold)
    batch_size = validation.positive_int("batch_size", batch_size)
    images = validation.float_images(images)
    mu, _ = encode_posteriors(model, images, batch_size)
    return int(np.sum(np.var(mu, axis=0) > threshold))


def kl_per_unit(model, images, *, batch_size: int = 1000) -> np.ndarray:
    """The KL term of each latent dimension, averaged over ``images``, in nats per image.

    Its sum is the KL term of :func:`evaluate_elbo` (closed form, no sampling). A unit
    whose KL is near 0 carries no information about the image: posterior collapse.

    Returns
    -------
    np.ndarray of shape (latent_dim,), float64.
    """
    from vae_tf.losses import kl_per_dimension

    batch_size = validation.positive_int("batch_size", batch_size)
    images = validation.float_images(images)
    mu, log_var = encode_posteriors(model, images, batch_size)
    per_image = np.asarray(kl_per_dimension(mu, log_var), dtype=np.float64)
    return per_image.mean(axis=0)


BOUND_QUANTITY = "negative ELBO and IWAE bound on -log p(x) of binarized images"
CROSS_ENTROPY_QUANTITY = (
    "Bernoulli cross-entropy on grey-level images (+ KL): not a bound on -log p(x)"
)


@dataclass
class EvaluationResult:
    """What ``evaluate`` measured; every value in nats per image except the counts.

    ``binarized`` says whether the images were 0/1: only then are ``neg_elbo`` and
    ``iwae_nll`` bounds on -log p(x); on grey levels they are Bernoulli cross-entropies,
    and ``quantity`` says which of the two they are, in words for labels.
    ``kl_per_unit`` is the KL term of each latent dimension; it sums to ``kl``.
    """

    source: str
    source_description: str
    images: int
    neg_elbo: float
    reconstruction: float
    kl: float
    iwae_nll: float
    k: int
    seed: int
    active_units: int
    seconds: float
    binarized: bool = True
    quantity: str = BOUND_QUANTITY
    kl_per_unit: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "unit": "nats per image"}


def evaluate(
    model,
    data,
    *,
    k: int = 100,
    seed: int = 0,
    binarize: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Score ``model`` on the held-out images of ``data`` (an ``MnistData``).

    The test images are binarized once with ``seed`` (unless ``binarize=False``), then
    the negative ELBO, its two terms, the KL of each latent unit and the IWAE estimate
    with ``k`` samples are computed on them, in nats per image. With ``binarize=False``
    on grey-level images the numbers are Bernoulli cross-entropies, not bounds on
    -log p(x); the result's ``binarized`` and ``quantity`` say so.
    """
    from vae_tf.data import binarize_images

    start = time.perf_counter()
    images = validation.float_images(data.x_test, "data.x_test")
    if binarize:
        images = binarize_images(images, seed=seed)
    binary = bool(np.all((images == 0.0) | (images == 1.0)))
    elbo = evaluate_elbo(model, images, seed=seed)
    nll = iwae_nll(model, images, k=k, seed=seed, progress=progress)
    return EvaluationResult(
        source=data.source,
        source_description=data.source_description,
        images=len(images),
        neg_elbo=elbo["neg_elbo"],
        reconstruction=elbo["reconstruction"],
        kl=elbo["kl"],
        iwae_nll=nll,
        k=k,
        seed=seed,
        active_units=active_units(model, images),
        seconds=time.perf_counter() - start,
        binarized=binary,
        quantity=BOUND_QUANTITY if binary else CROSS_ENTROPY_QUANTITY,
        kl_per_unit=[float(value) for value in kl_per_unit(model, images)],
    )
