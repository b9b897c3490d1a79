"""Checks for lesson 03 (the variational autoencoder).

Three exercises:

- ``Sampling``: a Keras layer, ``call([mu, log_var]) -> mu + exp(log_var / 2) * eps``.
- ``kl_divergence(mu, log_var)``: KL(N(mu, diag exp(log_var)) || N(0, I)) per image, in
  nats, **summed** over the latent dimensions, shape ``(N,)``.
- ``train_step``: a subclass of ``vae_tf.models.VAE`` (``MyVAE`` in the notebook) whose
  ``train_step`` the student writes; checked against the package's own step on the same
  weights, batch and noise.

Each check compares against a reference computed here (NumPy, or the package's
``VAE.train_step``) and explains a failure in plain words.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vae_tf.grading.exercises._helpers import to_numpy
from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "03_vae"


def _tensor(array: Any):
    import tensorflow as tf

    return tf.constant(np.asarray(array, dtype=np.float32))


def _fmt(array: np.ndarray, precision: int = 3) -> str:
    return np.array2string(np.asarray(array), precision=precision, suppress_small=True)


# --------------------------------------------------------------------------- Sampling

sampling_exercise = exercise(
    "sampling",
    lesson=LESSON,
    symbol="Sampling",
    description="the reparameterization trick as a Keras layer: z = mu + exp(log_var / 2) * eps",
)


def _make_layer(Sampling: Any):
    import keras

    if not (isinstance(Sampling, type) and issubclass(Sampling, keras.layers.Layer)):
        raise CheckFailed(
            "Sampling should be a class that subclasses keras.layers.Layer.",
            got=repr(Sampling)[:80],
            hint="class Sampling(keras.layers.Layer): ... with a call(self, inputs) method",
        )
    return Sampling()


def _keras_message(error: BaseException) -> str:
    """The student's own message from inside Keras' "Exception encountered when calling" wrapper."""
    text = str(error)
    if "\x1b[1m" in text and "\x1b[0m" in text:
        return text.split("\x1b[1m", 1)[1].split("\x1b[0m", 1)[0].strip()
    return text


def _call_layer(layer: Any, inputs: list) -> Any:
    """``layer(inputs)``, with Keras' wrapping removed from an error the student's call() raised."""
    try:
        return layer(inputs)
    except Exception as error:  # noqa: BLE001 - re-raised, unwrapped (a stub's too)
        try:
            unwrapped = type(error)(_keras_message(error))
        except Exception:  # noqa: BLE001 - an exception type with another signature
            raise error from None
        raise unwrapped from None


def _sample(layer: Any, mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    return to_numpy(
        _call_layer(layer, [_tensor(mu), _tensor(log_var)]), "Sampling()([mu, log_var])"
    )


@sampling_exercise.add_check("returns z with the shape of mu")
def _sampling_shape(Sampling: Any) -> None:
    layer = _make_layer(Sampling)
    mu = np.zeros((4, 3), dtype=np.float32)
    z = _sample(layer, mu, np.zeros_like(mu))
    if z.shape != (4, 3):
        raise CheckFailed(
            "z should have one value per image and latent dimension, like mu.",
            tried="mu and log_var of shape (4, 3)",
            expected="z of shape (4, 3)",
            got=f"shape {z.shape}",
            hint="draw eps with keras.random.normal(keras.ops.shape(mu)), the shape of mu",
        )


@sampling_exercise.add_check("samples have mean mu and standard deviation exp(log_var / 2)")
def _sampling_moments(Sampling: Any) -> None:
    layer = _make_layer(Sampling)
    count = 20000
    mu = np.tile(np.array([[1.0, -2.0, 0.5]], dtype=np.float32), (count, 1))
    sigma = np.array([1.0, 2.0, 0.5])
    log_var = np.tile(np.log(sigma**2).astype(np.float32)[None, :], (count, 1))
    z = _sample(layer, mu, log_var)
    if z.shape != mu.shape or not np.all(np.isfinite(z)):
        raise CheckFailed(
            "z should be finite and have the shape of mu.",
            tried=f"mu and log_var of shape {mu.shape}",
            got=f"shape {z.shape}" + ("" if np.all(np.isfinite(z)) else ", with inf or NaN"),
        )
    mean, std = z.mean(axis=0), z.std(axis=0)
    # Standard error of the mean is sigma / sqrt(20000) <= 0.015; of the std, about 0.5%.
    mean_ok = np.all(np.abs(mean - mu[0]) < 5 * sigma / np.sqrt(count))
    std_ok = np.all(np.abs(std / sigma - 1.0) < 0.04)
    if mean_ok and std_ok:
        return
    hint = "z = mu + exp(0.5 * log_var) * eps with eps ~ N(0, 1)"
    if mean_ok and np.allclose(std, sigma**2, rtol=0.04):
        hint = "you used exp(log_var), which is the VARIANCE; the standard deviation is exp(log_var / 2)"
    elif mean_ok and np.allclose(std, np.log(sigma**2) ** 2, rtol=0.04):
        hint = "log_var is a log-variance: the standard deviation is exp(log_var / 2), not log_var"
    elif not mean_ok:
        hint = "the samples should be centred on mu: z = mu + sigma * eps with eps of mean 0"
    raise CheckFailed(
        "The samples do not have the right mean and spread.",
        tried="20,000 draws with mu = [1, -2, 0.5] and sigma = [1, 2, 0.5] (log_var = log sigma^2)",
        expected=f"mean ~ {_fmt(mu[0])}, standard deviation ~ {_fmt(sigma)}",
        got=f"mean {_fmt(mean)}, standard deviation {_fmt(std)}",
        hint=hint,
    )


@sampling_exercise.add_check("lets the gradient flow to mu and log_var")
def _sampling_gradient(Sampling: Any) -> None:
    import tensorflow as tf

    layer = _make_layer(Sampling)
    mu = tf.Variable(np.array([[0.3, -0.7]] * 8, dtype=np.float32))
    log_var = tf.Variable(np.array([[0.2, -1.0]] * 8, dtype=np.float32))
    with tf.GradientTape() as tape:
        z = _call_layer(layer, [mu, log_var])
        total = tf.reduce_sum(tf.convert_to_tensor(z))
    grad_mu, grad_log_var = tape.gradient(total, [mu, log_var])
    if grad_mu is None or grad_log_var is None:
        missing = " and ".join(
            name for name, grad in (("mu", grad_mu), ("log_var", grad_log_var)) if grad is None
        )
        raise CheckFailed(
            f"No gradient reaches {missing}: the encoder could not learn.",
            tried="d(sum z) / d(mu) and d(sum z) / d(log_var) with tf.GradientTape",
            expected="a gradient for both",
            got=f"None for {missing}",
            hint="compute z with keras.ops / TensorFlow operations on mu and log_var; "
            "no NumPy, no .numpy(), no stop_gradient",
        )
    grad_mu = grad_mu.numpy()
    z = np.asarray(z)
    eps = (z - mu.numpy()) / np.exp(0.5 * log_var.numpy())
    expected_log_var = 0.5 * np.exp(0.5 * log_var.numpy()) * eps
    if not np.allclose(grad_mu, 1.0, atol=1e-5) or not np.allclose(
        grad_log_var.numpy(), expected_log_var, rtol=1e-3, atol=1e-5
    ):
        raise CheckFailed(
            "The gradients are not those of z = mu + exp(log_var / 2) * eps.",
            tried="d(sum z) / d(mu) and d(sum z) / d(log_var)",
            expected="1 for mu, and 0.5 * exp(log_var / 2) * eps for log_var",
            got=f"{_fmt(grad_mu[0])} for mu, {_fmt(grad_log_var.numpy()[0])} for log_var",
            hint="eps is drawn independently of mu and log_var; z is linear in mu",
        )


@sampling_exercise.add_check("draws new noise on every call")
def _sampling_random(Sampling: Any) -> None:
    layer = _make_layer(Sampling)
    mu = np.zeros((5, 2), dtype=np.float32)
    log_var = np.zeros_like(mu)
    first, second = _sample(layer, mu, log_var), _sample(layer, mu, log_var)
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
)


def _kl(kl_divergence: Any, mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    return to_numpy(kl_divergence(_tensor(mu), _tensor(log_var)), "kl_divergence")


@kl_exercise.add_check("returns one value per image")
def _kl_shape(kl_divergence: Any) -> None:
    rng = np.random.default_rng(0)
    mu, log_var = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    result = _kl(kl_divergence, mu, log_var)
    if result.shape != (5,):
        hint = "sum over the latent axis only (axis=-1)"
        if result.shape == ():
            hint = "do not average over the batch here: return one KL per image"
        elif result.shape == (5, 3):
            hint = "sum the per-dimension terms over the latent axis (axis=-1)"
        raise CheckFailed(
            "The KL should hold one number per image.",
            tried="mu and log_var of shape (5, 3)",
            expected="shape (5,)",
            got=f"shape {result.shape}",
            hint=hint,
        )


@kl_exercise.add_check("is 0 when q(z|x) is the prior N(0, I)")
def _kl_zero(kl_divergence: Any) -> None:
    zeros = np.zeros((3, 4))
    result = _kl(kl_divergence, zeros, zeros).reshape(-1)
    if result.size != 3 or not np.allclose(result, 0.0, atol=1e-6):
        raise CheckFailed(
            "KL(N(0, I) || N(0, I)) should be exactly 0.",
            tried="mu = 0, log_var = 0 (so sigma = 1), shape (3, 4)",
            expected="[0. 0. 0.]",
            got=_fmt(result),
            hint="KL = -1/2 * sum(1 + log_var - mu^2 - exp(log_var)); check the '1 +' term",
        )


@kl_exercise.add_check("matches the closed form on random input")
def _kl_values(kl_divergence: Any) -> None:
    rng = np.random.default_rng(1)
    mu = rng.normal(0.0, 1.5, size=(6, 4))
    log_var = rng.normal(0.0, 1.0, size=(6, 4))
    expected = reference_kl(mu, log_var)
    result = _kl(kl_divergence, mu, log_var).reshape(-1)
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
        tried="mu ~ N(0, 1.5^2), log_var ~ N(0, 1), shape (6, 4)",
        expected=f"{_fmt(expected)} nats per image",
        got=_fmt(result),
        hint=hint,
    )


@kl_exercise.add_check("sums over latent dimensions (does not average)")
def _kl_sums(kl_divergence: Any) -> None:
    # The same one-dimensional posterior repeated in 1 and in 8 dimensions: 8 times the KL.
    mu1, log_var1 = np.array([[1.0]]), np.array([[-0.5]])
    one = _kl(kl_divergence, mu1, log_var1).reshape(-1)
    eight = _kl(kl_divergence, np.tile(mu1, (1, 8)), np.tile(log_var1, (1, 8))).reshape(-1)
    single = reference_kl(mu1, log_var1)[0]
    if one.size != 1 or eight.size != 1 or not np.isclose(eight[0], 8 * single, rtol=1e-4):
        raise CheckFailed(
            "Independent latent dimensions add up: 8 copies of a dimension should give 8 times its KL.",
            tried="mu = 1, log_var = -0.5 in 1 dimension, then the same in 8 dimensions",
            expected=f"{single:.4f} and {8 * single:.4f} nats",
            got=f"{_fmt(one)} and {_fmt(eight)}",
            hint="sum over the latent axis; averaging would make the KL weaker as latent_dim grows",
        )


# --------------------------------------------------------------------------- train_step

train_step_exercise = exercise(
    "train_step",
    lesson=LESSON,
    symbol="MyVAE",
    description="a VAE subclass with a hand-written train_step: two terms, weighted sum, gradient, update",
)

_BATCH = 16
_LATENT = 2
_LEARNING_RATE = 0.01


def _batch() -> np.ndarray:
    """16 fixed grey-level 'images': blurry blobs, so that the loss has a useful gradient."""
    rng = np.random.default_rng(0)
    x = rng.random((_BATCH, 28, 28, 1)).astype(np.float32)
    x[:, :6] = 0.0
    x[:, -6:] = 0.0
    return x


def _fixed_sampling(eps: np.ndarray):
    """A sampling layer whose noise is fixed, so that two models see the same z."""
    import keras

    class FixedSampling(keras.layers.Layer):
        def call(self, inputs):
            mu, log_var = inputs
            return mu + keras.ops.exp(0.5 * log_var) * keras.ops.convert_to_tensor(eps)

    return FixedSampling(name="sampling")


def _prepare(model: Any, eps: np.ndarray) -> None:
    import keras

    model.sampling = _fixed_sampling(eps)
    # Plain SGD: the change of each weight is learning_rate * gradient, easy to compare.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=_LEARNING_RATE), jit_compile=False)


def _make_models(MyVAE: Any, *, kl_weight: float = 1.0, reconstruction_weight: float = 1.0):
    """The student's model and a reference ``vae_tf.models.VAE`` with the same weights and noise."""
    from vae_tf.models import VAE

    if not (isinstance(MyVAE, type) and issubclass(MyVAE, VAE)):
        raise CheckFailed(
            "MyVAE should be a class that subclasses vae_tf.models.VAE.",
            got=repr(MyVAE)[:80],
            hint="class MyVAE(VAE): def train_step(self, data): ...",
        )
    student = MyVAE(
        latent_dim=_LATENT, kl_weight=kl_weight, reconstruction_weight=reconstruction_weight, seed=0
    )
    reference = VAE(
        latent_dim=_LATENT, kl_weight=kl_weight, reconstruction_weight=reconstruction_weight, seed=0
    )
    reference.encoder.set_weights(student.encoder.get_weights())
    reference.decoder.set_weights(student.decoder.get_weights())
    eps = np.random.default_rng(1).normal(size=(_BATCH, _LATENT)).astype(np.float32)
    _prepare(student, eps)
    _prepare(reference, eps)
    return student, reference


