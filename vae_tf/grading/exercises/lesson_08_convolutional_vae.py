"""Checks for lesson 08 (a convolutional VAE that generates).

Six exercises:

- ``build_conv_encoder(latent_dim)``: images (N, 28, 28, 1) -> ``[mu, log_var]``, each
  (N, latent_dim), through convolutions that downsample, with two unbounded heads;
- ``build_conv_decoder(latent_dim)``: codes (N, latent_dim) -> **logits** (N, 28, 28, 1),
  through transposed convolutions (or upsampling + convolutions);
- ``sample_prior(decoder, n, rng)``: n codes z ~ N(0, I) of the decoder's latent size,
  drawn with ``rng``, decoded to pixel probabilities;
- ``bernoulli_sample(probabilities, rng)``: binary images x ~ p(x|z), one uniform per pixel;
- ``sample_quality(probabilities)``: the digit classifier's confidence, mean entropy and
  label entropy (nats) over samples;
- ``aggregate_posterior_codes(mu, log_var, n, rng)``: codes drawn from q(z), the average of
  the posteriors of the given images (the "holes" experiment).

Both networks are also trained for a few steps inside ``fit`` of a real ``VAE``, paired with
a small dense network of the check's own (not convolutional, so it is no answer to copy).
The probe sends raw numbers (the loss of every step, each weight's largest change, the
network's outputs on the judge's inputs before and after); the judge decides whether a
weight moved, whether the outputs moved with it and whether the loss fell.
The package's own networks (``vae_tf.models:build_encoder`` / ``build_decoder``) and prior
sampler (``vae_tf.generation``) are references: redacted while grading.

``sample_prior`` is checked with a decoder whose logits ARE the code in the first
``latent_dim`` pixels (and 0 elsewhere), so the judge reads the codes the student drew back
from the probabilities (the logit of p), and tests them against N(0, I).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, number_of, raise_if_raised
from vae_tf.grading.exercises._helpers import (
    activation_named,
    affine_residual,
    also_probe,
    call_described,
    finite_values,
    head_activation_message,
    kernel_shapes,
    outputs_described,
    set_controlled_weights,
    short,
    tensor,
)
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "08_convolutional_vae"

FIX_EARLIER = "fix the earlier failed check of this exercise first"
# Checks that every other check of their network also runs (see the end of this file).
ENCODER_LAYERS_CHECK = "is convolutional and downsamples (28 -> 14 -> 7)"
DECODER_LAYERS_CHECK = "is convolutional: upsamples 7 -> 14 -> 28"
ENCODER_NONLINEAR_CHECK = (
    "is nonlinear: activations after the convolutions and the hidden Dense layer"
)
DECODER_NONLINEAR_CHECK = "is nonlinear: activations between its layers"
TRAIN_CHECK = "trains inside a compiled fit of a VAE (the loss falls)"  # of both networks
TRAIN_STEPS = 12
TRAIN_IMAGES = 32


# --------------------------------------------------------------------------- shared probe side


def _raised(error: Exception, limit: int = 400) -> dict[str, Any]:
    """An error of the student's code, as plain data for the verdict to report."""
    return {"raised": {"type": type(error).__name__, "message": str(error)[:limit]}}


def _some_calls(calls: Callable[[Any, Inputs], dict[str, Any]], *keys: str) -> Any:
    """A probe that makes every call of ``calls`` and sends the answers of ``keys`` only."""

    def probe(obj: Any, inputs: Inputs) -> Any:
        made = calls(obj, inputs)
        return {key: made[key] for key in keys}

    return probe


def _model_of(builder: Any, name: str, latent_dim: int) -> Any:
    import keras

    if not callable(builder):
        raise CheckFailed(f"{name} should be a function.", got=repr(builder)[:80])
    model = builder(latent_dim)
    if not isinstance(model, keras.Model):
        raise CheckFailed(
            f"{name} should return a keras.Model.",
            tried=f"{name}({latent_dim})",
            expected="a keras.Model (functional or keras.Sequential)",
            got=f"a {type(model).__name__}" if model is not None else "None",
            hint="did you forget to return the model?",
        )
    return model


def _layers_of(model: Any) -> list[dict[str, Any]]:
    """Class name and strides of every layer, nested models walked into."""
    import keras

    found: list[dict[str, Any]] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_layers_of(layer))
            continue
        strides = getattr(layer, "strides", None)
        found.append(
            {
                "type": type(layer).__name__[:60],
                "strides": [int(s) for s in strides] if isinstance(strides, (tuple, list)) else [],
            }
        )
    return found[:200]


def _layers_probe(name: str, latent_dim: int | None = None) -> Any:
    """A probe of the layers of ``name``'s network: built for the check's first latent size,
    or for ``latent_dim`` as the extra probe of the other checks (which takes no inputs)."""

    def probe(build: Any, inputs: Inputs | None = None) -> Any:
        size = inputs["latent_dims"][0] if latent_dim is None else latent_dim
        return _layers_of(_model_of(build, name, size))

    return probe


def _dense(network: str, latent_dim: int) -> Any:
    """A small dense ``network`` (not an answer: no convolution) to train a student's other one."""
    import keras
    from keras import layers

    if network == "encoder":
        inputs = keras.Input(shape=(28, 28, 1))
        h = layers.Dense(32, activation="relu")(layers.Flatten()(inputs))
        return keras.Model(inputs, [layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)])
    inputs = keras.Input(shape=(latent_dim,))
    h = layers.Dense(32, activation="relu")(inputs)
    return keras.Model(inputs, layers.Reshape((28, 28, 1))(layers.Dense(784)(h)))


def _train(
    encoder: Any,
    decoder: Any,
    student: Any,
    latent_dim: int,
    images: np.ndarray,
    student_input: np.ndarray,
) -> dict[str, Any]:
    """Fit a VAE made of the two networks for a few steps: raw numbers for the judge.

    The loss of every step, the largest change of each trainable weight of the student's
    network, and its raw outputs on ``student_input`` (the judge's) before and after
    training: the judge draws the conclusions (did a weight move, did the outputs move with
    it, did the loss fall), not this process.
    """
    import keras

    from vae_tf.models import VAE

    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=latent_dim, encoder=encoder, decoder=decoder, seed=0)
    model.compile(jit_compile=False, steps_per_execution=1)
    outputs_before = outputs_described(student, student_input)
    start = [np.array(w) for w in student.trainable_weights]
    # One batch per epoch: each epoch's logged loss is that step's loss before its update,
    # so the first is the untrained loss.
    history = model.fit(
        images, epochs=TRAIN_STEPS, batch_size=len(images), shuffle=False, verbose=0
    ).history
    changes = [
        float(np.max(np.abs(np.array(w) - w0), initial=0.0))
        for w, w0 in zip(student.trainable_weights, start, strict=True)
    ]
    return {
        "history": describe(np.asarray(history["loss"], dtype=np.float64)),
        "changes": describe(np.asarray(changes, dtype=np.float64)),
        "outputs_before": outputs_before,
        "outputs_after": outputs_described(student, student_input),
    }


def _train_inputs(rng: np.random.Generator) -> Inputs:
    images = (rng.random((TRAIN_IMAGES, 28, 28, 1)) < 0.2).astype(np.float32)
    latent_dim = int(rng.integers(3, 9))
    return {
        "latent_dim": latent_dim,
        "images": images,
        # The decoder's outputs before and after training are read at these codes.
        "codes": rng.normal(0.0, 1.0, size=(8, latent_dim)).astype(np.float32),
    }


def _train_probe(network: str) -> Any:
    """The probe of "trains inside fit" for the student's ``network`` ("encoder" or
    "decoder"), paired with a small dense network of the other kind; the student's
    network's outputs are read on the images (an encoder) or the codes (a decoder)."""

    def probe(build: Any, inputs: Inputs) -> Any:
        latent_dim = inputs["latent_dim"]
        student = _model_of(build, f"build_conv_{network}", latent_dim)
        try:
            if network == "encoder":
                pair, seen = (student, _dense("decoder", latent_dim)), inputs["images"][:8]
            else:
                pair, seen = (_dense("encoder", latent_dim), student), inputs["codes"]
            return _train(*pair, student, latent_dim, inputs["images"], seen)
        except NotImplementedError:
            raise
        except Exception as error:  # noqa: BLE001 - reported by the verdict
            return _raised(error)

    return probe


@judge_only
@contextmanager
def _earlier() -> Iterator[None]:
    """A failure inside is an earlier check's: said so, with its first sentence only."""
    try:
        yield
    except CheckFailed as failure:
        raise CheckFailed(f"{failure.what} ({FIX_EARLIER})") from None


@judge_only
def _rng_verdict(
    answer: Any,
    keys: tuple[str, ...],
    read: Callable[[Any], np.ndarray],
    same: Callable[[np.ndarray, np.ndarray], bool],
    noun: str,
    unseeded: str,
    fixed: str,
) -> None:
    """The "draws with the rng it is given" verdict, on the answers of four calls ``keys``:
    a first call, the next call with the same generator, a fresh generator of the same seed
    and one of another seed; ``read`` reads an answer (an earlier check's failure)."""
    with _earlier():
        first, following, fresh, other = (read(answer[key]) for key in keys)
    tried = (
        "two generators made with the same seed, one with another seed, and a second call with "
        "the same generator"
    )
    if not same(first, fresh):
        raise CheckFailed(
            f"Two generators made with the same seed gave different {noun}: {unseeded}",
            tried=tried,
            expected=f"the same {noun} for the same seed",
            got=f"different {noun}",
        )
    if same(first, other) or same(first, following):
        raise CheckFailed(
            f"Different generators (or two calls with one generator) gave the same {noun}: the "
            f"{fixed} from a fixed seed of your own, not from `rng`.",
            tried=tried,
            expected=f"new {noun} from a new generator or a later call",
            got=f"the same {noun}",
        )


