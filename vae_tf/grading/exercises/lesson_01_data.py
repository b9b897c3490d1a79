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
    points=4,
    symbol="scale_pixels",
    description="uint8 images -> float32 in [0, 1], shaped (N, 28, 28, 1)",
    references=(
        "vae_tf.data:_to_float_images",
        "vae_tf.models:as_images",
        "vae_tf.validation:float_images",
    ),
    hints=(
        "three things change: the type (uint8 -> float32), the range (0..255 -> 0..1) and the "
        "shape (a channel axis of length 1 at the end, when there is none)",
        "change the type before dividing, so that nothing is rounded; which number takes 255 to "
        "exactly 1?",
        "images.ndim tells whether the channel axis is already there; NumPy adds an axis of "
        "length 1 with np.newaxis or np.expand_dims",
        "astype and np.expand_dims return new arrays: build the result from them, never by "
        "writing into images (not even its .shape)",
    ),
)


def _scale_inputs(rng: np.random.Generator) -> Inputs:
    return {"images": _images(rng, int(rng.integers(3, 9)))}


def _scale_channel_inputs(rng: np.random.Generator) -> Inputs:
    return {"images": _images(rng, int(rng.integers(3, 9)))[..., np.newaxis]}


def _scale_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    return call_described(scale_pixels, inputs["images"])


@scale_pixels_exercise.check(
    "returns float32 with a channel axis", probe=_scale_probe, inputs=_scale_inputs
)
def _scale_shape_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["images"])
    result = _ndarray(answer, "scale_pixels")
    if result.shape != (count, 28, 28, 1):
        what = "The result should have one channel axis at the end."
        if result.shape == (count, 28, 28):
            what = "The channel axis is missing: the model expects (N, 28, 28, 1)."
        raise CheckFailed(
            what,
            tried=f"{count} images of shape (28, 28), dtype uint8",
            expected=f"shape ({count}, 28, 28, 1)",
            got=f"shape {result.shape}",
            hint="an array of shape (N, 28, 28) needs one more axis, of length 1, at the end",
        )
    if result.dtype != np.float32:
        what = "The result should be float32, the type the model works in."
        if result.dtype == np.float64:
            what = (
                "The result is float64 (what dividing an integer array gives); the model works "
                "in float32."
            )
        raise CheckFailed(
            what,
            tried=f"{count} images of shape (28, 28), dtype uint8",
            expected="dtype float32",
            got=f"dtype {result.dtype}",
            hint="choose the type of the result explicitly",
        )
    # The right form of the wrong numbers (zeros, ones, the input) earns nothing here either.
    _scale_values_verdict(inputs, answer)


@scale_pixels_exercise.check("scales 0..255 to 0..1", probe=_scale_probe, inputs=_scale_inputs)
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
    if np.allclose(values, expected, atol=1e-6):
        return
    raw = images.astype(np.float64)[..., np.newaxis]
    what = "Pixel values should be divided by 255, so that 0 stays 0 and 255 becomes 1."
    if np.allclose(values, raw, atol=1e-6):
        what = "The values were not scaled: 255 stayed 255. Pixels should lie in [0, 1]."
    elif np.allclose(values, raw / 256.0, atol=1e-6):
        what = "The pixels were divided by 256: 255 becomes 0.996, not 1. Divide by 255."
    elif np.array_equal(values, np.floor(expected)):
        what = (
            "The grey values were rounded to whole numbers (an integer type after dividing): "
            "every pixel below 255 became 0."
        )
    raise CheckFailed(
        what,
        tried="pixels 0, 128 and 255",
        expected=f"0.0, {128 / 255:.4g} and 1.0",
        got=_three_pixels(images, values),
    )


def _three_pixels(images: np.ndarray, values: np.ndarray) -> str:
    """The result at a pixel 0, a pixel 128 (or the nearest grey) and a pixel 255."""
    flat_images, flat_values = images.reshape(-1), values.reshape(-1)
    middle = int(np.argmin(np.abs(flat_images.astype(np.int64) - 128)))
    return f"{flat_values[0]:.4g}, {flat_values[middle]:.4g} and {flat_values[1]:.4g}"


