"""Checks for lesson 02 (the plain autoencoder).

Two exercises:

- ``reconstruction_loss(x, logits)``: -log p(x|z) for a Bernoulli decoder, per image, in
  nats: binary cross-entropy from logits, summed over the 784 pixels, shape ``(N,)``.
- ``build_decoder(latent_dim)``: a ``keras.Model`` mapping codes ``(N, latent_dim)`` to
  logits ``(N, 28, 28, 1)`` through one hidden Dense layer of 512 ReLU units.

Each check's inputs are drawn from the run's seed; its probe calls the student's code,
its verdict compares against a NumPy reference computed on the judge's side and explains
a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of
from vae_tf.grading.exercises._helpers import call_described, call_each, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "02_autoencoder"
PIXELS = 28 * 28
HIDDEN = 512


# --------------------------------------------------------------------------- reconstruction_loss


@judge_only
def reference_reconstruction_loss(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Bernoulli cross-entropy from logits, summed over pixels: the stable form.

    ``-[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))] = max(l, 0) - l x + log(1 + exp(-|l|))``
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    per_pixel = np.maximum(logits, 0.0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.sum(axis=1)


def _batch(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey-level images in [0, 1] and moderate logits, shaped (count, 28, 28, 1)."""
    x = rng.random((count, 28, 28, 1)).astype(np.float32)
    x[:, : int(rng.integers(6, 12))] = 0.0  # MNIST-like: many pixels exactly 0
    logits = rng.normal(0.0, 3.0, size=(count, 28, 28, 1)).astype(np.float32)
    return x, logits


def _batch_inputs(low: int, high: int) -> Any:
    def inputs(rng: np.random.Generator) -> Inputs:
        x, logits = _batch(rng, int(rng.integers(low, high)))
        return {"calls": [((x, logits), {})]}

    return inputs


def _loss_probe(reconstruction_loss: Any, inputs: Inputs) -> Any:
    return call_each(reconstruction_loss, inputs["calls"], tensors=True)


reconstruction_loss_exercise = exercise(
    "reconstruction_loss",
    lesson=LESSON,
    symbol="reconstruction_loss",
    description="Bernoulli cross-entropy from logits, summed over pixels: (N,) nats per image",
    references=("vae_tf.losses:reconstruction_loss",),
)


@reconstruction_loss_exercise.probe("returns one value per image", inputs=_batch_inputs(3, 7))
def _loss_shape_probe(reconstruction_loss: Any, inputs: Inputs) -> Any:
    return _loss_probe(reconstruction_loss, inputs)


@reconstruction_loss_exercise.verdict("returns one value per image")
def _loss_shape_verdict(inputs: Inputs, answer: Any) -> None:
    (x, _), _ = inputs["calls"][0]
    count = len(x)
    result = array_of(answer[0], "reconstruction_loss")
    if result.shape != (count,):
        hint = "sum over the pixel axes only, keep the batch axis"
        if result.shape == ():
            hint = "do not average (or sum) over the batch: the model does that; return one value per image"
        elif result.ndim > 1:
            hint = "sum over all pixel axes (height, width and channel), e.g. after reshaping to (N, 784)"
        raise CheckFailed(
            "The loss should hold one number per image.",
            tried=f"{count} images of shape (28, 28, 1) and logits of the same shape",
            expected=f"shape ({count},)",
            got=f"shape {result.shape}",
            hint=hint,
        )


@reconstruction_loss_exercise.probe(
    "matches the cross-entropy summed over pixels", inputs=_batch_inputs(2, 6)
)
def _loss_values_probe(reconstruction_loss: Any, inputs: Inputs) -> Any:
    return _loss_probe(reconstruction_loss, inputs)


