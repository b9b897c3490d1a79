"""The exercise checks of each lesson, run against notebooks, as the grader runs them.

By default every ``solutions/*.ipynb`` is tested, so a solution that fails its own checks
fails here. Point it at any notebook with ``--notebook``:

    pytest tests/test_exercises.py --notebook path/to/nb.ipynb

The checks' probes run in a fresh process (``vae_tf.grading.sandbox``) on the notebook's
exercise cells, with the package redacted as in grading (``vae_tf.grading.redact``: the
lesson's reference answers are unavailable), and the judge decides in this process; one
test per (notebook, exercise), with the verdicts of failed checks in the message.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

import pytest

from vae_tf.grading.notebook_code import NotebookError, exercise_code_from_path
from vae_tf.grading.redact import redacted_package
from vae_tf.grading.registry import exercises_of_lesson
from vae_tf.grading.sandbox import SandboxResult, run_sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
NO_NOTEBOOKS = "solutions/ has no notebooks yet, and no --notebook was given"


def _notebooks(config: pytest.Config) -> list[Path]:
    given = config.getoption("notebook")
    if given:
        return [Path(path) for path in given]
    return sorted((REPO_ROOT / "solutions").glob("*.ipynb"))


def _cases(path: Path) -> list[tuple[Path, str]]:
    try:
        code = exercise_code_from_path(path)
    except NotebookError:
        return [(path, "<notebook>")]
    if code.lesson is None:
        return [(path, "<lesson>")]
    return [(path, ex.name) for ex in exercises_of_lesson(code.lesson)] or [(path, "<lesson>")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "notebook_exercise" not in metafunc.fixturenames:
        return
    cases = [case for path in _notebooks(metafunc.config) for case in _cases(path)]
    if not cases:
        metafunc.parametrize(
            "notebook_exercise",
            [None],  # fails below: no notebook to test is a fault, not a pass
            ids=["none"],
        )
        return
    metafunc.parametrize(
        "notebook_exercise", cases, ids=[f"{path.stem}-{name}" for path, name in cases]
    )


@cache
def _run(path: Path) -> SandboxResult:
    # One sandbox run per notebook; every exercise test of that notebook reads it.
    code = exercise_code_from_path(path)
    with tempfile.TemporaryDirectory(prefix="vae-tf-redacted-") as folder:
        # The worker imports the redacted copy, mounted over the package.
        package = redacted_package(code.lesson, Path(folder))
        return run_sandbox(code, timeout=900, memory_mb=4096, package=package)


def test_notebook_exercise_passes_all_its_checks(notebook_exercise: tuple[Path, str]) -> None:
    assert notebook_exercise is not None, NO_NOTEBOOKS
    path, name = notebook_exercise
    if name == "<notebook>":
        exercise_code_from_path(path)  # raises NotebookError naming the file and the fault
    assert name != "<lesson>", (
        f"{path}: cannot tell which lesson this notebook is (no metadata['vae_course']['lesson'] "
        "and no exercise cell or check(...) call naming a known exercise)"
    )
    result = _run(path)
    assert result.status == "ok", f"{path}: the checks did not complete: {result.message}"
    outcome = result.exercises.get(name)
    assert outcome is not None, f"{path}: exercise {name!r} was not checked"
    failures = "\n".join(
        f"- {check.name}:\n    " + check.message.replace("\n", "\n    ")
        for check in outcome.failures()
    )
    assert outcome.points == outcome.max_points, (
        f"{path.name}, exercise {name!r}: {outcome.points} of {outcome.max_points} checks passed\n{failures}"
    )
