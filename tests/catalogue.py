"""Helpers shared by the catalogue tests (``tests/test_catalogue_*.py``).

- :data:`SEED`, the checks' seed (``VAE_TF_CHECK_SEED`` to try another);
- :func:`first_failure` / :func:`assert_full_points`: one answer through the checks;
- :func:`graded_in_sandbox`: exercise cells graded the way the grader does, in the sandbox
  with the lesson's redacted package (its reference answers removed) and the judge.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

from vae_tf.grading.checking import run_checks

# Exercises whose checks build or train Keras models (seconds per answer and seed): the seed
# sweep and the trivial-answer tests run them only when asked (or as slow tests).
KERAS_EXERCISES = frozenset(
    {
        "build_decoder",
        "build_encoder",
        "sampling",
        "train_step",
        "noisy_expectation",
        "interpolate",
        "sigma_sweep",
        "kl_warmup_callback",
        "sample_prior",
        "build_conv_encoder",
        "build_conv_decoder",
    }
)

SEED = int(os.environ.get("VAE_TF_CHECK_SEED", "2026"))


def first_failure(name: str, obj: object) -> str:
    """The message of the first failed check; the object must lose at least one point."""
    outcome = run_checks(name, obj, seed=SEED)
    failures = outcome.failures()
    assert failures, f"the checks of {name!r} passed on a wrong answer:\n{outcome.verdict()}"
    return failures[0].message


def assert_full_points(name: str, obj: object) -> None:
    """The object gets every point of the exercise's checks."""
    outcome = run_checks(name, obj, seed=SEED)
    assert outcome.passed, outcome.verdict()


def graded_in_sandbox(lesson: str, cells: dict[str, str], *, seed: int, timeout: int = 300):
    """Each exercise's outcome when ``cells`` (name: source, in order) are graded.

    Sources are dedented. The sandbox's run must end with status "ok" (an assertion);
    returns ``result.exercises``, a dict of exercise name -> outcome.
    """
    from vae_tf.grading.notebook_code import ExerciseCode
    from vae_tf.grading.redact import redacted_package
    from vae_tf.grading.sandbox import run_sandbox

    code = ExerciseCode(
        path=f"catalogue-{lesson}.ipynb",
        lesson=lesson,
        exercises=list(cells),
        cells=[(name, textwrap.dedent(source).lstrip()) for name, source in cells.items()],
    )
    with tempfile.TemporaryDirectory(prefix="vae-tf-redacted-") as folder:
        package = redacted_package(lesson, Path(folder))
        result = run_sandbox(code, timeout=timeout, memory_mb=3000, seed=seed, package=package)
    assert result.status == "ok", result.message
    return result.exercises


def failing_seeds(name: str, obj: object, seeds, *, right: bool) -> list[int]:
    """The seeds on which ``obj`` gets the wrong verdict for exercise ``name``.

    A right answer must get full points on every seed; a wrong one must lose at least one
    point on every seed (``right=False``). Grading draws its inputs from a secret seed, so a
    verdict that changes with the seed is a verdict that changes with luck.
    """
    wrong_verdicts = []
    for seed in seeds:
        passed = run_checks(name, obj, seed=seed).passed
        if passed != right:
            wrong_verdicts.append(int(seed))
    return wrong_verdicts
