"""The exercise registry: every exercise of every lesson, with its checks.

An exercise is something the student writes in a lesson notebook (a function or a
class). Each exercise has a list of *checks*; each check is worth one point and is a
function ``check(obj) -> None`` that raises :class:`CheckFailed` (or ``AssertionError``)
with a plain-words message when the student's object is wrong.

The same checks run in three places: the self-check cell of the notebook
(:func:`vae_tf.grading.check`), pytest against the solution notebooks, and the grader,
which runs them in a fresh process that the student's kernel cannot reach.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CheckFunction = Callable[[Any], None]


class CheckFailed(AssertionError):
    """A check found the student's object wrong.

    Parameters
    ----------
    what : str
        One sentence saying what went wrong, in plain words.
    tried : str, optional
        The input that was tried, e.g. ``"mu = zeros(4, 2), log_var = zeros(4, 2)"``.
    expected : str, optional
        What a correct answer gives.
    got : str, optional
        What the student's code gave.
    hint : str, optional
        Where to look next.
    """

    def __init__(
        self,
        what: str,
        *,
        tried: str | None = None,
        expected: str | None = None,
        got: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.what = what
        self.tried = tried
        self.expected = expected
        self.got = got
        self.hint = hint
        super().__init__(self.explain())

    def explain(self) -> str:
        lines = [self.what]
        if self.tried is not None:
            lines.append(f"tried:    {self.tried}")
        if self.expected is not None:
            lines.append(f"expected: {self.expected}")
        if self.got is not None:
            lines.append(f"got:      {self.got}")
        if self.hint is not None:
            lines.append(f"hint:     {self.hint}")
        return "\n".join(lines)


@dataclass
class Check:
    """One check of an exercise, worth one point."""

    name: str
    function: CheckFunction
    description: str = ""


@dataclass
class Exercise:
    """An exercise: the name used in notebooks and the gradebook, and its checks.

    ``symbol`` is the name the student's function or class has in the notebook;
    the grader looks it up after running the exercise cells.
    """

    name: str
    lesson: str
    symbol: str
    description: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def max_points(self) -> int:
        return len(self.checks)

    def add_check(self, name: str, description: str = "") -> Callable[[CheckFunction], CheckFunction]:
        """Decorator registering ``function`` as one more check of this exercise."""

        def decorator(function: CheckFunction) -> CheckFunction:
            if any(check.name == name for check in self.checks):
                raise ValueError(f"exercise {self.name!r} already has a check named {name!r}")
            self.checks.append(Check(name, function, description or (function.__doc__ or "").strip()))
            return function

        return decorator


_EXERCISES: dict[str, Exercise] = {}
_LOADED = False


def exercise(name: str, *, lesson: str, symbol: str | None = None, description: str = "") -> Exercise:
    """Register an exercise and return it, so that checks can be added with ``@ex.add_check``."""
    if name in _EXERCISES:
        existing = _EXERCISES[name]
        if existing.lesson != lesson:
            raise ValueError(
                f"exercise {name!r} is registered for lesson {existing.lesson!r}, not {lesson!r}"
            )
        return existing
    ex = Exercise(name=name, lesson=lesson, symbol=symbol or name, description=description)
    _EXERCISES[name] = ex
    return ex


def _load_all() -> None:
    """Import every module in ``vae_tf.grading.exercises`` so that they register."""
    global _LOADED
    if _LOADED:
        return
    package = importlib.import_module("vae_tf.grading.exercises")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _LOADED = True


def get_exercise(name: str) -> Exercise:
    """The registered exercise called ``name``; a ``KeyError`` lists the known names."""
    _load_all()
    try:
        return _EXERCISES[name]
    except KeyError:
        known = ", ".join(sorted(_EXERCISES)) or "(none)"
        raise KeyError(f"no exercise is called {name!r}; known exercises: {known}") from None


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise, by name."""
    _load_all()
    return dict(_EXERCISES)


def exercises_of_lesson(lesson: str) -> list[Exercise]:
    """The exercises of one lesson, in registration order."""
    _load_all()
    return [ex for ex in _EXERCISES.values() if ex.lesson == lesson]


def lessons() -> list[str]:
    """Every lesson id that has at least one exercise, sorted."""
    _load_all()
    return sorted({ex.lesson for ex in _EXERCISES.values()})