@judge_only
def _fail_if_raised(answer: Any, who: str, tried: str, hint: str | None = None) -> None:
    """A described call that raised fails the check: "``who`` raised" its type and message."""
    if isinstance(answer, dict) and "raised" in answer:
        record = answer["raised"]
        raise CheckFailed(
            f"{who} raised {record.get('type')}: {str(record.get('message'))[:300]}",
            tried=tried,
            hint=hint,
        )


@judge_only
def _allclose(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, atol=1e-6))


@judge_only
def _described_arrays(described: Any, what: str) -> list[np.ndarray]:
    """The arrays of a described output (one tensor, or a list of them)."""
    items = described if isinstance(described, list) else [described]
    if not items or len(items) > 4:
        raise CheckFailed(f"{what} could not be read.")
    return [array_of(item, what).astype(np.float64) for item in items]


@judge_only
def _training_verdict(inputs: Inputs, answer: Any, network: str) -> None:
    if isinstance(answer, dict) and "raised" in answer:
        raise_if_raised(answer)
    history = array_of(answer["history"], "the loss of every step").astype(np.float64)
    if history.shape != (TRAIN_STEPS,):
        raise CheckFailed(
            "The training history has the wrong length.",
            expected=f"{TRAIN_STEPS} losses, one per step",
            got=f"shape {history.shape}",
        )
    before, after = float(history[0]), float(history[-1])
    changes = array_of(answer["changes"], "the change of each weight").reshape(-1)
    outputs_before = _described_arrays(answer["outputs_before"], "the outputs before training")
    outputs_after = _described_arrays(answer["outputs_after"], "the outputs after training")
    outputs_moved = len(outputs_before) != len(outputs_after) or any(
        b.shape != a.shape or not np.array_equal(b, a)
        for b, a in zip(outputs_before, outputs_after, strict=False)
    )
    tried = (
        f"a VAE with your {network} (latent_dim {inputs['latent_dim']}) fitted {TRAIN_STEPS} steps "
        f"of Adam on {TRAIN_IMAGES} binary images (tf.function)"
    )
    # The judge decides from raw numbers: the weights' changes and the outputs must agree.
    if not np.any(changes > 0.0):
        raise CheckFailed(
            f"fit did not change any weight of your {network}: no gradient reaches it (a "
            "NumPy step or stop_gradient inside it, or its weights not trainable).",
            tried=tried,
            got="every weight unchanged",
        )
    if not outputs_moved:
        raise CheckFailed(
            f"The weights of your {network} are said to have changed, but its outputs on the "
            "same inputs did not: the trained weights are not the ones that compute the output.",
            tried=tried + "; its outputs before and after",
            got="the same outputs",
        )
    if not after < before - 1.0:
        raise CheckFailed(
            f"Training did not lower the loss with your {network}.",
            tried=tried,
            expected="the loss (nats per image) falling by more than 1",
            got=f"{before:.2f} before, {after:.2f} after",
        )


# --------------------------------------------------------------------------- build_conv_encoder

encoder_exercise = exercise(
    "build_conv_encoder",
    lesson=LESSON,
    points=8,
    symbol="build_conv_encoder",
    description="images (N, 28, 28, 1) -> strided Conv2D -> Dense -> two heads [mu, log_var]",
    references=("vae_tf.models:build_encoder",),
    hints=(
        "The encoder's output is the same as in lesson 03, two tensors [mu, log_var] of shape "
        "(N, latent_dim); only the layers before the heads change.",
        "Each strided convolution halves the height and width of its input: 28 -> 14 -> 7. "
        "Dense layers need a flat vector, so flatten the last feature map before them.",
        "The two heads are Dense layers with latent_dim units on the same hidden features; "
        "a mean and a log-variance can be any real number, so think about their activation.",
    ),
)


def _encoder_inputs(rng: np.random.Generator) -> Inputs:
    sizes = sorted({int(rng.integers(3, 8)), int(rng.integers(9, 21))})
    return {
        "latent_dims": sizes,
        "x": rng.random((int(rng.integers(4, 8)), 28, 28, 1)).astype(np.float32),
    }


def _encoder_shape_probe(build_conv_encoder: Any, inputs: Inputs) -> Any:
    results = []
    for latent_dim in inputs["latent_dims"]:
        model = _model_of(build_conv_encoder, "build_conv_encoder", latent_dim)
        try:
            outputs = model(tensor(inputs["x"]))
            outputs = list(outputs)[:4] if isinstance(outputs, (list, tuple)) else [outputs]
            results.append([describe(output) for output in outputs])
        except NotImplementedError:
            raise
        except Exception as error:  # noqa: BLE001 - reported by the verdict
            results.append(_raised(error))
    return results


@judge_only
def _heads(count: int, latent_dim: int, answer: Any) -> tuple[np.ndarray, np.ndarray]:
    """mu and log_var from one described call; a CheckFailed naming the shape mistake."""
    tried = f"build_conv_encoder({latent_dim}) on {count} images (N, 28, 28, 1)"
    expected = (count, latent_dim)
    _fail_if_raised(answer, "Calling your encoder", tried)
    if len(answer) != 2:
        raise CheckFailed(
            f"The encoder should return two tensors, [mu, log_var] (two heads), not {len(answer)}.",
            tried=tried,
            expected=f"2 outputs of shape {expected}",
            got=f"{len(answer)} output(s)"
            + (f" of shape {array_of(answer[0], 'the encoder').shape}" if len(answer) == 1 else ""),
            hint="keras.Model(inputs, [mu, log_var])",
        )
    mu, log_var = (array_of(item, "the encoder's output") for item in answer)
    if mu.shape != expected or log_var.shape != expected:
        what = "mu and log_var should each have one value per image and latent dimension."
        if mu.ndim == 4 or log_var.ndim == 4:
            what = (
                "mu and log_var still have height and width: the feature maps were not "
                "flattened before the Dense heads (a Dense layer acts on the last axis only)."
            )
        elif mu.shape[-1:] != (latent_dim,):
            what = "The heads do not have latent_dim units: use the argument, not a fixed size."
        raise CheckFailed(
            what,
            tried=tried,
            expected=f"mu and log_var of shape {expected}",
            got=f"mu {mu.shape}, log_var {log_var.shape}",
        )
    return mu, log_var


@encoder_exercise.check(
    "returns [mu, log_var], each (N, latent_dim)",
    probe=_encoder_shape_probe,
    inputs=_encoder_inputs,
)
def _encoder_shape_verdict(inputs: Inputs, answer: Any) -> None:
    for latent_dim, result in zip(inputs["latent_dims"], answer, strict=True):
        _heads(len(inputs["x"]), latent_dim, result)


@encoder_exercise.check(
    ENCODER_LAYERS_CHECK, probe=_layers_probe("build_conv_encoder"), inputs=_encoder_inputs
)
def _encoder_layers_verdict(inputs: Inputs, answer: Any) -> None:
    types = [str(layer.get("type")) for layer in answer]
    convs = [layer for layer in answer if str(layer.get("type")) in ("Conv2D", "SeparableConv2D")]
    if not convs:
        raise CheckFailed(
            "The encoder has no Conv2D layer: a Dense-only (flatten first) encoder is the MLP "
            "of lesson 03, not a convolutional one.",
            expected="Conv2D layers before the Dense heads",
            got="layers " + ", ".join(types[:12]),
        )
    strided = any(max(layer.get("strides") or [1]) > 1 for layer in convs)
    pooled = any("Pooling2D" in name and "Global" not in name for name in types)
    if not (strided or pooled):
        raise CheckFailed(
            "The convolutions never downsample: every Conv2D has strides 1 and there is no "
            "pooling, so the Dense layer after Flatten sees 28 x 28 x filters values.",
            expected="strides=2 in the convolutions (28 -> 14 -> 7), or pooling",
            got="layers " + ", ".join(types[:12]),
        )


# The heads, the logits and the activations are probed with weights set by rule, not drawn
# at random (see `_helpers.set_controlled_weights`): with biases 0 and centred kernels every
# pre-activation is centred at 0 and proportional to the input's scale, and
# BatchNormalization is a fixed scale, so the verdicts read the same facts on every seed.
INPUT_SCALES = (1.0, 10.0, 100.0, 1000.0)
# Latent sizes whose heads (latent_dim or 2 * latent_dim units) no hidden layer has.
ODD_LATENT_DIMS = (5, 7, 11, 13)


def _heads_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "latent_dim": int(rng.choice(ODD_LATENT_DIMS)),
        # Images of both signs: every ReLU switches on for some and off for others.
        "x": rng.normal(0.0, 1.0, size=(64, 28, 28, 1)).astype(np.float32),
        "weight_seed": int(rng.integers(2**31)),
    }


def _encoder_heads_probe(build_conv_encoder: Any, inputs: Inputs) -> Any:
    model = _model_of(build_conv_encoder, "build_conv_encoder", inputs["latent_dim"])
    set_controlled_weights(model, inputs["x"][:1], inputs["weight_seed"])
    return [outputs_described(model, scale * inputs["x"]) for scale in INPUT_SCALES]