@scale_pixels_exercise.check(
    "accepts images that already have a channel axis",
    probe=_scale_probe,
    inputs=_scale_channel_inputs,
)
def _scale_channel_verdict(inputs: Inputs, answer: Any) -> None:
    count = len(inputs["images"])
    result = _ndarray(answer, "scale_pixels")
    if result.shape != (count, 28, 28, 1):
        what = "Images that already have a channel axis should keep exactly one."
        if result.shape == (count, 28, 28, 1, 1):
            what = "A second channel axis was added to images that already had one."
        raise CheckFailed(
            what,
            tried=f"{count} images of shape (28, 28, 1)",
            expected=f"shape ({count}, 28, 28, 1)",
            got=f"shape {result.shape}",
            hint="add the axis only when it is not there yet",
        )
    if not np.allclose(result.astype(np.float64), inputs["images"] / 255.0, atol=1e-6):
        raise CheckFailed(
            "Images with a channel axis are not scaled like the others: if images without one "
            "are wrong too, fix the check 'scales 0..255 to 0..1' first.",
            tried=f"{count} images of shape (28, 28, 1)",
        )


def _scale_keeps_input_probe(scale_pixels: Any, inputs: Inputs) -> Any:
    images = inputs["images"]
    result = call_described(scale_pixels, images)
    return {"result": result, "images_after": {"type": "ndarray", "array": np.array(images)}}


@scale_pixels_exercise.check(
    "does not modify its input", probe=_scale_keeps_input_probe, inputs=_scale_inputs
)
def _scale_keeps_input_verdict(inputs: Inputs, answer: Any) -> None:
    array_of(answer["result"], "scale_pixels")
    after = array_of(answer["images_after"], "the input after the call")
    before = inputs["images"]
    if (
        after.dtype != before.dtype
        or after.shape != before.shape
        or not np.array_equal(after, before)
    ):
        what = "scale_pixels changed the array it was given; it should return a new one."
        if after.shape != before.shape:
            what = (
                "scale_pixels changed the shape of the array it was given "
                f"({before.shape} became {after.shape}); it should return a new array."
            )
        raise CheckFailed(
            what,
            hint="build the result as a new array instead of changing images in place",
        )
    # Leaving the input alone is worth a point only next to a right result (not `return 0`).
    _scale_values_verdict(inputs, answer["result"])


# --------------------------------------------------------------------------- binarize

binarize_exercise = exercise(
    "binarize",
    lesson=LESSON,
    points=4,
    symbol="binarize",
    description="static Bernoulli binarization with np.random.default_rng(seed)",
    references=("vae_tf.data:binarize_images",),
    hints=(
        "a pixel of grey value p must become 1 with probability p and 0 otherwise: one biased "
        "coin flip per pixel, not a fixed threshold",
        "make a generator of your own from the seed with np.random.default_rng; leave NumPy's "
        "global generator (np.random.seed, np.random.rand) alone",
        "a uniform number u drawn in [0, 1) is below p with probability exactly p",
        "a comparison gives booleans: the model wants float32 zeros and ones",
    ),
)

SHAPE_FIRST = (
    "The result has the wrong shape: fix the check 'returns float32 zeros and ones' first."
)


def _binarize_inputs(count: int | None, *, full_range: bool = False) -> Any:
    def inputs(rng: np.random.Generator) -> Inputs:
        number = int(rng.integers(3, 10)) if count is None else count
        # A brightness of its own per run, so that even the mean of the result is not fixed;
        # the full range 0..1 where a threshold at any level must show as one.
        brightness = 1.0 if full_range else float(rng.uniform(0.3, 1.0))
        images = _images(rng, number).astype(np.float32)[..., np.newaxis] * (brightness / 255.0)
        return {"images": images, "seed": int(rng.integers(0, 2**31 - 1))}

    return inputs


def _same_shape(result: np.ndarray, images: np.ndarray) -> None:
    if result.shape != images.shape:
        raise CheckFailed(
            SHAPE_FIRST, expected=f"shape {images.shape}", got=f"shape {result.shape}"
        )


def _binarize_values_probe(binarize: Any, inputs: Inputs) -> Any:
    return call_described(binarize, inputs["images"], seed=inputs["seed"])


@binarize_exercise.check(
    "returns float32 zeros and ones of the same shape",
    probe=_binarize_values_probe,
    inputs=_binarize_inputs(None),
)
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
    others = np.setdiff1d(np.unique(result.astype(np.float64)), [0.0, 1.0])
    if others.size:
        raise CheckFailed(
            "Every pixel should become exactly 0 or 1.",
            expected="only the values 0.0 and 1.0",
            got=f"also {short(others[:3])}",
        )
    if result.dtype != np.float32:
        what = "The result should be float32 (0.0 and 1.0), the type the model works in."
        if result.dtype == np.bool_:
            what = "The result holds booleans (what a comparison gives); the model wants float32."
        elif result.dtype == np.float64:
            what = "The result is float64; the model works in float32."
        raise CheckFailed(what, expected="dtype float32", got=f"dtype {result.dtype}")
    # Zeros and ones of the right form are not yet a binarization: they must follow the pixels.
    _require_intensity_draw(images.astype(np.float64), result.astype(np.float64))


