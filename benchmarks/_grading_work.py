"""The notebooks the grading benchmarks grade: copies of lesson 01's solution plus some work.

Shared by ``grading_overhead.py`` and ``grading_scale.py`` (run as scripts from this folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

# The example notebook holds solution text, so it lives with the tests, not in the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lesson01_example import lesson01_notebook  # noqa: E402

WORK_CELL = """\
import time
import numpy as np

start = time.perf_counter()
matrix = np.random.default_rng(0).random((300, 300))
while time.perf_counter() - start < {seconds}:
    matrix = np.tanh(matrix @ matrix.T / 300)
print(f"worked {{time.perf_counter() - start:.1f}} s")
"""


def write_copies(folder: Path, copies: int, work_seconds: float) -> Path:
    """Write ``copies`` notebooks ``student_NN.ipynb`` into ``folder`` (made); return it."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = lesson01_notebook(extra_cells=[WORK_CELL.format(seconds=work_seconds)])
    for index in range(copies):
        nbformat.write(notebook, folder / f"student_{index:02d}.ipynb")
    return folder