@reconstruction_loss_exercise.verdict("matches the cross-entropy summed over pixels")
def _loss_values_verdict(inputs: Inputs, answer: Any) -> None:
    (x, logits), _ = inputs["calls"][0]
    expected = reference_reconstruction_loss(x, logits)
    result = array_of(answer[0], "reconstruction_loss").astype(np.float64).reshape(-1)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-3):
        return
    hint = "per pixel: -[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))], then sum the 784 values"
    if result.shape == expected.shape:
        ratio = result / expected
        probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
        if np.allclose(ratio, 1.0 / PIXELS, rtol=1e-3):
            hint = "you averaged over the pixels; the loss is the SUM over the 784 pixels (nats per image)"
        elif np.allclose(result, reference_reconstruction_loss(x, probabilities), rtol=1e-3):
            hint = (
                "the second argument already holds logits: do not apply a sigmoid before a "
                "from-logits cross-entropy"
            )
        elif np.allclose(result, -expected, rtol=1e-4):
            hint = "the sign is flipped: the loss is the NEGATIVE log-likelihood, a positive number"
    raise CheckFailed(
        "The values differ from the Bernoulli cross-entropy summed over pixels.",
        tried=f"{len(x)} grey-level images and logits drawn from N(0, 3^2)",
        expected=f"{short(expected[:2], 2)}... nats per image",
        got=f"{short(result[:2], 2)}...",
        hint=hint,
    )


def _extreme_inputs(rng: np.random.Generator) -> Inputs:
    # Image 0: the decoder is confidently right everywhere (loss ~ 0).
    # Image 1: confidently wrong on ~100 pixels (loss ~ 100 * 50 = 5000 nats).
    x = np.zeros((2, 28, 28, 1), dtype=np.float32)
    x[:, : int(rng.integers(10, 18))] = 1.0
    scale = float(rng.uniform(40.0, 60.0))
    logits = np.where(x > 0.5, scale, -scale).astype(np.float32)
    wrong = np.zeros(x.shape, dtype=bool)
    wrong[1].flat[rng.choice(PIXELS, size=int(rng.integers(80, 120)), replace=False)] = True
    logits[wrong] = -logits[wrong]
    return {"calls": [((x, logits), {})], "scale": scale, "wrong": int(wrong.sum())}


@reconstruction_loss_exercise.probe(
    "stays finite and exact for extreme logits", inputs=_extreme_inputs
)
def _loss_extreme_probe(reconstruction_loss: Any, inputs: Inputs) -> Any:
    return _loss_probe(reconstruction_loss, inputs)


@reconstruction_loss_exercise.verdict("stays finite and exact for extreme logits")
def _loss_extreme_verdict(inputs: Inputs, answer: Any) -> None:
    (x, logits), _ = inputs["calls"][0]
    scale = inputs["scale"]
    expected = reference_reconstruction_loss(x, logits)
    tried = f"logits of +{scale:.0f} and -{scale:.0f}, {inputs['wrong']} pixels confidently wrong"
    try:
        result = array_of(answer[0], "reconstruction_loss").astype(np.float64).reshape(-1)
    except CheckFailed as failure:
        if "NaN or infinite" not in failure.what:
            raise
        raise CheckFailed(
            "The loss is not finite when the logits are large (inf or NaN).",
            tried=tried,
            expected=f"{short(expected, 2)} nats per image",
            got=failure.got,
            hint=f"sigmoid({scale:.0f}) rounds to exactly 1 in float32 and log(1 - 1) = -inf: "
            "compute from logits, e.g. keras.ops.binary_crossentropy(x, logits, from_logits=True)",
        ) from None
    if result.shape != expected.shape or not np.allclose(result, expected, rtol=1e-3, atol=1e-2):
        raise CheckFailed(
            f"The loss is wrong for large logits: a confidently wrong pixel should cost about "
            f"{scale:.0f} nats.",
            tried=tried,
            expected=f"{short(expected, 2)} nats per image",
            got=f"{short(result, 2)}",
            hint="clipping probabilities (e.g. to 1e-7) caps the cost of a wrong pixel at ~16 nats; "
            "compute the cross-entropy from logits instead",
        )


def _sizes_inputs(rng: np.random.Generator) -> Inputs:
    return {"calls": [((*_batch(rng, count),), {}) for count in (1, int(rng.integers(5, 10)))]}


@reconstruction_loss_exercise.probe("works for any batch size, including 1", inputs=_sizes_inputs)
def _loss_sizes_probe(reconstruction_loss: Any, inputs: Inputs) -> Any:
    return _loss_probe(reconstruction_loss, inputs)


