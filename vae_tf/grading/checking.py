"""Running an exercise's checks and telling the student the verdict in plain words."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from vae_tf.grading.registry import CheckFailed, get_exercise


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
        lines = [f"{head}: exercise '{self.exercise}', {self.points} of {self.max_points} checks passed"]
        for result in self.results:
            mark = "  ok  " if result.passed else "  FAIL"
            lines.append(f"{mark} {result.name}")
            if not result.passed and result.message:
                lines.extend("         " + line for line in result.message.splitlines())
        return "\n".join(lines)


def _describe_exception(error: BaseException) -> str:
    if isinstance(error, NotImplementedError):
        return (
            "not written yet: the function still raises NotImplementedError.\n"
            "Replace the `raise NotImplementedError(...)` line with your code."
            + (f"\nhint: {error}" if str(error) else "")
        )
    if isinstance(error, CheckFailed):
        return error.explain()
    if isinstance(error, AssertionError):
        return str(error) or "an assertion in the check failed"
    # An exception raised by the student's own code: show its type, message and the
    # last frame, which is enough to find the line without a wall of traceback.
    frames = traceback.extract_tb(error.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" (at line {last.lineno}: {last.line.strip() if last.line else '?'})"
    return f"your code raised {type(error).__name__}: {error}{where}"


def run_checks(name: str, obj: Any) -> ExerciseResult:
    """Run every check of exercise ``name`` on ``obj``; never raises for a wrong answer."""
    exercise = get_exercise(name)
    outcome = ExerciseResult(exercise=name)
    for check in exercise.checks:
        try:
            check.function(obj)
        except Exception as error:  # noqa: BLE001 - any failure of student code costs the point
            outcome.results.append(CheckResult(check.name, False, _describe_exception(error)))
        else:
            outcome.results.append(CheckResult(check.name, True))
    return outcome


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
