"""Small helpers shared by the check modules (this module registers no exercise)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from vae_tf.grading.registry import CheckFailed


def to_numpy(value: Any, what: str) -> np.ndarray:
    """The student's result (array, list or tensor) as float64 NumPy.

    ``None`` and things that are not numbers become a ``CheckFailed`` in plain words; a
    stub's ``NotImplementedError`` passes through, to be reported as "not written yet".
    """
    if value is None:
        raise CheckFailed(f"{what} returned None.", hint="did you forget the `return` statement?")
    try:
        # Tensors go through Keras when it is loaded already; NumPy-only lessons never load it.
        if "keras" in sys.modules and not isinstance(value, (np.ndarray, list, tuple, float, int)):
            value = sys.modules["keras"].ops.convert_to_numpy(value)
        return np.asarray(value, dtype=np.float64)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - anything that is not an array of numbers
        raise CheckFailed(
            f"{what} should return an array (or a tensor) of numbers.",
            got=f"a {type(value).__name__}",
        ) from None


def short(array: Any, precision: int = 4) -> str:
    """A few numbers of ``array``, for a message."""
    return np.array2string(np.asarray(array), precision=precision, separator=", ", threshold=12)
