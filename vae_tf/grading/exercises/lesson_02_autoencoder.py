"""Checks for lesson 02 (the plain autoencoder).

Two exercises:

- ``reconstruction_loss(x, logits)``: -log p(x|z) for a Bernoulli decoder, per image, in
  nats: binary cross-entropy from logits, summed over the 784 pixels, shape ``(N,)``.
- ``build_decoder(latent_dim)``: a ``keras.Model`` mapping codes ``(N, latent_dim)`` to
  logits ``(N, 28, 28, 1)`` through one hidden Dense layer of 512 ReLU units.

Each check compares against a NumPy reference computed here and explains a failure in
plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.exercises._helpers import to_numpy
from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "02_autoencoder"
PIXELS = 28 * 28
HIDDEN = 512


def _tensor(array: np.ndarray):
    import tensorflow as tf

    return tf.constant(array, dtype=tf.float32)


# --------------------------------------------------------------------------- reconstruction_loss


def reference_reconstruction_loss(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Bernoulli cross-entropy from logits, summed over pixels: the stable form.

    ``-[x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))] = max(l, 0) - l x + log(1 + exp(-|l|))``
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    logits = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    per_pixel = np.maximum(logits, 0.0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.sum(axis=1)


def _example_batch(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey-level images in [0, 1] and moderate logits, shaped (count, 28, 28, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.random((count, 28, 28, 1)).astype(np.float32)
    x[:, :10] = 0.0  # MNIST-like: many pixels exactly 0
    logits = rng.normal(0.0, 3.0, size=(count, 28, 28, 1)).astype(np.float32)
    return x, logits


reconstruction_loss_exercise = exercise(
    "reconstruction_loss",
    lesson=LESSON,
    symbol="reconstruction_loss",
    description="Bernoulli cross-entropy from logits, summed over pixels: (N,) nats per image",
)


@reconstruction_loss_exercise.add_check("returns one value per image")
def _reconstruction_loss_shape(reconstruction_loss: Any) -> None:
    x, logits = _example_batch(4, seed=0)
    result = to_numpy(reconstruction_loss(_tensor(x), _tensor(logits)), "reconstruction_loss")
    if result.shape != (4,):
        hint = "sum over the pixel axes only, keep the batch axis"
        if result.shape == ():
            hint = "do not average (or sum) over the batch: the model does that; return one value per image"
        elif result.ndim > 1:
            hint = "sum over all pixel axes (height, width and channel), e.g. after reshaping to (N, 784)"
        raise CheckFailed(
            "The loss should hold one number per image.",
            tried="4 images of shape (28, 28, 1) and logits of the same shape",
            expected="shape (4,)",
            got=f"shape {result.shape}",
            hint=hint,
        )


@reconstruction_loss_exercise.add_check("matches the cross-entropy summed over pixels")
def _reconstruction_loss_values(reconstruction_loss: Any) -> None:
    x, logits = _example_batch(3, seed=1)
    expected = reference_reconstruction_loss(x, logits)
    result = to_numpy(reconstruction_loss(_tensor(x), _tensor(logits)), "reconstruction_loss")
    result = result.reshape(-1)
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
        tried="3 grey-level images and logits drawn from N(0, 3^2)",
        expected=f"{np.array2string(expected, precision=2)} nats per image",
        got=f"{np.array2string(result, precision=2)}",
        hint=hint,
    )


@reconstruction_loss_exercise.add_check("stays finite and exact for extreme logits")
def _reconstruction_loss_extreme(reconstruction_loss: Any) -> None:
    # Image 0: the decoder is confidently right everywhere (loss ~ 0).
    # Image 1: confidently wrong on 100 pixels (loss ~ 100 * 50 = 5000 nats).
    x = np.zeros((2, 28, 28, 1), dtype=np.float32)
    x[:, :14] = 1.0
    logits = np.where(x > 0.5, 50.0, -50.0).astype(np.float32)
    wrong = np.zeros_like(x, dtype=bool)
    wrong[1, 14:, :, :].flat[:100] = True
    logits[wrong] = 50.0
    expected = reference_reconstruction_loss(x, logits)
    result = to_numpy(reconstruction_loss(_tensor(x), _tensor(logits)), "reconstruction_loss")
    result = result.reshape(-1)
    if result.shape != expected.shape or not np.all(np.isfinite(result)):
        raise CheckFailed(
            "The loss is not finite when the logits are large (inf or NaN).",
            tried="logits of +50 and -50",
            expected=f"{np.array2string(expected, precision=2)} nats per image",
            got=f"{np.array2string(result, precision=2)}",
            hint="sigmoid(50) rounds to exactly 1 in float32 and log(1 - 1) = -inf: compute from "
            "logits, e.g. keras.ops.binary_crossentropy(x, logits, from_logits=True)",
        )
    if not np.allclose(result, expected, rtol=1e-3, atol=1e-2):
        raise CheckFailed(
            "The loss is wrong for large logits: a confidently wrong pixel should cost about 50 nats.",
            tried="logits of +50 and -50, 100 pixels confidently wrong in image 1",
            expected=f"{np.array2string(expected, precision=2)} nats per image",
            got=f"{np.array2string(result, precision=2)}",
            hint="clipping probabilities (e.g. to 1e-7) caps the cost of a wrong pixel at ~16 nats; "
            "compute the cross-entropy from logits instead",
        )


@reconstruction_loss_exercise.add_check("works for any batch size, including 1")
def _reconstruction_loss_batch_sizes(reconstruction_loss: Any) -> None:
    for count in (1, 7):
        x, logits = _example_batch(count, seed=2 + count)
        expected = reference_reconstruction_loss(x, logits)
        result = to_numpy(reconstruction_loss(_tensor(x), _tensor(logits)), "reconstruction_loss")
        if result.shape != (count,) or not np.allclose(result, expected, rtol=1e-4, atol=1e-3):
            raise CheckFailed(
                f"The loss is wrong for a batch of {count} image(s).",
                tried=f"{count} images of shape (28, 28, 1)",
                expected=f"shape ({count},)",
                got=f"shape {result.shape}",
                hint="do not hard-code the batch size, and avoid squeeze(), which also drops a batch of 1",
            )


# --------------------------------------------------------------------------- build_decoder


def decoder_parameter_count(latent_dim: int) -> int:
    """Weights and biases of latent_dim -> 512 -> 784."""
    return latent_dim * HIDDEN + HIDDEN + HIDDEN * PIXELS + PIXELS


build_decoder_exercise = exercise(
    "build_decoder",
    lesson=LESSON,
    symbol="build_decoder",
    description="codes (N, latent_dim) -> 512 ReLU -> logits (N, 28, 28, 1)",
)


def _build(build_decoder: Any, latent_dim: int):
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


def _codes(count: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    # Codes of the size a trained 2-D latent space has (a few units), so ReLUs are mixed.
    return np.random.default_rng(seed).normal(0.0, 3.0, size=(count, latent_dim)).astype(np.float32)


def _dense_kernels(model: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of every 2-D weight of the model, in layer order."""
    pairs = []
    weights = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
    index = 0
    while index < len(weights):
        if weights[index].ndim == 2 and index + 1 < len(weights) and weights[index + 1].ndim == 1:
            pairs.append((weights[index], weights[index + 1]))
            index += 2
        else:
            index += 1
    return pairs


