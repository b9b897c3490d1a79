"""Checks for lesson 03 (the variational autoencoder).

Three exercises:

- ``Sampling``: a Keras layer, ``call([mu, log_var]) -> mu + exp(log_var / 2) * eps``.
- ``kl_divergence(mu, log_var)``: KL(N(mu, diag exp(log_var)) || N(0, I)) per image, in
  nats, **summed** over the latent dimensions, shape ``(N,)``.
- ``train_step``: a subclass of ``vae_tf.models.VAE`` (``MyVAE`` in the notebook) whose
  ``train_step`` the student writes. The probe sets the judge's weights, batch and noise
  and reports the metrics and weight updates of one SGD step; the verdict compares them
  with a NumPy forward and backward pass of the same VAE, computed on the judge's side.

Each check's inputs are drawn from the run's seed, and each failure is explained in
plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, number_of, raise_if_raised
from vae_tf.grading.exercises._helpers import call_each, keras_message, tensor
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "03_vae"


def _fmt(array: Any, precision: int = 3) -> str:
    return np.array2string(np.asarray(array), precision=precision, suppress_small=True)


# --------------------------------------------------------------------------- Sampling

sampling_exercise = exercise(
    "sampling",
    lesson=LESSON,
    symbol="Sampling",
    description="the reparameterization trick as a Keras layer: z = mu + exp(log_var / 2) * eps",
    references=("vae_tf.models:Sampling.call",),
)


def _make_layer(Sampling: Any) -> Any:
    import keras

    if not (isinstance(Sampling, type) and issubclass(Sampling, keras.layers.Layer)):
        raise CheckFailed(
            "Sampling should be a class that subclasses keras.layers.Layer.",
            got=repr(Sampling)[:80],
            hint="class Sampling(keras.layers.Layer): ... with a call(self, inputs) method",
        )
    return Sampling()


def _call_layer(layer: Any, inputs: list) -> Any:
    """``layer(inputs)``, with Keras' wrapping removed from an error the student's call() raised."""
    try:
        return layer(inputs)
    except Exception as error:  # noqa: BLE001 - re-raised, unwrapped (a stub's too)
        try:
            unwrapped = type(error)(keras_message(error))
        except Exception:  # noqa: BLE001 - an exception type with another signature
            raise error from None
        raise unwrapped from None


def _sample_each(Sampling: Any, inputs: Inputs) -> list[dict[str, Any]]:
    layer = _make_layer(Sampling)
    return call_each(
        lambda mu, log_var: _call_layer(layer, [mu, log_var]), inputs["calls"], tensors=True
    )


def _shape_inputs(rng: np.random.Generator) -> Inputs:
    shape = (int(rng.integers(3, 9)), int(rng.integers(2, 6)))
    mu = rng.normal(size=shape).astype(np.float32)
    return {"calls": [((mu, rng.normal(size=shape).astype(np.float32)), {})]}


@sampling_exercise.probe("returns z with the shape of mu", inputs=_shape_inputs)
def _sampling_shape_probe(Sampling: Any, inputs: Inputs) -> Any:
    return _sample_each(Sampling, inputs)


@sampling_exercise.verdict("returns z with the shape of mu")
def _sampling_shape_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    z = array_of(answer[0], "Sampling()([mu, log_var])")
    if z.shape != mu.shape:
        raise CheckFailed(
            "z should have one value per image and latent dimension, like mu.",
            tried=f"mu and log_var of shape {mu.shape}",
            expected=f"z of shape {mu.shape}",
            got=f"shape {z.shape}",
            hint="draw eps with keras.random.normal(keras.ops.shape(mu)), the shape of mu",
        )


def _moments_inputs(rng: np.random.Generator) -> Inputs:
    count = 20000
    centre = rng.uniform(-2.0, 2.0, size=3).astype(np.float32)
    sigma = rng.uniform(0.3, 2.5, size=3).astype(np.float32)
    mu = np.tile(centre[None, :], (count, 1))
    log_var = np.tile(np.log(sigma**2)[None, :], (count, 1)).astype(np.float32)
    return {"calls": [((mu, log_var), {})], "sigma": sigma}


@sampling_exercise.probe(
    "samples have mean mu and standard deviation exp(log_var / 2)", inputs=_moments_inputs
)
def _sampling_moments_probe(Sampling: Any, inputs: Inputs) -> Any:
    return _sample_each(Sampling, inputs)


@sampling_exercise.verdict("samples have mean mu and standard deviation exp(log_var / 2)")
def _sampling_moments_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    sigma = inputs["sigma"].astype(np.float64)
    z = array_of(answer[0], "Sampling()([mu, log_var])").astype(np.float64)
    if z.shape != mu.shape:
        raise CheckFailed(
            "z should have the shape of mu.",
            tried=f"mu and log_var of shape {mu.shape}",
            got=f"shape {z.shape}",
        )
    count = len(z)
    mean, std = z.mean(axis=0), z.std(axis=0)
    # Standard error of the mean is sigma / sqrt(20000) <= 0.018; of the std, about 0.5%.
    mean_ok = np.all(np.abs(mean - mu[0]) < 5 * sigma / np.sqrt(count))
    std_ok = np.all(np.abs(std / sigma - 1.0) < 0.04)
    if mean_ok and std_ok:
        return
    hint = "z = mu + exp(0.5 * log_var) * eps with eps ~ N(0, 1)"
    if mean_ok and np.allclose(std, sigma**2, rtol=0.04):
        hint = "you used exp(log_var), which is the VARIANCE; the standard deviation is exp(log_var / 2)"
    elif mean_ok and np.allclose(std, np.abs(np.log(sigma**2)), rtol=0.04):
        hint = "log_var is a log-variance: the standard deviation is exp(log_var / 2), not log_var"
    elif not mean_ok:
        hint = "the samples should be centred on mu: z = mu + sigma * eps with eps of mean 0"
    raise CheckFailed(
        "The samples do not have the right mean and spread.",
        tried="20,000 draws with one mu and sigma per dimension (log_var = log sigma^2)",
        expected=f"mean ~ {_fmt(mu[0])}, standard deviation ~ {_fmt(sigma)}",
        got=f"mean {_fmt(mean)}, standard deviation {_fmt(std)}",
        hint=hint,
    )


def _gradient_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "mu": rng.normal(size=(8, 2)).astype(np.float32),
        "log_var": rng.uniform(-1.5, 1.0, size=(8, 2)).astype(np.float32),
    }


@sampling_exercise.probe("lets the gradient flow to mu and log_var", inputs=_gradient_inputs)
def _sampling_gradient_probe(Sampling: Any, inputs: Inputs) -> Any:
    import tensorflow as tf

    layer = _make_layer(Sampling)
    mu = tf.Variable(inputs["mu"])
    log_var = tf.Variable(inputs["log_var"])
    with tf.GradientTape() as tape:
        z = _call_layer(layer, [mu, log_var])
        total = tf.reduce_sum(tf.convert_to_tensor(z))
    grad_mu, grad_log_var = tape.gradient(total, [mu, log_var])
    return {
        "z": describe(z),
        "grad_mu": describe(grad_mu),
        "grad_log_var": describe(grad_log_var),
    }


@sampling_exercise.verdict("lets the gradient flow to mu and log_var")
def _sampling_gradient_verdict(inputs: Inputs, answer: Any) -> None:
    missing = [
        name for name in ("mu", "log_var") if answer[f"grad_{name}"].get("type") == "NoneType"
    ]
    if missing:
        raise CheckFailed(
            f"No gradient reaches {' and '.join(missing)}: the encoder could not learn.",
            tried="d(sum z) / d(mu) and d(sum z) / d(log_var) with tf.GradientTape",
            expected="a gradient for both",
            got=f"None for {' and '.join(missing)}",
            hint="compute z with keras.ops / TensorFlow operations on mu and log_var; "
            "no NumPy, no .numpy(), no stop_gradient",
        )
    mu, log_var = inputs["mu"].astype(np.float64), inputs["log_var"].astype(np.float64)
    z = array_of(answer["z"], "Sampling()([mu, log_var])").astype(np.float64)
    grad_mu = array_of(answer["grad_mu"], "the gradient").astype(np.float64)
    grad_log_var = array_of(answer["grad_log_var"], "the gradient").astype(np.float64)
    if z.shape != mu.shape or grad_mu.shape != mu.shape or grad_log_var.shape != mu.shape:
        raise CheckFailed("z and its gradients should have the shape of mu.", got=f"z {z.shape}")
    eps = (z - mu) / np.exp(0.5 * log_var)
    expected_log_var = 0.5 * np.exp(0.5 * log_var) * eps
    if not np.allclose(grad_mu, 1.0, atol=1e-5) or not np.allclose(
        grad_log_var, expected_log_var, rtol=1e-3, atol=1e-5
    ):
        raise CheckFailed(
            "The gradients are not those of z = mu + exp(log_var / 2) * eps.",
            tried="d(sum z) / d(mu) and d(sum z) / d(log_var)",
            expected="1 for mu, and 0.5 * exp(log_var / 2) * eps for log_var",
            got=f"{_fmt(grad_mu[0])} for mu, {_fmt(grad_log_var[0])} for log_var",
            hint="eps is drawn independently of mu and log_var; z is linear in mu",
        )


def _noise_inputs(rng: np.random.Generator) -> Inputs:
    mu = np.zeros((int(rng.integers(4, 9)), 2), dtype=np.float32)
    return {"calls": [((mu, np.zeros_like(mu)), {})] * 2}


@sampling_exercise.probe("draws new noise on every call", inputs=_noise_inputs)
def _sampling_noise_probe(Sampling: Any, inputs: Inputs) -> Any:
    return _sample_each(Sampling, inputs)


@sampling_exercise.verdict("draws new noise on every call")
def _sampling_noise_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    first = array_of(answer[0], "Sampling()([mu, log_var])")
    second = array_of(answer[1], "Sampling()([mu, log_var])")
    if first.shape != mu.shape or second.shape != mu.shape:
        raise CheckFailed("z should have the shape of mu.", got=f"shape {first.shape}")
    if np.allclose(first, mu) or np.allclose(first, second):
        raise CheckFailed(
            "Two calls gave the same z (or z = mu): the noise eps is not drawn afresh.",
            tried="two calls with mu = 0 and log_var = 0",
            expected="two different random draws",
            got=f"{_fmt(first[0])} and {_fmt(second[0])}",
            hint="draw eps inside call() with keras.random.normal and a keras.random.SeedGenerator "
            "kept on the layer (created in __init__)",
        )


# --------------------------------------------------------------------------- kl_divergence


@judge_only
def reference_kl(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Closed-form KL(N(mu, exp(log_var)) || N(0, 1)), summed over the last axis."""
    mu = np.asarray(mu, dtype=np.float64)
    log_var = np.asarray(log_var, dtype=np.float64)
    return -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=-1)