@encoder_exercise.check(
    "mu and log_var are two different, unbounded heads",
    probe=_encoder_heads_probe,
    inputs=_heads_inputs,
)
def _encoder_heads_verdict(inputs: Inputs, answer: Any) -> None:
    if not isinstance(answer, list) or len(answer) != len(INPUT_SCALES):
        raise CheckFailed(f"The answer has the wrong form ({FIX_EARLIER}).")
    with _earlier():
        mu, log_var = _heads(len(inputs["x"]), inputs["latent_dim"], answer[0])
    tried = (
        f"64 images of both signs, scaled by 1 to 1000, latent_dim {inputs['latent_dim']}; "
        "weights set so that every pre-activation is centred at 0 and grows with the input"
    )
    if np.allclose(mu, log_var):
        raise CheckFailed(
            "mu and log_var are the same numbers: one head returned twice. They should come "
            "from two different heads (two Dense layers, or two halves of one).",
            tried=tried,
            got="mu == log_var for every image",
        )
    if np.ptp(log_var, axis=0).max() < 1e-6:
        raise CheckFailed(
            "log_var is the same for every image (a constant, e.g. zeros): the encoder needs a "
            "head that computes the log-variance from the image.",
            tried=tried,
            got=f"log_var constant at {short(log_var[0][:4], 3)}...",
        )
    for index, (name, small) in enumerate((("mu", mu), ("log_var", log_var))):
        every = np.concatenate(
            [
                finite_values(outputs[index])
                for outputs in answer
                if isinstance(outputs, list) and len(outputs) == 2
            ]
        )
        kind = activation_named(small.ravel(), every)
        if kind is not None:
            what, hint = head_activation_message(name, kind)
            raise CheckFailed(
                what,
                tried=tried,
                expected=f"{name} values of both signs, growing with the input",
                got=f"{name} between {every.min():.3g} and {every.max():.3g}",
                hint=hint,
            )


def _nonlinear_inputs(rng: np.random.Generator) -> Inputs:
    inputs = _heads_inputs(rng)
    inputs["x"] = rng.normal(0.0, 1.0, size=(2, 16, 28, 28, 1)).astype(np.float32)
    # Non-negative images, each bright in one random 10 x 10 patch only: the features of
    # two such images differ enough for a Dense unit's pre-activation to change sign.
    patches = np.zeros((2, 16, 28, 28, 1), dtype=np.float32)
    corners = rng.integers(0, 19, size=(2, 16, 2))
    for pair, image in np.ndindex(2, 16):
        row, column = corners[pair, image]
        patches[pair, image, row : row + 10, column : column + 10, 0] = rng.random((10, 10))
    inputs["patches"] = patches
    return inputs


def _encoder_nonlinear_probe(build_conv_encoder: Any, inputs: Inputs) -> Any:
    model = _model_of(build_conv_encoder, "build_conv_encoder", inputs["latent_dim"])
    found: dict[str, Any] = {}
    for key, images, nonnegative in (
        ("all", inputs["x"], False),
        ("dense", inputs["patches"], True),
    ):
        a, b = images
        set_controlled_weights(
            model, a[:1], inputs["weight_seed"], nonnegative_convolutions=nonnegative
        )
        found[key] = [outputs_described(model, x) for x in (a, b, a + b, np.zeros_like(a))]
    found["kernels"] = kernel_shapes(model)
    return found


@judge_only
def _affine_heads(inputs: Inputs, outputs: Any) -> list[tuple[str, float]]:
    """Each head's distance from an affine map, from its outputs on a, b, a + b and 0."""

    if not isinstance(outputs, list) or len(outputs) != 4:
        raise CheckFailed(f"The answer has the wrong form ({FIX_EARLIER}).")
    with _earlier():
        heads = [_heads(16, inputs["latent_dim"], described) for described in outputs]
    return [
        (name, affine_residual(*(head[index] for head in heads)))
        for index, name in enumerate(("mu", "log_var"))
    ]


@encoder_exercise.check(
    ENCODER_NONLINEAR_CHECK,
    probe=_encoder_nonlinear_probe,
    inputs=_nonlinear_inputs,
)
def _encoder_nonlinear_verdict(inputs: Inputs, answer: Any) -> None:
    latent_dim = inputs["latent_dim"]
    # Float32 rounding leaves about 1e-6 of an affine map; a ReLU that switches, 1e-1.
    for name, residual in _affine_heads(inputs, answer["all"]):
        if residual < 1e-3:
            raise CheckFailed(
                f"{name} is a linear function of the image: no layer has an activation, so the "
                "convolutions and Dense layers add up to one linear map (linear layers in a "
                "row are one linear layer).",
                tried="images a, b and a + b: a linear encoder gives f(a) + f(b) = f(a + b) + f(0)",
                expected="activations (ReLU) after the convolutions and the hidden Dense layer",
                got=f"f(a) + f(b) - f(a + b) - f(0) is {residual:.1e} of the outputs' size",
                hint="give the hidden layers activation='relu'; only the two heads stay linear",
            )
    kernels = [shape for shape in answer["kernels"] if isinstance(shape, list)]
    hidden_dense = [
        shape
        for shape in kernels
        if len(shape) == 2 and shape[-1] not in (latent_dim, 2 * latent_dim)
    ]
    if not hidden_dense:
        return  # convolutions straight into the heads: nothing more to bend
    for name, residual in _affine_heads(inputs, answer["dense"]):
        if residual < 1e-3:
            raise CheckFailed(
                f"The hidden Dense layer has no activation: once the convolutions are fixed, "
                f"{name} is a linear function of their features, so that Dense layer and the "
                "heads are one linear map and the layer adds nothing.",
                tried="non-negative images and convolution weights (every ReLU after a "
                "convolution passes its input through); features a, b and a + b",
                expected=f"{name}(a) + {name}(b) != {name}(a + b) + {name}(0), from a ReLU",
                got=f"the difference is {residual:.1e} of the outputs' size",
                hint="give the hidden Dense layer activation='relu'",
            )


@encoder_exercise.check(TRAIN_CHECK, probe=_train_probe("encoder"), inputs=_train_inputs)
def _encoder_train_verdict(inputs: Inputs, answer: Any) -> None:
    _training_verdict(inputs, answer, "encoder")


# --------------------------------------------------------------------------- build_conv_decoder

decoder_exercise = exercise(
    "build_conv_decoder",
    lesson=LESSON,
    points=8,
    symbol="build_conv_decoder",
    description="codes (N, latent_dim) -> Dense -> 7x7x64 -> Conv2DTranspose -> logits "
    "(N, 28, 28, 1)",
    references=("vae_tf.models:build_decoder",),
    hints=(
        "The decoder runs the encoder backwards: from a code to a small stack of feature maps, "
        "then up to the 28 x 28 x 1 image.",
        "A Dense layer can give 7 * 7 * 64 numbers that a Reshape turns into a 7 x 7 x 64 "
        "feature map; each transposed convolution with strides=2 and padding='same' doubles "
        "height and width.",
        "The last layer has 1 filter (one channel) and returns logits: the loss and "
        "VAE.decode apply the sigmoid themselves, so what activation should it have?",
    ),
)


def _decoder_inputs(rng: np.random.Generator) -> Inputs:
    sizes = sorted({int(rng.integers(3, 8)), int(rng.integers(9, 21))})
    count = int(rng.integers(3, 7))
    return {
        "latent_dims": sizes,
        "codes": [rng.normal(size=(count, d)).astype(np.float32) for d in sizes],
    }


def _decoder_shape_probe(build_conv_decoder: Any, inputs: Inputs) -> Any:
    results = []
    for latent_dim, codes in zip(inputs["latent_dims"], inputs["codes"], strict=True):
        model = _model_of(build_conv_decoder, "build_conv_decoder", latent_dim)
        results.append(call_described(model, tensor(codes)))
    return results


@judge_only
def _decoder_shape(count: int, latent_dim: int, answer: Any) -> np.ndarray:
    tried = f"build_conv_decoder({latent_dim}) on {count} codes of shape ({latent_dim},)"
    hint = "its keras.Input should have shape (latent_dim,), from the argument"
    _fail_if_raised(answer, "Calling your decoder", tried, hint)
    result = array_of(answer, "the decoder")
    if result.shape == (count, 28, 28, 1):
        return result
    what = "The decoder should output one 28 x 28 x 1 image of logits per code."
    if result.shape == (count, 28, 28):
        what = "The output has no channel axis: the decoder should return (N, 28, 28, 1)."
    elif result.shape == (count, 784):
        what = "The output is flat, (N, 784): reshape it to images (N, 28, 28, 1)."
    elif result.ndim == 4 and result.shape[1:3] != (28, 28):
        what = (
            f"The images are {result.shape[1]} x {result.shape[2]}, not 28 x 28: start from "
            "7 x 7 and double twice (7 -> 14 -> 28); 4 x 4 doubled three times is 32."
        )
    elif result.ndim == 4 and result.shape[-1] != 1:
        what = (
            f"The output has {result.shape[-1]} channels: the last layer should have 1 filter, "
            "one logit per pixel."
        )
    raise CheckFailed(
        what, tried=tried, expected=f"output shape ({count}, 28, 28, 1)", got=f"{result.shape}"
    )


@decoder_exercise.check(
    "maps (N, latent_dim) codes to (N, 28, 28, 1)",
    probe=_decoder_shape_probe,
    inputs=_decoder_inputs,
)
def _decoder_shape_verdict(inputs: Inputs, answer: Any) -> None:
    for latent_dim, codes, result in zip(
        inputs["latent_dims"], inputs["codes"], answer, strict=True
    ):
        _decoder_shape(len(codes), latent_dim, result)


@decoder_exercise.check(
    DECODER_LAYERS_CHECK, probe=_layers_probe("build_conv_decoder"), inputs=_decoder_inputs
)
def _decoder_layers_verdict(inputs: Inputs, answer: Any) -> None:
    types = [str(layer.get("type")) for layer in answer]
    transposed = "Conv2DTranspose" in types
    upsampled = "UpSampling2D" in types and "Conv2D" in types
    if not (transposed or upsampled):
        raise CheckFailed(
            "The decoder has no Conv2DTranspose (nor UpSampling2D + Conv2D): a Dense-only "
            "decoder reshaped to 28 x 28 is the MLP of lesson 02, not a convolutional one.",
            expected="Conv2DTranspose layers with strides=2 after a Reshape to 7 x 7 x 64",
            got="layers " + ", ".join(types[:12]),
        )


