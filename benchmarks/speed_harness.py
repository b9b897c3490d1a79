"""Timing two training loops fairly on a shared CPU: the helpers of the speed benchmarks.

``benchmarks/train_speed.py`` and ``benchmarks/iwae_vs_pytorch.py`` use them to compare the
course's Keras training with a PyTorch loop honestly:

- :func:`pin_threads` gives TensorFlow and PyTorch the same number of threads (intra-op
  and inter-op), before either runs an op; a framework that spins more threads than the
  other on a loaded machine is not compared with one that does not.
- :func:`interleave` runs the contenders in rounds, A B, then B A, ..., after one untimed
  warm-up each (tracing, XLA compiling, allocator warm-up), so that a change of the
  machine's load hits every contender alike.
- :class:`Measurement` keeps the wall-clock seconds *and* the CPU seconds the whole
  process used (all its threads, ``time.process_time``): on a shared machine the wall
  clock stretches with the other jobs' load, the CPU seconds much less.
- :func:`paired_ratio` gives the ratio of two contenders round by round, its median and
  its range over the rounds: the spread, not one lucky number.

Nothing here imports TensorFlow or PyTorch at module level, so the report format can be
tested without either.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Measurement:
    """One timed run: ``wall`` seconds by the clock, ``cpu`` seconds used by the process."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` per round, wall clock and CPU seconds: median and range."""

    wall_median: float
    wall_low: float
    wall_high: float
    cpu_median: float
    cpu_low: float
    cpu_high: float
    rounds: int

    def describe(self) -> str:
        """E.g. ``"2.10x (1.95-2.31x) by the wall clock, 2.04x (1.98-2.12x) by CPU seconds"``."""
        return (
            f"{self.wall_median:.2f}x ({self.wall_low:.2f}-{self.wall_high:.2f}x) by the wall "
            f"clock, {self.cpu_median:.2f}x ({self.cpu_low:.2f}-{self.cpu_high:.2f}x) by CPU "
            f"seconds (median and range of {self.rounds} interleaved rounds)"
        )


def positive_threads(value: str) -> int:
    """argparse type: a thread count, an integer >= 1, with an error that names it."""
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"threads must be an integer >= 1, got {value!r}") from None
    if threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads}")
    return threads


def pin_threads(threads: int, *, torch: bool = True) -> None:
    """Give TensorFlow (and PyTorch, when installed and ``torch``) ``threads`` threads each.

    TensorFlow's intra-op and inter-op pools, PyTorch's ``set_num_threads`` and
    ``set_num_interop_threads``, and the OpenMP/MKL/OpenBLAS variables all get the same
    number. Call it before either framework runs an op: TensorFlow cannot change its pools
    afterwards, and this raises a ``RuntimeError`` that says so.
    """
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:
        raise RuntimeError(
            f"pin_threads({threads}) came too late: TensorFlow has already run an op and "
            "cannot change its thread pools; call it first"
        ) from error
    if torch:
        try:
            import torch as torch_module
        except ImportError:
            return
        torch_module.set_num_threads(threads)
        torch_module.set_num_interop_threads(threads)


def measure(function: Callable[..., Any], *args: Any) -> tuple[Any, Measurement]:
    """``function(*args)``'s result and the wall-clock and process CPU seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, Measurement(time.perf_counter() - wall, time.process_time() - cpu)


def timed(run: Callable[[], object]) -> Measurement:
    """Wall-clock and process CPU seconds of one call of ``run``."""
    return measure(run)[1]


def interleave(
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Measurement]]:
    """Run every contender once untimed (warm-up), then ``repeats`` timed rounds.

    Round ``r`` runs the contenders in their given order rotated by ``r`` (A B C, B C A,
    C A B, ...), so that none always runs first or right after another. Returns each
    contender's measurements, one per round, in round order.
    """
    if not contenders:
        raise ValueError("contenders is empty: give at least one named run")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    names = list(contenders)
    for name in names:
        warm_up = timed(contenders[name])
        if progress:
            progress(f"  warm-up {name}: {warm_up.wall:.1f} s")
    results: dict[str, list[Measurement]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(timed(contenders[name]))
        if progress:
            progress(
                f"  round {round_index + 1}/{repeats}: "
                + ", ".join(f"{name} {results[name][-1].wall:.1f} s" for name in names)
            )
    return results


def paired_ratio(numerator: list[Measurement], denominator: list[Measurement]) -> Ratio:
    """``numerator / denominator`` of the same rounds (e.g. PyTorch seconds / Keras seconds:
    how many times faster Keras ran)."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(
            "paired_ratio needs the same number (>= 1) of rounds on both sides, got "
            f"{len(numerator)} and {len(denominator)}"
        )
    walls = [top.wall / bottom.wall for top, bottom in zip(numerator, denominator, strict=True)]
    cpus = [top.cpu / bottom.cpu for top, bottom in zip(numerator, denominator, strict=True)]
    return Ratio(
        statistics.median(walls),
        min(walls),
        max(walls),
        statistics.median(cpus),
        min(cpus),
        max(cpus),
        len(walls),
    )


def median_measurement(measurements: list[Measurement]) -> Measurement:
    """The median wall-clock and the median CPU seconds of ``measurements``."""
    if not measurements:
        raise ValueError("measurements is empty")
    return Measurement(
        statistics.median(m.wall for m in measurements),
        statistics.median(m.cpu for m in measurements),
    )


def format_table(
    results: dict[str, list[Measurement]], images: int, unit: str = "epoch"
) -> list[str]:
    """Lines of a table: per contender the median and range of seconds per ``unit``,
    the median CPU seconds, and images per second (from the median wall clock)."""
    width = max(len(name) for name in results)
    lines = [
        f"{'run':<{width}}  {f's/{unit} median':>14} {'range':>13} {'CPU s median':>12} "
        f"{'images/s':>9}"
    ]
    for name, measurements in results.items():
        middle = median_measurement(measurements)
        walls = [m.wall for m in measurements]
        spread = f"{min(walls):.2f}-{max(walls):.2f}"
        lines.append(
            f"{name:<{width}}  {middle.wall:14.2f} {spread:>13} {middle.cpu:12.2f} "
            f"{images / middle.wall:9.0f}"
        )
    return lines


def speedup_line(name: str, ratio: Ratio, target: float = 2.0) -> str:
    """One line: how many times faster (or slower) Keras ran than PyTorch, and whether
    the target was met by the median of both clocks."""
    met = ratio.wall_median >= target and ratio.cpu_median >= target
    verdict = f"target {target:g}x {'met' if met else 'NOT met'} by both medians"
    return f"{name}: Keras {ratio.describe()}; {verdict}"