def _step(model: Any, x: np.ndarray, who: str) -> dict[str, float]:
    result = model.train_step(_tensor(x))
    if not isinstance(result, dict):
        raise CheckFailed(
            "train_step should return a dict of metric values.",
            expected="{'loss': ..., 'reconstruction_loss': ..., 'kl_loss': ...}",
            got=f"a {type(result).__name__}",
            hint="return {m.name: m.result() for m in self.metrics}",
        )
    values = {}
    for key, value in result.items():
        array = to_numpy(value, f"{who}: the value of {key!r}")
        values[key] = float(array.reshape(-1)[0]) if array.size == 1 else float("nan")
    return values


def _weights(model: Any) -> list[np.ndarray]:
    return [
        np.asarray(w, dtype=np.float64)
        for w in model.encoder.get_weights() + model.decoder.get_weights()
    ]


def _updates(before: list[np.ndarray], after: list[np.ndarray]) -> list[np.ndarray]:
    return [(b - a) / _LEARNING_RATE for b, a in zip(before, after, strict=True)]


def _same_update(got: list[np.ndarray], expected: list[np.ndarray], part: slice) -> bool:
    return all(
        np.allclose(g, e, rtol=1e-3, atol=1e-3 * (np.abs(e).max() + 1e-6))
        for g, e in zip(got[part], expected[part], strict=True)
    )


