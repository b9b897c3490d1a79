"""The exercise registry: every exercise of every lesson, with its checks.

An exercise is something the student writes in a lesson notebook (a function or a
class). Each exercise is worth ``points`` (4 for a short function, 8 for a model piece,
12 for ``train_step``) shared equally by its list of *checks*. A check comes in three
parts, so that the student's code and the decision never share a process while grading:

- ``inputs(rng) -> dict``: the check's inputs, drawn from a generator seeded by the
  run's secret seed (:func:`check_rng`); the worker and the judge draw the same ones;
- ``probe(obj, inputs) -> plain data``: calls the student's object on those inputs and
  returns what it gave (numbers, arrays, strings; see :mod:`vae_tf.grading.answers`).
  While grading it runs inside the sandbox, next to the student's code;
- ``verdict(inputs, answer) -> None``: compares the answer with values it computes
  itself and raises :class:`CheckFailed` with a plain-words message when it is wrong.
  While grading it runs in the grader's own process (:mod:`vae_tf.grading.judge`).

A check is declared once, on its verdict::

    @ex.check("is centred on mu", probe=_centred_probe, inputs=_centred_inputs)
    def _centred_verdict(inputs, answer): ...

Verdicts (and helpers marked :func:`judge_only`) hold the reference answers, so they
are removed from the copy of the package that the grading worker sees
(:mod:`vae_tf.grading.redact`), together with the package functions named in each
exercise's ``references``.
"""

from __future__ import annotations

import importlib
import pkgutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

Inputs = dict[str, Any]
InputsFunction = Callable[[np.random.Generator], Inputs]
ProbeFunction = Callable[[Any, Inputs], Any]
VerdictFunction = Callable[[Inputs, Any], None]
F = TypeVar("F", bound=Callable[..., Any])


class CheckFailed(AssertionError):
    """A check found the student's object wrong.

    Parameters
    ----------
    what : str
        One sentence saying what went wrong, in plain words.
    tried : str, optional
        The input that was tried, e.g. ``"mu and log_var of shape (4, 2)"``.
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


def judge_only(function: F) -> F:
    """Mark a helper that computes reference answers: removed from the worker's package copy."""
    return function


def no_inputs(rng: np.random.Generator) -> Inputs:
    """The inputs of a check that draws none."""
    return {}


def check_rng(seed: int, exercise: str, check: str) -> np.random.Generator:
    """The generator of one check's inputs: the same in the worker and in the judge."""
    words = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    words += [zlib.crc32(exercise.encode()), zlib.crc32(check.encode())]
    return np.random.default_rng(words)


@dataclass
class Check:
    """One check of an exercise (an equal share of its points): inputs, probe and verdict."""

    name: str
    probe: ProbeFunction
    inputs: InputsFunction
    verdict: VerdictFunction
    description: str = ""


@dataclass
class Exercise:
    """An exercise: the name used in notebooks and the gradebook, and its checks.

    ``symbol`` is the name the student's function or class has in the notebook; the
    worker looks it up after running the exercise cells. ``references`` names the
    package's own answers (``"vae_tf.losses:kl_divergence"``,
    ``"vae_tf.models:VAE.train_step"``), unavailable to student code while grading.
    ``hints`` is a ladder, from what to look at to how, that never gives the answer
    itself: a failed self-check reveals one more step (see :func:`vae_tf.grading.hint`).
    ``points`` is what the whole exercise is worth in the gradebook, shared equally by its
    checks; ``None`` means one point per check.
    """

    name: str
    lesson: str
    symbol: str
    description: str = ""
    references: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    checks: list[Check] = field(default_factory=list)
    points: int | None = None

    @property
    def max_points(self) -> float:
        """What the exercise is worth: ``points``, or one point per check when unset."""
        return float(len(self.checks) if self.points is None else self.points)

    def check_points(self) -> float:
        """What one check is worth: the exercise's points shared equally by its checks."""
        return self.max_points / len(self.checks) if self.checks else 0.0

    def score(self, passed: int) -> float:
        """The points earned when ``passed`` of the checks pass, rounded to 0.01.

        ``passed`` is clipped to the number of checks, so nothing scores above
        :attr:`max_points`.
        """
        if not self.checks:
            return 0.0
        passed = min(max(int(passed), 0), len(self.checks))
        return round(self.max_points * passed / len(self.checks), 2)

    def get_check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"exercise {self.name!r} has no check named {name!r}")

    def check(
        self,
        name: str,
        *,
        probe: ProbeFunction,
        inputs: InputsFunction = no_inputs,
        description: str = "",
    ) -> Callable[[VerdictFunction], VerdictFunction]:
        """Decorator declaring one more check, named ``name``, on its verdict ``function``.

        ``probe`` calls the student's object on the ``inputs`` drawn for the check (a probe
        may serve several checks); the decorated function is the verdict. The check's
        description is ``description`` or the probe's docstring.
        """

        def decorator(function: VerdictFunction) -> VerdictFunction:
            if any(check.name == name for check in self.checks):
                raise ValueError(f"exercise {self.name!r} already has a check named {name!r}")
            text = description or (probe.__doc__ or "").strip()
            self.checks.append(Check(name, probe, inputs, function, description=text))
            return function

        return decorator


_EXERCISES: dict[str, Exercise] = {}
_LOADED = False


def exercise(
    name: str,
    *,
    lesson: str,
    symbol: str | None = None,
    description: str = "",
    references: tuple[str, ...] = (),
    hints: tuple[str, ...] = (),
    points: int | None = None,
) -> Exercise:
    """Register an exercise and return it, so that checks can be added with ``@ex.check``.

    ``points`` is what the exercise is worth in the gradebook (a positive whole number,
    shared equally by its checks); ``None`` gives one point per check.
    """
    if points is not None and (isinstance(points, bool) or not isinstance(points, int)):
        raise TypeError(f"exercise {name!r}: points must be a whole number, not {points!r}")
    if points is not None and points <= 0:
        raise ValueError(f"exercise {name!r}: points must be positive, not {points}")
    if name in _EXERCISES:
        existing = _EXERCISES[name]
        if existing.lesson != lesson:
            raise ValueError(
                f"exercise {name!r} is registered for lesson {existing.lesson!r}, not {lesson!r}"
            )
        return existing
    ex = Exercise(
        name=name,
        lesson=lesson,
        symbol=symbol or name,
        description=description,
        references=tuple(references),
        hints=tuple(hints),
        points=points,
    )
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
