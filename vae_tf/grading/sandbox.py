"""Running student code in the sandbox, and a notebook's exercise checks in particular.

Two programs run student code, each in its own sandbox (:mod:`vae_tf.grading.isolation`)
under resource limits (:mod:`vae_tf.grading.limits`):

- the notebook runner (:mod:`vae_tf.grading.notebook_runner`: nbclient and its kernel);
- the exercise worker (:mod:`vae_tf.grading.worker`), which sees a copy of the package
  without the lesson's reference answers (:mod:`vae_tf.grading.redact`).

:func:`run_in_sandbox` is the part they share: start the program under its limits with a
request on stdin, read its answer from a pipe that only the grader reads (capped in size),
stop it on a wall-clock, memory or process-count limit, and keep the tail of its output.
:func:`run_sandbox` is the exercise checks on top of it: the request comes from
:func:`vae_tf.grading.judge.make_request`, and :func:`vae_tf.grading.judge.judge` decides
every point, in the grader's own process, from the answer as plain data.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vae_tf.grading.checking import ExerciseResult
from vae_tf.grading.isolation import Isolation, find_isolation, sandbox_env, sandboxed_command
from vae_tf.grading.judge import failed_everywhere, judge, make_request
from vae_tf.grading.limits import Limits, MemoryWatchdog, kill_tree, limited_command
from vae_tf.grading.notebook_code import ExerciseCode

ANSWER_LIMIT = 50 * 1024 * 1024  # bytes read from a sandbox's answer pipe; the rest is dropped
OUTPUT_TAIL = 4000  # bytes of a sandbox's own stdout/stderr kept for the diagnosis
MAX_PROCESSES = 64  # processes in one sandbox (the kernel and nbclient need a handful)

# Every sandbox that is running, so that an interrupted grader can stop them all.
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()
_STOPPING = threading.Event()


class SandboxStopped(RuntimeError):
    """The grader is stopping (Ctrl-C, SIGTERM): no sandbox starts any more."""


def stop_all_sandboxes() -> int:
    """Kill every running sandbox and refuse new ones until :func:`allow_sandboxes`.

    Returns
    -------
    int
        How many sandboxes were running.
    """
    _STOPPING.set()
    with _RUNNING_LOCK:
        processes = list(_RUNNING)
    for process in processes:
        kill_tree(process.pid)
    return len(processes)


def allow_sandboxes() -> None:
    """Let sandboxes start again (after an interrupted run, in the same process)."""
    _STOPPING.clear()


# --------------------------------------------------------------------------- one sandboxed run


@dataclass
class SandboxRun:
    """What one sandboxed program gave back.

    ``answer`` is what it wrote on its answer pipe (``None`` when nothing; at most
    :data:`ANSWER_LIMIT` bytes, ``answer_cut`` when more came), ``stopped`` is why the
    watchdog stopped it (``"timeout"``, ``"memory"``, ``"processes"``) or ``None``, and
    ``output_tail`` the end of its stdout and stderr.
    """

    answer: bytes | None
    answer_cut: bool
    returncode: int
    stopped: str | None
    output_tail: str
    peak_mb: float
    seconds: float


class _AnswerReader:
    """Drains the answer pipe in a thread, keeping at most ``limit`` bytes."""

    def __init__(self, read_fd: int, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.cut = False
        self._limit = limit
        self._file = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(target=self._drain, name="sandbox-answer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with self._file:
            while chunk := self._file.read(65536):
                if self.size + len(chunk) > self._limit:
                    self.cut = True
                    chunk = chunk[: max(0, self._limit - self.size)]
                self.chunks.append(chunk)
                self.size += len(chunk)

    def answer(self) -> bytes | None:
        self._thread.join(timeout=10)
        return b"".join(self.chunks) if self.size else None


def _output_tail(path: Path) -> str:
    """The last :data:`OUTPUT_TAIL` bytes of a log file, never the whole of it."""
    with open(path, "rb") as file:
        file.seek(max(0, file.seek(0, os.SEEK_END) - OUTPUT_TAIL))
        return file.read().decode("utf-8", "replace")


def _host_scratch(workdir: Path, env: dict[str, str], package: Path | None) -> dict[str, str]:
    """Under ``--isolation none``: a scratch HOME on the host and the package to import."""
    home = workdir / "home"
    home.mkdir()
    env = {**env, "HOME": str(home), "TMPDIR": str(workdir / "tmp")}
    (workdir / "tmp").mkdir()
    if package is not None:
        env["PYTHONPATH"] = str(package.parent)
    return env


def run_in_sandbox(
    program: list[str],
    *,
    request: bytes,
    isolation: Isolation,
    limits: Limits,
    timeout: float,
    env: dict[str, str],
    package: Path | None = None,
    answer_limit: int = ANSWER_LIMIT,
    memory_margin_mb: int = 0,
) -> SandboxRun:
    """Run ``program`` (which gets ``--result-fd N`` appended) in a sandbox and collect its answer.

    Parameters
    ----------
    program : list of str
        The command inside the sandbox, e.g. ``[python, "-m", "vae_tf.grading.worker"]``.
    request : bytes
        Written to the program's stdin, which is then closed.
    isolation : Isolation
        From :func:`vae_tf.grading.isolation.find_isolation`.
    limits : Limits
        Set on the sandbox before it starts; ``limits.memory_mb`` is also the watchdog's
        limit on the resident memory of the whole sandbox.
    timeout : float
        Wall-clock limit in seconds; the sandbox and all it started are killed after it.
    env : dict
        The whole environment inside (see :func:`vae_tf.grading.isolation.sandbox_env`).
    package : Path, optional
        Mounted read-only over the ``vae_tf`` package (the worker's redacted copy).
    answer_limit : int
        Bytes of the answer kept; the rest is read and dropped.
    memory_margin_mb : int
        Added to ``limits.memory_mb`` for the watchdog on the whole sandbox (room for a
        program such as nbclient that watches a kernel under the plain limit itself).

    Returns
    -------
    SandboxRun

    Raises
    ------
    SandboxStopped
        When the grader is stopping (:func:`stop_all_sandboxes`): no new sandbox starts.
    """
    start = time.monotonic()
    if _STOPPING.is_set():
        raise SandboxStopped("the grader is stopping")
    # With --isolation none the scratch folders are here, and hold whatever the student's
    # code left (a file it made read-only, say): removing them must not fail the row.
    with tempfile.TemporaryDirectory(
        prefix="vae-tf-sandbox-", ignore_cleanup_errors=True
    ) as workdir_name:
        workdir = Path(workdir_name)
        read_fd, write_fd = os.pipe()
        if isolation.name != "bwrap":
            env = _host_scratch(workdir, env, package)
            (workdir / "work").mkdir()
        command = sandboxed_command(
            isolation, [*program, "--result-fd", str(write_fd)], env=env, package=package
        )
        log_path = workdir / "output.log"
        with open(log_path, "wb") as log:
            try:
                process = subprocess.Popen(
                    limited_command(command, limits),
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=workdir / "work" if isolation.name != "bwrap" else workdir,
                    env=env,  # bwrap's own /proc/PID/environ is visible inside: keep it clean
                    pass_fds=(write_fd,),
                    start_new_session=True,
                )
            finally:
                os.close(write_fd)
            with _RUNNING_LOCK:
                _RUNNING.add(process)
            if _STOPPING.is_set():  # stopped while this one started: it must not run
                kill_tree(process.pid)
            reader = _AnswerReader(read_fd, answer_limit)
            watchdog = MemoryWatchdog(
                lambda: process.pid,
                memory_mb=limits.memory_mb and limits.memory_mb + memory_margin_mb,
                deadline_s=timeout,
                max_processes=MAX_PROCESSES,
            )
            try:
                with watchdog:
                    _feed(process, request)
                    try:
                        returncode = process.wait(timeout=timeout + 10)
                    except subprocess.TimeoutExpired:
                        watchdog.reason = watchdog.reason or "timeout"
                        kill_tree(process.pid)
                        returncode = process.wait()
                if isolation.name != "bwrap":
                    # No PID namespace to end them: stop what the program left in its group.
                    _kill_group(process.pid)
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(process)
            answer = reader.answer()
        output_tail = _output_tail(log_path)
    return SandboxRun(
        answer=answer,
        answer_cut=reader.cut,
        returncode=returncode,
        stopped=watchdog.reason,
        output_tail=output_tail,
        peak_mb=watchdog.peak_mb,
        seconds=time.monotonic() - start,
    )


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _feed(process: subprocess.Popen, request: bytes) -> None:
    """Write the request on stdin and close it; a program that stopped reading is its problem."""
    assert process.stdin is not None
    try:
        process.stdin.write(request)
        process.stdin.close()
    except (BrokenPipeError, OSError):
        pass


# --------------------------------------------------------------------------- the exercise checks


@dataclass
class SandboxResult:
    """What the sandbox reported for one notebook's exercise checks.

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


def _why_no_answer(run: SandboxRun, timeout: float, memory_mb: int | None) -> tuple[str, str]:
    """Status and reason when the worker gave no usable answer."""
    if run.stopped == "timeout":
        return "timeout", f"the checks did not finish within {timeout:g} s (time limit)"
    if run.stopped == "memory":
        return "memory", f"the checks used more than {memory_mb} MB of memory (memory limit)"
    if run.stopped == "processes":
        return "crashed", f"the exercise code started more than {MAX_PROCESSES} processes"
    if "MemoryError" in run.output_tail or "bad_alloc" in run.output_tail:
        return "memory", f"the checks ran out of memory (limit {memory_mb} MB)"
    if run.answer_cut:
        return "crashed", f"the checks' answer was larger than {ANSWER_LIMIT} bytes"
    return "crashed", (
        f"the process running the checks ended without a report (exit code {run.returncode}); "
        "does the exercise code call exit() or crash the interpreter?"
    )


def run_sandbox(
    code: ExerciseCode,
    *,
    timeout: float = 300,
    memory_mb: int | None = 4096,
    env: dict[str, str] | None = None,
    seed: int | None = None,
    isolation: Isolation | None = None,
    package: Path | None = None,
) -> SandboxResult:
    """Run the checks of ``code.lesson`` on the exercise cells of ``code`` in a sandbox.

    Parameters
    ----------
    code : ExerciseCode
        From :func:`vae_tf.grading.notebook_code.extract_exercise_code`.
    timeout : float
        Wall-clock limit for the whole run, in seconds.
    memory_mb : int or None
        Memory limit in MiB (``RLIMIT_DATA`` plus a resident-memory watchdog); ``None`` for none.
    env : dict, optional
        Variables added to the sandbox's scrubbed environment (e.g. ``VAE_TF_FAST``); the
        grader's own environment never goes in.
    seed : int, optional
        The secret seed the worker draws its inputs from; a fresh random one by default.
    isolation : Isolation, optional
        Bubblewrap when it runs here, else plain processes, by default (the grader always
        passes the isolation the instructor asked for).
    package : Path, optional
        A redacted copy of the package (:func:`vae_tf.grading.redact.redacted_package`) for
        ``code.lesson``, made once per lesson by the grader; made here when not given.

    Returns
    -------
    SandboxResult
        Never raises for anything the student's code does.
    """
    from vae_tf.grading.redact import redacted_package

    start = time.monotonic()
    seed = secrets.randbits(63) if seed is None else seed
    if not code.lesson:
        return SandboxResult(None, {}, status="crashed", message="the notebook's lesson is unknown")
    isolation = isolation or find_isolation("auto")
    with tempfile.TemporaryDirectory(prefix="vae-tf-redacted-") as copy:
        run = run_in_sandbox(
            [sys.executable, "-m", "vae_tf.grading.worker"],
            request=make_request(code, seed),
            isolation=isolation,
            limits=Limits(memory_mb=memory_mb, cpu_seconds=_cpu_seconds(timeout)),
            timeout=timeout,
            env=sandbox_env(env),
            package=package or redacted_package(code.lesson, Path(copy)),
        )
    seconds = time.monotonic() - start
    if run.answer is not None and not run.answer_cut and run.stopped is None:
        return SandboxResult(code.lesson, judge(code, seed, run.answer), seconds=seconds)
    status, reason = _why_no_answer(run, timeout, memory_mb)
    exercises = failed_everywhere(code.lesson, reason)
    return SandboxResult(code.lesson, exercises, status=status, message=reason, seconds=seconds)


def _cpu_seconds(timeout: float) -> int:
    """The CPU-time backstop: every core busy for the whole wall-clock limit, plus a margin."""
    return int(timeout * (os.cpu_count() or 1)) + 30


# --------------------------------------------------------------------------- one notebook's job


@dataclass(frozen=True)
class JobSettings:
    """What every notebook job of one grading run shares: limits, isolation, the secret seed.

    Plain data, so that a job can be sent to a Dask worker (:mod:`vae_tf.grading.cluster`).
    """

    isolation: Isolation
    timeout: float
    cell_timeout: float
    memory_mb: int | None
    fast: bool
    lesson: str | None
    seed: int = field(repr=False)  # secret: never written or printed anywhere
    # Where the job makes the redacted packages: the run's scratch folder when it runs in the
    # grader's process; None on a remote worker (a folder of the worker's, see below).
    packages_dir: str | None = None


@dataclass(frozen=True)
class NotebookJob:
    """One submitted notebook to grade, as bytes already read by the grader (see ``grader``)."""

    student: str
    label: str  # the file as submitted, relative to SUBMISSIONS
    file_stem: str
    file_name: str  # the notebook's own file name, for messages
    raw: bytes = field(repr=False)
    settings: JobSettings


@dataclass
class JobResult:
    """What a notebook job gives back: the student's row and the executed notebook as HTML.

    ``html`` is ``None`` when the notebook did not run (invalid, wrong lesson...);
    ``warning`` says why an HTML that should exist could not be made.
    """

    row: Any  # vae_tf.grading.grader.StudentRow
    html: str | None = None
    warning: str = ""


# Redacted packages made in this process, per (folder, lesson): made once, and, when no
# folder is given (a Dask worker), in a temporary folder removed when the process ends.
_PACKAGES: dict[tuple[str | None, str], Path] = {}
_PACKAGES_LOCK = threading.Lock()
_PACKAGES_DIR: tempfile.TemporaryDirectory | None = None


def process_redacted_package(lesson: str, folder: str | None = None) -> Path:
    """The package without ``lesson``'s reference answers, made once in ``folder``."""
    global _PACKAGES_DIR
    from vae_tf.grading.redact import redacted_package

    with _PACKAGES_LOCK:
        key = (folder, lesson)
        if key not in _PACKAGES or not _PACKAGES[key].exists():
            if folder is None and _PACKAGES_DIR is None:
                _PACKAGES_DIR = tempfile.TemporaryDirectory(prefix="vae-tf-worker-redacted-")
            where = Path(folder or _PACKAGES_DIR.name) / lesson
            _PACKAGES[key] = redacted_package(lesson, where)
        return _PACKAGES[key]


def isolation_here(isolation: Isolation) -> Isolation:
    """``isolation`` as it runs on this machine: a worker's bubblewrap may live elsewhere.

    Raises :class:`vae_tf.grading.isolation.IsolationUnavailable` (the job's row then says
    why) when the grader asked for bubblewrap and it cannot run on this worker.
    """
    if isolation.name != "bwrap" or (isolation.bwrap and os.path.exists(isolation.bwrap)):
        return isolation
    return find_isolation("bwrap")


def run_notebook_job(
    job: NotebookJob, *, package_for: Callable[[str], Path] | None = None
) -> JobResult:
    """Grade one notebook: execute it in its sandbox, run its checks in another, make its row.

    The one per-notebook job of ``vae-tf grade``, run in a grader thread (``--jobs 1``) or
    on a Dask worker (``--jobs N``, ``--scheduler``); it writes nothing, the grader writes
    the row, the feedback and ``html`` as each job finishes.

    Parameters
    ----------
    job : NotebookJob
    package_for : callable, optional
        ``lesson -> redacted package``; by default :func:`process_redacted_package` in
        ``job.settings.packages_dir``.
    """
    from vae_tf.config import FAST_ENV
    from vae_tf.grading.grader import (
        StudentRow,
        _fill_points,
        csv_safe,
        execute_notebook,
        render_html,
    )
    from vae_tf.grading.notebook_code import (
        NotebookError,
        extract_exercise_code,
        read_notebook_text,
    )

    start = time.monotonic()
    settings = job.settings
    isolation = isolation_here(settings.isolation)

    def row_of(lesson: str | None, status: str, detail: str = "") -> StudentRow:
        return StudentRow(
            job.student,
            lesson,
            status,
            detail=detail,
            submission=job.label,
            file_stem=job.file_stem,
        )

    try:
        notebook = read_notebook_text(job.raw.decode("utf-8"), name=csv_safe(job.label))
    except (NotebookError, UnicodeDecodeError, ValueError) as error:
        return JobResult(row_of(None, "invalid-notebook", str(error)[:600]))
    # The exercise code is taken now, from the bytes as submitted, before any student code
    # runs: nothing the kernel does later can change what is graded.
    code = extract_exercise_code(notebook, path=job.file_name)
    if code.lesson is None:
        return JobResult(row_of(settings.lesson, "unknown-lesson"))
    if settings.lesson and code.lesson != settings.lesson:
        row = row_of(
            settings.lesson,
            "wrong-lesson",
            f"this is a notebook of lesson {code.lesson}; lesson {settings.lesson} is graded",
        )
        _fill_points(row, settings.lesson, None, reason=row.detail)
        return JobResult(row)
    execution = execute_notebook(
        notebook,
        isolation=isolation,
        timeout=settings.timeout,
        cell_timeout=settings.cell_timeout,
        memory_mb=settings.memory_mb,
        fast=settings.fast,
    )
    html, warning = None, ""
    try:
        html = render_html(execution.notebook, isolation=isolation)
    except SandboxStopped:
        raise
    except Exception as error:  # noqa: BLE001 - a broken output must not cost the grade
        warning = f"executed HTML not written: {error}"
    result = run_sandbox(
        code,
        timeout=settings.timeout,
        memory_mb=settings.memory_mb,
        env={FAST_ENV: "1"} if settings.fast else None,
        seed=settings.seed,
        isolation=isolation,
        package=package_for(code.lesson)
        if package_for
        else process_redacted_package(code.lesson, settings.packages_dir),
    )
    row = row_of(code.lesson, execution.status, execution.detail)
    row.execution_seconds = execution.seconds
    if result.status != "ok":
        sandbox_status = {"crashed": "kernel-died"}.get(result.status, result.status)
        if row.status in {"ok", "error"}:
            row.status = sandbox_status
        row.detail = "; ".join(filter(None, [row.detail, f"checks: {result.message}"]))
    _fill_points(row, code.lesson, result)
    row.seconds = time.monotonic() - start
    return JobResult(row, html, warning)
