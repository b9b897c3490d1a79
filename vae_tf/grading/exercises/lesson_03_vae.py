"""Checks for lesson 03 (the variational autoencoder).

Four exercises:

- ``build_encoder(latent_dim, hidden_units)``: the encoder q(z|x) with its two heads,
  ``mu`` and ``log_var``, each (N, latent_dim); ``log_var`` unbounded.
- ``Sampling``: a Keras layer, ``call([mu, log_var]) -> mu + exp(log_var / 2) * eps``.
- ``kl_divergence(mu, log_var)``: KL(N(mu, diag exp(log_var)) || N(0, I)) per image, in
  nats, **summed** over the latent dimensions, shape ``(N,)``.
- ``train_step``: a subclass of ``vae_tf.models.VAE`` (``MyVAE`` in the notebook) whose
  ``train_step`` the student writes. The probe sets the judge's weights, batch and noise
  and reports the metrics and the raw weights after one SGD step; the verdict compares the
  metrics, and the update (the judge's weights minus those), with a NumPy forward and
  backward pass of the same VAE, computed on the judge's side. Metrics consistent only
  with each other (zeros, trackers read without a step) earn nothing: the loss, trackers
  and ``fit`` checks also recompute the terms, and ``fit`` and the trackers the second
  step's terms after the judge's own SGD step.
  The encoder's weights make sigma tiny (about 1e-4) in the checks of values and updates,
  so that a step with its own correct reparameterization (its own noise) passes too.
  While the probes run the step, the student's names ``kl_divergence`` and ``Sampling``
  point to stand-ins (``_other_answers_replaced``): each exercise is judged on its own.

Each check's inputs are drawn from the run's seed, and each failure is explained in
plain words.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, number_of
from vae_tf.grading.exercises._helpers import (
    activation_named,
    affine_residual,
    call_each,
    counted_parameters,
    finite_values,
    gradients_described,
    gradients_of,
    head_activation_message,
    keras_message,
    outputs_described,
    parameters_described,
    recorded,
    require,
    require_gradients,
    require_no_error,
    require_values,
    set_controlled_weights,
    tensor,
)
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "03_vae"


@judge_only
def _fmt(array: Any, precision: int = 3) -> str:
    return np.array2string(np.asarray(array), precision=precision, suppress_small=True)


# --------------------------------------------------------------------------- build_encoder

encoder_exercise = exercise(
    "build_encoder",
    lesson=LESSON,
    points=8,
    symbol="build_encoder",
    description="the encoder q(z|x): images -> [mu, log_var], two heads of latent_dim each",
    references=("vae_tf.models:build_encoder",),
    hints=(
        "The encoder maps images (N, 28, 28, 1) to TWO tensors of shape (N, latent_dim): the "
        "mean mu and the log-variance log_var of q(z|x).",
        "Use the Keras functional API: keras.Input(shape=(28, 28, 1)), Flatten, one hidden "
        "Dense layer with hidden_units ReLU units, then keras.Model(inputs, [mu, log_var]).",
        "mu and log_var are two heads on the same hidden layer, each a Dense layer of "
        "latent_dim units. A log-variance may be any real number: which activation allows that?",
    ),
)


def _encoder_model(build_encoder: Any, latent_dim: int, hidden_units: int) -> Any:
    import keras

    if not callable(build_encoder):
        raise CheckFailed("build_encoder should be a function.", got=repr(build_encoder)[:80])
    model = build_encoder(latent_dim, hidden_units)
    if not isinstance(model, keras.Model):
        raise CheckFailed(
            "build_encoder should return a keras.Model.",
            tried=f"build_encoder({latent_dim}, {hidden_units})",
            got=f"a {type(model).__name__}",
            hint="return keras.Model(inputs, [mu, log_var])",
        )
    return model


def _encoder_outputs(model: Any, x: np.ndarray) -> list[Any]:
    outputs = outputs_described(model, x)
    return outputs if isinstance(outputs, list) else [outputs]


def _encoder_parameters_probe(build_encoder: Any, inputs: Inputs) -> Any:
    # Also the shapes check's: the right shapes from no network (zeros, linear heads) earn nothing.
    model = _encoder_model(build_encoder, inputs["latent_dim"], inputs["hidden_units"])
    # The call first: a subclassed model has no weights until it is built by one.
    outputs = _encoder_outputs(model, inputs["x"])
    return {**parameters_described(model), "outputs": outputs}


def _encoder_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "latent_dim": int(rng.integers(3, 7)),
        "hidden_units": int(rng.integers(8, 33)),
        "x": rng.random((int(rng.integers(4, 9)), 28, 28, 1)).astype(np.float32),
        "weight_seed": int(rng.integers(2**31)),
    }


@judge_only
def _two_heads(inputs: Inputs, answer: Any) -> tuple[np.ndarray, np.ndarray]:
    """mu and log_var from the answer; a CheckFailed naming the shape mistake otherwise."""
    count, latent_dim = len(inputs["x"]), inputs["latent_dim"]
    expected = (count, latent_dim)
    if len(answer) != 2:
        raise CheckFailed(
            "The encoder should return two tensors, [mu, log_var].",
            tried=f"latent_dim = {latent_dim}, {count} images",
            expected=f"2 outputs of shape {expected}",
            got=f"{len(answer)} output(s)",
            hint="keras.Model(inputs, [mu, log_var]), one Dense head for each",
        )
    mu, log_var = (array_of(item, "the encoder's output") for item in answer)
    if mu.shape != expected or log_var.shape != expected:
        hint = "each head is a Dense layer with latent_dim units"
        if 2 in (mu.shape[-1:] + log_var.shape[-1:]) and latent_dim != 2:
            hint = (
                "a split in chunks of 2 is right only for latent_dim = 2: give each head "
                "latent_dim units"
            )
        raise CheckFailed(
            "mu and log_var should each have one value per image and latent dimension.",
            tried=f"latent_dim = {latent_dim}, {count} images",
            expected=f"mu and log_var of shape {expected}",
            got=f"mu {mu.shape}, log_var {log_var.shape}",
            hint=hint,
        )
    return mu, log_var


@judge_only
def _formed_heads(inputs: Inputs, answer: Any) -> tuple[np.ndarray, np.ndarray]:
    """mu and log_var, as :func:`_two_heads`; a shape mistake is the earlier check's to name."""
    try:
        return _two_heads(inputs, answer)
    except CheckFailed:
        raise CheckFailed("The outputs have the wrong form: fix the earlier check first.") from None


@encoder_exercise.check(
    "returns mu and log_var, each (N, latent_dim)",
    probe=_encoder_parameters_probe,
    inputs=_encoder_inputs,
)
def _encoder_shape_verdict(inputs: Inputs, answer: Any) -> None:
    _two_heads(inputs, answer["outputs"])
    # Then the two heads and the parameters, with their own checks' words.
    _encoder_separate_verdict(inputs, answer)


@encoder_exercise.check(
    "mu and log_var are two different heads",
    probe=_encoder_parameters_probe,
    inputs=_encoder_inputs,
)
def _encoder_separate_verdict(inputs: Inputs, answer: Any) -> None:
    mu, log_var = _formed_heads(inputs, answer["outputs"])
    if np.allclose(mu, log_var):
        raise CheckFailed(
            "mu and log_var are the same numbers: they should come from two different heads.",
            tried=f"latent_dim = {inputs['latent_dim']}",
            got="mu == log_var for every image",
            hint="two Dense layers (or two different halves of one), not the same tensor twice",
        )
    _encoder_parameters_verdict(inputs, answer)  # two different heads of no network: no point


# The heads and the hidden layer are probed with weights set by rule, not drawn at random
# (see `_helpers.set_controlled_weights`): biases 0 and centred kernels make every
# pre-activation centred at 0 and proportional to the input's scale, so the verdicts below
# read the same facts from the outputs on every seed.
INPUT_SCALES = (1.0, 10.0, 100.0, 1000.0)
WRONG_FORM = "The answer has the wrong form: fix the earlier check first."


def _controlled_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "latent_dim": int(rng.integers(3, 7)),
        # At least 16 hidden units: each head unit mixes many features of both signs.
        "hidden_units": int(rng.integers(16, 33)),
        # Images of both signs: every hidden ReLU switches on some and off others.
        "x": rng.normal(0.0, 1.0, size=(64, 28, 28, 1)).astype(np.float32),
        "weight_seed": int(rng.integers(2**31)),
    }


def _controlled_model(build_encoder: Any, inputs: Inputs, sample: np.ndarray) -> Any:
    model = _encoder_model(build_encoder, inputs["latent_dim"], inputs["hidden_units"])
    set_controlled_weights(model, sample, inputs["weight_seed"])
    return model


def _pair_outputs(model: Any, a: np.ndarray, b: np.ndarray) -> list[Any]:
    return [_encoder_outputs(model, x) for x in (a, b, a + b, np.zeros_like(a))]


def _encoder_unbounded_probe(build_encoder: Any, inputs: Inputs) -> Any:
    model = _controlled_model(build_encoder, inputs, inputs["x"][:1])
    # The outputs at a, b, a + b and 0 too: a network with no hidden layer has linear
    # heads that are unbounded, so this point also needs the encoder to be nonlinear.
    return {
        "scales": [_encoder_outputs(model, scale * inputs["x"]) for scale in INPUT_SCALES],
        "pairs": _pair_outputs(model, *np.split(inputs["x"], 2)),
    }