@reconstruction_loss_exercise.verdict("works for any batch size, including 1")
def _loss_sizes_verdict(inputs: Inputs, answer: Any) -> None:
    for ((x, logits), _), described in zip(inputs["calls"], answer, strict=True):
        count = len(x)
        expected = reference_reconstruction_loss(x, logits)
        result = array_of(described, "reconstruction_loss").astype(np.float64)
        if result.shape != (count,) or not np.allclose(result, expected, rtol=1e-4, atol=1e-3):
            raise CheckFailed(
                f"The loss is wrong for a batch of {count} image(s).",
                tried=f"{count} images of shape (28, 28, 1)",
                expected=f"shape ({count},)",
                got=f"shape {result.shape}",
                hint="do not hard-code the batch size, and avoid squeeze(), which also drops a batch of 1",
            )


# --------------------------------------------------------------------------- build_decoder

build_decoder_exercise = exercise(
    "build_decoder",
    lesson=LESSON,
    symbol="build_decoder",
    description="codes (N, latent_dim) -> 512 ReLU -> logits (N, 28, 28, 1)",
    references=("vae_tf.models:build_decoder",),
)


def _build(build_decoder: Any, latent_dim: int) -> Any:
    import keras

    model = build_decoder(latent_dim)
    if not isinstance(model, keras.Model):
        raise CheckFailed(
            "build_decoder should return a keras.Model.",
            tried=f"build_decoder({latent_dim})",
            expected="a keras.Model",
            got=f"a {type(model).__name__}" if model is not None else "None",
            hint="keras.Model(inputs, outputs) with inputs = keras.Input(shape=(latent_dim,))",
        )
    return model


def _codes(rng: np.random.Generator, count: int, latent_dim: int) -> np.ndarray:
    # Codes of the size a trained 2-D latent space has (a few units), so ReLUs are mixed.
    return rng.normal(0.0, 3.0, size=(count, latent_dim)).astype(np.float32)


def _kernel_shapes(model: Any) -> list[list[int]]:
    """Shapes of the 2-D weights (dense kernels) of the model, in order."""
    return [list(w.shape) for w in model.weights if len(w.shape) == 2]


def decoder_parameter_count(latent_dim: int) -> int:
    """Weights and biases of latent_dim -> 512 -> 784."""
    return latent_dim * HIDDEN + HIDDEN + HIDDEN * PIXELS + PIXELS


def _shape_inputs(rng: np.random.Generator) -> Inputs:
    return {"codes": _codes(rng, int(rng.integers(3, 8)), 2)}


@build_decoder_exercise.probe("maps (N, latent_dim) codes to (N, 28, 28, 1)", inputs=_shape_inputs)
def _decoder_shape_probe(build_decoder: Any, inputs: Inputs) -> Any:
    model = _build(build_decoder, 2)
    return call_described(model, inputs["codes"])


@build_decoder_exercise.verdict("maps (N, latent_dim) codes to (N, 28, 28, 1)")
def _decoder_shape_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["codes"])
    result = array_of(answer, "the decoder")
    if result.shape != (count, 28, 28, 1):
        raise CheckFailed(
            "The decoder should output one 28x28x1 image of logits per code.",
            tried=f"{count} codes of shape (2,)",
            expected=f"output shape ({count}, 28, 28, 1)",
            got=f"output shape {result.shape}",
            hint="end with Dense(784) and keras.layers.Reshape((28, 28, 1))",
        )


def _parameter_inputs(rng: np.random.Generator) -> Inputs:
    return {"latent_dims": [2, int(rng.integers(3, 9))]}


@build_decoder_exercise.probe(
    "has the 2 -> 512 -> 784 layers of the original study", inputs=_parameter_inputs
)
def _decoder_parameters_probe(build_decoder: Any, inputs: Inputs) -> Any:
    observed = []
    for latent_dim in inputs["latent_dims"]:
        model = _build(build_decoder, latent_dim)
        if not model.built:
            model(np.zeros((1, latent_dim), dtype=np.float32))  # a subclassed model builds on call
        observed.append({"count": int(model.count_params()), "kernels": _kernel_shapes(model)})
    return observed