ENCODER = slice(0, 4)  # hidden kernel, bias, mu_and_log_var kernel, bias
DECODER = slice(4, 8)


@train_step_exercise.add_check("returns loss, reconstruction_loss and kl_loss")
def _train_step_keys(MyVAE: Any) -> None:
    student, reference = _make_models(MyVAE)
    x = _batch()
    got = _step(student, x, "train_step")
    missing = [key for key in ("loss", "reconstruction_loss", "kl_loss") if key not in got]
    if missing:
        raise CheckFailed(
            "train_step should return the three metrics that fit shows.",
            expected="keys 'loss', 'reconstruction_loss', 'kl_loss'",
            got=f"keys {sorted(got)}",
            hint="return {m.name: m.result() for m in self.metrics}",
        )
    expected = _step(reference, x, "the reference")
    for key in ("reconstruction_loss", "kl_loss"):
        if not np.isclose(got[key], expected[key], rtol=1e-4):
            what = "KL term" if key == "kl_loss" else "reconstruction term"
            raise CheckFailed(
                f"The {what} of the batch is wrong.",
                tried=f"one step on {_BATCH} fixed images, weights 1 and 1",
                expected=f"{key} = {expected[key]:.4f} nats per image (averaged over the batch)",
                got=f"{got[key]:.4f}",
                hint="encode, sample z with self.sampling([mu, log_var]), decode to logits; "
                "each term per image from vae_tf.losses, then keras.ops.mean over the batch",
            )


