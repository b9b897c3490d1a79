"""Evaluating a trained VAE: the ELBO and an importance-sampled estimate of log p(x).

All numbers are in nats per image, averaged over the images given. Pass images that
were binarized once with a fixed seed (``evaluate`` does it for you) so that two
models, or two runs, are scored on exactly the same test set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

# Upper bound on the decoder outputs held at once by ``iwae_nll``: images per chunk
# times k samples times 784 pixels. 2**22 float32 values is 16 MiB per tensor.
MAX_CHUNK_VALUES = 2**22

LOG_2PI = math.log(2.0 * math.pi)


def _as_float_images(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(
            f"images must have shape (N, 28, 28, 1) or (N, 28, 28), got {images.shape}"
        )
    if len(images) == 0:
        raise ValueError("images is empty: there is nothing to evaluate")
    return images


def _gaussian_log_density(z, mu, log_var):
    """log N(z; mu, diag(exp(log_var))), summed over the last axis."""
    from keras import ops

    return -0.5 * ops.sum(LOG_2PI + log_var + ops.square(z - mu) * ops.exp(-log_var), axis=-1)


def evaluate_elbo(model, images, *, seed: int = 0, batch_size: int = 500) -> dict[str, float]:
    """A one-sample estimate of the negative ELBO and its two terms, in nats per image.

    Returns a dict with ``neg_elbo`` = ``reconstruction`` + ``kl``, each averaged over
    the images. The KL term is exact (closed form); the reconstruction term uses one
    z per image drawn with ``seed``, so the estimate is unbiased and repeatable.
    """
    from keras import ops

    from vae_tf.losses import kl_divergence, reconstruction_loss

    images = _as_float_images(images)
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


def _chunk_size(k: int, requested: int | None) -> int:
    if requested is not None:
        if requested < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {requested}")
        return requested
    return max(1, MAX_CHUNK_VALUES // (k * 28 * 28))


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


def iwae_nll(
    model,
    images,
    *,
    k: int = 100,
    seed: int = 0,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """The importance-weighted estimate of -log p(x), in nats per image.

    ``-log p(x) <= -E[log (1/k) sum_i w_i] = IWAE_k <= -ELBO`` (Burda et al., 2016): with
    k = 1 it is the negative ELBO, and it tightens toward -log p(x) as k grows.
    Images are processed in chunks so that at most ``MAX_CHUNK_VALUES`` decoder outputs
    are held at once, whatever the size of the test set; the log-mean-exp over the k
    samples is done with ``logsumexp`` so that it never under- or overflows.

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
        Called after each chunk, e.g. to show a progress bar.
    """
    from keras import ops

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    images = _as_float_images(images)
    chunk = _chunk_size(k, chunk_size)
    rng = np.random.default_rng(seed)
    total = 0.0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk]
        eps = rng.standard_normal((len(x), k, model.latent_dim)).astype(np.float32)
        log_w = iwae_log_weights(model, x, eps)
        log_px = ops.logsumexp(log_w, axis=1) - math.log(k)
        total += float(ops.sum(log_px))
        if progress is not None:
            progress(min(start + chunk, len(images)), len(images))
    return -total / len(images)


def active_units(model, images, *, threshold: float = 0.01, batch_size: int = 1000) -> int:
    """How many latent dimensions the model uses (Burda et al., 2016).

    A unit u is active when ``Cov_x(E_q[z_u | x]) > threshold``: its posterior mean
    moves with the input. A collapsed unit has mu_u ~ 0 for every image.
    """
    images = _as_float_images(images)
    mus = [
        np.asarray(model.encoder(images[start : start + batch_size], training=False)[0])
        for start in range(0, len(images), batch_size)
    ]
    return int(np.sum(np.var(np.concatenate(mus), axis=0) > threshold))


@dataclass
class EvaluationResult:
    """What ``evaluate`` measured; every value in nats per image except the counts."""

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
    the negative ELBO, its two terms and the IWAE estimate with ``k`` samples are
    computed on them.
    """
    from vae_tf.data import binarize_images

    start = time.perf_counter()
    images = _as_float_images(data.x_test)
    if binarize:
        images = binarize_images(images, seed=seed)
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
    )
