"""Grading at scale: notebooks graded per minute with ``--jobs 1`` and on a Dask cluster.

    .venv/bin/python benchmarks/grading_scale.py [--copies 8] [--work-seconds 2]

Grades ``--copies`` copies of a small lesson-01 notebook (the solution plus a cell that
computes for about ``--work-seconds`` seconds; no data is loaded, so no MNIST source is
involved), each in its bubblewrap sandbox, three ways:

- ``--jobs 1``: one notebook after the other in the grader, no Dask;
- ``--jobs 2``: an embedded Dask LocalCluster of one in-process worker with 2 threads;
- ``--scheduler`` on a Dask LocalCluster of 1 worker, then of 2 workers, started here over
  tcp://127.0.0.1, each worker its own process with one thread (as a machine of a cluster
  would be, on this one machine).

It prints the wall time of each run and notebooks graded per minute. With 2 workers on a
machine of 2 cores, the ceiling is 2x, less what the grader, Dask and other work on the
machine take; on a shared machine compare figures of one run. It prints figures and
asserts nothing but that every copy got full marks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from _grading_work import write_copies  # noqa: E402 (a module of this folder)

from vae_tf.grading.grader import grade


def timed_grade(submissions: Path, out: Path, **options) -> float:
    """Wall time in seconds of grading ``submissions``; every copy must get full marks."""
    start = time.perf_counter()
    rows = grade(submissions, out, progress=False, isolation="bwrap", **options)
    seconds = time.perf_counter() - start
    lost = [row.student for row in rows if row.total != row.max_total or row.status != "ok"]
    assert not lost, f"copies lost points: {lost}"
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=8, help="notebooks to grade (default: 8)")
    parser.add_argument(
        "--work-seconds", type=float, default=2.0, help="compute time of the extra cell"
    )
    parser.add_argument("--memory-mb", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.copies < 2:
        parser.error(f"--copies {args.copies}: give at least 2 notebooks")

    from distributed import LocalCluster

    with tempfile.TemporaryDirectory(prefix="vae-tf-bench-") as root:
        submissions = write_copies(Path(root) / "submissions", args.copies, args.work_seconds)

        limits = {"memory_mb": args.memory_mb}
        walls = {"--jobs 1 (no Dask)": timed_grade(submissions, Path(root) / "jobs1", **limits)}
        walls["--jobs 2 (embedded Dask)"] = timed_grade(
            submissions, Path(root) / "jobs2", jobs=2, **limits
        )
        for workers in (1, 2):
            with LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                protocol="tcp://",
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster:
                label = f"--scheduler, {workers} worker{'s' * (workers > 1)}"
                walls[label] = timed_grade(
                    submissions,
                    Path(root) / f"dask{workers}",
                    scheduler=cluster.scheduler_address,
                    **limits,
                )

    print(
        f"grading {args.copies} copies of a lesson-01 notebook (each computes "
        f"~{args.work_seconds:g} s; no MNIST data loaded), bubblewrap sandbox, "
        f"on {os.cpu_count()} CPU cores shared with other work"
    )
    for label, wall in walls.items():
        print(
            f"{label:<28} {wall:7.1f} s wall, {args.copies / wall * 60:5.1f} notebooks per minute"
        )
    one, two = walls["--scheduler, 1 worker"], walls["--scheduler, 2 workers"]
    print(f"2 workers vs 1 worker: {one / two:.2f}x the notebooks per minute")
    return 0


if __name__ == "__main__":
    sys.exit(main())