kl_exercise = exercise(
    "kl_divergence",
    lesson=LESSON,
    symbol="kl_divergence",
    description="closed-form KL(q(z|x) || N(0, I)), summed over latent dimensions: (N,) nats",
    references=("vae_tf.losses:kl_divergence",),
)


def _kl_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return call_each(kl_divergence, inputs["calls"], tensors=True)


def _kl_random_inputs(rng: np.random.Generator) -> Inputs:
    shape = (int(rng.integers(4, 9)), int(rng.integers(2, 6)))
    mu = rng.normal(0.0, 1.5, size=shape).astype(np.float32)
    log_var = rng.normal(0.0, 1.0, size=shape).astype(np.float32)
    return {"calls": [((mu, log_var), {})]}


@kl_exercise.probe("returns one value per image", inputs=_kl_random_inputs)
def _kl_shape_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return _kl_probe(kl_divergence, inputs)


@kl_exercise.verdict("returns one value per image")
def _kl_shape_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    count = len(mu)
    result = array_of(answer[0], "kl_divergence")
    if result.shape != (count,):
        hint = "sum over the latent axis only (axis=-1)"
        if result.shape == ():
            hint = "do not average over the batch here: return one KL per image"
        elif result.shape == mu.shape:
            hint = "sum the per-dimension terms over the latent axis (axis=-1)"
        raise CheckFailed(
            "The KL should hold one number per image.",
            tried=f"mu and log_var of shape {mu.shape}",
            expected=f"shape ({count},)",
            got=f"shape {result.shape}",
            hint=hint,
        )