@judge_only
def _require_intensity_draw(images: np.ndarray, result: np.ndarray) -> None:
    """Fail unless ``result`` (0/1) looks like one Bernoulli draw per pixel of ``images``.

    Loose enough for any right answer on 3 to 9 images (6 standard errors of the mean), tight
    enough for a constant, a fixed threshold, a reversed comparison or a coin of fixed bias.
    """
    values = np.unique(result)
    if values.size == 1:
        raise CheckFailed(
            f"Every pixel became {values[0]:g}, whatever the pixel values from 0 to 1: "
            "nothing is drawn at random (a constant, or a fixed threshold no pixel reaches).",
            tried=f"images of shape {images.shape} with grey values from 0 to 1",
            expected="1 with probability equal to each pixel's value",
            got=f"{values[0]:g} everywhere",
        )
    _require_no_threshold(images, result)
    tolerance = 6.0 * np.sqrt(0.25 / images.size)
    mean_ok = abs(result.mean() - images.mean()) <= tolerance
    dark = images < 0.05
    if not mean_ok or result[dark].mean() > 0.1:
        what = "On average a pixel should be 1 as often as its intensity says."
        bright = images > 0.95 * images.max()
        if abs(result.mean() - (1.0 - images.mean())) <= tolerance:
            what = (
                "Pixels are 1 with probability 1 - intensity: the comparison is reversed "
                "(dark pixels became ink)."
            )
        elif abs(result[dark].mean() - result[bright].mean()) < 0.1:
            what = (
                "Dark and bright pixels are 1 equally often: the draw does not depend on the "
                "pixel's intensity (a coin of fixed bias, or a threshold at the wrong level)."
            )
        raise CheckFailed(
            what,
            tried=f"images of shape {images.shape}",
            expected=f"a mean close to the pixel mean {images.mean():.3f}",
            got=f"a mean of {result.mean():.3f}, dark pixels 1 in {result[dark].mean():.0%} of cases",
        )


@judge_only
def _require_no_threshold(images: np.ndarray, result: np.ndarray) -> None:
    # One draw per grey pixel is a threshold only by a fluke of about 2^-1000.
    if _is_threshold(images, result):
        raise CheckFailed(
            "Every pixel above one level became 1 and every pixel below it 0: a fixed threshold "
            "on the pixel values is not a random draw.",
            tried=f"images of shape {images.shape} with grey values from 0 to 1",
            expected="grey pixels sometimes 1 and sometimes 0, at random",
        )


def _require_zeros_and_ones(result: np.ndarray) -> None:
    if np.setdiff1d(np.unique(result.astype(np.float64)), [0.0, 1.0]).size:
        raise CheckFailed(
            "The result holds values other than 0 and 1: fix the check 'returns float32 zeros "
            "and ones' first."
        )


def _binarize_seed_probe(binarize: Any, inputs: Inputs) -> Any:
    images, seed = inputs["images"], inputs["seed"]
    return [
        call_described(binarize, images, seed=seed),
        call_described(binarize, images, seed=seed),
        call_described(binarize, images, seed=seed + 1),
    ]


@binarize_exercise.check(
    "is reproducible for a seed and changes with it",
    probe=_binarize_seed_probe,
    inputs=_binarize_inputs(None, full_range=True),
)
def _binarize_seed_verdict(inputs: Inputs, answer: Any) -> None:
    first, second, other = (array_of(result, "binarize") for result in answer[:3])
    _same_shape(first, inputs["images"])
    _require_zeros_and_ones(first)  # random numbers of a seeded generator are not binary images
    if first.shape != second.shape or not np.array_equal(first, second):
        raise CheckFailed(
            "The same seed gave different images: the draws are not made from the seed "
            "(unseeded random numbers).",
            tried="binarize(images, seed=s) twice",
            expected="identical results",
            got="different results",
        )
    if first.shape == other.shape and np.array_equal(first, other):
        what = "A different seed should give different binary images."
        if np.unique(first).size == 1:
            what = (
                f"Every pixel became {first.reshape(-1)[0]:g}, whatever the seed and the pixel "
                "values from 0 to 1: nothing is drawn at random."
            )
        elif np.unique(first).size == 2 and _is_threshold(inputs["images"], first):
            what = (
                "The result is the same for every seed: a fixed threshold on the pixel values "
                "is not a random draw."
            )
        raise CheckFailed(
            what,
            tried="seed=s and seed=s + 1",
            expected="different results",
            got="identical results",
        )