def _code_inputs(rng: np.random.Generator, *shape: int) -> Inputs:
    latent_dim = int(rng.integers(4, 17))
    return {
        "latent_dim": latent_dim,
        "codes": rng.normal(0.0, 1.0, size=(*shape, latent_dim)).astype(np.float32),
        "weight_seed": int(rng.integers(2**31)),
    }


def _logit_inputs(rng: np.random.Generator) -> Inputs:
    return _code_inputs(rng, 16)


def _decoder_logits_probe(build_conv_decoder: Any, inputs: Inputs) -> Any:
    model = _model_of(build_conv_decoder, "build_conv_decoder", inputs["latent_dim"])
    codes = inputs["codes"]
    set_controlled_weights(model, codes[:1], inputs["weight_seed"])
    return [call_described(model, tensor(scale * codes)) for scale in INPUT_SCALES]


@decoder_exercise.check(
    "returns logits (no sigmoid, ReLU or tanh at the end)",
    probe=_decoder_logits_probe,
    inputs=_logit_inputs,
)
def _decoder_logits_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["codes"])
    if not isinstance(answer, list) or len(answer) != len(INPUT_SCALES):
        raise CheckFailed(f"The answer has the wrong form ({FIX_EARLIER}).")
    with _earlier():
        logits = _decoder_shape(count, inputs["latent_dim"], answer[0])
    every = np.concatenate([finite_values(described) for described in answer])
    kind = activation_named(logits.ravel(), every)
    if kind is None:
        return
    tried = (
        f"{count} codes of both signs, scaled by 1 to 1000; weights set so that every "
        "pre-activation is centred at 0 and grows with the code"
    )
    got = f"every output between {every.min():.3g} and {every.max():.3g}"
    what = {
        "relu": "The outputs are never negative and many are exactly 0: the last layer has a "
        "ReLU. Logits must be able to be negative (a pixel more likely off than on).",
        "sigmoid": "The outputs all lie in [0, 1]: the last layer applies a sigmoid. The "
        "decoder returns logits; the loss (from logits) and VAE.decode apply the sigmoid.",
        "tanh": "The outputs are bounded to [-1, 1]: the last layer has a tanh, so every "
        "pixel's probability sigmoid(logit) is stuck between 0.27 and 0.73, never a clean "
        "black or white. Logits can be any real number: leave the last layer linear.",
        "positive": "The outputs are never negative: the last layer's activation bounds them. "
        "Logits can be any real number: leave the last layer linear.",
        "nonpositive": "The outputs are never positive: the last layer's activation bounds "
        "them. Logits can be any real number: leave the last layer linear.",
    }[kind]
    raise CheckFailed(
        what, tried=tried, expected="logits of both signs, growing with the code", got=got
    )


def _decoder_pairs_inputs(rng: np.random.Generator) -> Inputs:
    return _code_inputs(rng, 2, 16)


def _decoder_nonlinear_probe(build_conv_decoder: Any, inputs: Inputs) -> Any:
    model = _model_of(build_conv_decoder, "build_conv_decoder", inputs["latent_dim"])
    a, b = inputs["codes"]
    set_controlled_weights(model, a[:1], inputs["weight_seed"])
    return [call_described(model, tensor(z)) for z in (a, b, a + b, np.zeros_like(a))]


@decoder_exercise.check(
    DECODER_NONLINEAR_CHECK,
    probe=_decoder_nonlinear_probe,
    inputs=_decoder_pairs_inputs,
)
def _decoder_nonlinear_verdict(inputs: Inputs, answer: Any) -> None:
    if not isinstance(answer, list) or len(answer) != 4:
        raise CheckFailed(f"The answer has the wrong form ({FIX_EARLIER}).")
    with _earlier():
        outputs = [_decoder_shape(16, inputs["latent_dim"], described) for described in answer]
    residual = affine_residual(*outputs)
    # Float32 rounding leaves about 1e-6 of an affine map; a ReLU that switches, 1e-1.
    if residual < 1e-3:
        raise CheckFailed(
            "The logits are a linear function of the code: no layer has an activation, so the "
            "Dense and convolution layers add up to one linear map (linear layers in a row are "
            "one linear layer), and a linear decoder can only draw blends of fixed images.",
            tried="codes a, b and a + b: a linear decoder gives f(a) + f(b) = f(a + b) + f(0)",
            expected="activations (ReLU) after every layer but the last",
            got=f"f(a) + f(b) - f(a + b) - f(0) is {residual:.1e} of the outputs' size",
            hint="give the hidden layers activation='relu'; only the last layer stays linear",
        )


@decoder_exercise.check(TRAIN_CHECK, probe=_train_probe("decoder"), inputs=_train_inputs)
def _decoder_train_verdict(inputs: Inputs, answer: Any) -> None:
    _training_verdict(inputs, answer, "decoder")


# --------------------------------------------------------------------------- sample_prior

sample_prior_exercise = exercise(
    "sample_prior",
    lesson=LESSON,
    points=4,
    symbol="sample_prior",
    description="n codes z ~ N(0, I) of the decoder's latent size, drawn with rng, decoded to "
    "pixel probabilities (n, 28, 28, 1)",
    references=("vae_tf.generation:prior_codes", "vae_tf.generation:prior_samples"),
    hints=(
        "Generating is the second half of the VAE alone: draw codes from the prior p(z), then "
        "let the decoder turn them into images.",
        "The prior is the standard normal N(0, I): mean 0 and standard deviation 1 in every "
        "dimension; the decoder's input shape says how many dimensions a code has.",
        "Draw with the generator you are given (its methods), so that one seed gives one set "
        "of digits; the decoder returns logits, and probabilities are what you return.",
    ),
)

PRIOR_COUNT = 1500


