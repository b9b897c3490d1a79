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

Run as ``python -m vae_tf.grading.limits --memory-mb M -- command ...`` this module sets
the limit and replaces itself with ``command`` (same process id), which is how the grader
starts the Jupyter kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence

MEBIBYTE = 1024 * 1024


def apply_memory_limit(memory_mb: int | None) -> None:
    """Limit this process's private writable memory (``RLIMIT_DATA``) to ``memory_mb`` MiB."""
    if not memory_mb:
        return
    import resource

    limit = int(memory_mb) * MEBIBYTE
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    # No core dumps of student processes in the submissions' temporary folders.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def limited_command(command: Sequence[str], memory_mb: int | None) -> list[str]:
    """``command`` wrapped so that it starts under the memory limit."""
    if not memory_mb:
        return list(command)
    return [
        sys.executable,
        "-m",
        "vae_tf.grading.limits",
        "--memory-mb",
        str(int(memory_mb)),
        "--",
        *command,
    ]


def tree_rss(pid: int) -> int:
    """Resident memory, in bytes, of process ``pid`` and all its descendants (0 if gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def kill_tree(pid: int) -> None:
    """Kill process ``pid`` and every descendant, children first; quiet if already gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = root.children(recursive=True) + [root]
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
    resident memory exceeds ``memory_mb`` or ``deadline_s`` seconds pass, the tree is killed
    and :attr:`reason` becomes ``"memory"`` or ``"timeout"``. :attr:`peak_mb` records the
    largest resident size seen.
    """

    def __init__(
        self,
        pid_getter: Callable[[], int | None],
        *,
        memory_mb: int | None,
        deadline_s: float | None,
        interval_s: float = 0.2,
    ) -> None:
        self.pid_getter = pid_getter
        self.memory_mb = memory_mb
        self.deadline_s = deadline_s
        self.interval_s = interval_s
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
            rss_mb = tree_rss(pid) / MEBIBYTE
            self.peak_mb = max(self.peak_mb, rss_mb)
            if self.memory_mb and rss_mb > self.memory_mb:
                self.reason = "memory"
            elif self.deadline_s is not None and time.monotonic() - self._start > self.deadline_s:
                self.reason = "timeout"
            if self.reason:
                kill_tree(pid)
                return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vae_tf.grading.limits",
        description="Run a command under a memory limit (RLIMIT_DATA), replacing this process.",
    )
    parser.add_argument("--memory-mb", type=int, required=True, help="limit in MiB")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command [args ...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    apply_memory_limit(args.memory_mb)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