@train_step_exercise.add_check("loss is the weighted sum of the two terms")
def _train_step_sum(MyVAE: Any) -> None:
    for kl_weight, reconstruction_weight in ((1.0, 1.0), (0.25, 2.0)):
        student, _ = _make_models(
            MyVAE, kl_weight=kl_weight, reconstruction_weight=reconstruction_weight
        )
        got = _step(student, _batch(), "train_step")
        if not {"loss", "reconstruction_loss", "kl_loss"} <= set(got):
            raise CheckFailed(
                "train_step should return 'loss', 'reconstruction_loss' and 'kl_loss'."
            )
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


@train_step_exercise.add_check("updates the weights along the gradient of the loss")
def _train_step_update(MyVAE: Any) -> None:
    student, reference = _make_models(MyVAE)
    x = _batch()
    before = _weights(student)
    _step(student, x, "train_step")
    _step(reference, x, "the reference")
    got, expected = _updates(before, _weights(student)), _updates(before, _weights(reference))
    if all(np.allclose(update, 0.0) for update in got):
        raise CheckFailed(
            "The weights did not change: no update was applied.",
            hint="gradients = tape.gradient(loss, self.trainable_weights); "
            "self.optimizer.apply(gradients, self.trainable_weights)",
        )
    if _same_update(got, expected, slice(None)):
        return
    ratio = np.sum(got[-2] * expected[-2]) / max(np.sum(expected[-2] ** 2), 1e-30)
    hint = "take the gradient of the weighted loss (the one you report) under tf.GradientTape"
    if np.isclose(ratio, _BATCH, rtol=1e-2):
        hint = "the loss was summed over the batch; average it (keras.ops.mean) so the step does not grow with batch size"
    elif np.isclose(ratio, -1.0, rtol=1e-2):
        hint = "the update goes up the gradient: minimize the loss (the NEGATIVE ELBO)"
    raise CheckFailed(
        "One SGD step moved the weights differently from the gradient of the loss.",
        tried=f"one step with SGD(learning_rate={_LEARNING_RATE}) on {_BATCH} fixed images",
        expected=f"decoder output bias changed by {_fmt(-_LEARNING_RATE * expected[-1][:3], 5)}...",
        got=f"{_fmt(-_LEARNING_RATE * got[-1][:3], 5)}...",
        hint=hint,
    )


