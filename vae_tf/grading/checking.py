"""Running an exercise's checks and telling the student the verdict in plain words.

A check is a probe (runs the student's object) and a verdict (decides); see
:mod:`vae_tf.grading.registry`. This module holds the two halves of running one:

- :func:`run_probe`, used by the grading worker and by the self-check cell: runs the
  probe and turns whatever happens (a value, the stub's ``NotImplementedError``, an
  exception of the student's code) into plain data;
- :func:`judge_check`, used by the judge and by the self-check cell: validates that
  plain data and calls the verdict, which compares with values it computed itself.

:func:`check` (the self-check cell) runs both in the student's kernel with a fresh
random seed, through the same encoding the grader uses, so the messages are the same.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from vae_tf.grading import answers
from vae_tf.grading.registry import Check, CheckFailed, Inputs, check_rng, get_exercise

NOT_WRITTEN = (
    "not written yet: the function still raises NotImplementedError.\n"
    "Replace the `raise NotImplementedError(...)` line with your code."
)


@dataclass
class CheckResult:
    """The outcome of one check: passed or not, and why not in plain words."""

    name: str
    passed: bool
    message: str = ""


@dataclass
class ExerciseResult:
    """The outcome of every check of one exercise."""

    exercise: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def max_points(self) -> int:
        return len(self.results)

    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if not result.passed]

    @property
    def passed(self) -> bool:
        return self.max_points > 0 and self.points == self.max_points

    def verdict(self) -> str:
        """A short report: one line per check, with the reason for each failure."""
        head = "PASSED" if self.passed else "NOT YET"
        lines = [
            f"{head}: exercise '{self.exercise}', {self.points} of {self.max_points} checks passed"
        ]
        for result in self.results:
            mark = "  ok  " if result.passed else "  FAIL"
            lines.append(f"{mark} {result.name}")
            if not result.passed and result.message:
                lines.extend("         " + line for line in result.message.splitlines())
        return "\n".join(lines)


# --------------------------------------------------------------------------- the probe half


def run_probe(check: Check, obj: Any, inputs: Inputs, *, catch: type = Exception) -> dict:
    """Run ``check``'s probe on the student's ``obj``; plain data whatever happens.

    Returns
    -------
    dict
        ``{"value": ...}`` with what the probe observed, or ``{"error": {"kind": ...}}``
        with ``kind`` one of ``not_implemented``, ``check_failed`` (the probe found the
        object unusable, e.g. not a class) or ``exception`` (the student's code raised).
    """
    try:
        return {"value": check.probe(obj, inputs)}
    except NotImplementedError as error:
        return {"error": {"kind": "not_implemented", "message": answers.truncate(str(error), 500)}}
    except CheckFailed as error:
        return {"error": {"kind": "check_failed", "message": answers.truncate(error.explain())}}
    except AssertionError as error:
        message = str(error) or "an assertion in the check failed"
        return {"error": {"kind": "check_failed", "message": answers.truncate(message)}}
    except catch as error:
        return {"error": {"kind": "exception", **answers.exception_record(error)}}


# --------------------------------------------------------------------------- the verdict half


def _error_message(error: Any) -> str:
    if not isinstance(error, dict):
        return "the answer to this check could not be read"
    kind = error.get("kind")
    message = str(error.get("message", ""))[: answers.MESSAGE_LIMIT]
    if kind == "not_implemented":
        return NOT_WRITTEN + (f"\nhint: {message}" if message else "")
    if kind == "exception":
        return (
            f"your code raised {str(error.get('type'))[:100]}: {message[:500]}"
            f"{str(error.get('where', ''))[:300]}"
        )
    return message or "the check failed"


def judge_check(check: Check, inputs: Inputs, answer: Any) -> CheckResult:
    """The verdict of ``check`` on the plain ``answer`` of its probe, with ``inputs`` drawn afresh.

    A missing or malformed answer fails with a reason; nothing in ``answer`` can make a
    check pass except a value that the verdict accepts.
    """
    if not isinstance(answer, dict) or not ({"value", "error"} & set(answer)):
        return CheckResult(check.name, False, "no answer for this check")
    if "error" in answer:
        return CheckResult(check.name, False, _error_message(answer["error"]))
    try:
        check.verdict(inputs, answer["value"])
    except CheckFailed as failure:
        return CheckResult(check.name, False, answers.truncate(failure.explain()))
    except answers.MalformedAnswer as error:
        return CheckResult(check.name, False, f"the answer to this check is malformed: {error}")
    except Exception as error:  # noqa: BLE001 - a value of an unexpected form
        return CheckResult(
            check.name,
            False,
            f"the answer to this check is malformed ({type(error).__name__} while judging it)",
        )
    return CheckResult(check.name, True)


# --------------------------------------------------------------------------- the self-check cell


def run_checks(name: str, obj: Any, *, seed: int | None = None) -> ExerciseResult:
    """Run every check of exercise ``name`` on ``obj`` in this process; never raises for a wrong answer.

    Parameters
    ----------
    name : str
        The exercise, e.g. ``"kl_divergence"``.
    obj : object
        The student's function or class.
    seed : int, optional
        Seed of the checks' inputs; a fresh random one by default, as in grading.
    """
    exercise = get_exercise(name)
    seed = secrets.randbits(63) if seed is None else int(seed)
    outcome = ExerciseResult(exercise=name)
    for check in exercise.checks:
        answer = run_probe(check, obj, check.inputs(check_rng(seed, name, check.name)))
        try:
            # The same plain-data round trip as in grading, so the messages are the same.
            plain = answers.decode(answers.encode(answer))
        except (TypeError, ValueError) as error:
            outcome.results.append(CheckResult(check.name, False, f"the probe's answer: {error}"))
            continue
        inputs = check.inputs(check_rng(seed, name, check.name))  # fresh: obj may mutate its inputs
        outcome.results.append(judge_check(check, inputs, plain))
    return outcome


# How many hints of each exercise this kernel has revealed: one more per failed
# self-check or per call of `hint`, so the specific ones come only to those who keep trying.
_REVEALED: dict[str, int] = {}


def _reveal(name: str) -> str:
    """Reveal the next hint of exercise ``name`` and return every one revealed so far."""
    hints = get_exercise(name).hints
    if not hints:
        return ""
    _REVEALED[name] = min(_REVEALED.get(name, 0) + 1, len(hints))
    shown = _REVEALED[name]
    lines = [
        f"hint {number} of {len(hints)}: {text}" for number, text in enumerate(hints[:shown], 1)
    ]
    if shown < len(hints):
        lines.append(f'(a more specific hint: run hint("{name}"), or check again after a change)')
    return "\n".join(lines)


def hint(name: str) -> None:
    """Print the hints of exercise ``name`` revealed so far, plus the next one.

    Hints go from what to look at to how to write it; none of them is the answer.
    """
    try:
        text = _reveal(name)
    except KeyError as error:
        print(f"Cannot give a hint: {error.args[0]}")
        return
    print(text or f"exercise '{name}' has no hints: read the check's messages.")


def check(name: str, obj: Any) -> None:
    """Check the student's ``obj`` for exercise ``name`` and print the verdict.

    This is what the self-check cell after each exercise calls. It never raises at the
    student: a wrong answer, an exception in their code or an unfinished stub all end
    in a printed explanation. It returns nothing, so that a notebook cell ending with
    it shows the verdict alone; ``run_checks`` returns the same outcome as an object.
    """
    try:
        outcome = run_checks(name, obj)
    except KeyError as error:
        print(f"Cannot check: {error.args[0]}")
        return
    print(outcome.verdict())
    if not outcome.passed:
        hints = _reveal(name)
        if hints:
            print("\n" + hints)
