"""Small helpers shared by the check modules (this module registers no exercise).

Probes (worker side) call the student's object and describe what it returned with
:func:`vae_tf.grading.answers.describe`; verdicts (judge side) read those descriptions
with :func:`vae_tf.grading.answers.array_of` and friends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import describe, exception_record

Call = tuple[tuple[Any, ...], dict[str, Any]]


def tensor(array: Any) -> Any:
    """A float32 TensorFlow constant (TensorFlow is imported only by lessons that need it)."""
    import tensorflow as tf

    return tf.constant(np.asarray(array, dtype=np.float32))


def keras_message(error: BaseException) -> str:
    """The student's own message from inside Keras' "Exception encountered when calling" wrapper."""
    text = str(error)
    if "\x1b[1m" in text and "\x1b[0m" in text:
        return text.split("\x1b[1m", 1)[1].split("\x1b[0m", 1)[0].strip()
    return text


def call_described(function: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``function(*args, **kwargs)`` described as plain data; an exception is recorded.

    The stub's ``NotImplementedError`` passes through, to be reported as "not written yet".
    """
    try:
        value = function(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - recorded; the verdict reports it
        return {"raised": exception_record(error)}
    return describe(value)


def call_each(function: Any, calls: list[Call], *, tensors: bool = False) -> list[dict[str, Any]]:
    """Each call of ``calls`` (``(args, kwargs)``) described; arrays become tensors if asked."""

    def convert(value: Any) -> Any:
        return tensor(value) if tensors and isinstance(value, np.ndarray) else value

    return [
        call_described(function, *map(convert, args), **{k: convert(v) for k, v in kwargs.items()})
        for args, kwargs in calls
    ]


def short(array: Any, precision: int = 4) -> str:
    """A few numbers of ``array``, for a message."""
    return np.array2string(np.asarray(array), precision=precision, separator=", ", threshold=12)