@train_step_exercise.add_check("kl_weight = 0 trains on reconstruction alone, still reports the KL")
def _train_step_zero_kl(MyVAE: Any) -> None:
    student, reference = _make_models(MyVAE, kl_weight=0.0)
    x = _batch()
    before = _weights(student)
    got_values = _step(student, x, "train_step")
    _step(reference, x, "the reference")
    if not got_values.get("kl_loss", 0.0) > 0.0:
        raise CheckFailed(
            "With kl_weight = 0 the KL term should still be measured and reported.",
            expected="kl_loss > 0",
            got=f"kl_loss = {got_values.get('kl_loss')}",
            hint="update self.kl_loss_tracker with the unweighted KL; the weight only enters the loss",
        )
    got, expected = _updates(before, _weights(student)), _updates(before, _weights(reference))
    if not _same_update(got, expected, ENCODER):
        raise CheckFailed(
            "With kl_weight = 0 the encoder's update should come from the reconstruction term alone.",
            tried="kl_weight = 0, reconstruction_weight = 1, one SGD step",
            expected="the encoder update of the reconstruction term only",
            got="a different update (the KL term still pushes the encoder)",
            hint="multiply the KL term by self._kl_weight (a variable) in the loss you differentiate",
        )


@train_step_exercise.add_check("updates the three metric trackers")
def _train_step_trackers(MyVAE: Any) -> None:
    student, _ = _make_models(MyVAE)
    x = _batch()
    first = _step(student, x, "train_step")
    second = _step(student, x, "train_step")
    trackers = {
        "loss": student.loss_tracker,
        "reconstruction_loss": student.reconstruction_loss_tracker,
        "kl_loss": student.kl_loss_tracker,
    }
    for key, tracker in trackers.items():
        count = float(np.asarray(tracker.count))
        if (
            count != 2
            or key not in second
            or not np.isclose(float(tracker.result()), second[key], rtol=1e-5)
        ):
            raise CheckFailed(
                f"self.{'loss_tracker' if key == 'loss' else key + '_tracker'} should be updated "
                "once per step, and its result returned.",
                tried="two train steps",
                expected=f"the tracker counted 2 batches; returned {key} = the tracker's running mean",
                got=f"the tracker counted {count:g}; returned {key} = {second.get(key)} "
                f"(first step {first.get(key)})",
                hint="tracker.update_state(value) for each term, then return "
                "{m.name: m.result() for m in self.metrics}",
            )


