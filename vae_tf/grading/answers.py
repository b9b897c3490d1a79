"""Plain data between the student's code and the verdicts: describing, encoding, validating.

The grading worker runs the student's code; what crosses back to the judge is plain data
only: JSON objects, lists, strings, numbers and NumPy arrays of numbers, the arrays as
base64 ``.npy`` bytes read back with ``np.load(..., allow_pickle=False)``. Never a pickle,
never an object.

- worker side: :func:`describe` turns whatever the student's code returned into plain
  data (its type name and, when it is made of numbers, the array); :func:`exception_record`
  does the same for an exception; :func:`encode` writes the answer.
- judge side: :func:`decode` reads it back with size limits; :func:`array_of` and
  :func:`number_of` validate a described value (not ``None``, numbers, finite, small
  enough) before any comparison, so that NaN, ``None`` and infinities fail everywhere.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import traceback
from typing import Any

import numpy as np

from vae_tf.grading.registry import CheckFailed

MAX_ELEMENTS = 4_000_000  # per array: the largest a check needs is a layer's weights
MAX_ITEMS = 8  # items of a returned tuple or list that are described one by one
MESSAGE_LIMIT = 2000
_NUMERIC_KINDS = "biuf"

# The exercise cells (name, source) being graded: set by the worker, to point at the
# student's own line when their code raises. Used for messages only.
CELLS: list[tuple[str, str]] = []


# --------------------------------------------------------------------------- worker side


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"


def _to_numpy(value: Any) -> np.ndarray:
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, float, int, bool)):
        keras = sys.modules.get("keras")
        if keras is not None:
            value = keras.ops.convert_to_numpy(value)
    return np.array(value, copy=True)


def describe(value: Any) -> dict[str, Any]:
    """What the student's code returned, as plain data.

    Returns
    -------
    dict
        ``{"type": name}`` always; ``"array"`` (a NumPy array of numbers) when the value
        converts to one; ``"items"`` (each described) for a tuple or list; ``"size"``
        when the array is too large to send.
    """
    described: dict[str, Any] = {"type": truncate(type(value).__name__, 100)}
    if value is None:
        return described
    if isinstance(value, (tuple, list)):
        described["length"] = len(value)
        described["items"] = [describe(item) for item in list(value)[:MAX_ITEMS]]
    try:
        array = _to_numpy(value)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - not made of numbers: the type name says what it was
        return described
    if type(array) is not np.ndarray or array.dtype.kind not in _NUMERIC_KINDS:
        return described
    if array.size > MAX_ELEMENTS:
        described["size"] = int(array.size)
        return described
    described["array"] = array
    return described


def exception_record(error: BaseException) -> dict[str, str]:
    """An exception raised by the student's code, as plain data: type, message, where."""
    where = ""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if frame.filename.startswith("<exercise cell "):
            try:
                index = int(frame.filename.split()[2].rstrip(":")) - 1
                lines = CELLS[index][1].splitlines()
                line = lines[frame.lineno - 1].strip()
            except (ValueError, IndexError, TypeError):
                line = "?"
            where = f" (in your exercise cell, line {frame.lineno}: {line})"
            break
    else:
        if frames and not CELLS:
            last = frames[-1]
            where = f" (at line {last.lineno}: {last.line.strip() if last.line else '?'})"
    return {
        "type": truncate(type(error).__name__, 100),
        "message": truncate(str(error), 500),
        "where": truncate(where, 300),
    }


