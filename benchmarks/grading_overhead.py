"""How much the grader and its sandbox add to running a notebook, and what ``--jobs 2`` gains.

    .venv/bin/python benchmarks/grading_overhead.py [--copies 4] [--work-seconds 2]

Grades ``--copies`` copies of a small lesson-01 notebook (the solution plus a cell that
computes for about ``--work-seconds`` seconds; no data is loaded, so no MNIST source is
involved) and prints, in seconds per notebook:

- the notebook's own execution time: nbclient alone, no limits, kernel start included;
- the grader's time with ``--isolation none`` (plain processes with limits) and with the
  bubblewrap sandbox, both ``--jobs 1``, each split into its execution phase and the rest
  (checks in the worker, HTML, feedback), and the sandbox's added time per notebook;
- the speed-up of ``--jobs 2`` over ``--jobs 1``, with the sandbox.

On a machine shared with other work, read the differences and ratios measured in one run.
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
from _grading_work import write_copies  # noqa: E402 (a module of this folder)

from vae_tf.grading.grader import grade


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
    parser.add_argument("--rounds", type=int, default=2, help="runs of each isolation (default: 2)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vae-tf-bench-") as root:
        submissions = write_copies(Path(root) / "submissions", args.copies, args.work_seconds)

        bare = [bare_execution_seconds(submissions / "student_00.ipynb") for _ in range(2)]
        bare_s = statistics.median(bare)

        # --isolation none and bwrap alternate, so that both see the same load on a shared machine.
        runs: dict[tuple[str, int], list[tuple[float, list]]] = {}
        plan = [("none", 1), ("bwrap", 1)] * args.rounds + [("bwrap", 2)]
        for index, (isolation, jobs) in enumerate(plan):
            start = time.perf_counter()
            rows = grade(
                submissions,
                Path(root) / f"out_{index}",
                jobs=jobs,
                memory_mb=args.memory_mb,
                progress=False,
                isolation=isolation,
            )
            assert all(row.total == row.max_total for row in rows), "a copy lost points"
            runs.setdefault((isolation, jobs), []).append((time.perf_counter() - start, rows))

    print(
        f"notebooks graded: {args.copies} copies (each computes ~{args.work_seconds:g} s), "
        f"{args.rounds} rounds; medians"
    )
    print(f"notebook's own execution (nbclient only):   {bare_s:6.2f} s per notebook")
    per_notebook = {}
    for isolation in ("none", "bwrap"):
        walls = [wall for wall, _ in runs[isolation, 1]]
        rows = [row for _, round_rows in runs[isolation, 1] for row in round_rows]
        per_notebook[isolation] = statistics.median(walls) / args.copies
        execution = statistics.median(row.execution_seconds for row in rows)
        rest = statistics.median(row.seconds - row.execution_seconds for row in rows)
        print(
            f"grader --isolation {isolation:<5} --jobs 1:      {per_notebook[isolation]:6.2f} s "
            f"per notebook (execution {execution:.2f} s, checks and reports {rest:.2f} s)"
        )
    added = per_notebook["bwrap"] - per_notebook["none"]
    print(
        f"sandbox's added time per notebook:          {added:6.2f} s "
        f"(bwrap vs --isolation none, same run)"
    )
    print(
        f"grader overhead per notebook (bwrap):       {per_notebook['bwrap'] - bare_s:6.2f} s "
        "beyond the notebook's own execution"
    )
    wall_1 = statistics.median(wall for wall, _ in runs["bwrap", 1])
    wall_2 = runs["bwrap", 2][0][0]
    print(
        f"bwrap --jobs 1 total: {wall_1:6.2f} s; --jobs 2 total: {wall_2:6.2f} s; "
        f"speed-up {wall_1 / wall_2:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