@build_decoder_exercise.add_check("maps (N, latent_dim) codes to (N, 28, 28, 1)")
def _build_decoder_shape(build_decoder: Any) -> None:
    model = _build(build_decoder, 2)
    result = to_numpy(model(_codes(5, 2)), "the decoder")
    if result.shape != (5, 28, 28, 1):
        raise CheckFailed(
            "The decoder should output one 28x28x1 image of logits per code.",
            tried="5 codes of shape (2,)",
            expected="output shape (5, 28, 28, 1)",
            got=f"output shape {result.shape}",
            hint="end with Dense(784) and keras.layers.Reshape((28, 28, 1))",
        )


@build_decoder_exercise.add_check("has the 2 -> 512 -> 784 layers of the original study")
def _build_decoder_parameters(build_decoder: Any) -> None:
    for latent_dim in (2, 5):
        model = _build(build_decoder, latent_dim)
        if not model.built:
            model(_codes(1, latent_dim))  # a subclassed model is built by its first call
        expected = decoder_parameter_count(latent_dim)
        got = int(model.count_params())
        if got != expected:
            shapes = [tuple(kernel.shape) for kernel, _ in _dense_kernels(model)]
            raise CheckFailed(
                "The decoder has the wrong number of weights.",
                tried=f"build_decoder({latent_dim})",
                expected=f"{expected:,} parameters: Dense {latent_dim}->512 and Dense 512->784, "
                "each with a bias",
                got=f"{got:,} parameters, dense kernels of shapes {shapes}",
                hint="use exactly two Dense layers (512 units, then 784) and the latent_dim argument",
            )


@build_decoder_exercise.add_check("uses ReLU in the hidden layer and returns logits")
def _build_decoder_forward(build_decoder: Any) -> None:
    model = _build(build_decoder, 2)
    z = _codes(6, 2, seed=1)
    result = to_numpy(model(z), "the decoder").reshape(6, -1)
    pairs = _dense_kernels(model)
    if len(pairs) != 2 or pairs[0][0].shape != (2, HIDDEN) or pairs[1][0].shape != (HIDDEN, PIXELS):
        raise CheckFailed(
            "Expected two Dense layers, 2->512 then 512->784.",
            got=f"kernels of shapes {[tuple(k.shape) for k, _ in pairs]}",
        )
    (w1, b1), (w2, b2) = pairs
    hidden = np.maximum(z @ w1 + b1, 0.0)
    expected = hidden @ w2 + b2
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
        "The decoder's output differs from relu(z W1 + b1) W2 + b2 computed with its own weights.",
        tried="6 codes drawn from N(0, 3^2)",
        expected=f"first logits {np.array2string(expected[0, 300:303], precision=3)}",
        got=f"first logits {np.array2string(result[0, 300:303], precision=3)}",
        hint=hint,
    )
