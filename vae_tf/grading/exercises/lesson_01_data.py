"""Checks for lesson 01 (setup and data): preparing MNIST pixels for a VAE.

Two NumPy exercises:

- ``scale_pixels(images)``: uint8 images, shaped ``(N, 28, 28)`` or ``(N, 28, 28, 1)``,
  to float32 in [0, 1] shaped ``(N, 28, 28, 1)``.
- ``binarize(images, seed)``: static Bernoulli binarization; each pixel becomes 1 with
  probability equal to its intensity, drawn with ``np.random.default_rng(seed)``.

Each check is worth one point and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "01_data"


def _example_images(count: int = 6, seed: int = 0) -> np.ndarray:
    """Fake uint8 digits: random pixels, with 0 and 255 present so that the range is full."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[0, 0, 0] = 0
    images[0, 0, 1] = 255
    return images


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _as_array(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise CheckFailed(
            f"{what} should return a NumPy array.",
            expected="a numpy.ndarray",
            got=_describe(value),
        )
    return value


# --------------------------------------------------------------------------- scale_pixels

scale_pixels_exercise = exercise(
    "scale_pixels",
    lesson=LESSON,
    symbol="scale_pixels",
    description="uint8 images -> float32 in [0, 1], shaped (N, 28, 28, 1)",
)


@scale_pixels_exercise.add_check("returns float32 with a channel axis")
def _scale_pixels_shape_and_dtype(scale_pixels: Any) -> None:
    images = _example_images()
    result = _as_array(scale_pixels(images), "scale_pixels")
    if result.shape != (6, 28, 28, 1):
        raise CheckFailed(
            "The result should have one channel axis at the end.",
            tried="6 images of shape (28, 28), dtype uint8",
            expected="shape (6, 28, 28, 1)",
            got=f"shape {result.shape}",
            hint="add the axis with images[..., np.newaxis] or np.expand_dims(images, -1)",
        )
    if result.dtype != np.float32:
        raise CheckFailed(
            "The result should be float32, the type the model works in.",
            tried="6 images of shape (28, 28), dtype uint8",
            expected="dtype float32",
            got=f"dtype {result.dtype}",
            hint="convert with .astype(np.float32) before dividing",
        )


@scale_pixels_exercise.add_check("scales 0..255 to 0..1")
def _scale_pixels_values(scale_pixels: Any) -> None:
    images = _example_images()
    result = _as_array(scale_pixels(images), "scale_pixels")
    expected = images.astype(np.float32)[..., np.newaxis] / 255.0
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


@scale_pixels_exercise.add_check("accepts images that already have a channel axis")
def _scale_pixels_channel_input(scale_pixels: Any) -> None:
    images = _example_images()[..., np.newaxis]
    result = _as_array(scale_pixels(images), "scale_pixels")
    if result.shape != (6, 28, 28, 1):
        raise CheckFailed(
            "Images that already have a channel axis should keep exactly one.",
            tried="6 images of shape (28, 28, 1)",
            expected="shape (6, 28, 28, 1)",
            got=f"shape {result.shape}",
            hint="add the axis only when images.ndim == 3",
        )


@scale_pixels_exercise.add_check("does not modify its input")
def _scale_pixels_keeps_input(scale_pixels: Any) -> None:
    images = _example_images()
    before = images.copy()
    scale_pixels(images)
    if images.dtype != before.dtype or not np.array_equal(images, before):
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
)


def _scaled_example(count: int = 200) -> np.ndarray:
    return _example_images(count, seed=1).astype(np.float32)[..., np.newaxis] / 255.0


@binarize_exercise.add_check("returns float32 zeros and ones of the same shape")
def _binarize_values(binarize: Any) -> None:
    images = _scaled_example(8)
    result = _as_array(binarize(images, seed=0), "binarize")
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
            got=f"also {others[:5].tolist()}",
        )


@binarize_exercise.add_check("is reproducible for a seed and changes with it")
def _binarize_seed(binarize: Any) -> None:
    images = _scaled_example(8)
    first = np.asarray(binarize(images, seed=3))
    second = np.asarray(binarize(images, seed=3))
    if not np.array_equal(first, second):
        raise CheckFailed(
            "The same seed should give the same binary images.",
            tried="binarize(images, seed=3) twice",
            expected="identical results",
            got="different results",
            hint="draw the random numbers from rng = np.random.default_rng(seed)",
        )
    other = np.asarray(binarize(images, seed=4))
    if np.array_equal(first, other):
        raise CheckFailed(
            "A different seed should give different binary images.",
            tried="seed=3 and seed=4",
            expected="different results",
            got="identical results",
            hint="use the seed argument to build the generator",
        )


@binarize_exercise.add_check("keeps the mean intensity (a Bernoulli draw per pixel)")
def _binarize_mean(binarize: Any) -> None:
    images = _scaled_example(200)
    result = np.asarray(binarize(images, seed=0), dtype=np.float64)
    # 156,800 independent Bernoulli draws: the standard error of the mean is below 0.0013.
    if abs(result.mean() - images.mean()) > 0.01:
        raise CheckFailed(
            "On average a pixel should be 1 as often as its intensity says.",
            tried="200 random images",
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


@binarize_exercise.add_check("draws from np.random.default_rng(seed)")
def _binarize_uses_default_rng(binarize: Any) -> None:
    images = _scaled_example(4)
    # The two usual ways to draw a Bernoulli pixel with a NumPy Generator are both accepted.
    by_uniform = (np.random.default_rng(7).random(images.shape) < images).astype(np.float32)
    by_binomial = np.random.default_rng(7).binomial(1, images).astype(np.float32)
    result = np.asarray(binarize(images, seed=7))
    if result.shape != images.shape or not (
        np.array_equal(result, by_uniform) or np.array_equal(result, by_binomial)
    ):
        raise CheckFailed(
            "The draws should come from np.random.default_rng(seed), one draw per pixel.",
            tried="seed=7",
            expected="(np.random.default_rng(7).random(images.shape) < images).astype(np.float32)",
            got="different pixels",
            hint="use rng.random(images.shape) < images, not np.random.rand or tf.random",
        )