@build_decoder_exercise.verdict("has the 2 -> 512 -> 784 layers of the original study")
def _decoder_parameters_verdict(inputs: Inputs, answer: Any) -> None:
    for latent_dim, seen in zip(inputs["latent_dims"], answer, strict=True):
        expected = decoder_parameter_count(latent_dim)
        got = int(seen["count"])
        if got != expected:
            shapes = [tuple(int(n) for n in shape) for shape in seen["kernels"][:6]]
            raise CheckFailed(
                "The decoder has the wrong number of weights.",
                tried=f"build_decoder({latent_dim})",
                expected=f"{expected:,} parameters: Dense {latent_dim}->512 and Dense 512->784, "
                "each with a bias",
                got=f"{got:,} parameters, dense kernels of shapes {shapes}",
                hint="use exactly two Dense layers (512 units, then 784) and the latent_dim argument",
            )


def _forward_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "codes": _codes(rng, int(rng.integers(4, 9)), 2),
        "weights": [
            rng.normal(0.0, 0.5, size=(2, HIDDEN)).astype(np.float32),
            rng.normal(0.0, 0.5, size=(HIDDEN,)).astype(np.float32),
            rng.normal(0.0, 0.05, size=(HIDDEN, PIXELS)).astype(np.float32),
            rng.normal(0.0, 0.5, size=(PIXELS,)).astype(np.float32),
        ],
    }


@build_decoder_exercise.probe(
    "uses ReLU in the hidden layer and returns logits", inputs=_forward_inputs
)
def _decoder_forward_probe(build_decoder: Any, inputs: Inputs) -> Any:
    model = _build(build_decoder, 2)
    if not model.built:
        model(np.zeros((1, 2), dtype=np.float32))
    shapes = [list(w.shape) for w in model.weights]
    if shapes != [list(w.shape) for w in inputs["weights"]]:
        return {"shapes": shapes[:8]}
    # The judge's weights, so that the verdict knows what the outputs must be.
    for variable, value in zip(model.weights, inputs["weights"], strict=True):
        variable.assign(value)
    return {"shapes": shapes, "output": call_described(model, inputs["codes"])}


@build_decoder_exercise.verdict("uses ReLU in the hidden layer and returns logits")
def _decoder_forward_verdict(inputs: Inputs, answer: Any) -> None:
    if "output" not in answer:
        shapes = [tuple(int(n) for n in shape) for shape in answer["shapes"]]
        raise CheckFailed(
            "Expected two Dense layers, 2->512 then 512->784, each with a bias.",
            expected="weights of shapes [(2, 512), (512,), (512, 784), (784,)]",
            got=f"weights of shapes {shapes}",
        )
    z = inputs["codes"].astype(np.float64)
    w1, b1, w2, b2 = (w.astype(np.float64) for w in inputs["weights"])
    expected = _decoder_reference(z, w1, b1, w2, b2)
    result = array_of(answer["output"], "the decoder").astype(np.float64).reshape(len(z), -1)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-4):
        return
    hint = "hidden = Dense(512, activation='relu'); output = Dense(784) with no activation"
    if result.shape == expected.shape:
        if np.allclose(result, 1.0 / (1.0 + np.exp(-expected)), rtol=1e-4, atol=1e-5):
            hint = (
                "the output went through a sigmoid: the decoder returns logits (no activation), "
                "the loss applies the sigmoid itself, stably"
            )
        elif np.allclose(result, (z @ w1 + b1) @ w2 + b2, rtol=1e-4, atol=1e-4):
            hint = "the hidden layer has no activation: use activation='relu'"
    raise CheckFailed(
        "The decoder's output differs from relu(z W1 + b1) W2 + b2 computed with its weights.",
        tried=f"{len(z)} codes drawn from N(0, 3^2), the decoder's weights set by the check",
        expected=f"first logits {short(expected[0, 300:302], 3)}",
        got=f"first logits {short(result[0, 300:302], 3)}",
        hint=hint,
    )


@judge_only
def _decoder_reference(z: np.ndarray, w1: Any, b1: Any, w2: Any, b2: Any) -> np.ndarray:
    return np.maximum(z @ w1 + b1, 0.0) @ w2 + b2
