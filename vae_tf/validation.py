"""Argument checks shared by the whole package: one of each, with errors that name the argument.

Every public function of ``vae_tf`` checks its arguments with these, so that a wrong
value gives the same kind of message everywhere: which argument, what was given, and
what would be right.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

IMAGE_SHAPE = (28, 28, 1)


def integer(name: str, value: Any) -> int:
    """``value`` as a Python ``int``; ``ValueError`` for bools, floats and anything else."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1; ``ValueError`` naming ``name`` otherwise."""
    value = integer(name, value)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def non_negative_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` >= 0 (NaN and infinity rejected)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (math.isfinite(number) and number >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def positive_float(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` > 0."""
    number = non_negative_float(name, value)
    if number == 0.0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return number


def one_of(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` when it is one of ``choices``; ``ValueError`` listing them otherwise."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def grey_levels(values: Any, name: str = "images") -> np.ndarray:
    """``values`` (any shape) as a float32 array of finite grey levels in [0, 1].

    ``ValueError`` naming ``name`` and the range found otherwise, with the usual cause
    (uint8 pixels not divided by 255).
    """
    array = np.asarray(values).astype(np.float32, copy=False)
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ValueError(
            f"{name} must be grey levels in [0, 1], got {bad:,} NaN or infinite values"
        )
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"{name} must be grey levels in [0, 1], got values in "
            f"[{array.min():g}, {array.max():g}] (divide uint8 pixels by 255)"
        )
    return array


def float_images(images: Any, name: str = "images", *, check_range: bool = True) -> np.ndarray:
    """``images`` as a float32 NumPy array shaped (N, 28, 28, 1).

    Accepts (N, 28, 28) or (N, 28, 28, 1). With ``check_range`` the grey levels must be
    finite and in [0, 1] (uint8 pixels divided by 255). An empty array is an error.
    """
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"{name} must be MNIST images shaped (N, 28, 28) or (N, 28, 28, 1), "
            f"got an array of shape {np.shape(images)}"
        )
    if len(array) == 0:
        raise ValueError(f"{name} is empty: at least one image is needed")
    if check_range:
        return grey_levels(array, name)
    return array.astype(np.float32, copy=False)