def _kl_zero_inputs(rng: np.random.Generator) -> Inputs:
    zeros = np.zeros((int(rng.integers(2, 6)), int(rng.integers(2, 6))), dtype=np.float32)
    return {"calls": [((zeros, zeros), {})]}


@kl_exercise.probe("is 0 when q(z|x) is the prior N(0, I)", inputs=_kl_zero_inputs)
def _kl_zero_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return _kl_probe(kl_divergence, inputs)


@kl_exercise.verdict("is 0 when q(z|x) is the prior N(0, I)")
def _kl_zero_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    result = array_of(answer[0], "kl_divergence").reshape(-1)
    if result.size != len(mu) or not np.allclose(result, 0.0, atol=1e-6):
        raise CheckFailed(
            "KL(N(0, I) || N(0, I)) should be exactly 0.",
            tried=f"mu = 0, log_var = 0 (so sigma = 1), shape {mu.shape}",
            expected=f"{len(mu)} zeros",
            got=_fmt(result[:4]),
            hint="KL = -1/2 * sum(1 + log_var - mu^2 - exp(log_var)); check the '1 +' term",
        )


@kl_exercise.probe("matches the closed form on random input", inputs=_kl_random_inputs)
def _kl_values_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return _kl_probe(kl_divergence, inputs)


