"""Operating-system limits for untrusted student code: memory, and a watchdog.

Why ``RLIMIT_DATA`` and not ``RLIMIT_AS``: TensorFlow maps far more address space than it
uses. Measured on Linux x86-64 with TensorFlow 2.21 (CPU): ``import tensorflow`` leaves
about 820 MB resident but 1.8 GB of address space; after a small Keras ``fit`` the figures
are 930 MB and 2.9 GB. Under ``RLIMIT_AS`` = 1000 MB the import aborts with
``std::bad_alloc``, at 1500 MB it raises ``MemoryError``. ``RLIMIT_DATA`` (private writable
memory: heap and anonymous mappings, which is where NumPy and TensorFlow buffers live)
lets the import and the fit run under 1500 MB, and a 20 GB ``np.ones`` or a growing list
of arrays fails at once with ``MemoryError``. Since Linux 4.7 anonymous ``mmap`` counts
toward it. A process can spawn children that each get the same limit, so the grader also
runs :class:`MemoryWatchdog`, which sums the resident memory of the whole process tree and
kills it when the sum passes the limit.

:func:`limited_command` puts a small exec wrapper in front of a command: it sets the
limits of :class:`Limits` and replaces itself with the command (same process id). The
grader starts every sandbox that way; no ``preexec_fn`` anywhere.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MEBIBYTE = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits on every process that runs student code (``setrlimit``, inherited).

    ``memory_mb`` is ``RLIMIT_DATA`` (see the module docstring); ``cpu_seconds`` is
    ``RLIMIT_CPU`` per process (a backstop behind the wall-clock watchdog: TensorFlow uses
    several cores, so give it a multiple of the wall-clock limit); ``file_mb`` is
    ``RLIMIT_FSIZE`` (no single file, the captured output included, grows past it: a write
    beyond fails with ``EFBIG``, or ``SIGXFSZ`` ends a program that does not ignore it);
    ``processes`` is ``RLIMIT_NPROC``, a backstop against a fork bomb only: Linux counts it
    over all of the user's processes and threads (so it is generous) and does not enforce
    it for root; the sandbox's watchdog counts processes per sandbox. Core dumps are off.
    """

    memory_mb: int | None = 4096
    cpu_seconds: int | None = None
    file_mb: int | None = 64
    processes: int | None = 16384

    def rlimits(self) -> list[tuple[str, int]]:
        """``(RLIMIT name, value)`` pairs, the value in the limit's own unit."""
        pairs = [("RLIMIT_CORE", 0)]
        if self.memory_mb:
            pairs.append(("RLIMIT_DATA", int(self.memory_mb) * MEBIBYTE))
        if self.cpu_seconds:
            pairs.append(("RLIMIT_CPU", int(self.cpu_seconds)))
        if self.file_mb:
            pairs.append(("RLIMIT_FSIZE", int(self.file_mb) * MEBIBYTE))
        if self.processes:
            pairs.append(("RLIMIT_NPROC", int(self.processes)))
        return pairs


# The exec wrapper: a few lines of Python run with -I -S (no site, no user paths, fast), so
# that the limits are set in the child between fork and exec without ``preexec_fn``,
# which is unsafe in a process that runs threads (the grader's --jobs and watchdogs).
_WRAPPER = """\
import os, resource, sys
separator = sys.argv.index("--")
for pair in sys.argv[1:separator]:
    name, value = pair.split("=")
    limit = int(value)
    _soft, hard = resource.getrlimit(getattr(resource, name))
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(getattr(resource, name), (limit, limit))
os.execvp(sys.argv[separator + 1], sys.argv[separator + 1:])
"""


def limited_command(command: Sequence[str], limits: Limits | int | None) -> list[str]:
    """``command`` wrapped so that it starts under ``limits`` (an int is a memory limit in MiB).

    The wrapper replaces itself with ``command`` (same process id), so a watchdog on the
    returned process watches ``command``.
    """
    if limits is None or isinstance(limits, int):
        limits = Limits(memory_mb=limits or None)
    pairs = [f"{name}={value}" for name, value in limits.rlimits()]
    return [sys.executable, "-I", "-S", "-c", _WRAPPER, *pairs, "--", *command]


def tree_usage(pid: int) -> tuple[int, int]:
    """Resident memory in bytes and number of processes of ``pid`` and its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total, len(processes)


def kill_tree(pid: int) -> None:
    """Kill process ``pid`` and every descendant; quiet if already gone.

    The tree is listed first, then the root is killed first: for a bubblewrap sandbox that
    ends its whole PID namespace at once (``--die-with-parent``), however many processes a
    fork bomb made; the listed descendants are then killed one by one (plain processes).
    """
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(processes, timeout=5)


class MemoryWatchdog:
    """A thread that enforces a wall-clock limit and a resident-memory limit on a process tree.

    ``pid_getter`` returns the root pid (or ``None`` before it exists). When the tree's
    resident memory exceeds ``memory_mb``, it holds more than ``max_processes`` processes or
    ``deadline_s`` seconds pass, the tree is killed and :attr:`reason` becomes ``"memory"``,
    ``"processes"`` or ``"timeout"``. :attr:`peak_mb` records the
    largest resident size seen.
    """

    def __init__(
        self,
        pid_getter: Callable[[], int | None],
        *,
        memory_mb: int | None,
        deadline_s: float | None,
        interval_s: float = 0.2,
        max_processes: int | None = None,
    ) -> None:
        self.pid_getter = pid_getter
        self.memory_mb = memory_mb
        self.deadline_s = deadline_s
        self.interval_s = interval_s
        self.max_processes = max_processes
        self.reason: str | None = None
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watchdog", daemon=True)
        self._start = 0.0

    def __enter__(self) -> MemoryWatchdog:
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            pid = self.pid_getter()
            if pid is None:
                continue
            rss, count = tree_usage(pid)
            rss_mb = rss / MEBIBYTE
            self.peak_mb = max(self.peak_mb, rss_mb)
            if self.memory_mb and rss_mb > self.memory_mb:
                self.reason = "memory"
            elif self.max_processes and count > self.max_processes:
                self.reason = "processes"
            elif self.deadline_s is not None and time.monotonic() - self._start > self.deadline_s:
                self.reason = "timeout"
            if self.reason:
                kill_tree(pid)
                return
