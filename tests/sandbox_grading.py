"""One helper for the catalogue tests: grade exercise cells the way the grader does.

The cells run in the sandbox with the lesson's redacted package (its reference answers
removed), and the judge gives each exercise its verdict.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path


def graded_in_sandbox(lesson: str, cells: dict[str, str], *, seed: int, timeout: int = 300):
    """Each exercise's outcome when ``cells`` (name: source, in order) are graded.

    Sources are dedented. The sandbox's run must end with status "ok" (an assertion);
    returns ``result.exercises``, a dict of exercise name -> outcome.
    """
    from vae_tf.grading.redact import redacted_package
    from vae_tf.grading.sandbox import run_sandbox
    from vae_tf.notebook_code import ExerciseCode

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