def _reading_decoder(latent_dim: int) -> Any:
    """A decoder whose logits are the code in the first latent_dim pixels and 0 elsewhere."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(latent_dim,), name="z")
    dense = layers.Dense(784, use_bias=False, trainable=False)
    logits = layers.Reshape((28, 28, 1))(dense(inputs))
    model = keras.Model(inputs, logits, name="decoder")
    kernel = np.zeros((latent_dim, 784), dtype=np.float32)
    kernel[np.arange(latent_dim), np.arange(latent_dim)] = 1.0
    dense.set_weights([kernel])
    return model


def _prior_inputs(rng: np.random.Generator) -> Inputs:
    sizes = [int(rng.integers(3, 16)), int(rng.integers(17, 31))]
    seeds = [int(s) for s in rng.integers(0, 2**31, size=2)]
    return {"latent_dims": sizes, "seeds": seeds, "n": PRIOR_COUNT}


def _prior_calls(sample_prior: Any, inputs: Inputs) -> dict[str, Any]:
    first, second = inputs["latent_dims"]
    seed_a, seed_b = inputs["seeds"]
    n = inputs["n"]
    decoder = _reading_decoder(first)
    same = np.random.default_rng(seed_a)
    return {
        "a": call_described(sample_prior, decoder, n, np.random.default_rng(seed_a)),
        "a_again": call_described(sample_prior, decoder, 8, same),
        "a_next": call_described(sample_prior, decoder, 8, same),
        "a_fresh": call_described(sample_prior, decoder, 8, np.random.default_rng(seed_a)),
        "b": call_described(sample_prior, decoder, 8, np.random.default_rng(seed_b)),
        "other_size": call_described(
            sample_prior, _reading_decoder(second), 8, np.random.default_rng(seed_b)
        ),
    }


@judge_only
def _prior_images(answer: Any, n: int, latent_dim: int) -> np.ndarray:
    tried = f"sample_prior(decoder, {n}, rng) with a decoder of latent size {latent_dim}"
    if isinstance(answer, dict) and "raised" in answer:
        record = answer["raised"]
        message = str(record.get("message"))
        what = f"Your code raised {record.get('type')}: {message[:300]}"
        if "shape" in message or "incompatible" in message.lower():
            what = (
                "The decoder refused the codes: draw codes of the decoder's latent size "
                f"(decoder.input_shape[-1], here {latent_dim}), not a fixed size. ({what})"
            )
        raise CheckFailed(what, tried=tried)
    images = array_of(answer, "sample_prior").astype(np.float64)
    if images.shape not in ((n, 28, 28, 1), (n, 28, 28)):
        raise CheckFailed(
            "sample_prior should return n images.",
            tried=tried,
            expected=f"shape ({n}, 28, 28, 1) (or ({n}, 28, 28))",
            got=f"shape {images.shape}",
        )
    return images.reshape(n, 784)


@sample_prior_exercise.check(
    "returns n images, for a decoder of any latent size", probe=_prior_calls, inputs=_prior_inputs
)
def _prior_shape_verdict(inputs: Inputs, answer: Any) -> None:
    first, second = inputs["latent_dims"]
    _prior_images(answer["a"], inputs["n"], first)
    _prior_images(answer["other_size"], 8, second)
    # n images of zeros, ones or uniform pixels earn nothing: they must decode prior codes.
    _prior_probabilities_verdict(inputs, answer)
    _prior_normal_verdict(inputs, answer)


@sample_prior_exercise.check(
    "returns pixel probabilities (the sigmoid of the logits)",
    probe=_some_calls(_prior_calls, "a"),
    inputs=_prior_inputs,
)
def _prior_probabilities_verdict(inputs: Inputs, answer: Any) -> None:
    n, latent_dim = inputs["n"], inputs["latent_dims"][0]
    with _earlier():
        pixels = _prior_images(answer["a"], n, latent_dim)
    rest = pixels[:, latent_dim:]
    tried = f"a decoder whose logits are 0 for every pixel after the first {latent_dim}"
    if np.allclose(rest, 0.0) and pixels.min() < 0.0:
        raise CheckFailed(
            "These are the decoder's logits, not probabilities: apply the sigmoid "
            "(a logit of 0 is a probability of 0.5).",
            tried=tried,
            expected="values in [0, 1]; 0.5 where the logit is 0",
            got=f"values between {pixels.min():.3g} and {pixels.max():.3g}",
        )
    if pixels.min() < 0.0 or pixels.max() > 1.0 or not np.allclose(rest, 0.5, atol=1e-4):
        raise CheckFailed(
            "The values are not the pixel probabilities sigmoid(logits) of the decoder's output.",
            tried=tried,
            expected="values in [0, 1]; 0.5 where the logit is 0",
            got=f"values between {pixels.min():.3g} and {pixels.max():.3g}, "
            f"{short(rest[0, :4], 3)} where the logit is 0",
        )
    # The probabilities of the decoding of z = 0 are probabilities too: of no prior draw.
    _prior_normal_verdict(inputs, answer)


@judge_only
def _codes_from(pixels: np.ndarray, latent_dim: int) -> np.ndarray:
    p = np.clip(pixels[:, :latent_dim], 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


@sample_prior_exercise.check(
    "draws the codes from N(0, I)", probe=_some_calls(_prior_calls, "a"), inputs=_prior_inputs
)
def _prior_normal_verdict(inputs: Inputs, answer: Any) -> None:
    n, latent_dim = inputs["n"], inputs["latent_dims"][0]
    with _earlier():
        pixels = _prior_images(answer["a"], n, latent_dim)
        if pixels.min() < 0.0 or pixels.max() > 1.0:
            raise CheckFailed("The values are not probabilities")
    z = _codes_from(pixels, latent_dim)
    tried = (
        f"{n} codes of latent size {latent_dim}, read back from a decoder whose logits are the code"
    )
    mean, std = float(z.mean()), float(z.std())
    tails = float(np.mean(np.abs(z) > 2.0))
    got = f"mean {mean:.3f}, standard deviation {std:.3f}, values in [{z.min():.2f}, {z.max():.2f}]"
    expected = "mean 0, standard deviation 1, about 4.6% of values beyond +-2"
    what = None
    if np.ptp(z) < 1e-3:
        what = (
            f"Every code is {z.flat[0]:.3g} in every dimension: draw random codes from N(0, I), "
            "not zeros (the prior's mean) or a constant."
        )
    elif np.max(np.ptp(z, axis=0)) < 1e-3:
        what = (
            "All n codes are the same code: draw a new one for each image, shape (n, latent_dim)."
        )
    elif z.min() >= -1.0 - 1e-3 and z.max() <= 1.0 + 1e-3:
        what = (
            "The codes all lie in [-1, 1] (or [0, 1]): this is uniform noise, not the prior "
            "N(0, I). Draw from a standard normal."
        )
    elif abs(std - 1.0) > 0.05:
        what = (
            f"The standard deviation of the codes is {std:.3f}, not 1: the prior is N(0, I), "
            "a standard normal (scale 1)."
        )
    elif abs(mean) > 0.05:
        what = f"The codes have mean {mean:.3f}, not 0: the prior is centred at 0."
    elif abs(tails - 0.0455) > 0.012:
        what = (
            "The codes have mean 0 and standard deviation 1 but are not normal (too many or "
            "too few values beyond +-2): draw from a standard normal, not a rescaled uniform."
        )
    elif np.max(np.abs(np.corrcoef(z, rowvar=False) - np.eye(latent_dim))) > 0.15:
        what = "The dimensions of the codes are correlated: N(0, I) draws each one independently."
    if what is not None:
        raise CheckFailed(what, tried=tried, expected=expected, got=got)


@sample_prior_exercise.check(
    "draws with the rng it is given", probe=_prior_calls, inputs=_prior_inputs
)
def _prior_rng_verdict(inputs: Inputs, answer: Any) -> None:
    _rng_verdict(
        answer,
        ("a_again", "a_next", "a_fresh", "b"),
        lambda described: _prior_images(described, 8, inputs["latent_dims"][0]),
        _allclose,
        "images",
        "the codes are not drawn with `rng` (np.random.* or an unseeded keras/tf random draws "
        "from a global generator). Use rng's own methods.",
        "codes come",
    )
    # Uniform pixels drawn with rng pass the above: the images must decode prior codes.
    _prior_probabilities_verdict(inputs, answer)
    _prior_normal_verdict(inputs, answer)


# --------------------------------------------------------------------------- bernoulli_sample

bernoulli_exercise = exercise(
    "bernoulli_sample",
    lesson=LESSON,
    points=4,
    symbol="bernoulli_sample",
    description="one binary image x ~ p(x|z) per image of pixel probabilities, pixels drawn "
    "independently with rng",
    references=("vae_tf.sample_quality:bernoulli_sample",),
    hints=(
        "The decoder's output is the mean of p(x|z): pixel i is 1 with probability p_i and 0 "
        "otherwise, each pixel on its own. A sample is one such coin flip per pixel.",
        "A uniform number u in [0, 1) is below p with probability exactly p: compare one "
        "uniform per pixel with that pixel's probability (or use a binomial draw with n = 1).",
        "Draw the uniforms with the generator you are given, one per pixel: the shape of "
        "`probabilities`; return zeros and ones of that shape.",
    ),
)

BERNOULLI_IMAGES = 300


def _bernoulli_inputs(rng: np.random.Generator) -> Inputs:
    pattern = rng.uniform(0.03, 0.97, size=(28, 28, 1))
    # A few pixels that are surely off or on, as a trained decoder's background and stroke.
    corner = rng.integers(0, 20)
    pattern[corner : corner + 3, :3] = 0.0
    pattern[corner : corner + 3, -3:] = 1.0
    images = np.repeat(pattern[None], BERNOULLI_IMAGES, axis=0).astype(np.float32)
    return {
        "probabilities": images,
        "small": rng.uniform(0.0, 1.0, size=(5, 28, 28)).astype(np.float32),
        "seeds": [int(s) for s in rng.integers(0, 2**31, size=2)],
    }


def _bernoulli_calls(bernoulli_sample: Any, inputs: Inputs) -> dict[str, Any]:
    seed_a, seed_b = inputs["seeds"]
    same = np.random.default_rng(seed_a)
    small = inputs["small"]
    return {
        "many": call_described(
            bernoulli_sample, inputs["probabilities"].copy(), np.random.default_rng(seed_a)
        ),
        "small": call_described(bernoulli_sample, small.copy(), same),
        "small_next": call_described(bernoulli_sample, small.copy(), same),
        "small_fresh": call_described(
            bernoulli_sample, small.copy(), np.random.default_rng(seed_a)
        ),
        "small_other": call_described(
            bernoulli_sample, small.copy(), np.random.default_rng(seed_b)
        ),
    }


@judge_only
def _binary_images(answer: Any, shape: tuple[int, ...]) -> np.ndarray:
    tried = f"bernoulli_sample(probabilities, rng), probabilities of shape {shape}"
    _fail_if_raised(answer, "Your code", tried)
    x = array_of(answer, "bernoulli_sample").astype(np.float64)
    if x.size != int(np.prod(shape)) or x.shape[0] != shape[0]:
        raise CheckFailed(
            "The result should have the shape of `probabilities`: one binary value per pixel.",
            tried=tried,
            expected=f"shape {shape}",
            got=f"shape {x.shape}",
        )
    x = x.reshape(shape)
    if not np.all((x == 0.0) | (x == 1.0)):
        inside = x.min() >= 0.0 and x.max() <= 1.0
        raise CheckFailed(
            "These are not binary images: a sample of p(x|z) has pixels that are exactly 0 or 1"
            + (
                " (values in between are probabilities, the mean image, not a draw)."
                if inside
                else "."
            ),
            tried=tried,
            expected="only the values 0 and 1",
            got=f"{int(np.sum((x != 0.0) & (x != 1.0)))} values that are neither, e.g. "
            f"{short(x[(x != 0.0) & (x != 1.0)][:4], 3)}",
        )
    return x


@judge_only
def _dependence_failure(x: np.ndarray, p: np.ndarray) -> CheckFailed | None:
    """A failure when the number of pixels on varies unlike independent pixels, else None."""
    on = x.reshape(len(x), -1).sum(axis=1)
    # Independent pixels: the number on has variance sum p (1 - p) (about 150 here); its
    # estimate from 300 images is within 10% of it, nearly always within 40%.
    expected_variance = float(np.sum(p * (1.0 - p)))
    ratio = float(on.var(ddof=1)) / expected_variance
    if 0.25 <= ratio <= 2.0:
        return None
    return CheckFailed(
        "The pixels of one image are not drawn independently: the number of pixels on "
        "varies from image to image far more (or less) than independent coin flips allow. "
        "Draw one uniform per pixel, not one per image.",
        tried=f"{len(x)} copies of one image of pixel probabilities",
        expected=f"a variance of the number of pixels on close to {expected_variance:.0f}",
        got=f"{on.var(ddof=1):.0f}",
    )


@bernoulli_exercise.check(
    "returns 0/1 images of the input's shape",
    probe=_some_calls(_bernoulli_calls, "many", "small"),
    inputs=_bernoulli_inputs,
)
def _bernoulli_shape_verdict(inputs: Inputs, answer: Any) -> None:
    _binary_images(answer["many"], inputs["probabilities"].shape)
    _binary_images(answer["small"], inputs["small"].shape)
    # Zeros, ones or the rounded probabilities are 0/1 images of the right shape too.
    _bernoulli_frequency_verdict(inputs, answer)


@bernoulli_exercise.check(
    "each pixel is 1 with its own probability",
    probe=_some_calls(_bernoulli_calls, "many"),
    inputs=_bernoulli_inputs,
)
def _bernoulli_frequency_verdict(inputs: Inputs, answer: Any) -> None:
    p_images = inputs["probabilities"].astype(np.float64)
    with _earlier():
        x = _binary_images(answer["many"], p_images.shape)
    n = len(x)
    p = p_images[0].reshape(-1)
    x = x.reshape(n, -1)
    frequency = x.mean(axis=0)
    tried = f"{n} copies of one image of pixel probabilities, from 0 to 1"
    expected = "each pixel on in a fraction of the images close to its probability"
    sure = (p == 0.0) | (p == 1.0)
    if np.all(x == x[0]):
        if np.array_equal(x[0], (p > 0.5).astype(np.float64)) or np.array_equal(
            x[0], (p >= 0.5).astype(np.float64)
        ):
            what = (
                "Every image is the probabilities rounded at 0.5: that is the most likely image, "
                "not a sample. A pixel of probability 0.3 must be on in about 30% of the draws."
            )
        else:
            what = (
                f"All {n} images are the same draw: draw fresh randomness for every image "
                "(one uniform per pixel of the whole array)."
            )
        raise CheckFailed(what, tried=tried, expected=expected, got="the same image every time")
    free = ~sure
    # Chi-square of the on-counts: about 1 per pixel for a right answer (sd about 0.05 here).
    chi = float(np.mean((frequency[free] - p[free]) ** 2 * n / (p[free] * (1.0 - p[free]))))
    if chi < 2.0:
        if np.any(x[:, sure] != p[sure]):
            raise CheckFailed(
                "A pixel of probability 0 came out 1 (or one of probability 1 came out 0): "
                "compare a uniform number with p as `u < p`, so that p = 0 is never on and "
                "p = 1 always.",
                tried=tried,
                expected="probability 0 -> always 0, probability 1 -> always 1",
                got=f"{int(np.sum(x[:, sure] != p[sure]))} such pixels",
            )
        return
    got = f"frequencies {short(frequency[free][:4], 2)} for probabilities {short(p[free][:4], 2)}"
    flipped = float(
        np.mean((frequency[free] - (1.0 - p[free])) ** 2 * n / (p[free] * (1 - p[free])))
    )
    if flipped < 2.0:
        what = (
            "Each pixel is on with probability 1 - p, not p: the comparison is the wrong way "
            "round (`u < p` is true with probability p)."
        )
    elif np.max(np.abs(frequency[free] - 0.5)) < 0.15:
        what = (
            "Every pixel is on about half of the time, whatever its probability: the draw must "
            "use each pixel's own probability p."
        )
    else:
        dependence = _dependence_failure(x, p)
        if dependence is not None:
            raise dependence
        what = "The pixels are not on with their own probabilities p."
    raise CheckFailed(what, tried=tried, expected=expected, got=got)


@bernoulli_exercise.check(
    "pixels are drawn independently",
    probe=_some_calls(_bernoulli_calls, "many"),
    inputs=_bernoulli_inputs,
)
def _bernoulli_independent_verdict(inputs: Inputs, answer: Any) -> None:
    p_images = inputs["probabilities"].astype(np.float64)
    with _earlier():
        x = _binary_images(answer["many"], p_images.shape)
    failure = _dependence_failure(x, p_images[0].reshape(-1))
    if failure is not None:
        raise failure
    # Coin flips of one fixed bias are independent too: the draw must follow p.
    _bernoulli_frequency_verdict(inputs, answer)


@bernoulli_exercise.check(
    "draws with the rng it is given", probe=_bernoulli_calls, inputs=_bernoulli_inputs
)
def _bernoulli_rng_verdict(inputs: Inputs, answer: Any) -> None:
    _rng_verdict(
        answer,
        ("small", "small_next", "small_fresh", "small_other"),
        lambda described: _binary_images(described, inputs["small"].shape),
        np.array_equal,
        "images",
        "the draw does not use `rng` (np.random.* draws from a global generator). Use rng's "
        "own methods.",
        "draw comes",
    )
    # Any coin drawn with rng passes the above: the draw must follow p as well.
    _bernoulli_frequency_verdict(inputs, answer)


# --------------------------------------------------------------------------- sample_quality

QUALITY_KEYS = ("confidence", "mean_entropy", "label_entropy")

quality_exercise = exercise(
    "sample_quality",
    lesson=LESSON,
    points=4,
    symbol="sample_quality",
    description="confidence, mean per-image entropy and label entropy (nats) of a classifier's "
    "class probabilities (N, 10)",
    references=("vae_tf.sample_quality:sample_quality",),
    hints=(
        "Each row of `probabilities` is what the classifier believes about one image. "
        "Confidence looks at each row's largest value; the mean entropy at each row's whole "
        "distribution; the label entropy at how often each digit is the row's winner.",
        "Entropy in nats is -sum_k p_k log p_k with the natural log; a class of probability 0 "
        "contributes 0 (the limit of p log p), not NaN.",
        "For the label entropy: take each row's argmax, count the labels of each class "
        "(np.bincount with minlength), divide by the number of images, then the entropy of "
        "these fractions. Average the per-row values for the other two.",
    ),
)


def _quality_inputs(rng: np.random.Generator) -> Inputs:
    n, k = 300, 10
    present = rng.permutation(k)[: int(rng.integers(4, 8))]
    weights = rng.dirichlet(np.ones(len(present)))
    winners = present[rng.choice(len(present), size=n, p=weights)]
    logits = rng.normal(0.0, 1.0, size=(n, k))
    logits[np.arange(n), winners] += rng.uniform(0.5, 5.0, size=n)
    # Digits that no sample resembles: empty classes in the label histogram.
    absent = np.setdiff1d(np.arange(k), present)
    logits[:, absent] -= 8.0
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return {"probabilities": p.astype(np.float32)}


def _quality_probe(sample_quality: Any, inputs: Inputs) -> Any:
    try:
        result = sample_quality(inputs["probabilities"].copy())
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - reported by the verdict
        return _raised(error)
    if not isinstance(result, dict):
        return {"type": type(result).__name__[:60]}
    return {
        "type": "dict",
        "keys": [str(key)[:40] for key in list(result)[:20]],
        "values": {key: describe(result[key]) for key in QUALITY_KEYS if key in result},
    }


CONFIDENCE_CHECK = "confidence is the mean of each image's largest probability"
MEAN_ENTROPY_CHECK = "mean_entropy is the mean of each image's entropy, in nats"
LABEL_ENTROPY_CHECK = "label_entropy is the entropy of the label histogram, in nats"


@judge_only
def _entropy_nats(p: np.ndarray) -> np.ndarray:
    return -np.sum(p * np.log(np.where(p > 0.0, p, 1.0)), axis=-1)


@judge_only
def _quality_value(inputs: Inputs, answer: Any, key: str) -> float:
    tried = "sample_quality(probabilities), probabilities of shape (300, 10)"
    raise_if_raised(answer)
    if answer.get("type") != "dict":
        raise CheckFailed(
            "sample_quality should return a dict with the keys "
            + ", ".join(repr(k) for k in QUALITY_KEYS)
            + ".",
            tried=tried,
            got=f"a {answer.get('type')}",
        )
    missing = [k for k in QUALITY_KEYS if k not in answer.get("keys", [])]
    if missing:
        raise CheckFailed(
            f"The dict has no key {missing[0]!r}: return the three keys "
            + ", ".join(repr(k) for k in QUALITY_KEYS)
            + ".",
            tried=tried,
            got=f"keys {answer.get('keys')}",
        )
    described = answer["values"][key]
    array = described.get("array") if isinstance(described, dict) else None
    if isinstance(array, np.ndarray) and array.size == 1 and not np.isfinite(array).all():
        raise CheckFailed(
            f"{key} is NaN or infinite: a class of probability 0 (or a digit that no image is "
            "labelled) gives 0 * log 0. Its contribution to an entropy is 0: leave out the "
            "zeros (or use np.where / a tiny constant inside the log).",
            tried=tried,
            got=str(float(array.reshape(-1)[0])),
        )
    return number_of(described, f"sample_quality(...)[{key!r}]")


@judge_only
def _quality_reference(inputs: Inputs) -> dict[str, float]:
    p = inputs["probabilities"].astype(np.float64)
    labels = np.argmax(p, axis=1)
    fractions = np.bincount(labels, minlength=p.shape[1]) / len(p)
    return {
        "confidence": float(np.mean(p.max(axis=1))),
        "mean_entropy": float(np.mean(_entropy_nats(p))),
        "label_entropy": float(_entropy_nats(fractions)),
        "entropy_of_mean": float(_entropy_nats(p.mean(axis=0))),
        "fractions": fractions,
    }


@judge_only
def _quality_read(inputs: Inputs, answer: Any, key: str) -> tuple[float, float, dict[str, Any]]:
    """The student's value of ``key`` (an earlier check's failure), its target, the reference."""
    with _earlier():
        value = _quality_value(inputs, answer, key)
    reference = _quality_reference(inputs)
    return value, reference[key], reference


@judge_only
def _close(value: float, target: float) -> bool:
    return abs(value - target) <= 1e-4 * max(1.0, abs(target))


@quality_exercise.check(
    "returns confidence, mean_entropy and label_entropy",
    probe=_quality_probe,
    inputs=_quality_inputs,
)
def _quality_structure_verdict(inputs: Inputs, answer: Any) -> None:
    for key in QUALITY_KEYS:
        _quality_value(inputs, answer, key)
    # Three numbers under the right keys are not yet an answer: zeros or chance earn nothing.
    _quality_confidence_verdict(inputs, answer)
    _quality_mean_entropy_verdict(inputs, answer)
    _quality_label_entropy_verdict(inputs, answer)


@judge_only
def _quality_fail(key: str, what: str, target: float, value: float) -> None:
    raise CheckFailed(
        what,
        tried="300 images' class probabilities over 10 digits, some digits never the winner",
        expected=f"{key} = {target:.4f}",
        got=f"{value:.4f}",
    )


@quality_exercise.check(CONFIDENCE_CHECK, probe=_quality_probe, inputs=_quality_inputs)
def _quality_confidence_verdict(inputs: Inputs, answer: Any) -> None:
    value, target, _ = _quality_read(inputs, answer, "confidence")
    if _close(value, target):
        return
    p = inputs["probabilities"].astype(np.float64)
    if _close(value, float(p.mean(axis=0).max())):
        what = (
            "confidence is the largest of the mean class probabilities: take each image's "
            "largest probability first, then the mean over images."
        )
    elif _close(value, 1.0 / p.shape[1]):
        what = (
            "confidence is the mean of all probabilities (always 1/10): it is the mean of each "
            "image's largest probability."
        )
    elif _close(value, float(np.median(p.max(axis=1)))):
        what = "confidence is the median of the largest probabilities, not their mean."
    elif _close(value, float(p.max())):
        what = "confidence is the largest probability of all: average each image's largest."
    else:
        what = "confidence is not the mean over images of each image's largest probability."
    _quality_fail("confidence", what, target, value)


@judge_only
def _entropy_mistake(key: str, value: float, target: float) -> str | None:
    if _close(value, target / np.log(2.0)):
        return f"{key} is in bits (log base 2): the course measures in nats, the natural log."
    if _close(value, -target):
        return f"{key} is negative: the entropy is MINUS sum p log p (and never negative)."
    return None


@quality_exercise.check(MEAN_ENTROPY_CHECK, probe=_quality_probe, inputs=_quality_inputs)
def _quality_mean_entropy_verdict(inputs: Inputs, answer: Any) -> None:
    value, target, reference = _quality_read(inputs, answer, "mean_entropy")
    if _close(value, target):
        return
    p = inputs["probabilities"].astype(np.float64)
    what = _entropy_mistake("mean_entropy", value, target)
    if what is None:
        if _close(value, reference["entropy_of_mean"]):
            what = (
                "mean_entropy is the entropy of the mean probabilities: compute each image's "
                "entropy first, then average (the entropy of an average is larger)."
            )
        elif _close(value, target * len(p)):
            what = "mean_entropy is the sum of the images' entropies: take their mean."
        elif _close(value, reference["label_entropy"]):
            what = "mean_entropy is the label entropy: it is the mean of each image's entropy."
        else:
            what = "mean_entropy is not the mean over images of -sum_k p_k log p_k (nats)."
    _quality_fail("mean_entropy", what, target, value)


@quality_exercise.check(LABEL_ENTROPY_CHECK, probe=_quality_probe, inputs=_quality_inputs)
def _quality_label_entropy_verdict(inputs: Inputs, answer: Any) -> None:
    value, target, reference = _quality_read(inputs, answer, "label_entropy")
    if _close(value, target):
        return
    what = _entropy_mistake("label_entropy", value, target)
    fractions = reference["fractions"]
    counts = fractions * len(inputs["probabilities"])
    if what is None:
        if _close(value, reference["entropy_of_mean"]):
            what = (
                "label_entropy is the entropy of the mean probabilities: it is the entropy of "
                "the fractions of images whose argmax is each digit (a histogram of labels)."
            )
        elif _close(value, float(_entropy_nats(counts))):
            what = (
                "label_entropy is computed from the counts of labels: divide them by the number "
                "of images first, so that the fractions sum to 1."
            )
        elif _close(value, reference["mean_entropy"]):
            what = (
                "label_entropy is the mean per-image entropy: it is the entropy of the histogram "
                "of the labels (argmax of each row)."
            )
        else:
            what = (
                "label_entropy is not the entropy (nats) of the fractions of images labelled "
                "with each digit."
            )
    _quality_fail("label_entropy", what, target, value)


# --------------------------------------------------------------------------- aggregate_posterior_codes

aggregate_exercise = exercise(
    "aggregate_posterior_codes",
    lesson=LESSON,
    points=4,
    symbol="aggregate_posterior_codes",
    description="n codes from the aggregate posterior q(z) = (1/M) sum_i N(mu_i, "
    "exp(log_var_i)): pick an image at random, draw from its posterior",
    references=("vae_tf.sample_quality:aggregate_posterior_codes",),
    hints=(
        "q(z) is a mixture of the M images' posteriors, each with weight 1/M. To draw from a "
        "mixture: first choose which component, then draw from that component.",
        "Choose the image of each code uniformly among the M rows, with the generator you are "
        "given; then draw from that image's own Gaussian, its mu and its log_var (the same row).",
        "A draw from N(mu, exp(log_var)) is mu + sigma * eps with sigma = exp(log_var / 2) and "
        "eps standard normal, one eps per code and per dimension (lesson 03's reparameterization).",
    ),
)

AGGREGATE_CODES = 3000


def _separated_means(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    """``m`` points in [-12, 12]^d at least 8 apart: each code's image can be told apart."""
    points: list[np.ndarray] = []
    while len(points) < m:
        candidate = rng.uniform(-12.0, 12.0, size=d)
        if all(np.linalg.norm(candidate - point) >= 8.0 for point in points):
            points.append(candidate)
    return np.stack(points)


