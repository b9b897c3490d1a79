"""Running a notebook's exercise checks in a fresh process that the student's kernel never saw.

The parent (the grader, or pytest) extracts the exercise cells from the notebook's source
(:mod:`vae_tf.notebook_code`) and starts the worker, ``python -m vae_tf.grading.worker``,
with a request from :func:`vae_tf.grading.judge.make_request` on its stdin. The worker's
answer comes back on a pipe that only the parent reads, and :func:`vae_tf.grading.judge.judge`
decides every point from it in the parent.

The child runs with a wall-clock limit, a memory limit (``RLIMIT_DATA``, see
:mod:`vae_tf.grading.limits`), in its own session and in an empty temporary folder.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vae_tf.grading.checking import ExerciseResult
from vae_tf.grading.judge import failed_everywhere, judge, make_request
from vae_tf.grading.limits import MemoryWatchdog, apply_memory_limit, kill_tree
from vae_tf.notebook_code import ExerciseCode, exercise_code_from_path


@dataclass
class SandboxResult:
    """What the sandbox reported for one notebook.

    ``status`` is ``ok`` when the worker answered, else ``timeout``, ``memory`` or
    ``crashed`` (the process ended without answering); in those cases every check of every
    exercise counts as failed, with ``message`` as the reason.
    """

    lesson: str | None
    exercises: dict[str, ExerciseResult]
    status: str = "ok"
    message: str = ""
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(outcome.points for outcome in self.exercises.values())

    @property
    def max_points(self) -> int:
        return sum(outcome.max_points for outcome in self.exercises.values())


# --------------------------------------------------------------------------- parent side


def _failed_everywhere(
    code: ExerciseCode, status: str, message: str, seconds: float
) -> SandboxResult:
    exercises = failed_everywhere(code.lesson, message)
    return SandboxResult(code.lesson, exercises, status=status, message=message, seconds=seconds)


def run_sandbox(
    code: ExerciseCode,
    *,
    timeout: float = 300,
    memory_mb: int | None = 4096,
    env: dict[str, str] | None = None,
    seed: int | None = None,
) -> SandboxResult:
    """Run the checks of ``code.lesson`` on the exercise cells of ``code`` in a fresh process.

    Parameters
    ----------
    code : ExerciseCode
        From :func:`vae_tf.notebook_code.extract_exercise_code`.
    timeout : float
        Wall-clock limit for the whole run, in seconds.
    memory_mb : int or None
        Memory limit in MiB (``RLIMIT_DATA`` plus a resident-memory watchdog); ``None`` for none.
    env : dict, optional
        Environment of the child; the parent's by default.
    seed : int, optional
        The secret seed the worker draws its inputs from; a fresh random one by default.

    Returns
    -------
    SandboxResult
        Never raises for anything the student's code does.
    """
    start = time.monotonic()
    seed = secrets.randbits(63) if seed is None else seed
    if not code.lesson:
        return SandboxResult(None, {}, status="crashed", message="the notebook's lesson is unknown")
    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []

    def drain() -> None:
        with os.fdopen(read_fd, "rb") as reader:
            while True:
                chunk = reader.read(65536)
                if not chunk:
                    return
                if sum(map(len, chunks)) < 50 * 1024 * 1024:
                    chunks.append(chunk)

    reader_thread = threading.Thread(target=drain, daemon=True)
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("MPLBACKEND", "Agg")
    child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="vae-tf-sandbox-") as workdir:
        log_path = Path(workdir) / "output.log"
        cwd = Path(workdir) / "cwd"
        cwd.mkdir()
        with open(log_path, "wb") as log:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "vae_tf.grading.worker", "--result-fd", str(write_fd)],
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=cwd,
                    env=child_env,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                    preexec_fn=lambda: apply_memory_limit(memory_mb),
                )
            finally:
                os.close(write_fd)
            reader_thread.start()
            watchdog = MemoryWatchdog(lambda: process.pid, memory_mb=memory_mb, deadline_s=timeout)
            with watchdog:
                try:
                    process.stdin.write(make_request(code, seed))
                    process.stdin.close()
                except (BrokenPipeError, OSError):
                    pass
                try:
                    returncode = process.wait(timeout=timeout + 10)
                except subprocess.TimeoutExpired:
                    kill_tree(process.pid)
                    returncode = process.wait()
                    watchdog.reason = watchdog.reason or "timeout"
            reader_thread.join(timeout=10)
        output_tail = log_path.read_bytes()[-2000:].decode("utf-8", "replace")
    seconds = time.monotonic() - start
    if watchdog.reason == "timeout":
        return _failed_everywhere(
            code, "timeout", f"the checks did not finish within {timeout:g} s (time limit)", seconds
        )
    if watchdog.reason == "memory":
        return _failed_everywhere(
            code,
            "memory",
            f"the checks used more than {memory_mb} MB of memory (memory limit)",
            seconds,
        )
    if chunks:
        return SandboxResult(code.lesson, judge(code, seed, b"".join(chunks)), seconds=seconds)
    else:
        memory_hint = "MemoryError" in output_tail or "bad_alloc" in output_tail
        status = "memory" if memory_hint else "crashed"
        reason = (
            f"the checks ran out of memory (limit {memory_mb} MB)"
            if memory_hint
            else f"the process running the checks ended without a report (exit code {returncode}); "
            "does the exercise code call exit() or crash the interpreter?"
        )
        return _failed_everywhere(code, status, reason, seconds)


def run_notebook_checks(
    path: str | Path, *, timeout: float = 300, memory_mb: int | None = 4096
) -> SandboxResult:
    """Read the notebook at ``path`` and run its lesson's checks in the sandbox."""
    return run_sandbox(exercise_code_from_path(path), timeout=timeout, memory_mb=memory_mb)