@kl_exercise.verdict("matches the closed form on random input")
def _kl_values_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, log_var), _ = inputs["calls"][0]
    mu, log_var = mu.astype(np.float64), log_var.astype(np.float64)
    expected = reference_kl(mu, log_var)
    result = array_of(answer[0], "kl_divergence").astype(np.float64).reshape(-1)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-4):
        return
    hint = "KL = -1/2 * sum_j (1 + log_var_j - mu_j^2 - exp(log_var_j))"
    if result.shape == expected.shape:
        if np.allclose(result, expected / mu.shape[1], rtol=1e-4):
            hint = (
                "you averaged over the latent dimensions; the convention is the SUM, which "
                "averaging silently divides by latent_dim"
            )
        elif np.allclose(result, -expected, rtol=1e-4):
            hint = "the sign is flipped: a KL divergence is never negative (note the -1/2)"
        elif np.allclose(result, -0.5 * np.sum(1 + log_var - mu**2 - np.exp(2 * log_var), -1)):
            hint = "the variance is exp(log_var), not exp(2 * log_var)"
        elif np.allclose(result, 2 * expected, rtol=1e-4):
            hint = "the factor is -1/2"
    raise CheckFailed(
        "The values differ from the closed-form KL divergence.",
        tried=f"mu ~ N(0, 1.5^2), log_var ~ N(0, 1), shape {mu.shape}",
        expected=f"{_fmt(expected[:2])}... nats per image",
        got=f"{_fmt(result[:2])}...",
        hint=hint,
    )


def _kl_sums_inputs(rng: np.random.Generator) -> Inputs:
    mu1 = np.array([[rng.uniform(0.5, 1.5)]], dtype=np.float32)
    log_var1 = np.array([[rng.uniform(-1.0, -0.2)]], dtype=np.float32)
    copies = int(rng.integers(4, 11))
    return {
        "calls": [
            ((mu1, log_var1), {}),
            ((np.tile(mu1, (1, copies)), np.tile(log_var1, (1, copies))), {}),
        ],
        "copies": copies,
    }


@kl_exercise.probe("sums over latent dimensions (does not average)", inputs=_kl_sums_inputs)
def _kl_sums_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return _kl_probe(kl_divergence, inputs)


@kl_exercise.verdict("sums over latent dimensions (does not average)")
def _kl_sums_verdict(inputs: Inputs, answer: Any) -> None:
    # The same one-dimensional posterior repeated in 1 and in D dimensions: D times the KL.
    (mu1, log_var1), _ = inputs["calls"][0]
    copies = inputs["copies"]
    one = array_of(answer[0], "kl_divergence").reshape(-1)
    many = array_of(answer[1], "kl_divergence").reshape(-1)
    single = reference_kl(mu1, log_var1)[0]
    if one.size != 1 or many.size != 1 or not np.isclose(many[0], copies * single, rtol=1e-4):
        raise CheckFailed(
            f"Independent latent dimensions add up: {copies} copies of a dimension should give "
            f"{copies} times its KL.",
            tried=f"one posterior in 1 dimension, then the same in {copies} dimensions",
            expected=f"{single:.4f} and {copies * single:.4f} nats",
            got=f"{_fmt(one[:2])} and {_fmt(many[:2])}",
            hint="sum over the latent axis; averaging would make the KL weaker as latent_dim grows",
        )


# --------------------------------------------------------------------------- train_step

train_step_exercise = exercise(
    "train_step",
    lesson=LESSON,
    symbol="MyVAE",
    description="a VAE subclass with a hand-written train_step: two terms, weighted sum, gradient, update",
    references=(
        "vae_tf.models:VAE.train_step",
        "vae_tf.models:VAE.compute_losses",
        "vae_tf.models:VAE._update_metrics",
    ),
)

_BATCH = 16
_LATENT = 2
_HIDDEN = 512
_PIXELS = 784
_LEARNING_RATE = 0.01
_KEYS = ("loss", "reconstruction_loss", "kl_loss")
ENCODER = slice(0, 4)  # hidden kernel, bias, mu_and_log_var kernel, bias
DECODER = slice(4, 8)