def _aggregate_inputs(rng: np.random.Generator) -> Inputs:
    d = int(rng.integers(3, 9))
    m = int(rng.integers(8, 16))
    # One image: scales on both sides of 1, so that variance, scale and log-variance differ.
    single_sigma = np.exp(rng.uniform(np.log(0.3), np.log(3.0), size=(1, d)))
    single_sigma[0, :2] = rng.uniform(2.0, 3.0), rng.uniform(0.3, 0.5)
    # Many images: each its own scale, small next to the distance between their means.
    sigma = np.exp(rng.uniform(np.log(0.05), np.log(0.5), size=(m, 1))) * rng.uniform(
        0.8, 1.25, size=(m, d)
    )
    return {
        "single_mu": rng.normal(0.0, 2.0, size=(1, d)).astype(np.float32),
        "single_log_var": (2.0 * np.log(single_sigma)).astype(np.float32),
        "mu": _separated_means(rng, m, d).astype(np.float32),
        "log_var": (2.0 * np.log(sigma)).astype(np.float32),
        "n": AGGREGATE_CODES,
        "seeds": [int(s) for s in rng.integers(0, 2**31, size=2)],
    }


def _aggregate_calls(aggregate_posterior_codes: Any, inputs: Inputs) -> dict[str, Any]:
    seed_a, seed_b = inputs["seeds"]
    n = inputs["n"]
    mu, log_var = inputs["mu"], inputs["log_var"]
    same = np.random.default_rng(seed_a)

    def call(mu: np.ndarray, log_var: np.ndarray, count: int, rng: Any) -> Any:
        return call_described(aggregate_posterior_codes, mu.copy(), log_var.copy(), count, rng)

    return {
        "single": call(
            inputs["single_mu"], inputs["single_log_var"], n, np.random.default_rng(seed_b)
        ),
        "mixture": call(mu, log_var, n, np.random.default_rng(seed_a)),
        "again": call(mu, log_var, 8, same),
        "next": call(mu, log_var, 8, same),
        "fresh": call(mu, log_var, 8, np.random.default_rng(seed_a)),
        "other": call(mu, log_var, 8, np.random.default_rng(seed_b)),
    }