@encoder_exercise.check(
    "mu and log_var can be any real number (no activation on the heads)",
    probe=_encoder_unbounded_probe,
    inputs=_controlled_inputs,
)
def _encoder_unbounded_verdict(inputs: Inputs, answer: Any) -> None:
    scales = len(answer.get("scales", ())) if isinstance(answer, dict) else 0
    require(scales == len(INPUT_SCALES), WRONG_FORM)
    pairs = answer.get("pairs")
    answer = answer["scales"]
    mu, log_var = _formed_heads(inputs, answer[0])
    for index, (name, small) in enumerate((("mu", mu), ("log_var", log_var))):
        every = np.concatenate(
            [finite_values(outputs[index]) for outputs in answer if len(outputs) == 2]
        )
        kind = activation_named(small.ravel(), every)
        if kind is None:
            continue
        what, hint = head_activation_message(name, kind)
        raise CheckFailed(
            what,
            tried="64 images of both signs, scaled by 1 to 1000; weights set so that every "
            "pre-activation is centred at 0 and grows with the input",
            expected=f"{name} values of both signs, growing with the input",
            got=f"{name} between {every.min():.3g} and {every.max():.3g}",
            hint=hint,
        )
    # Unbounded heads of no hidden layer (a linear map) earn nothing: judged from the raw
    # outputs at a, b, a + b and 0 (the first and second halves of the images).
    _require_nonlinear({**inputs, "x": np.split(inputs["x"], 2)[0]}, pairs)


def _pairs_inputs(rng: np.random.Generator) -> Inputs:
    inputs = _controlled_inputs(rng)
    inputs["x"] = rng.normal(0.0, 1.0, size=(2, 16, 28, 28, 1)).astype(np.float32)
    return inputs


def _encoder_nonlinear_probe(build_encoder: Any, inputs: Inputs) -> Any:
    a, b = inputs["x"]
    return _pair_outputs(_controlled_model(build_encoder, inputs, a[:1]), a, b)


@encoder_exercise.check(
    "the hidden layer has an activation (the encoder is not linear)",
    probe=_encoder_nonlinear_probe,
    inputs=_pairs_inputs,
)
def _encoder_nonlinear_verdict(inputs: Inputs, answer: Any) -> None:
    _require_nonlinear({**inputs, "x": inputs["x"][0]}, answer)


@judge_only
def _require_nonlinear(pair_inputs: Inputs, answer: Any) -> None:
    """Fail if mu or log_var is affine in the image, from the raw outputs at a, b, a + b and 0
    (``pair_inputs["x"]`` is a, for the shapes)."""
    require(isinstance(answer, list) and len(answer) == 4, WRONG_FORM)
    heads = [_formed_heads(pair_inputs, outputs) for outputs in answer]
    for index, name in enumerate(("mu", "log_var")):
        residual = affine_residual(*(head[index] for head in heads))
        # Float32 rounding leaves about 1e-6 of a linear map; a ReLU that switches, 1e-1.
        if residual < 1e-3:
            raise CheckFailed(
                f"{name} is a linear function of the image: the hidden layer has no activation, "
                "so the encoder is one linear map (two linear layers in a row are one linear "
                "layer) and cannot bend the data into a code.",
                tried="images a, b and a + b: a linear encoder gives f(a) + f(b) = f(a + b) + f(0)",
                expected="a hidden layer with an activation (ReLU), so that f(a + b) differs",
                got=f"f(a) + f(b) - f(a + b) - f(0) is {residual:.1e} of the outputs' size",
                hint="give the hidden Dense layer activation='relu'",
            )


@encoder_exercise.check(
    "has the parameters of 784 -> hidden_units -> 2 x latent_dim",
    probe=_encoder_parameters_probe,
    inputs=_encoder_inputs,
)
def _encoder_parameters_verdict(inputs: Inputs, answer: Any) -> None:
    latent_dim, hidden = inputs["latent_dim"], inputs["hidden_units"]
    expected = 784 * hidden + hidden + hidden * 2 * latent_dim + 2 * latent_dim
    count = counted_parameters(answer, "the encoder")
    if count != expected:
        hint = "one hidden Dense layer of hidden_units units (use the argument), then the two heads"
        if count == 784 * 512 + 512 + 512 * 2 * latent_dim + 2 * latent_dim:
            hint = "the hidden layer has 512 units whatever hidden_units says: use the argument"
        raise CheckFailed(
            "The encoder has the wrong number of parameters.",
            tried=f"build_encoder({latent_dim}, {hidden})",
            expected=f"{expected:,} (784 -> {hidden} -> two heads of {latent_dim})",
            got=f"{count:,}",
            hint=hint,
        )


# --------------------------------------------------------------------------- Sampling

