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

from vae_tf.grading.answers import array_of, describe, exception_record, number_of
from vae_tf.grading.exercises._helpers import (
    call_described,
    call_each,
    counted_parameters,
    parameters_described,
    require_no_error,
    require_values,
    short,
)
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
    points=4,
    symbol="reconstruction_loss",
    description="Bernoulli cross-entropy from logits, summed over pixels: (N,) nats per image",
    references=("vae_tf.losses:reconstruction_loss",),
    hints=(
        "per pixel, the loss is the binary cross-entropy between the target x and the "
        "probability sigmoid(logit): the second argument holds logits, not probabilities",
        "do not apply the sigmoid yourself: Keras and TensorFlow have cross-entropy functions "
        "that take logits (look for from_logits, or 'with_logits' in tf.nn)",
        "add up (do not average) the per-pixel values over every axis except the first one, "
        "the batch axis",
        "write it with keras.ops or tf functions, not NumPy: Keras trains inside a compiled "
        "function, where NumPy cannot see the values and no gradient flows through it",
    ),
)

SHAPE_FIRST = "The shape is wrong: fix the check 'returns one value per image' first."


@reconstruction_loss_exercise.check(
    "returns one value per image", probe=_loss_probe, inputs=_batch_inputs(3, 7)
)
def _loss_shape_verdict(inputs: Inputs, answer: Any) -> None:
    (x, _), _ = inputs["calls"][0]
    count = len(x)
    result = array_of(answer[0], "reconstruction_loss")
    if result.shape != (count,):
        what = "The loss should hold one number per image."
        hint = "sum over the pixel axes only, keep the batch axis"
        if result.size == 1:
            value = float(result.reshape(-1)[0])
            expected = reference_reconstruction_loss(*inputs["calls"][0][0])
            if np.isclose(value, expected.sum(), rtol=1e-3):
                what = (
                    "The loss was summed over the batch too: it should hold one number per image."
                )
            elif np.isclose(value, expected.mean(), rtol=1e-3):
                what = "The loss was averaged over the batch: it should hold one number per image."
            hint = "the model averages over the batch itself; return one value per image"
        elif result.ndim > 1:
            what = "Not every pixel axis was summed: the loss should hold one number per image."
            hint = "sum over all pixel axes (height, width and channel)"
        raise CheckFailed(
            what,
            tried=f"{count} images of shape (28, 28, 1) and logits of the same shape",
            expected=f"shape ({count},)",
            got=f"shape {result.shape}",
            hint=hint,
        )
    # One number per image, and the right numbers: zeros of shape (N,) earn nothing.
    require_values(
        result,
        reference_reconstruction_loss(*inputs["calls"][0][0]),
        lambda: _loss_values_verdict(inputs, answer),
        what="One number per image, but not the cross-entropy of each image.",
    )