def _is_threshold(images: np.ndarray, result: np.ndarray) -> bool:
    """Whether ``result`` is ``images`` compared with one fixed level."""
    ink = result.astype(bool)
    return bool(images[ink].min() >= images[~ink].max())


def _binarize_mean_probe(binarize: Any, inputs: Inputs) -> Any:
    return call_described(binarize, inputs["images"], seed=inputs["seed"])


@binarize_exercise.check(
    "keeps the mean intensity (a Bernoulli draw per pixel)",
    probe=_binarize_mean_probe,
    inputs=_binarize_inputs(200),
)
def _binarize_mean_verdict(inputs: Inputs, answer: Any) -> None:
    images = inputs["images"].astype(np.float64)
    result = array_of(answer, "binarize").astype(np.float64)
    _same_shape(result, images)
    _require_zeros_and_ones(result)  # the grey images themselves have the right mean
    _require_no_threshold(images, result)  # rounding keeps the mean of bright images
    # 156,800 independent Bernoulli draws: the standard error of the mean is below 0.0013.
    if abs(result.mean() - images.mean()) <= 0.01 and result[images < 0.05].mean() <= 0.1:
        return
    what = "On average a pixel should be 1 as often as its intensity says."
    dark, bright = images < 0.05, images > 0.95 * images.max()
    if abs(result.mean() - (1.0 - images.mean())) <= 0.01:
        what = (
            "Pixels are 1 with probability 1 - intensity: the comparison is reversed "
            "(dark pixels became ink)."
        )
    elif abs(result[dark].mean() - result[bright].mean()) < 0.1:
        what = (
            "Dark and bright pixels are 1 equally often: the draw does not depend on the "
            "pixel's intensity (a coin of fixed bias, or a threshold at the wrong level)."
        )
    raise CheckFailed(
        what,
        tried="200 random images of one brightness",
        expected=f"a mean close to the pixel mean {images.mean():.3f}, dark pixels almost never 1",
        got=f"a mean of {result.mean():.3f}, dark pixels 1 in {result[dark].mean():.0%} of cases",
    )


def _binarize_rng_probe(binarize: Any, inputs: Inputs) -> Any:
    return call_described(binarize, inputs["images"], seed=inputs["seed"])


@judge_only
def _bernoulli_draws(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # The two usual ways to draw a Bernoulli pixel with a NumPy Generator are both accepted
    # (a uniform draw compared with the pixel, either way round of the comparison's operands).
    by_uniform = (np.random.default_rng(seed).random(images.shape) < images).astype(np.float32)
    by_binomial = np.random.default_rng(seed).binomial(1, images).astype(np.float32)
    return by_uniform, by_binomial


@judge_only
def _legacy_draws(images: np.ndarray, seed: int) -> np.ndarray:
    # What np.random.seed(seed) followed by np.random.rand / random gives.
    return (np.random.RandomState(seed).random_sample(images.shape) < images).astype(np.float32)


@binarize_exercise.check(
    "draws from np.random.default_rng(seed)", probe=_binarize_rng_probe, inputs=_binarize_inputs(4)
)
def _binarize_rng_verdict(inputs: Inputs, answer: Any) -> None:
    images = inputs["images"]
    by_uniform, by_binomial = _bernoulli_draws(images, inputs["seed"])
    result = array_of(answer, "binarize")
    _same_shape(result, images)
    if np.array_equal(result, by_uniform) or np.array_equal(result, by_binomial):
        return
    what = "The draws should come from np.random.default_rng(seed), one uniform draw per pixel."
    if np.array_equal(result, _legacy_draws(images, inputs["seed"])):
        what = (
            "The draws come from NumPy's global generator reseeded with np.random.seed: that "
            "resets the random numbers of every other piece of code too. Use a generator of "
            "your own, np.random.default_rng(seed)."
        )
    raise CheckFailed(
        what,
        tried="a seed s, and the pixels drawn by a generator made from s",
        expected="the same pixels as np.random.default_rng(s) gives",
        got="different pixels",
    )
