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
        """A short report: one line per check, with the reason for each failure.

        Failed checks in a row that share one reason (an unfinished stub fails every check
        with the same one) are listed together and their reason is printed once.
        """
        head = "PASSED" if self.passed else "NOT YET"
        lines = [
            f"{head}: exercise '{self.exercise}', {self.points} of {self.max_points} checks passed"
            + _points_earned(self.exercise, self.points)
        ]
        for group in group_failures(self.results):
            if group[0].passed:
                lines.append(f"  ok   {group[0].name}")
                continue
            lines.extend(f"  FAIL {result.name}" for result in group)
            message = group[0].message
            if message:
                lines.extend("         " + line for line in message.splitlines())
        return "\n".join(lines)


def _points_earned(name: str, passed: int) -> str:
    """``" (3.2 of 4 points)"``: what ``passed`` checks earn in the gradebook, or ''."""
    from vae_tf.grading.gradebook import format_points

    try:
        exercise = get_exercise(name)
    except KeyError:
        return ""
    return (
        f" ({format_points(exercise.score(passed))} of {format_points(exercise.max_points)} points)"
    )


def group_failures(results: list[CheckResult]) -> list[list[CheckResult]]:
    """``results`` in order, with failed checks in a row that share one message grouped.

    A passed check is a group of its own; so the verdict and the grader's feedback can say
    a reason once for every check it cost.
    """
    groups: list[list[CheckResult]] = []
    for result in results:
        previous = groups[-1][-1] if groups else None
        if (
            previous is not None
            and not result.passed
            and not previous.passed
            and result.message == previous.message
        ):
            groups[-1].append(result)
        else:
            groups.append([result])
    return groups


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
        return NOT_WRITTEN + (f"\n{message}" if message else "")  # the stub's own words
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


def _hint_line(name: str, number: int) -> str:
    hints = get_exercise(name).hints
    return f"hint {number} of {len(hints)}: {hints[number - 1]}"


def _reveal(name: str) -> str:
    """Reveal the next hint of exercise ``name`` and return it alone, numbered.

    When every hint is revealed already, say so (and how to see them again) instead.
    """
    hints = get_exercise(name).hints
    if not hints:
        return ""
    shown = _REVEALED.get(name, 0)
    if shown >= len(hints):
        return _no_more_hints(name)
    _REVEALED[name] = shown = shown + 1
    text = _hint_line(name, shown)
    if shown < len(hints):
        text += f'\n(a more specific hint: run hint("{name}"), or check again after a change)'
    else:
        text += f"\n(that was the last hint of '{name}')"
    return text


def _no_more_hints(name: str) -> str:
    count = len(get_exercise(name).hints)
    every = "the only hint" if count == 1 else f"all {count} hints"
    return (
        f"No more hints for '{name}': {every} revealed already. "
        f'hint("{name}", all=True) prints {"it" if count == 1 else "them"} again.'
    )


def hint(name: str, all: bool = False) -> None:  # noqa: A002 - reads well in a notebook
    """Print the next hint of exercise ``name`` (numbered, e.g. "hint 2 of 3").

    Hints go from what to look at to how to write it; none of them is the answer. Each
    call reveals one more; once every hint is revealed, it says so and repeats the last.

    Parameters
    ----------
    name : str
        The exercise, e.g. ``"kl_divergence"``.
    all : bool, default False
        Print every hint revealed so far (revealing the first if none is), instead of
        revealing the next one.
    """
    try:
        hints = get_exercise(name).hints
    except KeyError as error:
        print(f"Cannot give a hint: {error.args[0]}")
        return
    if not hints:
        print(f"exercise '{name}' has no hints: read the check's messages.")
        return
    shown = _REVEALED.get(name, 0)
    if all:
        _REVEALED[name] = shown = max(shown, 1)
        lines = [_hint_line(name, number) for number in range(1, shown + 1)]
        if shown < len(hints):
            lines.append(f'({len(hints) - shown} more: run hint("{name}"))')
        print("\n".join(lines))
    elif shown >= len(hints):
        print(_no_more_hints(name) + "\nThe last one: " + _hint_line(name, len(hints)))
    else:
        print(_reveal(name))


def package_answers_used(name: str, obj: Any) -> list[str]:
    """The package's own answers that ``obj`` (exercise ``name``) and its cell use.

    Each is redacted when the lesson is graded, so the self-check says at once that such
    an exercise earns 0 there (:mod:`vae_tf.grading.package_uses`). Never raises: a
    search that fails finds nothing.
    """
    from vae_tf.grading.package_uses import entry_points_of
    from vae_tf.grading.package_uses import package_answers_used as find

    try:
        exercise = get_exercise(name)
        return find(obj, exercise.lesson, entry_points=entry_points_of(exercise.references))
    except Exception:  # noqa: BLE001 - a warning is a courtesy; the verdict stands
        return []


def check(name: str, obj: Any) -> None:
    """Check the student's ``obj`` for exercise ``name`` and print the verdict.

    This is what the self-check cell after each exercise calls. It never raises at the
    student: a wrong answer, an exception in their code or an unfinished stub all end
    in a printed explanation, followed by the next hint of the exercise (only that one:
    the earlier ones are above, or ``hint(name, all=True)`` prints them). It returns
    nothing, so that a notebook cell ending with it shows the verdict alone;
    ``run_checks`` returns the same outcome as an object. A cell that uses the package's
    own answer is told first that it passes here only and earns 0 when graded.
    """
    try:
        outcome = run_checks(name, obj)
    except KeyError as error:
        print(f"Cannot check: {error.args[0]}")
        return
    used = package_answers_used(name, obj)
    if used:
        from vae_tf.grading.package_uses import warning

        print(warning(used, passed=outcome.passed) + "\n")
    print(outcome.verdict())
    if not outcome.passed:
        text = _reveal(name)
        if text:
            print("\n" + text)