@reconstruction_loss_exercise.check(
    "matches the cross-entropy summed over pixels",
    probe=_loss_probe,
    inputs=_batch_inputs(2, 6),
)
def _loss_values_verdict(inputs: Inputs, answer: Any) -> None:
    (x, logits), _ = inputs["calls"][0]
    expected = reference_reconstruction_loss(x, logits)
    result = array_of(answer[0], "reconstruction_loss").astype(np.float64).reshape(-1)
    if result.shape != expected.shape:
        raise CheckFailed(
            SHAPE_FIRST, expected=f"shape {expected.shape}", got=f"shape {result.shape}"
        )
    if np.allclose(result, expected, rtol=1e-4, atol=1e-3):
        return
    what = "The values differ from the Bernoulli cross-entropy summed over pixels."
    probabilities = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    if np.allclose(result / expected, 1.0 / PIXELS, rtol=1e-3):
        what = (
            "The loss was averaged over the pixels; it is the SUM over the 784 pixels "
            "(nats per image)."
        )
    elif np.allclose(result, reference_reconstruction_loss(x, probabilities), rtol=1e-3):
        what = (
            "A sigmoid was applied to the logits before a from-logits cross-entropy: the second "
            "argument already holds logits."
        )
    elif np.allclose(result, -expected, rtol=1e-4):
        what = (
            "The sign is flipped: the loss is the NEGATIVE log-likelihood, a positive number of "
            "nats."
        )
    raise CheckFailed(
        what,
        tried=f"{len(x)} grey-level images and logits drawn from N(0, 3^2)",
        expected=f"{short(expected[:2], 2)}... nats per image",
        got=f"{short(result[:2], 2)}...",
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


@reconstruction_loss_exercise.check(
    "stays finite and exact for extreme logits", probe=_loss_probe, inputs=_extreme_inputs
)
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
            "compute the cross-entropy from the logits, never from probabilities",
        ) from None
    if result.shape != expected.shape:
        raise CheckFailed(
            SHAPE_FIRST, expected=f"shape {expected.shape}", got=f"shape {result.shape}"
        )
    if np.allclose(result, expected, rtol=1e-3, atol=1e-2):
        return
    if result[0] < 1.0 and 10.0 < result[1] / inputs["wrong"] < 20.0:
        what = (
            "Probabilities were clipped (as a cross-entropy on probabilities does, to about "
            f"1e-7): a confidently wrong pixel costs about 16 nats instead of {scale:.0f}."
        )
    else:
        what = (
            "The loss is wrong for large logits: a confidently wrong pixel should cost about "
            f"{scale:.0f} nats (if moderate logits fail too, fix the earlier check first)."
        )
    raise CheckFailed(
        what,
        tried=tried,
        expected=f"{short(expected, 2)} nats per image",
        got=f"{short(result, 2)}",
        hint="compute the cross-entropy from the logits, never from probabilities",
    )


def _sizes_inputs(rng: np.random.Generator) -> Inputs:
    return {"calls": [((*_batch(rng, count),), {}) for count in (1, int(rng.integers(5, 10)))]}


@reconstruction_loss_exercise.check(
    "works for any batch size, including 1", probe=_loss_probe, inputs=_sizes_inputs
)
def _loss_sizes_verdict(inputs: Inputs, answer: Any) -> None:
    for ((x, logits), _), described in zip(inputs["calls"], answer, strict=True):
        count = len(x)
        expected = reference_reconstruction_loss(x, logits)
        result = array_of(described, "reconstruction_loss").astype(np.float64)
        if result.shape != (count,):
            raise CheckFailed(
                f"The loss has the wrong shape for a batch of {count} image(s).",
                tried=f"{count} images of shape (28, 28, 1)",
                expected=f"shape ({count},)",
                got=f"shape {result.shape}",
                hint="do not hard-code the batch size, and avoid squeeze(), which also drops "
                "the batch axis of a batch of 1",
            )
        if not np.allclose(result, expected, rtol=1e-4, atol=1e-3):
            raise CheckFailed(
                f"The values are wrong for a batch of {count} image(s): if other batches are "
                "wrong too, fix the check 'matches the cross-entropy summed over pixels' first.",
                tried=f"{count} images of shape (28, 28, 1)",
                expected=f"{short(expected[:2], 2)} nats per image",
                got=f"{short(result[:2], 2)}",
            )


def _compiled_inputs(rng: np.random.Generator) -> Inputs:
    x, logits = _batch(rng, int(rng.integers(2, 6)))
    return {"x": x, "logits": logits}