@train_step_exercise.add_check("trains with fit() in a compiled graph")
def _train_step_fit(MyVAE: Any) -> None:
    start = time.perf_counter()
    from vae_tf.models import VAE

    if not (isinstance(MyVAE, type) and issubclass(MyVAE, VAE)):
        raise CheckFailed("MyVAE should be a class that subclasses vae_tf.models.VAE.")
    student = MyVAE(latent_dim=_LATENT, seed=0)
    student.compile(jit_compile=False)  # a tf.function graph; XLA would add ~10 s here
    x = np.concatenate([_batch(), _batch()])
    try:
        history = student.fit(x, batch_size=32, epochs=1, verbose=0)
    except NotImplementedError:
        raise  # the stub: reported as "not written yet"
    except Exception as error:  # noqa: BLE001 - explain any failure of the compiled step
        raise CheckFailed(
            "train_step failed when fit() compiled it into a graph.",
            got=f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}",
            hint="use keras.ops / tf operations only: no .numpy(), float() or Python if on tensors, "
            "and the weight variables self._kl_weight, not the float property self.kl_weight",
        ) from None
    missing = [
        key for key in ("loss", "reconstruction_loss", "kl_loss") if key not in history.history
    ]
    if missing:
        raise CheckFailed(
            "fit() should show loss, reconstruction_loss and kl_loss.",
            got=f"history keys {sorted(history.history)}",
        )
    seconds = time.perf_counter() - start
    if seconds > 60:
        raise CheckFailed(
            f"One epoch on 32 images took {seconds:.0f} s; something is far too slow."
        )
