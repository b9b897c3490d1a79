"""How much the grader adds to running a notebook, and what ``--jobs 2`` gains.

    .venv/bin/python benchmarks/grading_overhead.py [--copies 4] [--work-seconds 2]

Grades ``--copies`` copies of a small lesson-01 notebook (the solution plus a cell that
computes for about ``--work-seconds`` seconds) and prints:

- the notebook's own execution time: nbclient alone, no limits, kernel start included;
- the grader's time per notebook with ``--jobs 1``, split into its execution phase
  (limited kernel, watchdog) and the rest (fresh-process checks, HTML, feedback);
- the speed-up of ``--jobs 2`` over ``--jobs 1``.

It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from vae_tf.grading.examples import lesson01_notebook
from vae_tf.grading.grader import grade

WORK_CELL = """\
import time
import numpy as np

start = time.perf_counter()
matrix = np.random.default_rng(0).random((300, 300))
while time.perf_counter() - start < {seconds}:
    matrix = np.tanh(matrix @ matrix.T / 300)
print(f"worked {{time.perf_counter() - start:.1f}} s")
"""


def bare_execution_seconds(path: Path) -> float:
    """Wall time of executing the notebook with nbclient alone (kernel start included)."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, kernel_name="python3", timeout=600).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=4, help="notebooks to grade (default: 4)")
    parser.add_argument(
        "--work-seconds", type=float, default=2.0, help="compute time of the extra cell"
    )
    parser.add_argument("--memory-mb", type=int, default=2000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vae-tf-bench-") as root:
        submissions = Path(root) / "submissions"
        submissions.mkdir()
        notebook = lesson01_notebook(extra_cells=[WORK_CELL.format(seconds=args.work_seconds)])
        for index in range(args.copies):
            nbformat.write(notebook, submissions / f"student_{index:02d}.ipynb")

        bare = [bare_execution_seconds(submissions / "student_00.ipynb") for _ in range(2)]
        bare_s = statistics.median(bare)

        timings = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            rows = grade(
                submissions,
                Path(root) / f"out_{jobs}",
                jobs=jobs,
                memory_mb=args.memory_mb,
                progress=False,
            )
            timings[jobs] = (time.perf_counter() - start, rows)

    wall_1, rows_1 = timings[1]
    wall_2, _ = timings[2]
    per_notebook = wall_1 / args.copies
    execution = statistics.mean(row.execution_seconds for row in rows_1)
    rest = statistics.mean(row.seconds - row.execution_seconds for row in rows_1)
    print(
        f"notebooks graded:                         {args.copies} (each computes ~{args.work_seconds:g} s)"
    )
    print(f"notebook's own execution (nbclient only):  {bare_s:6.2f} s")
    print(f"grader, --jobs 1, per notebook:            {per_notebook:6.2f} s")
    print(f"  execution phase (limited kernel):        {execution:6.2f} s")
    print(f"  checks in fresh process + reports:       {rest:6.2f} s")
    print(
        f"grading overhead per notebook:             {per_notebook - bare_s:6.2f} s "
        f"({(per_notebook - bare_s) / bare_s:+.0%} of the notebook's own time)"
    )
    print(
        f"--jobs 1 total: {wall_1:6.2f} s; --jobs 2 total: {wall_2:6.2f} s; "
        f"speed-up {wall_1 / wall_2:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