def _plain(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        raise ValueError("the answer is nested too deeply")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"an array of dtype {value.dtype} is not plain data")
        buffer = io.BytesIO()
        # np.save keeps the shape; np.ascontiguousarray would turn a 0-d array into shape (1,).
        np.save(buffer, value, allow_pickle=False)
        return {"__npy__": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a {type(value).__name__} is not plain data")


def encode(answer: Any) -> bytes:
    """``answer`` (dicts, lists, strings, numbers, arrays of numbers) as JSON bytes."""
    return json.dumps(_plain(answer)).encode("utf-8")


def encode_inputs(inputs: Any) -> Any:
    """Checks' inputs as JSON-ready plain data, tuples kept as tuples (see :func:`decode_inputs`).

    The grader sends the worker the inputs themselves, never the secret seed they were drawn
    from: student code in the worker must not be able to compute any other run's inputs.
    """

    def mark(value: Any) -> Any:
        if isinstance(value, tuple):
            return {"__tuple__": [mark(item) for item in value]}
        if isinstance(value, list):
            return [mark(item) for item in value]
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        return value

    return _plain(mark(inputs))


def decode_inputs(plain: Any) -> Any:
    """The inputs written by :func:`encode_inputs`, arrays and tuples restored."""

    def unmark(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"__tuple__"}:
                return tuple(unmark(item) for item in value["__tuple__"])
            return {key: unmark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [unmark(item) for item in value]
        return value

    return unmark(_revive(plain))


# --------------------------------------------------------------------------- judge side


class MalformedAnswer(ValueError):
    """The worker's answer is not the plain data the judge expects."""


def _from_npy(text: Any) -> np.ndarray:
    if not isinstance(text, str) or len(text) > 4 * 8 * MAX_ELEMENTS // 3 + 1024:
        raise MalformedAnswer("an array is missing or too large")
    try:
        array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any fault of the bytes
        raise MalformedAnswer(f"an array could not be read ({type(error).__name__})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _NUMERIC_KINDS:
        raise MalformedAnswer("an array is not made of numbers")
    if array.size > MAX_ELEMENTS:
        raise MalformedAnswer("an array is too large")
    return array


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__npy__"}:
            return _from_npy(value["__npy__"])
        return {key: _revive(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revive(item) for item in value]
    return value


# JSON containers and separators in one answer. A real one has a few hundred (its arrays
# travel as base64 strings, which hold none); a forged one of millions of tiny lists would
# cost the grader gigabytes once parsed, so it is refused before parsing.
MAX_JSON_ITEMS = 250_000


def decode(data: bytes) -> Any:
    """The answer written by :func:`encode`; :class:`MalformedAnswer` when it is not plain data.

    Its size is capped where it is read (the sandbox's answer pipe); the number of its JSON
    items is capped here, before parsing, so that parsing it costs little memory whatever it is.
    """
    if isinstance(data, (bytes, bytearray)):
        items = data.count(b"[") + data.count(b"{") + data.count(b",")
        if items > MAX_JSON_ITEMS:
            raise MalformedAnswer(
                f"the answer holds {items} JSON items, more than the {MAX_JSON_ITEMS} allowed"
            )
    try:
        return _revive(json.loads(data.decode("utf-8")))
    except MalformedAnswer:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError) as error:
        raise MalformedAnswer(f"not plain JSON ({type(error).__name__})") from None


def raise_if_raised(result: Any) -> None:
    """A described call that raised becomes the failure of the check, in plain words."""
    if isinstance(result, dict) and isinstance(result.get("raised"), dict):
        record = result["raised"]
        raise CheckFailed(
            f"your code raised {str(record.get('type'))[:100]}: "
            f"{str(record.get('message'))[:500]}{str(record.get('where', ''))[:300]}"
        )


def array_of(result: Any, what: str) -> np.ndarray:
    """The array of numbers in a described value, validated: not None, numbers, finite.

    Parameters
    ----------
    result : dict
        From :func:`describe`, read back by :func:`decode`.
    what : str
        Names the student's function in messages, e.g. ``"kl_divergence"``.

    Returns
    -------
    np.ndarray
        With the dtype the student's code produced.
    """
    raise_if_raised(result)
    if not isinstance(result, dict):
        raise MalformedAnswer("a described value is not a dict")
    kind = str(result.get("type"))[:100]
    if kind == "NoneType":
        raise CheckFailed(f"{what} returned None.", hint="did you forget the `return` statement?")
    if "size" in result:
        raise CheckFailed(f"{what} returned far more numbers than expected.", got=f"a {kind}")
    array = result.get("array")
    if not isinstance(array, np.ndarray):
        raise CheckFailed(
            f"{what} should return an array (or a tensor) of numbers.", got=f"a {kind}"
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise CheckFailed(
            f"{what} returned NaN or infinite values.",
            got=f"{bad} of {array.size} values are NaN or infinite",
            hint="look for log(0), division by zero or exp of a large number",
        )
    return array


def number_of(result: Any, what: str) -> float:
    """One finite number from a described value (an int, a float or an array of one)."""
    array = array_of(result, what)
    if array.size != 1:
        raise CheckFailed(
            f"{what} should return one number.",
            got=f"a {str(result.get('type'))[:100]} of shape {array.shape}",
        )
    return float(array.reshape(-1)[0])


def type_name(result: Any) -> str:
    """The type name of a described value, for messages."""
    return str(result.get("type"))[:100] if isinstance(result, dict) else "?"