@judge_only
def _codes(answer: Any, n: int, d: int, m: int) -> np.ndarray:
    tried = f"aggregate_posterior_codes(mu, log_var, {n}, rng), mu and log_var of shape ({m}, {d})"
    if isinstance(answer, dict) and "raised" in answer:
        record = answer["raised"]
        message = str(record.get("message"))
        indexing = any(word in message for word in ("out of bounds", "broadcast", "shape"))
        raise CheckFailed(
            f"Your code raised {record.get('type')}: {message[:300]}",
            tried=tried,
            hint="n is not M: the n codes pick their images among the M rows (with repeats)"
            if indexing
            else None,
        )
    z = array_of(answer, "aggregate_posterior_codes").astype(np.float64)
    if z.shape != (n, d):
        raise CheckFailed(
            "aggregate_posterior_codes should return n codes of the posteriors' latent size.",
            tried=tried,
            expected=f"shape ({n}, {d})",
            got=f"shape {z.shape}",
        )
    return z


@aggregate_exercise.check(
    "returns n codes of the latent size",
    probe=_some_calls(_aggregate_calls, "single", "mixture"),
    inputs=_aggregate_inputs,
)
def _aggregate_shape_verdict(inputs: Inputs, answer: Any) -> None:
    m, d = inputs["mu"].shape
    _codes(answer["mixture"], inputs["n"], d, m)
    _codes(answer["single"], inputs["n"], d, 1)
    # n codes of the right size that are zeros, mu, or drawn from the prior earn nothing.
    _aggregate_draws_right(inputs, answer)


@judge_only
def _aggregate_draws_right(inputs: Inputs, answer: Any) -> None:
    """The checks of the draws themselves, on an answer that holds the single and mixture calls."""
    _aggregate_single_verdict(inputs, answer)
    _aggregate_mixture_verdict(inputs, answer)
    _aggregate_pairing_verdict(inputs, answer)


ONE_GAUSSIAN = (
    "The codes lie far from every image's mean: a code of q(z) comes from ONE image's "
    "posterior (pick an image, then draw near its mu), not from one Gaussian for all images "
    "or from the prior N(0, I)."
)


@judge_only
def _far_from_every_mean(inputs: Inputs, answer: Any) -> float:
    """The fraction of the mixture's codes farther than 4 from every mean (0 if unreadable)."""
    mu = inputs["mu"].astype(np.float64)
    try:
        z = _codes(answer["mixture"], inputs["n"], mu.shape[1], len(mu))
    except CheckFailed:
        return 0.0
    return float(np.mean(_components(z, mu)[1] > 4.0))