def _step_inputs(rng: np.random.Generator, weights: tuple[tuple[float, float], ...]) -> Inputs:
    """Weights of the VAE, a batch of 'images' and the noise, all from the judge's seed."""

    def normal(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, size=shape).astype(np.float32)

    x = rng.random((_BATCH, 28, 28, 1)).astype(np.float32)
    x[:, : int(rng.integers(4, 8))] = 0.0
    x[:, -int(rng.integers(4, 8)) :] = 0.0
    return {
        "x": x,
        "eps": normal((_BATCH, _LATENT), 1.0),
        "encoder": [
            normal((_PIXELS, _HIDDEN), 0.05),
            normal((_HIDDEN,), 0.05),
            normal((_HIDDEN, 2 * _LATENT), 0.05),
            normal((2 * _LATENT,), 0.05),
        ],
        "decoder": [
            normal((_LATENT, _HIDDEN), 0.5),
            normal((_HIDDEN,), 0.05),
            normal((_HIDDEN, _PIXELS), 0.05),
            normal((_PIXELS,), 0.05),
        ],
        "loss_weights": [list(pair) for pair in weights],
    }


def _fixed_sampling(eps: np.ndarray) -> Any:
    """A sampling layer whose noise is the judge's, so that the verdict knows z."""
    import keras

    class FixedSampling(keras.layers.Layer):
        def call(self, inputs):
            mu, log_var = inputs
            return mu + keras.ops.exp(0.5 * log_var) * keras.ops.convert_to_tensor(eps)

    return FixedSampling(name="sampling")


def _student_model(
    MyVAE: Any, inputs: Inputs, kl_weight: float, reconstruction_weight: float
) -> Any:
    import keras

    from vae_tf.models import VAE

    if not (isinstance(MyVAE, type) and issubclass(MyVAE, VAE)):
        raise CheckFailed(
            "MyVAE should be a class that subclasses vae_tf.models.VAE.",
            got=repr(MyVAE)[:80],
            hint="class MyVAE(VAE): def train_step(self, data): ...",
        )
    model = MyVAE(
        latent_dim=_LATENT, kl_weight=kl_weight, reconstruction_weight=reconstruction_weight, seed=0
    )
    model.encoder.set_weights(inputs["encoder"])
    model.decoder.set_weights(inputs["decoder"])
    model.sampling = _fixed_sampling(inputs["eps"])
    # Plain SGD: the change of each weight is learning_rate * gradient, easy to compare.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=_LEARNING_RATE), jit_compile=False)
    return model


def _step(model: Any, x: np.ndarray) -> dict[str, Any]:
    result = model.train_step(tensor(x))
    if not isinstance(result, dict):
        raise CheckFailed(
            "train_step should return a dict of metric values.",
            expected="{'loss': ..., 'reconstruction_loss': ..., 'kl_loss': ...}",
            got=f"a {type(result).__name__}",
            hint="return {m.name: m.result() for m in self.metrics}",
        )
    return {str(key)[:100]: describe(value) for key, value in list(result.items())[:10]}


def _weights(model: Any) -> list[np.ndarray]:
    return [
        np.asarray(w, dtype=np.float64)
        for w in model.encoder.get_weights() + model.decoder.get_weights()
    ]


def _one_step(MyVAE: Any, inputs: Inputs, pair: int = 0, *, updates: slice | None = None) -> Any:
    kl_weight, reconstruction_weight = inputs["loss_weights"][pair]
    model = _student_model(MyVAE, inputs, kl_weight, reconstruction_weight)
    before = _weights(model)
    metrics = _step(model, inputs["x"])
    observed: dict[str, Any] = {"metrics": metrics}
    if updates is not None:
        after = _weights(model)
        observed["updates"] = [
            ((b - a) / _LEARNING_RATE).astype(np.float32)
            for b, a in zip(before[updates], after[updates], strict=True)
        ]
    return observed


