"""Running a notebook's exercise checks in a fresh process that the student's kernel never saw.

The parent (the grader, or pytest) extracts the exercise cells from the notebook's source
(:mod:`vae_tf.notebook_code`) and starts ``python -m vae_tf.grading.sandbox``. The child:

1. reads the code from stdin and takes references to the lesson's check functions
   *before* any student code runs, so that replacing ``vae_tf.grading.run_checks`` or a
   registry entry from inside the exercise code changes nothing;
2. runs the exercise cells, in notebook order, in one fresh namespace;
3. runs each check on the student's object, catching anything it raises;
4. writes the results as JSON to a pipe that only the parent reads (not stdout, so
   printing fake results does nothing) and ends with ``os._exit`` (so ``atexit`` hooks of
   the student's code cannot run).

The child runs with a wall-clock limit, a memory limit (``RLIMIT_DATA``, see
:mod:`vae_tf.grading.limits`), in its own session and in an empty temporary folder.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vae_tf.grading.limits import MemoryWatchdog, apply_memory_limit, kill_tree
from vae_tf.notebook_code import ExerciseCode, exercise_code_from_path

MESSAGE_LIMIT = 2000


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    message: str = ""


@dataclass
class ExerciseOutcome:
    """The checks of one exercise as run in the sandbox."""

    exercise: str
    checks: list[CheckOutcome] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(check.passed for check in self.checks)

    @property
    def max_points(self) -> int:
        return len(self.checks)

    def failures(self) -> list[CheckOutcome]:
        return [check for check in self.checks if not check.passed]


@dataclass
class SandboxResult:
    """What the sandbox reported for one notebook.

    ``status`` is ``ok`` when the checks ran to the end, else ``timeout``, ``memory`` or
    ``crashed`` (the process ended without reporting); in those cases every check of every
    exercise counts as failed, with ``message`` as the reason.
    """

    lesson: str | None
    exercises: dict[str, ExerciseOutcome]
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
    from vae_tf.grading.registry import exercises_of_lesson

    exercises = {}
    for ex in exercises_of_lesson(code.lesson) if code.lesson else []:
        exercises[ex.name] = ExerciseOutcome(
            ex.name, [CheckOutcome(check.name, False, message) for check in ex.checks]
        )
    return SandboxResult(code.lesson, exercises, status=status, message=message, seconds=seconds)


def _parse_report(code: ExerciseCode, report: dict, seconds: float) -> SandboxResult:
    exercises = {}
    for name, checks in report["exercises"].items():
        exercises[name] = ExerciseOutcome(
            name,
            [CheckOutcome(str(c["name"]), bool(c["passed"]), str(c["message"])) for c in checks],
        )
    return SandboxResult(code.lesson, exercises, status="ok", seconds=seconds)


def run_sandbox(
    code: ExerciseCode,
    *,
    timeout: float = 300,
    memory_mb: int | None = 4096,
    env: dict[str, str] | None = None,
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

    Returns
    -------
    SandboxResult
        Never raises for anything the student's code does.
    """
    start = time.monotonic()
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
                    [sys.executable, "-m", "vae_tf.grading.sandbox", "--result-fd", str(write_fd)],
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
                    process.stdin.write(code.to_json().encode("utf-8"))
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
    try:
        report = json.loads(b"".join(chunks).decode("utf-8"))
        return _parse_report(code, report, seconds)
    except (ValueError, KeyError, TypeError):
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


# --------------------------------------------------------------------------- child side


def _truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return (
        text
        if len(text) <= limit
        else text[:limit] + f"\n... ({len(text) - limit} more characters cut)"
    )


def _describe(error: BaseException, describe: Any, cells: list[tuple[str, str]]) -> str:
    """Plain words for a failed check, pointing only at the student's lines.

    Frames inside the checks are never shown: they would leak the hidden tests.
    """
    if isinstance(error, (NotImplementedError, AssertionError)):
        return describe(error)
    import traceback

    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith("<exercise cell "):
            index = int(frame.filename.split()[2].rstrip(":")) - 1
            lines = cells[index][1].splitlines()
            line = lines[frame.lineno - 1].strip() if 0 < (frame.lineno or 0) <= len(lines) else "?"
            where = f" (in your exercise cell, line {frame.lineno}: {line})"
            break
    return f"your code raised {type(error).__name__}: {error}{where}"


def _child(result_fd: int) -> None:
    # Take everything the grading needs before the student's code can touch it.
    result_file = os.fdopen(os.dup(result_fd), "w", encoding="utf-8")
    os.close(result_fd)
    code = ExerciseCode.from_json(sys.stdin.read())
    from vae_tf.grading import checking, registry

    describe = checking._describe_exception
    plan = [
        (ex.name, ex.symbol, [(check.name, check.function) for check in ex.checks])
        for ex in registry.exercises_of_lesson(code.lesson)
    ]
    write, dumps, exit_now = result_file.write, json.dumps, os._exit

    sys.stdin = io.StringIO("")
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    cell_errors: dict[str, str] = {}
    for index, (name, source) in enumerate(code.cells):
        try:
            exec(compile(source, f"<exercise cell {index + 1}: {name}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - SystemExit too: it is the student's code
            cell_errors.setdefault(name, f"{type(error).__name__}: {error}")

    report: dict[str, list[dict]] = {}
    for name, symbol, checks in plan:
        outcomes = []
        obj = namespace.get(symbol)
        for check_name, function in checks:
            if obj is None:
                why = (
                    f"`{symbol}` is not defined: running the exercise cell raised "
                    f"{cell_errors[name]}"
                    if name in cell_errors
                    else f"`{symbol}` is not defined: no exercise cell for '{name}' defines it"
                )
                outcomes.append({"name": check_name, "passed": False, "message": why})
                continue
            try:
                function(obj)
            except BaseException as error:  # noqa: BLE001 - a failing or exiting check costs the point
                message = _truncate(_describe(error, describe, code.cells))
                outcomes.append({"name": check_name, "passed": False, "message": message})
            else:
                outcomes.append({"name": check_name, "passed": True, "message": ""})
        report[name] = outcomes
    write(dumps({"exercises": report}))
    result_file.flush()
    exit_now(0)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m vae_tf.grading.sandbox",
        description="Internal: run exercise checks on code read from stdin (used by the grader).",
    )
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args(argv)
    _child(args.result_fd)


if __name__ == "__main__":
    main()