def _loss_compiled_probe(reconstruction_loss: Any, inputs: Inputs) -> Any:
    import tensorflow as tf

    x, logits = tf.constant(inputs["x"]), tf.constant(inputs["logits"])
    reconstruction_loss(x, logits)  # eagerly first: the stub's NotImplementedError passes through

    @tf.function
    def loss_and_gradient(x: Any, logits: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(logits)
            total = tf.reduce_sum(tf.cast(reconstruction_loss(x, logits), tf.float32))
        gradient = tape.gradient(total, logits)
        return total, tf.zeros_like(logits) if gradient is None else gradient, gradient is None

    # A batch size unknown while tracing, as in fit with a last batch of another size.
    spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
    try:
        compiled = loss_and_gradient.get_concrete_function(spec, spec)
        total, gradient, missing = compiled(x, logits)
    except Exception as error:  # noqa: BLE001 - NotImplementedError too: TF's graph-mode errors
        return {"raised": exception_record(error)}
    return {
        "total": describe(total),
        "gradient": describe(gradient),
        "missing": bool(missing),
    }


@reconstruction_loss_exercise.check(
    "gives the right gradient inside a compiled function",
    probe=_loss_compiled_probe,
    inputs=_compiled_inputs,
)
def _loss_compiled_verdict(inputs: Inputs, answer: Any) -> None:
    x, logits = inputs["x"], inputs["logits"]
    require_no_error(
        answer,
        "The loss does not run inside a compiled function (tf.function), where Keras "
        "trains: NumPy functions and .numpy() work only on concrete values.",
        300,
        tried="the loss and its gradient in a tf.function, batch size unknown when traced",
        hint="use keras.ops (or tf) functions on the tensors",
    )
    if answer["missing"]:
        raise CheckFailed(
            "No gradient reaches the logits: something in the loss cuts the gradient (a "
            "stop_gradient, or values taken out of TensorFlow, e.g. through NumPy), so the "
            "decoder could not learn from it.",
            hint="use keras.ops (or tf) functions on the tensors",
        )
    expected_total = float(reference_reconstruction_loss(x, logits).sum())
    total = number_of(answer["total"], "the summed loss")
    if not np.isclose(total, expected_total, rtol=1e-4):
        raise CheckFailed(
            "The loss's value is wrong inside a compiled function: fix the earlier checks first.",
            expected=f"a batch total of {expected_total:.2f} nats",
            got=f"{total:.2f}",
        )
    gradient = array_of(answer["gradient"], "the gradient").astype(np.float64)
    expected = 1.0 / (1.0 + np.exp(-logits.astype(np.float64))) - x
    if gradient.shape == expected.shape and np.allclose(gradient, expected, atol=1e-4):
        return
    if gradient.shape != expected.shape:
        got = f"a gradient of shape {gradient.shape}"
        wanted = f"shape {expected.shape}"
    else:
        worst = int(np.argmax(np.abs(gradient - expected).reshape(-1)))
        got = f"{gradient.reshape(-1)[worst]:.4f} at pixel {worst} of the batch"
        wanted = f"{expected.reshape(-1)[worst]:.4f} there"
    raise CheckFailed(
        "The gradient with respect to the logits should be sigmoid(logit) - x per pixel; "
        "something in the loss blocks or distorts it (e.g. a stop_gradient or a rounding).",
        expected=wanted,
        got=got,
    )


# --------------------------------------------------------------------------- build_decoder

build_decoder_exercise = exercise(
    "build_decoder",
    lesson=LESSON,
    points=8,
    symbol="build_decoder",
    description="codes (N, latent_dim) -> 512 ReLU -> logits (N, 28, 28, 1)",
    references=("vae_tf.models:build_decoder",),
    hints=(
        "the decoder mirrors the encoder: from a code of latent_dim numbers to 784 pixel "
        "values, through one hidden layer of 512 units",
        "only the hidden layer has an activation, ReLU; the last layer returns logits, so it "
        "has none (the loss applies the sigmoid)",
        "a functional model starts from keras.Input with the code's shape, which depends on "
        "latent_dim, and ends by reshaping the 784 values into an image (28, 28, 1)",
    ),
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
            hint="return the model you built (a functional keras.Model or keras.Sequential)",
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


def _decoder_shape_probe(build_decoder: Any, inputs: Inputs) -> Any:
    model = _build(build_decoder, 2)
    output = call_described(model, inputs["codes"])
    parameters = {**parameters_described(model), "kernels": _kernel_shapes(model)}
    return {"output": output, "parameters": parameters}


@build_decoder_exercise.check(
    "maps (N, latent_dim) codes to (N, 28, 28, 1)", probe=_decoder_shape_probe, inputs=_shape_inputs
)
def _decoder_shape_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["codes"])
    result = array_of(answer["output"], "the decoder")
    if result.shape != (count, 28, 28, 1):
        what = "The decoder should output one 28x28x1 image of logits per code."
        if result.shape == (count, PIXELS):
            what = "The output is flat, (N, 784): the decoder should return images (N, 28, 28, 1)."
        elif result.shape == (count, 28, 28):
            what = "The output has no channel axis: the decoder should return (N, 28, 28, 1)."
        raise CheckFailed(
            what,
            tried=f"{count} codes of shape (2,)",
            expected=f"output shape ({count}, 28, 28, 1)",
            got=f"output shape {result.shape}",
        )

    # The right shape from no network (zeros, one linear layer) earns nothing: the layers are
    # checked as in the parameters check, with its words.
    _decoder_parameters_verdict({"latent_dims": [2]}, [answer["parameters"]])


def _parameter_inputs(rng: np.random.Generator) -> Inputs:
    return {"latent_dims": [2, int(rng.integers(3, 9))]}


def _decoder_parameters_probe(build_decoder: Any, inputs: Inputs) -> Any:
    observed = []
    for latent_dim in inputs["latent_dims"]:
        model = _build(build_decoder, latent_dim)
        if not model.built:
            model(np.zeros((1, latent_dim), dtype=np.float32))  # a subclassed model builds on call
        observed.append({**parameters_described(model), "kernels": _kernel_shapes(model)})
    return observed


@build_decoder_exercise.check(
    "has the 2 -> 512 -> 784 layers of the original study",
    probe=_decoder_parameters_probe,
    inputs=_parameter_inputs,
)
def _decoder_parameters_verdict(inputs: Inputs, answer: Any) -> None:
    for latent_dim, seen in zip(inputs["latent_dims"], answer, strict=True):
        expected = decoder_parameter_count(latent_dim)
        got = counted_parameters(seen, "the decoder")
        if got != expected:
            shapes = [tuple(int(n) for n in shape) for shape in seen["kernels"][:6]]
            what = "The decoder has the wrong number of weights."
            if shapes and shapes[0][0] != latent_dim:
                what = (
                    f"The decoder ignores latent_dim: build_decoder({latent_dim}) takes codes of "
                    f"size {shapes[0][0]}."
                )
            elif shapes and shapes[0][1] != HIDDEN:
                what = (
                    f"The hidden layer has {shapes[0][1]} units; the original study's decoder "
                    f"has {HIDDEN}."
                )
            elif len(shapes) != 2:
                what = (
                    f"The decoder has {len(shapes)} Dense layers; the original study's has two "
                    "(the hidden layer and the output layer)."
                )
            raise CheckFailed(
                what,
                tried=f"build_decoder({latent_dim})",
                expected=f"{expected:,} parameters: Dense {latent_dim}->512 and Dense 512->784, "
                "each with a bias",
                got=f"{got:,} parameters, dense kernels of shapes {shapes}",
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


@build_decoder_exercise.check(
    "uses ReLU in the hidden layer and returns logits",
    probe=_decoder_forward_probe,
    inputs=_forward_inputs,
)
def _decoder_forward_verdict(inputs: Inputs, answer: Any) -> None:
    if "output" not in answer:
        shapes = [tuple(int(n) for n in shape) for shape in answer["shapes"]]
        raise CheckFailed(
            "The layers differ from Dense 2->512 then Dense 512->784, each with a bias: fix the "
            "check 'has the 2 -> 512 -> 784 layers' first.",
            expected="weights of shapes [(2, 512), (512,), (512, 784), (784,)]",
            got=f"weights of shapes {shapes}",
        )
    z = inputs["codes"].astype(np.float64)
    w1, b1, w2, b2 = (w.astype(np.float64) for w in inputs["weights"])
    expected = _decoder_reference(z, w1, b1, w2, b2)
    result = array_of(answer["output"], "the decoder").astype(np.float64).reshape(len(z), -1)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-4):
        return
    what = "The decoder's output differs from relu(z W1 + b1) W2 + b2 computed with its weights."
    if result.shape == expected.shape:
        hidden = z @ w1 + b1
        if np.allclose(result, 1.0 / (1.0 + np.exp(-expected)), rtol=1e-4, atol=1e-5):
            what = (
                "The output went through a sigmoid: the decoder returns logits (no activation "
                "on the last layer); the loss applies the sigmoid itself, stably."
            )
        elif np.allclose(result, hidden @ w2 + b2, rtol=1e-4, atol=1e-4):
            what = "The hidden layer has no activation: the original study's decoder uses ReLU."
        elif not np.allclose(result, np.maximum(hidden, 0.0) @ w2 + b2, rtol=1e-3, atol=1e-3):
            what = (
                "The hidden layer's activation is not ReLU (or the output layer has one): "
                "relu(z W1 + b1) W2 + b2 is what the decoder should compute."
            )
        worst = int(np.argmax(np.abs(result - expected)[0]))
    else:
        worst = 0
    raise CheckFailed(
        what,
        tried=f"{len(z)} codes drawn from N(0, 3^2), the decoder's weights set by the check",
        expected=f"logit {expected[0, worst]:.4f} for pixel {worst} of the first code",
        got=f"{result[0, worst]:.4f}" if result.ndim == 2 and result.shape[1] > worst else "none",
    )


def _fit_inputs(rng: np.random.Generator) -> Inputs:
    codes = _codes(rng, 12, 3)
    images = (rng.random((12, 28, 28, 1)) < 0.3).astype(np.float32)
    return {"codes": codes, "images": images}


def _decoder_fit_probe(build_decoder: Any, inputs: Inputs) -> Any:
    import keras

    model = _build(build_decoder, 3)
    if not model.built:
        model(inputs["codes"][:1])
    before = [np.array(w) for w in model.trainable_weights]
    outputs_before = np.array(model(inputs["codes"]))
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    try:
        # Batches of 5 for 12 codes: the last batch has another size, as in any real epoch.
        history = model.fit(inputs["codes"], inputs["images"], batch_size=5, epochs=1, verbose=0)
    except Exception as error:  # noqa: BLE001 - NotImplementedError too: TF's graph-mode errors
        return {"raised": exception_record(error)}
    after = [np.array(w) for w in model.trainable_weights]
    # Raw numbers, not conclusions: the judge counts the weights that moved, and checks that
    # the outputs moved with them.
    return {
        "loss": describe(history.history["loss"][-1]),
        "moved": describe(
            np.array(
                [
                    float(np.max(np.abs(a - b), initial=0.0))
                    for b, a in zip(before, after, strict=True)
                ]
            )
        ),
        "outputs_before": describe(outputs_before),
        "outputs_after": describe(np.array(model(inputs["codes"]))),
    }


@build_decoder_exercise.check(
    "trains with fit (a compiled step)", probe=_decoder_fit_probe, inputs=_fit_inputs
)
def _decoder_fit_verdict(inputs: Inputs, answer: Any) -> None:
    require_no_error(
        answer,
        "The decoder fails inside fit, where Keras runs it as a compiled function with a "
        "batch size unknown in advance.",
        300,
        tried="fit on 12 codes of size 3, batches of 5",
        hint="build it from Keras layers only; do not use NumPy or a fixed batch size",
    )
    number_of(answer["loss"], "the training loss")
    moved = array_of(answer["moved"], "the change of each weight").reshape(-1)
    trainable, changed = len(moved), int(np.sum(moved > 0.0))
    before = array_of(answer["outputs_before"], "the outputs before training")
    after = array_of(answer["outputs_after"], "the outputs after training")
    if changed and (before.shape != after.shape or np.array_equal(before, after)):
        raise CheckFailed(
            "The weights are said to have changed, but the decoder's outputs on the same codes "
            "did not: the trained weights are not the ones that compute the output.",
            tried="one epoch of fit, outputs on the training codes before and after",
        )
    if trainable < 4 or changed < trainable:
        raise CheckFailed(
            "Training does not update every weight of the decoder: some layers are frozen "
            "(trainable=False) or not connected to the output.",
            tried="one epoch of fit",
            expected="4 trainable weights (2 kernels, 2 biases), all changed",
            got=f"{trainable} trainable weights, {changed} changed",
        )


@judge_only
def _decoder_reference(z: np.ndarray, w1: Any, b1: Any, w2: Any, b2: Any) -> np.ndarray:
    return np.maximum(z @ w1 + b1, 0.0) @ w2 + b2