@judge_only
def reference_step(inputs: Inputs, kl_weight: float, reconstruction_weight: float) -> dict:
    """One step of the package's VAE in NumPy: the two terms and the gradient of the loss.

    Returns the batch means of the terms (nats per image) and the gradients of
    ``reconstruction_weight * reconstruction + kl_weight * KL`` with respect to the
    encoder and decoder weights, in ``get_weights()`` order; with plain SGD the update
    ``(before - after) / learning_rate`` equals the gradient.
    """
    x = inputs["x"].reshape(_BATCH, -1).astype(np.float64)
    eps = inputs["eps"].astype(np.float64)
    w1, b1, w2, b2 = (w.astype(np.float64) for w in inputs["encoder"])
    w3, b3, w4, b4 = (w.astype(np.float64) for w in inputs["decoder"])
    n = len(x)
    h1 = x @ w1 + b1
    a1 = np.maximum(h1, 0.0)
    out = a1 @ w2 + b2
    mu, raw_log_var = out[:, :_LATENT], out[:, _LATENT:]
    log_var = np.clip(raw_log_var, -20.0, 20.0)
    std = np.exp(0.5 * log_var)
    z = mu + std * eps
    h2 = z @ w3 + b3
    a2 = np.maximum(h2, 0.0)
    logits = a2 @ w4 + b4
    reconstruction = np.sum(
        np.maximum(logits, 0.0) - logits * x + np.log1p(np.exp(-np.abs(logits))), axis=1
    )
    kl = -0.5 * np.sum(1.0 + log_var - mu**2 - np.exp(log_var), axis=1)
    # Backward pass of mean(reconstruction_weight * reconstruction + kl_weight * kl).
    d_logits = reconstruction_weight * (1.0 / (1.0 + np.exp(-logits)) - x) / n
    d_w4, d_b4 = a2.T @ d_logits, d_logits.sum(axis=0)
    d_h2 = (d_logits @ w4.T) * (h2 > 0)
    d_w3, d_b3 = z.T @ d_h2, d_h2.sum(axis=0)
    d_z = d_h2 @ w3.T
    d_mu = d_z + kl_weight * mu / n
    d_log_var = d_z * 0.5 * std * eps - kl_weight * 0.5 * (1.0 - np.exp(log_var)) / n
    d_log_var = d_log_var * (np.abs(raw_log_var) <= 20.0)
    d_out = np.concatenate([d_mu, d_log_var], axis=1)
    d_w2, d_b2 = a1.T @ d_out, d_out.sum(axis=0)
    d_h1 = (d_out @ w2.T) * (h1 > 0)
    d_w1, d_b1 = x.T @ d_h1, d_h1.sum(axis=0)
    return {
        "reconstruction_loss": float(reconstruction.mean()),
        "kl_loss": float(kl.mean()),
        "loss": float(reconstruction_weight * reconstruction.mean() + kl_weight * kl.mean()),
        "gradients": [d_w1, d_b1, d_w2, d_b2, d_w3, d_b3, d_w4, d_b4],
    }


def _metric_values(metrics: Any, *, required: tuple[str, ...] = _KEYS) -> dict[str, float]:
    """The reported metrics as finite numbers; a missing key is the student's mistake."""
    if not isinstance(metrics, dict):
        raise CheckFailed("train_step should return a dict of metric values.")
    missing = [key for key in required if key not in metrics]
    if missing:
        raise CheckFailed(
            "train_step should return the three metrics that fit shows.",
            expected="keys 'loss', 'reconstruction_loss', 'kl_loss'",
            got=f"keys {sorted(metrics)[:10]}",
            hint="return {m.name: m.result() for m in self.metrics}",
        )
    return {key: number_of(metrics[key], f"the value of {key!r}") for key in required}