@aggregate_exercise.check(
    "one image: draws from N(mu, exp(log_var)), log_var the log of the variance",
    probe=_some_calls(_aggregate_calls, "single", "mixture"),
    inputs=_aggregate_inputs,
)
def _aggregate_single_verdict(inputs: Inputs, answer: Any) -> None:
    n, d = inputs["n"], inputs["mu"].shape[1]
    with _earlier():
        z = _codes(answer["single"], n, d, 1)
    mu = inputs["single_mu"].astype(np.float64)[0]
    log_var = inputs["single_log_var"].astype(np.float64)[0]
    sigma = np.exp(log_var / 2.0)
    residual = z - mu
    spread = residual.std(axis=0)
    tried = f"one image (M = 1): mu {short(mu, 2)}, sigma = exp(log_var / 2) {short(sigma, 2)}"
    expected = f"{n} codes with mean mu and standard deviation sigma in each dimension"
    got = f"mean {short(z.mean(axis=0), 2)}, standard deviation {short(spread, 2)}"

    def near(target: np.ndarray) -> bool:
        return bool(np.all(np.abs(spread / target - 1.0) < 0.1))

    what = None
    if np.all(spread < 1e-6):
        if _far_from_every_mean(inputs, answer) > 0.01:
            what = ONE_GAUSSIAN
        elif np.allclose(z[0], mu, atol=1e-4):
            what = (
                "Every code is the same: add noise. mu is the posterior's mean; a draw is "
                "mu + sigma * eps with a fresh eps for every code."
            )
        else:
            what = "Every code is the same code: draw a fresh eps for every code."
    # Off-centre by more than 6 standard errors of the mean (of the spread the codes have).
    elif np.any(np.abs(residual.mean(axis=0)) > 6.0 * spread / np.sqrt(n) + 1e-3):
        if np.all(np.abs(z.mean(axis=0)) < 0.1) and np.all(np.abs(spread - 1.0) < 0.1):
            what = (
                "The codes are draws from the prior N(0, I), whatever mu and log_var: q(z) is "
                "made of the images' posteriors N(mu_i, exp(log_var_i))."
            )
        else:
            what = "The codes are not centred on mu: a draw is mu + sigma * eps."
    elif near(sigma):
        pass
    elif near(np.exp(log_var)):
        what = (
            "The spread of the codes is exp(log_var), the variance: the scale of the noise is "
            "the standard deviation sigma = exp(log_var / 2)."
        )
    elif near(np.abs(log_var)):
        what = (
            "The spread of the codes is |log_var|: log_var is the log of the variance, so the "
            "scale of the noise is sigma = exp(log_var / 2)."
        )
    elif near(np.ones(d)):
        what = (
            "The noise has standard deviation 1 in every dimension: scale eps by the image's "
            "sigma = exp(log_var / 2)."
        )
    else:
        what = "The codes do not have standard deviation sigma = exp(log_var / 2)."
    if what is None:
        standard = residual / sigma
        correlation = np.corrcoef(standard, rowvar=False)
        if np.max(np.abs(correlation - np.eye(d))) > 0.2:
            what = (
                "The dimensions of a code move together: draw one eps per code AND per "
                "dimension, shape (n, latent_dim)."
            )
    if what is not None:
        raise CheckFailed(what, tried=tried, expected=expected, got=got)


@judge_only
def _components(z: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest mean of each code, and its distance to it."""
    distance = np.linalg.norm(z[:, None, :] - mu[None, :, :], axis=-1)
    nearest = np.argmin(distance, axis=1)
    return nearest, distance[np.arange(len(z)), nearest]


@aggregate_exercise.check(
    "picks each image with probability 1/M",
    probe=_some_calls(_aggregate_calls, "mixture"),
    inputs=_aggregate_inputs,
)
def _aggregate_mixture_verdict(inputs: Inputs, answer: Any) -> None:
    mu = inputs["mu"].astype(np.float64)
    (m, d), n = mu.shape, inputs["n"]
    with _earlier():
        z = _codes(answer["mixture"], n, d, m)
    nearest, distance = _components(z, mu)
    tried = f"M = {m} images whose means lie at least 8 apart, each with sigma below 0.65"
    far = float(np.mean(distance > 4.0))
    if far > 0.01:
        raise CheckFailed(
            ONE_GAUSSIAN,
            tried=tried,
            expected="every code within a few sigma of one of the M means",
            got=f"{far:.0%} of the codes farther than 4 from every mean",
        )
    counts = np.bincount(nearest, minlength=m)
    expected_count = n / m
    chi_square = float(np.sum((counts - expected_count) ** 2 / expected_count))
    # Chi-square with m - 1 degrees of freedom: mean m - 1, sd sqrt(2 (m - 1)) < 6 here.
    if chi_square > (m - 1) + 12.0 * np.sqrt(2.0 * (m - 1)):
        used = int(np.sum(counts > 0))
        what = (
            f"Only {used} of the {m} images are used: every image's posterior is a component "
            "of q(z); pick the image of each code uniformly among all M rows."
            if used < m
            else "The images are not picked equally often: q(z) gives each image weight 1/M."
        )
        raise CheckFailed(
            what,
            tried=tried,
            expected=f"about {expected_count:.0f} codes near each mean",
            got=f"counts {short(counts, 0)}",
        )


@aggregate_exercise.check(
    "each code uses its own image's mu and sigma",
    probe=_some_calls(_aggregate_calls, "mixture"),
    inputs=_aggregate_inputs,
)
def _aggregate_pairing_verdict(inputs: Inputs, answer: Any) -> None:
    mu = inputs["mu"].astype(np.float64)
    sigma = np.exp(inputs["log_var"].astype(np.float64) / 2.0)
    (m, d), n = mu.shape, inputs["n"]
    with _earlier():
        z = _codes(answer["mixture"], n, d, m)
        nearest, distance = _components(z, mu)
        if np.mean(distance > 4.0) > 0.01:
            raise CheckFailed("The codes are not drawn from the images' posteriors.")
    standard = (z - mu[nearest]) / sigma[nearest]
    ratios = np.array(
        [standard[nearest == i].std() if np.sum(nearest == i) >= 20 else 1.0 for i in range(m)]
    )
    # About 200 codes x 3+ dimensions per image: the ratio's sd is below 0.04.
    if np.any(np.abs(ratios - 1.0) > 0.25):
        raise CheckFailed(
            "Near some images the codes spread more (or less) than that image's sigma: each code "
            "must use the mu and the log_var of the SAME image (one index for both).",
            tried=f"M = {m} images, each with its own sigma between 0.04 and 0.65",
            expected="spread / sigma close to 1 near every image",
            got=f"spread / sigma {short(ratios, 2)}",
        )


@aggregate_exercise.check(
    "draws with the rng it is given", probe=_aggregate_calls, inputs=_aggregate_inputs
)
def _aggregate_rng_verdict(inputs: Inputs, answer: Any) -> None:
    m, d = inputs["mu"].shape
    _rng_verdict(
        answer,
        ("again", "next", "fresh", "other"),
        lambda described: _codes(described, 8, d, m),
        _allclose,
        "codes",
        "the draws do not use `rng` (np.random.* draws from a global generator). Use rng's own "
        "methods for both the images and the noise.",
        "draws come",
    )
    # Any numbers drawn with rng pass the above: the codes must be draws of q(z) as well.
    _aggregate_draws_right(inputs, answer)


# A Dense-only network (or a model of zeros) is not an answer to a convolutional exercise:
# every other check of the two networks also asks for the convolutions, with their words.
for _exercise, _verdict, _check in (
    (encoder_exercise, _encoder_layers_verdict, ENCODER_LAYERS_CHECK),
    (decoder_exercise, _decoder_layers_verdict, DECODER_LAYERS_CHECK),
):
    also_probe(
        _exercise,
        _layers_probe(_exercise.symbol, latent_dim=3),
        _verdict,
        skip=(_check,),
    )

# And a network with no activation (one linear convolution and the heads) is one linear map,
# not an encoder or a decoder: every other check also asks for the activations. These extra
# probes draw their inputs from a fixed, public seed: they ask about the architecture, which
# no choice of inputs can fake, while the nonlinearity check itself keeps its secret inputs.
_ARCHITECTURE_SEED = 0


def _extra(probe: Any, inputs_function: Any) -> Any:
    """``probe`` on the inputs drawn from the public seed, as an extra probe of every check."""

    def extra(obj: Any) -> Any:
        inputs = inputs_function(np.random.default_rng(_ARCHITECTURE_SEED))
        # An error here is left to the check's own probe, which reports it in its own words.
        try:
            return probe(obj, inputs)
        except Exception as error:  # noqa: BLE001 - NotImplementedError too: the stub's own check
            return _raised(error, 200)

    return extra


@judge_only
def _encoder_nonlinear_extra_verdict(inputs: Inputs, answer: Any) -> None:
    public = _nonlinear_inputs(np.random.default_rng(_ARCHITECTURE_SEED))
    if not isinstance(answer, dict) or "raised" in answer:
        return
    try:
        residuals = dict(_affine_heads(public, answer.get("all")))
    except CheckFailed:
        return
    # Only a linear mu: a constant log_var head is the heads check's to name.
    if residuals.get("mu", 1.0) < 1e-3:
        _encoder_nonlinear_verdict(public, answer)


@judge_only
def _decoder_nonlinear_extra_verdict(inputs: Inputs, answer: Any) -> None:
    calls = answer if isinstance(answer, list) else [answer]
    if any(not isinstance(call, dict) or "raised" in call for call in calls):
        return
    _decoder_nonlinear_verdict(
        _decoder_pairs_inputs(np.random.default_rng(_ARCHITECTURE_SEED)), answer
    )


also_probe(
    encoder_exercise,
    _extra(_encoder_nonlinear_probe, _nonlinear_inputs),
    _encoder_nonlinear_extra_verdict,
    skip=(ENCODER_NONLINEAR_CHECK,),
)
also_probe(
    decoder_exercise,
    _extra(_decoder_nonlinear_probe, _decoder_pairs_inputs),
    _decoder_nonlinear_extra_verdict,
    skip=(DECODER_NONLINEAR_CHECK,),
)
