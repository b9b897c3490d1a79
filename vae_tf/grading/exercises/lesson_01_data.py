"""Checks for lesson 01 (setup and data): preparing MNIST pixels for a VAE.

Two NumPy exercises:

- ``scale_pixels(images)``: uint8 images, shaped ``(N, 28, 28)`` or ``(N, 28, 28, 1)``,
  to float32 in [0, 1] shaped ``(N, 28, 28, 1)``.
- ``binarize(images, seed)``: static Bernoulli binarization; each pixel becomes 1 with
  probability equal to its intensity, drawn with ``np.random.default_rng(seed)``.

Each check is worth one point: its inputs are drawn from the run's seed, its probe calls
the student's function, its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, type_name
from vae_tf.grading.exercises._helpers import call_described, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "01_data"


def _images(rng: np.random.Generator, count: int) -> np.ndarray:
    """Fake uint8 digits: random pixels, with 0 and 255 present so that the range is full."""
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, 0] = 0
    images[0, 0, 1] = 255
    return images


def _ndarray(result: Any, what: str) -> np.ndarray:
    array = array_of(result, what)
    if type_name(result) != "ndarray":
        raise CheckFailed(
            f"{what} should return a NumPy array.",
            expected="a numpy.ndarray",
            got=f"a {type_name(result)}",
        )
    return array


# --------------------------------------------------------------------------- scale_pixels

scale_pixels_exercise = exercise(
    "scale_pixels",
    lesson=LESSON,
    symbol="scale_pixels",
    description="uint8 images -> float32 in [0, 1], shaped (N, 28, 28, 1)",
    references=("vae_tf.data:_to_float_images",),
)


def _scale_inputs(rng: np.random.Generator) -> Inputs:
    return {"images": _images(rng, int(rng.integers(3, 9)))}


def _scale_channel_inputs(rng: np.random.Generator) -> Inputs:
    return {"images": _images(rng, int(rng.integers(3, 9)))[..., np.newaxis]}


def _scale_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    return call_described(scale_pixels, inputs["images"])


@scale_pixels_exercise.probe("returns float32 with a channel axis", inputs=_scale_inputs)
def _scale_shape_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    return _scale_probe(scale_pixels, inputs)


@scale_pixels_exercise.verdict("returns float32 with a channel axis")
def _scale_shape_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["images"])
    result = _ndarray(answer, "scale_pixels")
    if result.shape != (count, 28, 28, 1):
        raise CheckFailed(
            "The result should have one channel axis at the end.",
            tried=f"{count} images of shape (28, 28), dtype uint8",
            expected=f"shape ({count}, 28, 28, 1)",
            got=f"shape {result.shape}",
            hint="add the axis with images[..., np.newaxis] or np.expand_dims(images, -1)",
        )
    if result.dtype != np.float32:
        raise CheckFailed(
            "The result should be float32, the type the model works in.",
            tried=f"{count} images of shape (28, 28), dtype uint8",
            expected="dtype float32",
            got=f"dtype {result.dtype}",
            hint="convert with .astype(np.float32) before dividing",
        )


@scale_pixels_exercise.probe("scales 0..255 to 0..1", inputs=_scale_inputs)
def _scale_values_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    return _scale_probe(scale_pixels, inputs)


@scale_pixels_exercise.verdict("scales 0..255 to 0..1")
def _scale_values_verdict(inputs: Inputs, answer: Any) -> None:
    images = inputs["images"]
    result = _ndarray(answer, "scale_pixels")
    expected = images.astype(np.float64)[..., np.newaxis] / 255.0
    if result.size != expected.size:
        raise CheckFailed(
            "The result should hold one value per pixel.",
            expected=f"{expected.size} values",
            got=f"{result.size} values",
        )
    values = np.asarray(result, dtype=np.float64).reshape(expected.shape)
    if not np.allclose(values, expected, atol=1e-6):
        raise CheckFailed(
            "Pixel values should be divided by 255, so that 0 stays 0 and 255 becomes 1.",
            tried="pixels 0 and 255",
            expected="0.0 and 1.0",
            got=f"{values[0, 0, 0, 0]:.4g} and {values[0, 0, 1, 0]:.4g}",
        )


@scale_pixels_exercise.probe(
    "accepts images that already have a channel axis", inputs=_scale_channel_inputs
)
def _scale_channel_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    return _scale_probe(scale_pixels, inputs)


@scale_pixels_exercise.verdict("accepts images that already have a channel axis")
def _scale_channel_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["images"])
    result = _ndarray(answer, "scale_pixels")
    if result.shape != (count, 28, 28, 1):
        raise CheckFailed(
            "Images that already have a channel axis should keep exactly one.",
            tried=f"{count} images of shape (28, 28, 1)",
            expected=f"shape ({count}, 28, 28, 1)",
            got=f"shape {result.shape}",
            hint="add the axis only when images.ndim == 3",
        )
    if not np.allclose(result.astype(np.float64), inputs["images"] / 255.0, atol=1e-6):
        raise CheckFailed(
            "Images with a channel axis should be scaled like the others (divided by 255).",
            tried=f"{count} images of shape (28, 28, 1)",
        )


@scale_pixels_exercise.probe("does not modify its input", inputs=_scale_inputs)
def _scale_keeps_input_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    images = inputs["images"]
    result = call_described(scale_pixels, images)
    return {"result": result, "images_after": {"type": "ndarray", "array": np.array(images)}}


@scale_pixels_exercise.verdict("does not modify its input")
def _scale_keeps_input_verdict(inputs: Inputs, answer: Any) -> None:
    array_of(answer["result"], "scale_pixels")
    after = array_of(answer["images_after"], "the input after the call")
    before = inputs["images"]
    if (
        after.dtype != before.dtype
        or after.shape != before.shape
        or not np.array_equal(after, before)
    ):
        raise CheckFailed(
            "scale_pixels changed the array it was given; it should return a new one.",
            hint="build the result with astype(...), which copies, instead of writing into images",
        )


# --------------------------------------------------------------------------- binarize

binarize_exercise = exercise(
    "binarize",
    lesson=LESSON,
    symbol="binarize",
    description="static Bernoulli binarization with np.random.default_rng(seed)",
    references=("vae_tf.data:binarize_images",),
)


def _binarize_inputs(count: int | None) -> Any:
    def inputs(rng: np.random.Generator) -> Inputs:
        number = int(rng.integers(3, 10)) if count is None else count
        # A brightness of its own per run, so that even the mean of the result is not fixed.
        brightness = float(rng.uniform(0.3, 1.0))
        images = _images(rng, number).astype(np.float32)[..., np.newaxis] * (brightness / 255.0)
        return {"images": images, "seed": int(rng.integers(0, 2**31 - 1))}

    return inputs


@binarize_exercise.probe(
    "returns float32 zeros and ones of the same shape", inputs=_binarize_inputs(None)
)
def _binarize_values_probe(binarize: Any, inputs: Inputs) -> Any:
    return call_described(binarize, inputs["images"], seed=inputs["seed"])


@binarize_exercise.verdict("returns float32 zeros and ones of the same shape")
def _binarize_values_verdict(inputs: Inputs, answer: Any) -> None:
    images = inputs["images"]
    result = _ndarray(answer, "binarize")
    if result.shape != images.shape:
        raise CheckFailed(
            "The result should have the same shape as the images.",
            tried=f"images of shape {images.shape}",
            expected=f"shape {images.shape}",
            got=f"shape {result.shape}",
        )
    if result.dtype != np.float32:
        raise CheckFailed(
            "The result should be float32 (0.0 and 1.0), the type the model works in.",
            expected="dtype float32",
            got=f"dtype {result.dtype}",
        )
    others = np.setdiff1d(np.unique(result), [0.0, 1.0])
    if others.size:
        raise CheckFailed(
            "Every pixel should become exactly 0 or 1.",
            expected="only the values 0.0 and 1.0",
            got=f"also {short(others[:3])}",
        )


@binarize_exercise.probe(
    "is reproducible for a seed and changes with it", inputs=_binarize_inputs(None)
)
def _binarize_seed_probe(binarize: Any, inputs: Inputs) -> Any:
    images, seed = inputs["images"], inputs["seed"]
    return [
        call_described(binarize, images, seed=seed),
        call_described(binarize, images, seed=seed),
        call_described(binarize, images, seed=seed + 1),
    ]


@binarize_exercise.verdict("is reproducible for a seed and changes with it")
def _binarize_seed_verdict(inputs: Inputs, answer: Any) -> None:
    first, second, other = (array_of(result, "binarize") for result in answer[:3])
    if first.shape != inputs["images"].shape:
        raise CheckFailed(
            "The result should have the same shape as the images.",
            expected=f"shape {inputs['images'].shape}",
            got=f"shape {first.shape}",
        )
    if first.shape != second.shape or not np.array_equal(first, second):
        raise CheckFailed(
            "The same seed should give the same binary images.",
            tried="binarize(images, seed=s) twice",
            expected="identical results",
            got="different results",
            hint="draw the random numbers from rng = np.random.default_rng(seed)",
        )
    if first.shape == other.shape and np.array_equal(first, other):
        raise CheckFailed(
            "A different seed should give different binary images.",
            tried="seed=s and seed=s + 1",
            expected="different results",
            got="identical results",
            hint="use the seed argument to build the generator",
        )


@binarize_exercise.probe(
    "keeps the mean intensity (a Bernoulli draw per pixel)", inputs=_binarize_inputs(200)
)
def _binarize_mean_probe(binarize: Any, inputs: Inputs) -> Any:
    return call_described(binarize, inputs["images"], seed=inputs["seed"])


@binarize_exercise.verdict("keeps the mean intensity (a Bernoulli draw per pixel)")
def _binarize_mean_verdict(inputs: Inputs, answer: Any) -> None:
    images = inputs["images"]
    result = array_of(answer, "binarize").astype(np.float64)
    if result.shape != images.shape:
        raise CheckFailed(
            "The result should have the same shape as the images.",
            expected=f"shape {images.shape}",
            got=f"shape {result.shape}",
        )
    # 156,800 independent Bernoulli draws: the standard error of the mean is below 0.0013.
    if abs(result.mean() - images.mean()) > 0.01:
        raise CheckFailed(
            "On average a pixel should be 1 as often as its intensity says.",
            tried="200 random images of one brightness",
            expected=f"a mean close to the pixel mean {images.mean():.3f}",
            got=f"a mean of {result.mean():.3f}",
            hint="compare uniform random numbers with the pixel values: rng.random(shape) < images",
        )
    dark = images < 0.05
    if result[dark].mean() > 0.1:
        raise CheckFailed(
            "Dark pixels should almost always become 0.",
            expected="pixels below 0.05 to be 1 at most about 5% of the time",
            got=f"{result[dark].mean():.0%} of them were 1",
        )


@binarize_exercise.probe("draws from np.random.default_rng(seed)", inputs=_binarize_inputs(4))
def _binarize_rng_probe(binarize: Any, inputs: Inputs) -> Any:
    return call_described(binarize, inputs["images"], seed=inputs["seed"])


@judge_only
def _bernoulli_draws(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # The two usual ways to draw a Bernoulli pixel with a NumPy Generator are both accepted.
    by_uniform = (np.random.default_rng(seed).random(images.shape) < images).astype(np.float32)
    by_binomial = np.random.default_rng(seed).binomial(1, images).astype(np.float32)
    return by_uniform, by_binomial


@binarize_exercise.verdict("draws from np.random.default_rng(seed)")
def _binarize_rng_verdict(inputs: Inputs, answer: Any) -> None:
    images = inputs["images"]
    by_uniform, by_binomial = _bernoulli_draws(images, inputs["seed"])
    result = array_of(answer, "binarize")
    if result.shape != images.shape or not (
        np.array_equal(result, by_uniform) or np.array_equal(result, by_binomial)
    ):
        raise CheckFailed(
            "The draws should come from np.random.default_rng(seed), one draw per pixel.",
            tried="a seed s",
            expected="(np.random.default_rng(s).random(images.shape) < images).astype(np.float32)",
            got="different pixels",
            hint="use rng.random(images.shape) < images, not np.random.rand or tf.random",
        )