def _same_update(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    if len(got) != len(expected):
        return False
    return all(
        g.shape == e.shape and np.allclose(g, e, rtol=1e-3, atol=1e-3 * (np.abs(e).max() + 1e-6))
        for g, e in zip(got, expected, strict=True)
    )


def _updates(answer: Any) -> list[np.ndarray]:
    return [
        array_of({"type": "ndarray", "array": update}, "the weight update").astype(np.float64)
        for update in answer["updates"]
    ]


def _unit_weights(rng: np.random.Generator) -> Inputs:
    return _step_inputs(rng, ((1.0, 1.0),))


@train_step_exercise.probe("returns loss, reconstruction_loss and kl_loss", inputs=_unit_weights)
def _train_step_keys_probe(MyVAE: Any, inputs: Inputs) -> Any:
    return _one_step(MyVAE, inputs)


@train_step_exercise.verdict("returns loss, reconstruction_loss and kl_loss")
def _train_step_keys_verdict(inputs: Inputs, answer: Any) -> None:
    got = _metric_values(answer["metrics"])
    expected = reference_step(inputs, 1.0, 1.0)
    for key in ("reconstruction_loss", "kl_loss"):
        if not np.isclose(got[key], expected[key], rtol=1e-4, atol=1e-5):
            what = "KL term" if key == "kl_loss" else "reconstruction term"
            raise CheckFailed(
                f"The {what} of the batch is wrong.",
                tried=f"one step on {_BATCH} images, weights 1 and 1",
                expected=f"{key} = {expected[key]:.4f} nats per image (averaged over the batch)",
                got=f"{got[key]:.4f}",
                hint="encode, sample z with self.sampling([mu, log_var]), decode to logits; "
                "each term per image, then keras.ops.mean over the batch",
            )


def _two_weightings(rng: np.random.Generator) -> Inputs:
    other = (round(float(rng.uniform(0.1, 0.6)), 3), round(float(rng.uniform(1.5, 3.0)), 3))
    return _step_inputs(rng, ((1.0, 1.0), other))


@train_step_exercise.probe("loss is the weighted sum of the two terms", inputs=_two_weightings)
def _train_step_sum_probe(MyVAE: Any, inputs: Inputs) -> Any:
    return [_one_step(MyVAE, inputs, pair) for pair in range(len(inputs["loss_weights"]))]


@train_step_exercise.verdict("loss is the weighted sum of the two terms")
def _train_step_sum_verdict(inputs: Inputs, answer: Any) -> None:
    for (kl_weight, reconstruction_weight), observed in zip(
        inputs["loss_weights"], answer, strict=True
    ):
        got = _metric_values(observed["metrics"])
        expected = reconstruction_weight * got["reconstruction_loss"] + kl_weight * got["kl_loss"]
        if not np.isclose(got["loss"], expected, rtol=1e-4):
            raise CheckFailed(
                "The loss should be reconstruction_weight * reconstruction + kl_weight * KL.",
                tried=f"kl_weight = {kl_weight}, reconstruction_weight = {reconstruction_weight}",
                expected=f"loss = {expected:.4f} (from the reported terms "
                f"{got['reconstruction_loss']:.4f} and {got['kl_loss']:.4f})",
                got=f"loss = {got['loss']:.4f}",
                hint="loss = self._reconstruction_weight * reconstruction + self._kl_weight * kl",
            )


@train_step_exercise.probe(
    "updates the weights along the gradient of the loss", inputs=_unit_weights
)
def _train_step_update_probe(MyVAE: Any, inputs: Inputs) -> Any:
    return _one_step(MyVAE, inputs, updates=slice(None))


@train_step_exercise.verdict("updates the weights along the gradient of the loss")
def _train_step_update_verdict(inputs: Inputs, answer: Any) -> None:
    got = _updates(answer)
    expected = reference_step(inputs, 1.0, 1.0)["gradients"]
    if all(np.allclose(update, 0.0) for update in got):
        raise CheckFailed(
            "The weights did not change: no update was applied.",
            hint="gradients = tape.gradient(loss, self.trainable_weights); "
            "self.optimizer.apply(gradients, self.trainable_weights)",
        )
    if _same_update(got, expected):
        return
    hint = "take the gradient of the weighted loss (the one you report) under tf.GradientTape"
    if len(got) == len(expected) and got[-2].shape == expected[-2].shape:
        ratio = np.sum(got[-2] * expected[-2]) / max(np.sum(expected[-2] ** 2), 1e-30)
        if np.isclose(ratio, _BATCH, rtol=1e-2):
            hint = "the loss was summed over the batch; average it (keras.ops.mean) so the step does not grow with batch size"
        elif np.isclose(ratio, -1.0, rtol=1e-2):
            hint = "the update goes up the gradient: minimize the loss (the NEGATIVE ELBO)"
    raise CheckFailed(
        "One SGD step moved the weights differently from the gradient of the loss.",
        tried=f"one step with SGD(learning_rate={_LEARNING_RATE}) on {_BATCH} images",
        expected="the update of the gradient of reconstruction_weight * reconstruction + "
        "kl_weight * KL, averaged over the batch",
        got="a different update of the weights",
        hint=hint,
    )


def _no_kl_weight(rng: np.random.Generator) -> Inputs:
    return _step_inputs(rng, ((0.0, 1.0),))


@train_step_exercise.probe(
    "kl_weight = 0 trains on reconstruction alone, still reports the KL", inputs=_no_kl_weight
)
def _train_step_zero_kl_probe(MyVAE: Any, inputs: Inputs) -> Any:
    return _one_step(MyVAE, inputs, updates=ENCODER)


@train_step_exercise.verdict("kl_weight = 0 trains on reconstruction alone, still reports the KL")
def _train_step_zero_kl_verdict(inputs: Inputs, answer: Any) -> None:
    got_values = _metric_values(answer["metrics"])
    if not got_values["kl_loss"] > 0.0:
        raise CheckFailed(
            "With kl_weight = 0 the KL term should still be measured and reported.",
            expected="kl_loss > 0",
            got=f"kl_loss = {got_values['kl_loss']:.4g}",
            hint="update self.kl_loss_tracker with the unweighted KL; the weight only enters the loss",
        )
    expected = reference_step(inputs, 0.0, 1.0)["gradients"][ENCODER]
    if not _same_update(_updates(answer), expected):
        raise CheckFailed(
            "With kl_weight = 0 the encoder's update should come from the reconstruction term alone.",
            tried="kl_weight = 0, reconstruction_weight = 1, one SGD step",
            expected="the encoder update of the reconstruction term only",
            got="a different update (the KL term still pushes the encoder)",
            hint="multiply the KL term by self._kl_weight (a variable) in the loss you differentiate",
        )


@train_step_exercise.probe("updates the three metric trackers", inputs=_unit_weights)
def _train_step_trackers_probe(MyVAE: Any, inputs: Inputs) -> Any:
    model = _student_model(MyVAE, inputs, 1.0, 1.0)
    first = _step(model, inputs["x"])
    second = _step(model, inputs["x"])
    trackers = {
        "loss": model.loss_tracker,
        "reconstruction_loss": model.reconstruction_loss_tracker,
        "kl_loss": model.kl_loss_tracker,
    }
    return {
        "first": first,
        "second": second,
        "trackers": {
            key: {"count": describe(tracker.count), "result": describe(tracker.result())}
            for key, tracker in trackers.items()
        },
    }


@train_step_exercise.verdict("updates the three metric trackers")
def _train_step_trackers_verdict(inputs: Inputs, answer: Any) -> None:
    second = answer["second"]
    for key in _KEYS:
        tracker = answer["trackers"][key]
        count = number_of(tracker["count"], "a tracker's count")
        result = number_of(tracker["result"], "a tracker's result")
        returned = number_of(second[key], f"the value of {key!r}") if key in second else None
        if count != 2 or returned is None or not np.isclose(result, returned, rtol=1e-5):
            raise CheckFailed(
                f"self.{'loss_tracker' if key == 'loss' else key + '_tracker'} should be updated "
                "once per step, and its result returned.",
                tried="two train steps",
                expected=f"the tracker counted 2 batches; returned {key} = the tracker's running mean",
                got=f"the tracker counted {count:g}; returned {key} = "
                f"{'nothing' if returned is None else f'{returned:.4g}'}",
                hint="tracker.update_state(value) for each term, then return "
                "{m.name: m.result() for m in self.metrics}",
            )


def _fit_inputs(rng: np.random.Generator) -> Inputs:
    inputs = _step_inputs(rng, ((1.0, 1.0),))
    inputs["x"] = np.concatenate([inputs["x"], inputs["x"][::-1]])
    inputs["eps"] = rng.normal(size=(2 * _BATCH, _LATENT)).astype(np.float32)
    return inputs


@train_step_exercise.probe("trains with fit() in a compiled graph", inputs=_fit_inputs)
def _train_step_fit_probe(MyVAE: Any, inputs: Inputs) -> Any:
    model = _student_model(MyVAE, inputs, 1.0, 1.0)
    model.compile(jit_compile=False)  # a tf.function graph; XLA would add ~10 s here
    try:
        history = model.fit(inputs["x"], batch_size=2 * _BATCH, epochs=1, verbose=0, shuffle=False)
    except NotImplementedError:
        raise  # the stub: reported as "not written yet"
    except Exception as error:  # noqa: BLE001 - explain any failure of the compiled step
        first_line = str(error).splitlines()[0][:200] if str(error) else ""
        raise CheckFailed(
            "train_step failed when fit() compiled it into a graph.",
            got=f"{type(error).__name__}: {first_line}",
            hint="use keras.ops / tf operations only: no .numpy(), float() or Python if on tensors, "
            "and the weight variables self._kl_weight, not the float property self.kl_weight",
        ) from None
    return {key[:100]: describe(values) for key, values in list(history.history.items())[:10]}


@train_step_exercise.verdict("trains with fit() in a compiled graph")
def _train_step_fit_verdict(inputs: Inputs, answer: Any) -> None:
    missing = [key for key in _KEYS if key not in answer]
    if missing:
        raise CheckFailed(
            "fit() should show loss, reconstruction_loss and kl_loss.",
            got=f"history keys {sorted(answer)[:10]}",
        )
    for key in _KEYS:
        raise_if_raised(answer[key])
        array_of(answer[key], f"fit()'s {key}")