sampling_exercise = exercise(
    "sampling",
    lesson=LESSON,
    points=8,
    symbol="Sampling",
    description="the reparameterization trick as a Keras layer: z = mu + exp(log_var / 2) * eps",
    references=("vae_tf.models:Sampling.call",),
    hints=(
        "Look at the reparameterization trick in the lesson: z is mu plus sigma times a "
        "standard normal noise eps, element by element, so z has the shape of mu.",
        "Draw eps inside call() with keras.random.normal(shape, seed=self.seed_generator), "
        "shaped with keras.ops.shape(mu): an operation of the graph, so that every call (also "
        "inside a compiled training step) gets new noise. NumPy would draw once, while tracing.",
        "log_var is the log of the variance: sigma = exp(log_var / 2) (keras.ops.exp), not "
        "exp(log_var) and not log_var itself. Use keras.ops throughout, so that the gradient "
        "reaches mu and log_var.",
    ),
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
    calls = inputs["calls"]
    if "moments" in inputs:  # the companion call goes to a layer of its own, as in its check
        calls = calls[:-1]
    answers = call_each(lambda mu, log_var: _call_layer(layer, [mu, log_var]), calls, tensors=True)
    if "moments" in inputs:
        answers += _sample_each(Sampling, {"calls": inputs["calls"][-1:]})
    return answers


def _shape_inputs(rng: np.random.Generator) -> Inputs:
    shape = (int(rng.integers(3, 9)), int(rng.integers(2, 6)))
    mu = rng.normal(size=shape).astype(np.float32)
    return {"calls": [((mu, rng.normal(size=shape).astype(np.float32)), {})]}


def _with_moments(inputs_function: Any) -> Any:
    """``inputs_function`` plus one more call, the moments check's: the right answer's samples
    have mean mu and spread sigma, which z = mu, zeros or noise alone do not."""

    def inputs(rng: np.random.Generator) -> Inputs:
        drawn = inputs_function(rng)
        drawn["moments"] = _moments_inputs(rng)
        drawn["calls"] = [*drawn.get("calls", []), drawn["moments"]["calls"][0]]
        return drawn

    return inputs


@judge_only
def _require_moments(inputs: Inputs, answer: Any) -> None:
    _sampling_moments_verdict(inputs["moments"], [answer[-1]])


@sampling_exercise.check(
    "returns z with the shape of mu", probe=_sample_each, inputs=_with_moments(_shape_inputs)
)
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
    _require_moments(inputs, answer)  # z of the right shape: mu itself, zeros or noise alone?


def _moments_inputs(rng: np.random.Generator) -> Inputs:
    count = 20000
    centre = rng.uniform(-2.0, 2.0, size=3).astype(np.float32)
    # sigma well away from 1 (and from 0.70, where |log_var| = sigma): there the variance,
    # the standard deviation and |log_var| differ by far more than the sampling noise.
    sigma = np.where(
        rng.random(3) < 0.5, rng.uniform(0.3, 0.6, size=3), rng.uniform(1.5, 2.5, size=3)
    ).astype(np.float32)
    mu = np.tile(centre[None, :], (count, 1))
    log_var = np.tile(np.log(sigma**2)[None, :], (count, 1)).astype(np.float32)
    return {"calls": [((mu, log_var), {})], "sigma": sigma}


@judge_only
def _draws(inputs: Inputs, answer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mu, sigma and the layer's draws z of the moments inputs (float64)."""
    (mu, _), _ = inputs["calls"][0]
    z = array_of(answer[0], "Sampling()([mu, log_var])").astype(np.float64)
    return mu, inputs["sigma"].astype(np.float64), z


@sampling_exercise.check(
    "samples have mean mu and standard deviation exp(log_var / 2)",
    probe=_sample_each,
    inputs=_moments_inputs,
)
def _sampling_moments_verdict(inputs: Inputs, answer: Any) -> None:
    mu, sigma, z = _draws(inputs, answer)
    if z.shape != mu.shape:
        raise CheckFailed(
            "z should have the shape of mu.",
            tried=f"mu and log_var of shape {mu.shape}",
            got=f"shape {z.shape}",
        )
    count = len(z)
    mean, std = z.mean(axis=0), z.std(axis=0)
    # Standard error of the mean is std / sqrt(20000) (the spread the layer drew, so that a
    # wrong spread is not also called off-centre); of the std, about 0.5%.
    mean_ok = np.all(np.abs(mean - mu[0]) < 6 * np.maximum(std, sigma) / np.sqrt(count))
    std_ok = np.all(np.abs(std / sigma - 1.0) < 0.04)
    if mean_ok and std_ok:
        return
    what = "The samples do not have the right mean and spread."
    hint = "z = mu + sigma * eps, with eps ~ N(0, 1) and sigma = exp(log_var / 2)"
    if mean_ok and np.allclose(std, sigma**2, rtol=0.04):
        what = "The spread of z is the variance exp(log_var), not the standard deviation."
        hint = "the standard deviation is exp(log_var / 2), the square root of the variance"
    elif mean_ok and np.allclose(std, np.abs(np.log(sigma**2)), rtol=0.04):
        what = "log_var is used as the standard deviation: the spread of z is |log_var|."
        hint = "log_var is a log-variance: the standard deviation is exp(log_var / 2)"
    elif np.allclose(std, 0.0, atol=1e-6):
        what = (
            "z does not vary from one draw to the next: no noise is added (z = mu), or one "
            "noise value is shared by every image."
        )
        hint = "draw eps with the full shape of mu, one value per image and latent dimension"
    elif not mean_ok:
        what = "The samples are not centred on mu."
        hint = "z = mu + sigma * eps with eps of mean 0"
    raise CheckFailed(
        what,
        tried="20,000 draws with one mu and sigma per dimension (log_var = log sigma^2)",
        expected=f"mean ~ {_fmt(mu[0])}, standard deviation ~ {_fmt(sigma)}",
        got=f"mean {_fmt(mean)}, standard deviation {_fmt(std)}",
        hint=hint,
    )


@judge_only
def _normal_cdf(values: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return 0.5 * (1.0 + np.vectorize(erf)(values / sqrt(2.0)))


@sampling_exercise.check(
    "the noise is normal (not uniform)", probe=_sample_each, inputs=_moments_inputs
)
def _sampling_normal_verdict(inputs: Inputs, answer: Any) -> None:
    mu, sigma, z = _draws(inputs, answer)
    require(z.shape == mu.shape, "z has the wrong shape: fix the earlier check first.")
    # The noise the layer drew, standardized with the judge's mu and sigma.
    eps = ((z - mu[0]) / sigma).reshape(-1)
    if not 0.9 < eps.std() < 1.1 or abs(eps.mean()) > 0.1:
        raise CheckFailed("The mean or spread of z is wrong: fix the earlier check first.")
    standard = (eps - eps.mean()) / eps.std()
    count = len(standard)
    excess_kurtosis = float(np.mean(standard**4) - 3.0)
    # Kolmogorov-Smirnov distance to N(0, 1): a normal sample exceeds 3 / sqrt(n) with
    # probability 2 exp(-18), about 3e-8 (uniform noise is 0.05 away, 13 / sqrt(n) here); the
    # standard error of the excess kurtosis of n normal draws is sqrt(24 / n) (0.02 here).
    ordered = np.sort(standard)
    cdf = _normal_cdf(ordered)
    distance = float(
        max(np.max(np.arange(1, count + 1) / count - cdf), np.max(cdf - np.arange(count) / count))
    )
    if distance < 3.0 / np.sqrt(count) and abs(excess_kurtosis) < 10 * np.sqrt(24 / count):
        return
    what = "The noise eps is not standard normal, although its mean and spread are right."
    if excess_kurtosis < -0.8:
        what = (
            "The noise eps is flat-topped, like uniform noise (mean 0 and spread 1 are not "
            "enough: the reparameterization needs eps ~ N(0, I))."
        )
    raise CheckFailed(
        what,
        tried=f"{count:,} values of eps = (z - mu) / sigma",
        expected="a standard normal: excess kurtosis 0, distance to N(0, 1) "
        f"below {3.0 / np.sqrt(count):.4f}",
        got=f"excess kurtosis {excess_kurtosis:.2f}, distance {distance:.4f}",
        hint="draw eps from a NORMAL distribution (keras.random.normal)",
    )


def _mu_and_log_var(rng: np.random.Generator, shape: tuple, low: float = -1.5) -> Inputs:
    return {
        "mu": rng.normal(size=shape).astype(np.float32),
        "log_var": rng.uniform(low, 1.0, size=shape).astype(np.float32),
    }


def _gradient_inputs(rng: np.random.Generator) -> Inputs:
    return _mu_and_log_var(rng, (8, 2))


def _sampling_gradient_probe(Sampling: Any, inputs: Inputs) -> Any:
    layer = _make_layer(Sampling)
    return gradients_described(lambda mu, log_var: _call_layer(layer, [mu, log_var]), inputs)


@sampling_exercise.check(
    "lets the gradient flow to mu and log_var",
    probe=_sampling_gradient_probe,
    inputs=_gradient_inputs,
)
def _sampling_gradient_verdict(inputs: Inputs, answer: Any) -> None:
    require_gradients(
        answer,
        "z",
        "the encoder could not learn.",
        "compute z with keras.ops / TensorFlow operations on mu and log_var; "
        "no NumPy, no .numpy(), no stop_gradient",
    )
    mu, log_var = inputs["mu"].astype(np.float64), inputs["log_var"].astype(np.float64)
    z = array_of(answer["value"], "Sampling()([mu, log_var])").astype(np.float64)
    grad_mu, grad_log_var = gradients_of(answer)
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
    shape = (int(rng.integers(4, 9)), 2)
    mu = rng.normal(size=shape).astype(np.float32)
    # sigma between 0.5 and 2 but never 1, so that log_var is not 0 (and z = mu is visible).
    sigma = rng.uniform(0.5, 0.8, size=shape) * rng.choice([1.0, 2.5], size=shape)
    log_var = np.log(sigma**2).astype(np.float32)
    return {"calls": [((mu, log_var), {})] * 2}


@sampling_exercise.check(
    "draws new noise on every call", probe=_sample_each, inputs=_with_moments(_noise_inputs)
)
def _sampling_noise_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    first, second = (array_of(answer[i], "Sampling()([mu, log_var])") for i in (0, 1))
    require(
        first.shape == mu.shape == second.shape,
        "z has the wrong shape: fix the earlier check first.",
    )
    if np.allclose(first, mu):
        raise CheckFailed("z = mu: no noise is added (see the check of the spread first).")
    if np.allclose(first, second):
        raise CheckFailed(
            "Two calls gave the same z: the noise eps is not drawn afresh.",
            tried="two calls with the same mu and log_var",
            expected="two different random draws",
            got=f"{_fmt(first[0])} and {_fmt(second[0])}",
            hint="draw eps inside call(), with the seed generator created once in __init__",
        )
    _require_moments(inputs, answer)  # noise alone is new on every call too


def _compiled_inputs(rng: np.random.Generator) -> Inputs:
    latent_dim = int(rng.integers(2, 5))
    return _mu_and_log_var(rng, (int(rng.integers(4, 9)), latent_dim), low=-1.0)


def _sampling_compiled_probe(Sampling: Any, inputs: Inputs) -> Any:
    import tensorflow as tf

    layer = _make_layer(Sampling)
    spec = tf.TensorSpec((None, inputs["mu"].shape[1]), tf.float32)

    # As in fit(): a graph traced once, for batches of any size, then called at every step.
    @tf.function(input_signature=[spec, spec])
    def sample(mu, log_var):
        return _call_layer(layer, [mu, log_var])

    mu, log_var = tensor(inputs["mu"]), tensor(inputs["log_var"])
    results = recorded(lambda: [describe(sample(mu, log_var)) for _ in range(2)])
    if isinstance(results, dict):
        return results
    return [*results, *_sample_each(Sampling, {"calls": inputs["calls"][-1:]})]


@sampling_exercise.check(
    "works in a compiled function, with an unknown batch size, new noise each call",
    probe=_sampling_compiled_probe,
    inputs=_with_moments(_compiled_inputs),
)
def _sampling_compiled_verdict(inputs: Inputs, answer: Any) -> None:
    require_no_error(
        answer,
        "The layer fails inside a compiled function (tf.function, as in fit) when the batch "
        "size is unknown until the graph runs.",
        300,
        tried="the layer inside tf.function(input_signature=[TensorSpec((None, d))] * 2)",
        hint="NumPy runs once, while the graph is traced, and cannot see the batch size: draw "
        "eps with keras.random (or tf.random), shaped with keras.ops.shape(mu)",
    )
    mu = inputs["mu"]
    first, second = (array_of(item, "the compiled layer") for item in answer[:2])
    if first.shape != mu.shape or second.shape != mu.shape:
        raise CheckFailed(
            "Inside a compiled function z has the wrong shape.",
            expected=f"shape {mu.shape}",
            got=f"{first.shape}",
        )
    if np.allclose(first, second):
        raise CheckFailed(
            "Inside a compiled function two calls gave the same noise: it was drawn once, when "
            "the function was traced, and then frozen into the graph as a constant.",
            tried="two calls of the compiled layer with the same mu and log_var",
            got=f"{_fmt(first[0])} twice",
            hint="draw eps with keras.random (or tf.random): an operation of the graph, "
            "run at every call (NumPy draws only once, while tracing)",
        )

    _require_moments(inputs, answer)  # noise alone works in a compiled function too


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
    points=4,
    symbol="kl_divergence",
    description="closed-form KL(q(z|x) || N(0, I)), summed over latent dimensions: (N,) nats",
    references=("vae_tf.losses:kl_divergence", "vae_tf.losses:kl_per_dimension"),
    hints=(
        "Look at the closed form in the lesson: per latent dimension the KL is "
        "1/2 (mu^2 + sigma^2 - log sigma^2 - 1), with sigma^2 = exp(log_var) and "
        "log sigma^2 = log_var.",
        "Return one number per image, shape (N,): add the dimensions up along the latent axis "
        "(axis=-1); do not average them, and do not reduce over the batch.",
        "Write it with keras.ops (ops.square, ops.exp, ops.sum) on the tensors, so that the "
        "gradient reaches the encoder: no NumPy.",
    ),
)


def _kl_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return call_each(kl_divergence, inputs["calls"], tensors=True)


def _kl_random_inputs(rng: np.random.Generator) -> Inputs:
    shape = (int(rng.integers(4, 9)), int(rng.integers(2, 6)))
    mu = rng.normal(0.0, 1.5, size=shape).astype(np.float32)
    log_var = rng.normal(0.0, 1.0, size=shape).astype(np.float32)
    return {"calls": [((mu, log_var), {})]}


@kl_exercise.check("returns one value per image", probe=_kl_probe, inputs=_kl_random_inputs)
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
    # One number per image, and the right numbers: zeros of shape (N,) earn nothing.
    mu, log_var = (np.asarray(v, dtype=np.float64) for v in inputs["calls"][0][0])
    require_values(
        result,
        reference_kl(mu, log_var),
        lambda: _kl_values_verdict(inputs, answer),
        what="One number per image, but not the KL divergence of each image.",
    )


def _kl_zero_inputs(rng: np.random.Generator) -> Inputs:
    zeros = np.zeros((int(rng.integers(2, 6)), int(rng.integers(2, 6))), dtype=np.float32)
    # A second call away from the prior: `return 0` is right at the prior only.
    other = _kl_random_inputs(rng)["calls"][0]
    return {"calls": [((zeros, zeros), {}), other]}


@kl_exercise.check("is 0 when q(z|x) is the prior N(0, I)", probe=_kl_probe, inputs=_kl_zero_inputs)
def _kl_zero_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _), _ = inputs["calls"][0]
    result = array_of(answer[0], "kl_divergence")
    require(result.shape == (len(mu),), "The KL has the wrong shape: fix the earlier check first.")
    if not np.allclose(result, 0.0, atol=1e-6):
        raise CheckFailed(
            "KL(N(0, I) || N(0, I)) should be exactly 0.",
            tried=f"mu = 0, log_var = 0 (so sigma = 1), shape {mu.shape}",
            expected=f"{len(mu)} zeros",
            got=_fmt(result[:4]),
            hint="KL = -1/2 * sum(1 + log_var - mu^2 - exp(log_var)); check the '1 +' term",
        )
    (mu, log_var), _ = inputs["calls"][1]
    require_values(
        array_of(answer[1], "kl_divergence").reshape(-1),
        reference_kl(mu.astype(np.float64), log_var.astype(np.float64)),
        lambda: None,
        what="The KL is 0 at the prior, but not right away from it (0 everywhere is not the "
        "KL): fix the check 'matches the closed form on random input' first.",
    )


@kl_exercise.check(
    "matches the closed form on random input", probe=_kl_probe, inputs=_kl_random_inputs
)
def _kl_values_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, log_var), _ = inputs["calls"][0]
    mu, log_var = mu.astype(np.float64), log_var.astype(np.float64)
    expected = reference_kl(mu, log_var)
    result = array_of(answer[0], "kl_divergence").astype(np.float64).reshape(-1)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-4):
        return
    require(
        result.shape == expected.shape, "The KL has the wrong shape: fix the earlier check first."
    )
    what = "The values differ from the closed-form KL divergence."
    hint = "compare your code with the formula term by term: 1, log_var, mu^2, exp(log_var)"
    # Diagnose by the ratio to the closed form, which is the same for every image.
    ratio = result / expected
    latent_dim = mu.shape[1]
    if np.allclose(ratio, ratio[0], rtol=1e-4):
        for factor, text in (
            (
                1.0 / latent_dim,
                "The KL is averaged over the latent dimensions: the convention is "
                f"the SUM (averaging divides it by latent_dim = {latent_dim}).",
            ),
            (-1.0, "The sign is flipped: a KL divergence is never negative."),
            (2.0, "The KL is twice too large: the factor 1/2 is missing."),
            (-2.0, "The sign is flipped and the factor 1/2 is missing."),
            (0.5, "The KL is half the right value: check the factor (1/2, not 1/4)."),
        ):
            if np.isclose(ratio[0], factor, rtol=1e-4):
                what, hint = text, "the closed form is -1/2 * sum over latent dimensions"
                break
    if np.allclose(result, -0.5 * np.sum(1 + log_var - mu**2 - np.exp(2 * log_var), -1)):
        what = "exp(2 * log_var) is used as the variance."
        hint = "the variance is exp(log_var)"
    elif np.allclose(result, expected + 0.5 * latent_dim, rtol=1e-4, atol=1e-4):
        what = (
            "The '1 +' term is missing: KL(N(0, I) || N(0, I)) should be exactly 0, and this "
            f"gives {0.5 * latent_dim:g} there."
        )
        hint = "KL = -1/2 * sum(1 + log_var - mu^2 - exp(log_var)); check the '1 +' term"
    raise CheckFailed(
        what,
        tried=f"mu ~ N(0, 1.5^2), log_var ~ N(0, 1), shape {mu.shape}",
        expected=f"{_fmt(expected[:3])}... nats per image",
        got=f"{_fmt(result[:3])}...",
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


@kl_exercise.check(
    "sums over latent dimensions (does not average)", probe=_kl_probe, inputs=_kl_sums_inputs
)
def _kl_sums_verdict(inputs: Inputs, answer: Any) -> None:
    # The same one-dimensional posterior repeated in 1 and in D dimensions: D times the KL.
    (mu1, log_var1), _ = inputs["calls"][0]
    copies = inputs["copies"]
    one = array_of(answer[0], "kl_divergence").reshape(-1)
    many = array_of(answer[1], "kl_divergence").reshape(-1)
    single = reference_kl(mu1, log_var1)[0]
    require(
        one.size == 1 and np.isclose(one[0], single, rtol=1e-4, atol=1e-6),
        "The KL of a one-dimensional posterior is already wrong: fix the earlier checks first.",
    )
    if one.size != 1 or many.size != 1 or not np.isclose(many[0], copies * single, rtol=1e-4):
        raise CheckFailed(
            f"Independent latent dimensions add up: {copies} copies of a dimension should give "
            f"{copies} times its KL.",
            tried=f"one posterior in 1 dimension, then the same in {copies} dimensions",
            expected=f"{single:.4f} and {copies * single:.4f} nats",
            got=f"{_fmt(one[:2])} and {_fmt(many[:2])}",
            hint="sum over the latent axis; averaging would make the KL weaker as latent_dim grows",
        )


def _kl_gradient_inputs(rng: np.random.Generator) -> Inputs:
    return _mu_and_log_var(rng, (int(rng.integers(3, 7)), int(rng.integers(2, 5))))


def _kl_gradient_probe(kl_divergence: Any, inputs: Inputs) -> Any:
    return gradients_described(kl_divergence, inputs, cast=True)


@kl_exercise.check(
    "lets the gradient reach mu and log_var", probe=_kl_gradient_probe, inputs=_kl_gradient_inputs
)
def _kl_gradient_verdict(inputs: Inputs, answer: Any) -> None:
    require_gradients(
        answer,
        "KL",
        "the KL term could not train the encoder (it was computed outside TensorFlow's "
        "graph, e.g. with NumPy).",
        "use keras.ops (or tf) functions on the tensors: no np., no .numpy()",
    )
    mu, log_var = inputs["mu"].astype(np.float64), inputs["log_var"].astype(np.float64)
    value = array_of(answer["value"], "kl_divergence")
    require(
        value.shape == (len(mu),)
        and np.allclose(value, reference_kl(mu, log_var), rtol=1e-4, atol=1e-4),
        "The KL values are wrong: fix the earlier checks first.",
    )
    grad_mu, grad_log_var = gradients_of(answer)
    if not (
        np.allclose(grad_mu, mu, rtol=1e-3, atol=1e-4)
        and np.allclose(grad_log_var, 0.5 * (np.exp(log_var) - 1.0), rtol=1e-3, atol=1e-4)
    ):
        raise CheckFailed(
            "The values are right but the gradient is not that of the closed form "
            "(part of the formula is cut off from the gradient, e.g. by stop_gradient).",
            expected="d/d(mu) = mu and d/d(log_var) = (exp(log_var) - 1) / 2",
            got=f"{_fmt(grad_mu[0])} and {_fmt(grad_log_var[0])}",
        )


# --------------------------------------------------------------------------- train_step

train_step_exercise = exercise(
    "train_step",
    lesson=LESSON,
    points=12,
    symbol="MyVAE",
    description="a VAE subclass with a hand-written train_step: two terms, weighted sum, gradient, update",
    references=(
        "vae_tf.models:VAE.train_step",
        "vae_tf.models:VAE.compute_losses",
        "vae_tf.models:VAE._update_metrics",
    ),
    hints=(
        "train_step(data) gets one batch and must return a dict with the values fit shows: "
        "'loss', 'reconstruction_loss' and 'kl_loss'.",
        "The forward pass (encode, sample z, decode) and both terms go inside a "
        "tf.GradientTape; after it, take the gradient of the weighted loss with respect to "
        "self.trainable_weights and hand both to self.optimizer.apply.",
        "Each term is per image (your kl_divergence of exercise 3, "
        "vae_tf.losses.reconstruction_loss), then "
        "averaged over the batch; the loss weights them with self.reconstruction_weight and "
        "self.kl_weight, which are variables and so work inside the compiled step.",
        "The trackers self.loss_tracker, self.reconstruction_loss_tracker and "
        "self.kl_loss_tracker each get update_state with the unweighted value of their term; "
        "return each metric's result(), keyed by its name.",
    ),
)

_BATCH = 16
_LATENT = 2
_HIDDEN = 512
_PIXELS = 784
_LEARNING_RATE = 0.01
# The fit check's: one step of it changes each term by more than 10% on every seed, still
# in the range where the terms follow the gradient smoothly.
_FIT_LEARNING_RATE = 1e-3
_KEYS = ("loss", "reconstruction_loss", "kl_loss")
_TERMS = ("reconstruction_loss", "kl_loss")
# The log_var head's bias in most checks: sigma = exp(-18 / 2) ~ 1.2e-4, so z = mu up to
# 1e-3 whatever noise the student's step draws (its own reparameterization passes).
_TINY_LOG_VAR = -18.0
ENCODER = slice(0, 4)  # hidden kernel, bias, mu_and_log_var kernel, bias
DECODER = slice(4, 8)
FIX_FIRST = "fix the earlier check first"
TERMS_WRONG = f"The reported terms are wrong: {FIX_FIRST}."
UNMOVED = f"The weights did not change: {FIX_FIRST}."


def _step_inputs(
    rng: np.random.Generator,
    weights: tuple[tuple[float, float], ...],
    *,
    tiny_sigma: bool = True,
) -> Inputs:
    """Weights of the VAE, a batch of 'images' and the noise, all from the judge's seed."""

    def normal(shape: tuple[int, ...], scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, size=shape).astype(np.float32)

    x = rng.random((_BATCH, 28, 28, 1)).astype(np.float32)
    x[:, : int(rng.integers(4, 8))] = 0.0
    x[:, -int(rng.integers(4, 8)) :] = 0.0
    head_kernel = normal((_HIDDEN, 2 * _LATENT), 0.05)
    head_bias = normal((2 * _LATENT,), 0.05)
    if tiny_sigma:
        head_kernel[:, _LATENT:] *= 0.01
        head_bias[_LATENT:] = _TINY_LOG_VAR
    return {
        "x": x,
        "eps": normal((_BATCH, _LATENT), 1.0),
        "encoder": [
            normal((_PIXELS, _HIDDEN), 0.05),
            normal((_HIDDEN,), 0.05),
            head_kernel,
            head_bias,
        ],
        "decoder": [
            normal((_LATENT, _HIDDEN), 0.5),
            # Hidden units far from their ReLU kink: a z moved by 1e-3 (another noise)
            # switches none of them, so the gradient stays comparable.
            (rng.choice([-1.0, 1.0], _HIDDEN) * rng.uniform(1.5, 2.5, _HIDDEN)).astype(np.float32),
            normal((_HIDDEN, _PIXELS), 0.05),
            normal((_PIXELS,), 0.05),
        ],
        "loss_weights": [list(pair) for pair in weights],
    }


def _fixed_sampling(eps: np.ndarray) -> Any:
    """A sampling layer whose noise is the judge's, so that the verdict knows z.

    The noise is a constant array of the judge's batch: as a Sampling answer this layer
    fails (no new noise per call, no other batch size), so it gives no points for free.
    """
    import keras

    noise = np.array(eps, dtype=np.float32)  # a NumPy copy: a tensor of noise cannot come in

    class FixedSampling(keras.layers.Layer):
        def __init__(self, seed: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)

        def call(self, inputs):
            mu, log_var = inputs
            return mu + keras.ops.exp(0.5 * log_var) * keras.ops.convert_to_tensor(noise)

    return FixedSampling


# While a probe runs the student's train_step, the names of the lesson's other answers
# (exercise 2's Sampling, exercise 3's kl_divergence) in the namespace of the student's
# code point to stand-ins: each exercise is judged on its own, so a wrong kl_divergence
# costs points in kl_divergence only. The stand-in for the KL is deliberately NOT the KL,
# a_mu * mu^2 + a_var * (exp(log_var) - log_var - 1) summed over the latent dimensions
# (the KL has 1/2 for both), so that the sandbox holds no callable answer to exercise 3;
# the judge knows it and computes the step with it. A step that computes its KL itself
# (without the name kl_divergence) is judged with the closed-form KL.
_STAND_IN_KL = (0.3, 0.8)  # (a_mu, a_var)
_CLOSED_FORM_KL = (0.5, 0.5)


def _stand_in_kl(used: dict[str, bool]) -> Any:
    from keras import ops

    a_mu, a_var = _STAND_IN_KL

    def kl_divergence(mu, log_var):
        used["kl_divergence"] = True
        return ops.sum(a_mu * ops.square(mu) + a_var * (ops.exp(log_var) - log_var - 1.0), axis=-1)

    return kl_divergence


def _student_namespaces(MyVAE: Any) -> list[dict[str, Any]]:
    """The global namespaces of the functions the student's class defines (not the package's)."""
    from vae_tf.models import VAE

    found: dict[int, dict[str, Any]] = {}
    for cls in MyVAE.__mro__:
        if cls is VAE or issubclass(VAE, cls):
            break
        for value in vars(cls).values():
            function = getattr(value, "__func__", value)
            if isinstance(value, property):
                function = value.fget
            # A step wrapped in tf.function keeps the Python function it traces.
            function = getattr(function, "python_function", function)
            namespace = getattr(function, "__globals__", None)
            if isinstance(namespace, dict) and not str(namespace.get("__name__", "")).startswith(
                "vae_tf"
            ):
                found[id(namespace)] = namespace
    return list(found.values())


@contextmanager
def _other_answers_replaced(MyVAE: Any, eps: np.ndarray) -> Iterator[dict[str, bool]]:
    """``with _other_answers_replaced(MyVAE, eps) as used``: the student's names
    kl_divergence and Sampling point to stand-ins inside the block, and are restored after.

    ``used["kl_divergence"]`` says whether the step called the stand-in KL.
    """
    used = {"kl_divergence": False}
    stand_ins = {"kl_divergence": _stand_in_kl(used), "Sampling": _fixed_sampling(eps)}
    saved = []
    for namespace in _student_namespaces(MyVAE):
        saved.append((namespace, {name: namespace.get(name, _MISSING) for name in stand_ins}))
        namespace.update(stand_ins)
    try:
        yield used
    finally:
        for namespace, values in saved:
            for name, value in values.items():
                if value is _MISSING:
                    namespace.pop(name, None)
                else:
                    namespace[name] = value


_MISSING = object()


def _probe_encoder() -> Any:
    """The original 784 -> 512 -> [mu, log_var] encoder, built here: the package's
    ``build_encoder`` is exercise 1's answer, redacted while grading.

    The worker holds this helper, so it is no answer either: its sizes are fixed, and the
    build_encoder checks ask for others.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1))
    hidden = layers.Dense(_HIDDEN, activation="relu")(layers.Flatten()(inputs))
    heads = layers.Dense(2 * _LATENT)(hidden)
    mu = layers.Lambda(lambda t: t[:, :_LATENT])(heads)
    log_var = layers.Lambda(lambda t: t[:, _LATENT:])(heads)
    return keras.Model(inputs, [mu, log_var], name="encoder")


def _student_model(
    MyVAE: Any,
    inputs: Inputs,
    kl_weight: float,
    reconstruction_weight: float,
    learning_rate: float = _LEARNING_RATE,
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
        latent_dim=_LATENT,
        kl_weight=kl_weight,
        reconstruction_weight=reconstruction_weight,
        seed=0,
        encoder=_probe_encoder(),
    )
    model.encoder.set_weights(inputs["encoder"])
    model.decoder.set_weights(inputs["decoder"])
    model.sampling = _fixed_sampling(inputs["eps"])(name="sampling")
    # Plain SGD: the change of each weight is learning_rate * gradient, easy to compare.
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), jit_compile=False)
    return model


def _step(model: Any, x: np.ndarray) -> Any:
    result = model.train_step(tensor(x))
    if not isinstance(result, dict):
        return {"not_a_dict": type(result).__name__[:100]}
    return {str(key)[:100]: describe(value) for key, value in list(result.items())[:10]}


def _one_step(MyVAE: Any, inputs: Inputs, pair: int = 0, *, updates: slice | None = None) -> Any:
    kl_weight, reconstruction_weight = inputs["loss_weights"][pair]
    model = _student_model(MyVAE, inputs, kl_weight, reconstruction_weight)
    with _other_answers_replaced(MyVAE, inputs["eps"]) as used:
        metrics = _step(model, inputs["x"])
    observed: dict[str, Any] = {"metrics": metrics, "stand_in_kl": used["kl_divergence"]}
    if updates is not None:
        # Raw weights after the step, not the update: the judge subtracts them from the
        # weights it sent itself (see `_updates`), so no difference is computed here.
        weights = model.encoder.get_weights() + model.decoder.get_weights()
        observed["after"] = [np.asarray(w, dtype=np.float32) for w in weights[updates]]
    return observed


@judge_only
def _kl_form(answer: Any) -> tuple[float, float]:
    """The KL term the step computed: the stand-in if it called kl_divergence, else the KL."""
    stand_in = isinstance(answer, dict) and answer.get("stand_in_kl") is True
    return _STAND_IN_KL if stand_in else _CLOSED_FORM_KL


@judge_only
def reference_step(
    inputs: Inputs,
    kl_weight: float,
    reconstruction_weight: float,
    kl_form: tuple[float, float] = _CLOSED_FORM_KL,
) -> dict:
    """One step of the package's VAE in NumPy: the two terms and the gradient of the loss.

    Returns the batch means of the terms (nats per image) and the gradients of
    ``reconstruction_weight * reconstruction + kl_weight * KL`` with respect to the
    encoder and decoder weights, in ``get_weights()`` order; with plain SGD the update
    ``(before - after) / learning_rate`` equals the gradient. ``kl_form = (a_mu, a_var)``
    makes the KL term ``sum(a_mu * mu^2 + a_var * (exp(log_var) - log_var - 1))``: the
    closed-form KL (1/2, 1/2), or the probes' stand-in (see :func:`_kl_form`).
    """
    a_mu, a_var = kl_form
    x = inputs["x"].reshape(len(inputs["x"]), -1).astype(np.float64)
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
    kl = np.sum(a_mu * mu**2 + a_var * (np.exp(log_var) - log_var - 1.0), axis=1)
    # Backward pass of mean(reconstruction_weight * reconstruction + kl_weight * kl).
    d_logits = reconstruction_weight * (1.0 / (1.0 + np.exp(-logits)) - x) / n
    d_w4, d_b4 = a2.T @ d_logits, d_logits.sum(axis=0)
    d_h2 = (d_logits @ w4.T) * (h2 > 0)
    d_w3, d_b3 = z.T @ d_h2, d_h2.sum(axis=0)
    d_z = d_h2 @ w3.T
    d_mu = d_z + kl_weight * 2.0 * a_mu * mu / n
    d_log_var = d_z * 0.5 * std * eps + kl_weight * a_var * (np.exp(log_var) - 1.0) / n
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


@judge_only
def _metric_values(metrics: Any, *, first: bool = False) -> dict[str, float]:
    """The reported metrics as finite numbers; a wrong dict fails (once, then "fix first")."""
    if not isinstance(metrics, dict) or "not_a_dict" in metrics:
        if not first:
            raise CheckFailed(f"train_step's return value is wrong: {FIX_FIRST}.")
        got = metrics.get("not_a_dict", "?") if isinstance(metrics, dict) else "?"
        raise CheckFailed(
            "train_step should return a dict of metric values (what fit shows).",
            expected="{'loss': ..., 'reconstruction_loss': ..., 'kl_loss': ...}",
            got=f"a {got}",
            hint="return each tracker's result(), keyed by the metric's name",
        )
    missing = [key for key in _KEYS if key not in metrics]
    if missing:
        if not first:
            raise CheckFailed(f"train_step's returned keys are wrong: {FIX_FIRST}.")
        raise CheckFailed(
            "train_step's returned dict should have the three metrics that fit shows.",
            expected="keys 'loss', 'reconstruction_loss', 'kl_loss'",
            got=f"keys {sorted(metrics)[:10]}",
            hint="the trackers are named loss, reconstruction_loss and kl_loss: use metric.name",
        )
    return {key: number_of(metrics[key], f"the value of {key!r}") for key in _KEYS}


@judge_only
def _terms_right(
    inputs: Inputs, answer: Any, kl_weight: float, reconstruction_weight: float
) -> bool:
    got = _metric_values(answer["metrics"])
    expected = reference_step(inputs, kl_weight, reconstruction_weight, _kl_form(answer))
    return all(
        np.isclose(got[key], expected[key], rtol=1e-4, atol=1e-4)
        for key in ("reconstruction_loss", "kl_loss")
    )


@judge_only
def _same_update(got: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    if len(got) != len(expected):
        return False
    return all(
        g.shape == e.shape and np.allclose(g, e, rtol=2e-3, atol=2e-3 * (np.abs(e).max() + 1e-6))
        for g, e in zip(got, expected, strict=True)
    )


@judge_only
def _updates(inputs: Inputs, answer: Any, weights: slice = slice(None)) -> list[np.ndarray]:
    """(before - after) / learning_rate for the ``weights`` the check's probe sent: ``before``
    are the judge's own weights (the inputs), ``after`` the raw weights after the student's
    step."""
    before = [np.asarray(w, dtype=np.float64) for w in inputs["encoder"] + inputs["decoder"]]
    before = before[weights]
    sent = answer.get("after") if isinstance(answer, dict) else None
    require(isinstance(sent, list), f"The weights after the step could not be read: {FIX_FIRST}.")
    what = "the weights after the step"
    after = [array_of({"type": "ndarray", "array": w}, what).astype(np.float64) for w in sent]
    require(
        len(after) == len(before)
        and all(a.shape == b.shape for a, b in zip(after, before, strict=False)),
        f"The weights after the step have the wrong form: {FIX_FIRST}.",
    )
    return [(b - a) / _LEARNING_RATE for b, a in zip(before, after, strict=True)]


@judge_only
def _unmoved(updates: list[np.ndarray]) -> bool:
    return all(np.allclose(update, 0.0) for update in updates)


def _unit_weights(rng: np.random.Generator) -> Inputs:
    return _step_inputs(rng, ((1.0, 1.0),))


def _step_probe(MyVAE: Any, inputs: Inputs) -> Any:
    return _one_step(MyVAE, inputs, updates=slice(None))


def _encoder_step_probe(MyVAE: Any, inputs: Inputs) -> Any:
    return _one_step(MyVAE, inputs, updates=ENCODER)


@train_step_exercise.check(
    "returns loss, reconstruction_loss and kl_loss", probe=_step_probe, inputs=_unit_weights
)
def _train_step_keys_verdict(inputs: Inputs, answer: Any) -> None:
    _metric_values(answer["metrics"], first=True)
    # The three names over no training step (a dict of zeros, the trackers read) earn nothing.
    if _unmoved(_updates(inputs, answer)):
        raise CheckFailed(
            "The metrics are there, but the weights did not change: no gradient step was "
            "applied (see the check 'updates the weights along the gradient of the loss').",
            tried=f"one step with SGD(learning_rate={_LEARNING_RATE})",
            expected="every weight moved by the gradient of the loss",
            got="no weight changed",
        )


@train_step_exercise.check(
    "reports both terms per image, averaged over the batch", probe=_one_step, inputs=_unit_weights
)
def _train_step_terms_verdict(inputs: Inputs, answer: Any) -> None:
    got = _metric_values(answer["metrics"])
    expected = reference_step(inputs, 1.0, 1.0, _kl_form(answer))
    for key in ("reconstruction_loss", "kl_loss"):
        if np.isclose(got[key], expected[key], rtol=1e-4, atol=1e-4):
            continue
        what = "KL term" if key == "kl_loss" else "reconstruction term"
        ratio = got[key] / expected[key] if expected[key] else np.inf
        text = f"The {what} of the batch is wrong."
        hint = "encode, sample z, decode to logits; each term per image, then the batch mean"
        if np.isclose(ratio, _BATCH, rtol=1e-3):
            text = f"The {what} is summed over the batch: it should be averaged (the mean)."
            hint = "a loss that grows with the batch size makes the step size depend on it"
        elif np.isclose(ratio, 1.0 / _PIXELS, rtol=1e-3) and key == "reconstruction_loss":
            text = "The reconstruction term is averaged over the pixels: it should be summed."
        elif np.isclose(ratio, 1.0 / _LATENT, rtol=1e-3) and key == "kl_loss":
            text = "The KL term is averaged over the latent dimensions: it should be summed."
        raise CheckFailed(
            text,
            tried=f"one step on {_BATCH} images, weights 1 and 1",
            expected=f"{key} = {expected[key]:.4f} nats per image (averaged over the batch)",
            got=f"{got[key]:.4f}",
            hint=hint,
        )


def _two_weightings(rng: np.random.Generator) -> Inputs:
    other = (round(float(rng.uniform(0.1, 0.6)), 3), round(float(rng.uniform(1.5, 3.0)), 3))
    return _step_inputs(rng, (other,))


@train_step_exercise.check(
    "loss is reconstruction_weight * reconstruction + kl_weight * KL",
    probe=_step_probe,
    inputs=_two_weightings,
)
def _train_step_sum_verdict(inputs: Inputs, answer: Any) -> None:
    kl_weight, reconstruction_weight = inputs["loss_weights"][0]
    got = _metric_values(answer["metrics"])
    reconstruction, kl = got["reconstruction_loss"], got["kl_loss"]
    expected = reconstruction_weight * reconstruction + kl_weight * kl
    if np.isclose(got["loss"], expected, rtol=1e-4):
        _require_trained_as_reported(inputs, answer, kl_weight, reconstruction_weight)
        return
    what = "The loss should be reconstruction_weight * reconstruction + kl_weight * KL."
    reference = reference_step(inputs, kl_weight, reconstruction_weight, _kl_form(answer))
    for key, weight in (("kl_loss", kl_weight), ("reconstruction_loss", reconstruction_weight)):
        if np.isclose(got[key], weight * reference[key], rtol=1e-4, atol=1e-4):
            raise CheckFailed(
                f"The reported {key} is the weighted term: report the unweighted one (fit "
                "should show the term itself, whatever its weight).",
                tried=f"kl_weight = {kl_weight}, reconstruction_weight = {reconstruction_weight}",
                expected=f"{key} = {reference[key]:.4f}",
                got=f"{got[key]:.4f}",
                hint="weight the terms in the loss only; update the trackers with the terms",
            )
    require(_terms_right(inputs, answer, kl_weight, reconstruction_weight), TERMS_WRONG)
    candidates = (
        (reconstruction + kl, "Both loss weights are ignored: the loss is the plain sum."),
        (reconstruction_weight * reconstruction + kl, "kl_weight is not applied to the KL term."),
        (reconstruction + kl_weight * kl, "reconstruction_weight is not applied."),
        (reconstruction_weight * kl + kl_weight * reconstruction, "The two weights are swapped."),
    )
    for candidate, text in candidates:
        if np.isclose(got["loss"], candidate, rtol=1e-4):
            what = text
            break
    # The update tells a loss that is only REPORTED wrongly from one that is trained wrongly.
    if _same_update(_updates(inputs, answer), reference["gradients"]):
        unweighted = np.isclose(got["loss"], reconstruction + kl, rtol=1e-4)
        raise CheckFailed(
            "The step differentiates the weighted loss (the update is right), but the loss it "
            "reports is another number"
            + (": the unweighted total reconstruction + KL." if unweighted else "."),
            tried=f"kl_weight = {kl_weight}, reconstruction_weight = {reconstruction_weight}",
            expected=f"loss = {expected:.4f}, the weighted loss that was differentiated",
            got=f"loss = {got['loss']:.4f}",
            hint="update self.loss_tracker with the same weighted loss you take the gradient of",
        )
    raise CheckFailed(
        what,
        tried=f"kl_weight = {kl_weight}, reconstruction_weight = {reconstruction_weight}",
        expected=f"loss = {expected:.4f} (from the reported terms {reconstruction:.4f} and {kl:.4f})",
        got=f"loss = {got['loss']:.4f}",
        hint="multiply each term by its weight: self.reconstruction_weight, self.kl_weight",
    )


@judge_only
def _require_trained_as_reported(
    inputs: Inputs, answer: Any, kl_weight: float, reconstruction_weight: float
) -> None:
    """The reported numbers are consistent, so they must also be the judge's: the terms the
    judge recomputes from its weights and batch, and one SGD step along its own gradient.

    Metrics that agree only with each other (zeros, or the trackers read without a step)
    earn nothing.
    """
    if not _terms_right(inputs, answer, kl_weight, reconstruction_weight):
        raise CheckFailed(
            "The reported loss is the weighted sum of the reported terms, but the terms are not "
            f"those of the batch: {FIX_FIRST} (both terms per image).",
            tried=f"kl_weight = {kl_weight}, reconstruction_weight = {reconstruction_weight}",
        )
    expected = reference_step(inputs, kl_weight, reconstruction_weight, _kl_form(answer))
    if not _same_update(_updates(inputs, answer), expected["gradients"]):
        raise CheckFailed(
            "The reported loss is right, but the weights did not move along its gradient: "
            f"{FIX_FIRST} (the update).",
            tried=f"one step with SGD(learning_rate={_LEARNING_RATE}), kl_weight = {kl_weight}, "
            f"reconstruction_weight = {reconstruction_weight}",
            expected="every weight moved by -learning_rate * the gradient of the weighted loss",
        )


@train_step_exercise.check(
    "updates the weights along the gradient of the loss", probe=_step_probe, inputs=_unit_weights
)
def _train_step_update_verdict(inputs: Inputs, answer: Any) -> None:
    got = _updates(inputs, answer)
    if _unmoved(got):
        raise CheckFailed(
            "The weights did not change: no gradient step was applied.",
            tried=f"one step with SGD(learning_rate={_LEARNING_RATE})",
            hint="after the tape: the gradient with respect to self.trainable_weights, then "
            "self.optimizer.apply",
        )
    require(_terms_right(inputs, answer, 1.0, 1.0), TERMS_WRONG)
    expected = reference_step(inputs, 1.0, 1.0, _kl_form(answer))["gradients"]
    if _same_update(got, expected):
        return
    what = "One SGD step moved the weights differently from the gradient of the loss."
    if len(got) == len(expected) and got[-1].shape == expected[-1].shape:
        ratio = np.sum(got[-1] * expected[-1]) / max(np.sum(expected[-1] ** 2), 1e-30)
        if np.isclose(ratio, _BATCH, rtol=1e-2):
            what = (
                "The gradient is that of the loss summed over the batch (16 times too large): "
                "differentiate the batch mean."
            )
        elif np.isclose(ratio, -1.0, rtol=1e-2):
            what = "The update goes UP the gradient: minimize the loss (the negative ELBO)."
        elif _unmoved(got[ENCODER]):
            what = "The encoder's weights did not change: only part of the weights was updated."
        elif _unmoved(got[DECODER]):
            what = "The decoder's weights did not change: only part of the weights was updated."
    raise CheckFailed(
        what,
        tried=f"one step with SGD(learning_rate={_LEARNING_RATE}) on {_BATCH} images",
        expected="the gradient of reconstruction_weight * reconstruction + kl_weight * KL, "
        "averaged over the batch, for every trainable weight",
        got="a different change of the weights",
        hint="take the gradient of the loss you report, computed under the tape",
    )


def _no_kl_weight(rng: np.random.Generator) -> Inputs:
    return _step_inputs(rng, ((0.0, 1.0),))


@train_step_exercise.check(
    "kl_weight = 0 trains on reconstruction alone, still reports the KL",
    probe=_encoder_step_probe,
    inputs=_no_kl_weight,
)
def _train_step_zero_kl_verdict(inputs: Inputs, answer: Any) -> None:
    got_values = _metric_values(answer["metrics"])
    if not got_values["kl_loss"] > 0.0:
        raise CheckFailed(
            "With kl_weight = 0 the KL term should still be measured and reported: the "
            "reported kl_loss is the weighted term.",
            expected="kl_loss > 0",
            got=f"kl_loss = {got_values['kl_loss']:.4g}",
            hint="update the KL tracker with the unweighted KL; the weight only enters the loss",
        )
    require(_terms_right(inputs, answer, 0.0, 1.0), TERMS_WRONG)
    got = _updates(inputs, answer, ENCODER)
    require(not _unmoved(got), UNMOVED)
    expected = reference_step(inputs, 0.0, 1.0, _kl_form(answer))["gradients"][ENCODER]
    if not _same_update(got, expected):
        raise CheckFailed(
            "With kl_weight = 0 the encoder still feels the KL term: the weight is not applied "
            "in the loss that is differentiated.",
            tried="kl_weight = 0, reconstruction_weight = 1, one SGD step",
            expected="the encoder update of the reconstruction term only",
            got="a different update of the encoder",
            hint="differentiate the weighted loss, with self.kl_weight (a variable) on the KL",
        )


def _normal_sigma(rng: np.random.Generator) -> Inputs:
    return _step_inputs(rng, ((0.0, 1.0),), tiny_sigma=False)


@train_step_exercise.check(
    "the reconstruction term is computed at a sampled z",
    probe=_encoder_step_probe,
    inputs=_normal_sigma,
)
def _train_step_sampled_verdict(inputs: Inputs, answer: Any) -> None:
    _metric_values(answer["metrics"])
    got = _updates(inputs, answer, ENCODER)
    what = f"The encoder's update has the wrong form: {FIX_FIRST}."
    require(len(got) == 4 and got[3].shape == (2 * _LATENT,), what)
    require(not _unmoved(got), UNMOVED)
    expected = reference_step(inputs, 0.0, 1.0, _kl_form(answer))["gradients"][3][_LATENT:]
    # With kl_weight = 0, log_var gets a gradient only through z = mu + sigma * eps.
    if np.allclose(got[3][_LATENT:], 0.0, atol=1e-3 * np.abs(expected).max() + 1e-9):
        raise CheckFailed(
            "With kl_weight = 0, log_var got no gradient: the reconstruction term does not "
            "depend on sigma, so z was not sampled from q(z|x) (z = mu?).",
            tried="kl_weight = 0, one SGD step, the update of the log_var head's bias",
            expected="a non-zero update (through z = mu + sigma * eps)",
            got="zero",
            hint="decode z = self.sampling([mu, log_var]), not mu",
        )


def _train_step_trackers_probe(MyVAE: Any, inputs: Inputs) -> Any:
    # The fit check's learning rate: the judge recomputes the second step's terms too.
    model = _student_model(MyVAE, inputs, 1.0, 1.0, _FIT_LEARNING_RATE)
    with _other_answers_replaced(MyVAE, inputs["eps"]) as used:
        first = _step(model, inputs["x"])
        second = _step(model, inputs["x"])
    trackers = {key: getattr(model, f"{key}_tracker") for key in _KEYS}
    return {
        "first": first,
        "second": second,
        "stand_in_kl": used["kl_divergence"],
        "trackers": {
            key: {"count": describe(tracker.count), "result": describe(tracker.result())}
            for key, tracker in trackers.items()
        },
    }


@train_step_exercise.check(
    "updates the three metric trackers", probe=_train_step_trackers_probe, inputs=_unit_weights
)
def _train_step_trackers_verdict(inputs: Inputs, answer: Any) -> None:
    second = _metric_values(answer["second"])
    for key in _KEYS:
        tracker = answer["trackers"][key]
        count = number_of(tracker["count"], "a tracker's count")
        result = number_of(tracker["result"], "a tracker's result")
        if count != 2:
            raise CheckFailed(
                f"self.{key}_tracker should be updated once per step (update_state): the metrics "
                "are not updated.",
                tried="two train steps",
                expected="the tracker counted 2 batches",
                got=f"it counted {count:g}",
                hint="call update_state on each tracker with the value of its term",
            )
        if not np.isclose(result, second[key], rtol=1e-5):
            raise CheckFailed(
                f"The returned {key} should be the tracker's running mean (its result()), "
                "not the value of this batch.",
                tried="two train steps",
                expected=f"{result:.4g}",
                got=f"{second[key]:.4g}",
                hint="return each metric's result() after update_state",
            )
    # The counts and results above are what the student's process says; the running means
    # must also be the judge's: the mean of its terms at the first and the second step.
    means = _running_means(inputs, _kl_form(answer))
    for key in _KEYS:
        if not np.isclose(second[key], means[key], rtol=1e-3, atol=1e-4):
            raise CheckFailed(
                f"The returned {key} after two steps is not the mean of the two steps' values: "
                f"{FIX_FIRST} (the terms, the loss and the update).",
                tried=f"two train steps with SGD(learning_rate={_FIT_LEARNING_RATE})",
                expected=f"{key} = {means[key]:.4f}",
                got=f"{second[key]:.4f}",
            )


@judge_only
def _running_means(inputs: Inputs, kl_form: tuple[float, float]) -> dict[str, float]:
    """The metrics after two steps of SGD(_FIT_LEARNING_RATE), weights 1 and 1: the mean of
    each value at the judge's weights and at the weights after one step of its gradient."""
    first = reference_step(inputs, 1.0, 1.0, kl_form)
    second = reference_step(_stepped(inputs, first["gradients"]), 1.0, 1.0, kl_form)
    return {key: (first[key] + second[key]) / 2.0 for key in _KEYS}


@judge_only
def _stepped(inputs: Inputs, gradients: list[np.ndarray]) -> Inputs:
    """``inputs`` with the weights after one step of SGD(_FIT_LEARNING_RATE) along ``gradients``."""
    weights = [np.asarray(w, dtype=np.float64) for w in inputs["encoder"] + inputs["decoder"]]
    stepped = [w - _FIT_LEARNING_RATE * g for w, g in zip(weights, gradients, strict=True)]
    return {**inputs, "encoder": stepped[ENCODER], "decoder": stepped[DECODER]}


def _fit_inputs(rng: np.random.Generator) -> Inputs:
    inputs = _step_inputs(rng, ((1.0, 1.0),))
    inputs["x"] = np.concatenate([inputs["x"], inputs["x"][::-1]])
    inputs["eps"] = rng.normal(size=(2 * _BATCH, _LATENT)).astype(np.float32)
    # Neither weight is 1, so that a weight frozen at its first value (read once, while
    # the step was traced) differs from a loss reported without its weights.
    inputs["fit_weights"] = [
        round(float(rng.uniform(1.5, 2.5)), 3),
        round(float(rng.uniform(0.1, 0.5)), 3),
    ]
    return inputs


def _train_step_fit_probe(MyVAE: Any, inputs: Inputs) -> Any:
    import keras

    # A tf.function graph; plain SGD, so that the judge knows the weights of epoch 2.
    model = _student_model(MyVAE, inputs, 1.0, 1.0, _FIT_LEARNING_RATE)
    weights = [float(weight) for weight in inputs["fit_weights"]]

    class SetWeight(keras.callbacks.Callback):
        # The documented way to change a weight during training: assign the property.
        def on_epoch_begin(self, epoch, logs=None):
            self.model.kl_weight = weights[min(epoch, 1)]

    def fit() -> Any:
        with _other_answers_replaced(MyVAE, inputs["eps"]) as used:
            fit_args = {"batch_size": 2 * _BATCH, "epochs": 2, "verbose": 0, "shuffle": False}
            return model.fit(inputs["x"], **fit_args, callbacks=[SetWeight()]), used

    outcome = recorded(fit)  # any failure of the compiled step is explained by the verdict
    if isinstance(outcome, dict):
        return outcome
    history, used = outcome
    return {
        "history": {
            key[:100]: describe(values) for key, values in list(history.history.items())[:10]
        },
        "stand_in_kl": used["kl_divergence"],
    }


@train_step_exercise.check(
    "trains with fit() in a compiled graph, reading kl_weight at every step",
    probe=_train_step_fit_probe,
    inputs=_fit_inputs,
)
def _train_step_fit_verdict(inputs: Inputs, answer: Any) -> None:
    require_no_error(
        answer,
        "train_step failed when fit() compiled it into a graph (this is not the stub: the "
        "error comes from TensorFlow running your code in graph mode).",
        200,
        hint="use keras.ops / tf operations on tensors: no .numpy(), float() or Python if "
        "on a tensor; self.kl_weight is a variable and may be used as it is",
    )
    history = answer.get("history")
    require(isinstance(history, dict), f"fit()'s history could not be read: {FIX_FIRST}.")
    missing = [key for key in _KEYS if key not in history]
    if missing:
        raise CheckFailed(
            "fit() should show loss, reconstruction_loss and kl_loss.",
            got=f"history keys {sorted(history)[:10]}",
        )
    values = {key: array_of(history[key], f"fit()'s {key}").astype(np.float64) for key in _KEYS}
    what = f"fit()'s history has the wrong length: {FIX_FIRST}."
    require(all(value.shape == (2,) for value in values.values()), what)
    # The terms are the judge's own numbers, not only consistent with the reported loss:
    # epoch 1 at the judge's weights, epoch 2 after one SGD step along the judge's gradient.
    first_weight, weight = inputs["fit_weights"]
    first = reference_step(inputs, first_weight, 1.0, _kl_form(answer))
    second_reference = reference_step(
        _stepped(inputs, first["gradients"]), weight, 1.0, _kl_form(answer)
    )
    for epoch, reference in enumerate((first, second_reference)):
        # Epoch 2 allows for the student's own noise in epoch 1's gradient (about 1e-5 of
        # the terms); a step that does not update moves them by more than 10%.
        rtol = 1e-4 if epoch == 0 else 1e-3
        for key in ("reconstruction_loss", "kl_loss"):
            if np.isclose(values[key][epoch], reference[key], rtol=rtol, atol=1e-4):
                continue
            what = f"In fit() the reported {key} is not the term of the batch"
            if epoch == 1:
                what = (
                    f"In fit() the {key} of epoch 2 is not that of the weights after one SGD "
                    "step along the gradient"
                )
            raise CheckFailed(
                f"{what}: {FIX_FIRST}.",
                tried=f"fit() on {2 * _BATCH} images, one batch per epoch, "
                f"SGD(learning_rate={_FIT_LEARNING_RATE})",
                expected=f"{key} = {reference[key]:.4f} in epoch {epoch + 1}",
                got=f"{values[key][epoch]:.4f}",
            )

    def weighted(epoch: int, kl_weight: float) -> float:
        return values["reconstruction_loss"][epoch] + kl_weight * values["kl_loss"][epoch]

    if not np.isclose(values["loss"][0], weighted(0, first_weight), rtol=1e-3):
        raise CheckFailed(
            "In fit() the reported loss is not reconstruction + kl_weight * KL: "
            f"{FIX_FIRST} (the loss with two weights)."
        )
    second = weighted(1, weight)
    if np.isclose(values["loss"][1], second, rtol=1e-3):
        return
    what = "In epoch 2 the loss does not use the kl_weight that a callback set."
    if np.isclose(values["loss"][1], weighted(1, first_weight), rtol=1e-3):
        what = (
            "A callback set model.kl_weight between epochs, but the compiled step kept the old "
            "weight: the weight was read once, when the step was traced."
        )
    raise CheckFailed(
        what,
        tried=f"kl_weight {first_weight} in epoch 1, then {weight} (set by a callback) in epoch 2",
        expected=f"loss in epoch 2 = reconstruction + {weight} * KL = {second:.4f}",
        got=f"{values['loss'][1]:.4f}",
        hint="read the weight from the variable inside the step: self.kl_weight",
    )
