"""Grading a folder of student notebooks: ``vae-tf grade SUBMISSIONS --out OUT``.

For each ``SUBMISSIONS/*.ipynb`` (the student is the file name without ``.ipynb``):

1. the file is opened once, without following links, and read (size-capped) if it is a
   regular file; anything else named ``*.ipynb`` gets the status ``not-a-file``. The
   submissions folder is never written to, and no sandbox sees it;
2. the notebook is executed by nbclient and its kernel together, inside a sandbox
   (:mod:`vae_tf.grading.isolation`, :mod:`vae_tf.grading.notebook_runner`) with a time
   limit per cell and per notebook and a memory limit; the executed notebook comes back as
   capped, validated data for the HTML;
3. the lesson's checks run against the exercise cells *as submitted* in another sandbox
   (:func:`vae_tf.grading.sandbox.run_sandbox`) on inputs drawn from a secret seed drawn
   once per run, and the judge decides every point in this process from plain data;
4. ``OUT/gradebook.csv`` (one row per student, one column per exercise),
   ``OUT/feedback/<student>.md`` (the reason for every lost point),
   ``OUT/executed/<student>.html`` (the executed notebook) and ``OUT/isolation.txt`` (the
   isolation that ran) are written.

Statuses: see :data:`STATUS_MEANING`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vae_tf._files import write_atomically
from vae_tf.config import FAST_ENV
from vae_tf.grading.isolation import Isolation, IsolationUnavailable, find_isolation

STATUS_MEANING = {
    "ok": "the notebook ran from top to bottom without errors",
    "error": "some cells raised errors when the notebook ran; the exercises were still graded",
    "timeout": "a cell, the whole notebook or the checks took longer than the time limit and were "
    "stopped; the exercises were still graded from the submitted code",
    "memory": "the notebook or the checks used more memory than allowed and were stopped; "
    "the exercises were still graded from the submitted code",
    "kernel-died": "the Python kernel stopped in the middle of the notebook (a crash, or a call "
    "such as os._exit or sys.exit); the exercises were still graded from the submitted code",
    "invalid-notebook": "the file is not a valid Jupyter notebook (or is too large), so nothing "
    "could be graded",
    "not-a-file": "the name ends in .ipynb but it is not a regular file (a folder, a link, a "
    "FIFO...), so nothing was read or graded",
    "unknown-lesson": "the notebook does not say which lesson it belongs to and no known exercise "
    "was found in it, so nothing could be graded",
    "wrong-lesson": "the notebook belongs to another lesson than the one being graded (--lesson), "
    "so it scores 0",
    "grader-error": "the grader itself failed on this notebook; tell the instructor",
}
STATUS_ORDER = list(STATUS_MEANING)

REASON_LIMIT = 1500  # characters per lost point in the feedback
FEEDBACK_LIMIT = 20000  # characters per feedback file
SUBMISSION_LIMIT = 20 * 1024 * 1024  # bytes of one submitted notebook

# Characters a spreadsheet reads as the start of a formula, and every control character.
_FORMULA_START = ("=", "+", "-", "@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def csv_safe(text: str) -> str:
    """``text`` as a spreadsheet cell that is never a formula and never breaks a line.

    Control characters (newline, carriage return, tab...) become ``_``; a leading
    ``= + - @`` gets a ``'`` in front, as OWASP recommends against CSV injection.
    """
    text = _CONTROL.sub("_", str(text))
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass
class StudentRow:
    """The grade of one student: one row of the gradebook and the source of their feedback."""

    student: str
    lesson: str | None
    status: str
    detail: str = ""
    points: dict[str, int] = field(default_factory=dict)
    max_points: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    seconds: float = 0.0
    execution_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.points.values())

    @property
    def max_total(self) -> int:
        return sum(self.max_points.values())


# --------------------------------------------------------------------------- executing


@dataclass
class Execution:
    """A notebook's run: gradebook status and detail, the executed notebook, wall time (s)."""

    status: str
    detail: str
    notebook: Any
    seconds: float


RUNNER_STATUSES = {"ok", "error", "timeout", "memory", "kernel-died"}
RUNNER_MEMORY_MB = 400  # nbclient and the runner, beside the kernel's own limit


def _runner_request(notebook: Any) -> bytes:
    import nbformat

    return nbformat.writes(notebook).encode("utf-8")


def _executed_from_answer(answer: bytes) -> tuple[str, str, Any] | None:
    """``(status, detail, notebook)`` from the runner's answer, or ``None`` when it is unusable.

    The answer comes from inside the sandbox: its status must be a known one, its detail is
    cut, and its notebook must be a valid notebook before it is turned into HTML.
    """
    import nbformat

    try:
        data = json.loads(answer.decode("utf-8"))
        status, detail = data["status"], str(data["detail"])[:600]
        notebook = nbformat.from_dict(data["notebook"])
        nbformat.validate(notebook)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, nbformat.ValidationError):
        return None
    if status not in RUNNER_STATUSES:
        return None
    return status, detail, notebook


def execute_notebook(
    notebook: Any,
    *,
    isolation: Isolation,
    timeout: float,
    cell_timeout: float,
    memory_mb: int | None,
    fast: bool,
) -> Execution:
    """Execute ``notebook`` in the sandbox: nbclient and its kernel inside, the verdict outside.

    Returns the status and detail of the gradebook and the executed notebook (the submitted
    one, unexecuted, when the runner gave nothing back).
    """
    from vae_tf.grading.isolation import sandbox_env
    from vae_tf.grading.limits import Limits
    from vae_tf.grading.notebook_runner import ANSWER_LIMIT
    from vae_tf.grading.sandbox import run_in_sandbox

    program = [
        sys.executable,
        "-m",
        "vae_tf.grading.notebook_runner",
        "--timeout",
        str(timeout),
        "--cell-timeout",
        str(cell_timeout),
        "--memory-mb",
        str(memory_mb or 0),
    ]
    run = run_in_sandbox(
        program,
        request=_runner_request(notebook),
        isolation=isolation,
        limits=Limits(memory_mb=memory_mb, cpu_seconds=int(timeout * (os.cpu_count() or 1)) + 60),
        timeout=timeout + 30,  # the runner stops the kernel at `timeout` itself and reports
        env=sandbox_env(fast=fast),
        answer_limit=ANSWER_LIMIT + 1_000_000,
        memory_margin_mb=RUNNER_MEMORY_MB,
    )
    executed = _executed_from_answer(run.answer) if run.answer and not run.answer_cut else None
    if executed is not None and run.stopped is None:
        status, detail, notebook = executed
    elif run.stopped == "timeout":
        status, detail = "timeout", f"the notebook ran longer than {timeout:g} s (the time limit)"
    elif run.stopped == "memory":
        status, detail = "memory", f"the notebook used more than {memory_mb} MB (the memory limit)"
    elif run.stopped == "processes":
        status, detail = "kernel-died", "the notebook started too many processes and was stopped"
    else:
        status = "kernel-died"
        detail = (
            "the notebook's runner ended without a result (exit code "
            f"{run.returncode}): the kernel or a cell stopped it"
        )
    return Execution(status, detail, notebook, run.seconds)


# --------------------------------------------------------------------------- reports


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"


def _write_html(notebook: Any, path: Path) -> None:
    from nbconvert import HTMLExporter

    from vae_tf.grading.notebook_runner import cap_outputs

    exporter = HTMLExporter(sanitize_html=True)
    body, _resources = exporter.from_notebook_node(cap_outputs(notebook))
    write_atomically(path, body)


def _first_hint(exercise_name: str) -> str:
    """The first (least specific) step of the exercise's hints, or ''."""
    from vae_tf.grading.registry import all_exercises

    exercise = all_exercises().get(exercise_name)
    return exercise.hints[0] if exercise and exercise.hints else ""


def feedback_markdown(row: StudentRow, exercise_order: list[str]) -> str:
    """The feedback a student reads: status in plain words and the reason for each lost point."""
    lines = [f"# Feedback for {row.student}", ""]
    lines.append(f"- lesson: {row.lesson or 'unknown'}")
    lines.append(f"- status: **{row.status}**: {STATUS_MEANING.get(row.status, '')}")
    if row.detail:
        lines.append(f"- details: {_truncate(row.detail, 600)}")
    lines.append(f"- points: {row.total} of {row.max_total}")
    lines.append("")
    for name in [name for name in exercise_order if name in row.max_points]:
        lines.append(f"## {name}: {row.points.get(name, 0)} of {row.max_points[name]} points")
        lines.append("")
        lost = row.failures.get(name, [])
        if not lost:
            lines.append("All checks passed.")
        else:
            hints = _first_hint(name)
            if hints:
                lines.extend([f"First hint: {hints}", ""])
        for index, (check_name, reason) in enumerate(lost):
            lines.append(f"- lost 1 point: **{check_name}**")
            lines.append("")
            if index + 1 < len(lost) and lost[index + 1][1] == reason:
                continue  # the same reason as the next check (a stub): said once, after both
            lines.append("  ```text")
            lines.extend(f"  {line}" for line in _truncate(reason, REASON_LIMIT).splitlines())
            lines.append("  ```")
            lines.append("")
        lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    if len(text) > FEEDBACK_LIMIT:
        text = text[:FEEDBACK_LIMIT] + "\n\n(feedback cut here: it was too long)\n"
    return text


def gradebook_csv(rows: list[StudentRow], exercise_order: list[str]) -> str:
    """The gradebook as CSV text: student, lesson, status, one column per exercise, totals."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "lesson", "status", *exercise_order, "total", "max_total"])
    for row in sorted(rows, key=lambda row: row.student):
        cells = [
            row.points.get(name, "") if name in row.max_points else "" for name in exercise_order
        ]
        writer.writerow(
            [
                csv_safe(row.student),
                csv_safe(row.lesson or ""),
                row.status,
                *cells,
                row.total,
                row.max_total,
            ]
        )
    return buffer.getvalue()


def _exercise_order(rows: list[StudentRow]) -> list[str]:
    from vae_tf.grading.registry import exercises_of_lesson

    seen = sorted({row.lesson for row in rows if row.lesson})
    return [ex.name for lesson in seen for ex in exercises_of_lesson(lesson)]


# --------------------------------------------------------------------------- one student


class NotAFile(Exception):
    """A submission named ``*.ipynb`` that is not a regular file; the message says what it is."""


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISLNK: "a symbolic link",
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def read_submission(path: Path, limit: int = SUBMISSION_LIMIT) -> bytes:
    """The bytes of a submitted notebook, read once, never through a link.

    Raises
    ------
    NotAFile
        For a link (even to a regular file), a folder, a FIFO, a device or a link loop.
    ValueError
        For a file larger than ``limit`` bytes.
    """
    try:
        mode = os.lstat(path).st_mode
    except OSError as error:
        raise NotAFile(f"it cannot be examined: {error.strerror}") from None
    if not stat.S_ISREG(mode):
        raise NotAFile(f"it is {_kind(mode)}")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:  # replaced by a link or a FIFO since lstat
        raise NotAFile(f"it cannot be opened as a regular file: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise NotAFile(f"it is {_kind(os.fstat(file.fileno()).st_mode)}")
        raw = file.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"the file is larger than {limit // (1024 * 1024)} MB")
    return raw


def _fill_points(row: StudentRow, lesson: str, result: Any | None, reason: str = "") -> None:
    """Put one lesson's points (from the judge's ``result``, or 0 with ``reason``) in ``row``."""
    from vae_tf.grading.registry import exercises_of_lesson

    for ex in exercises_of_lesson(lesson):
        outcome = result.exercises.get(ex.name) if result is not None else None
        row.max_points[ex.name] = ex.max_points
        row.points[ex.name] = outcome.points if outcome else 0
        if outcome:
            lost = [(check.name, check.message) for check in outcome.failures()]
        else:
            lost = [(check.name, reason or "the check did not run") for check in ex.checks]
        if lost:
            row.failures[ex.name] = lost


@dataclass
class GradingRun:
    """What every submission of one run shares: limits, isolation, the secret seed."""

    out: Path
    isolation: Isolation
    timeout: float
    cell_timeout: float
    memory_mb: int | None
    fast: bool
    lesson: str | None
    seed: int = field(repr=False)  # secret: never written or printed anywhere
    scratch: Path  # the run's temporary folder (redacted packages), removed at the end
    _packages: dict[str, Path] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def redacted_package(self, lesson: str) -> Path:
        """The package without ``lesson``'s reference answers, written once per run."""
        from vae_tf.grading.redact import redacted_package

        with self._lock:
            if lesson not in self._packages:
                self._packages[lesson] = redacted_package(lesson, self.scratch / lesson)
            return self._packages[lesson]


def grade_notebook(path: Path, run: GradingRun) -> StudentRow:
    """Grade one submission and write its executed HTML under ``run.out``."""
    from vae_tf.grading.sandbox import run_sandbox
    from vae_tf.notebook_code import NotebookError, extract_exercise_code, read_notebook_text

    start = time.monotonic()
    student = path.name[: -len(".ipynb")]
    try:
        raw = read_submission(path)
        notebook = read_notebook_text(raw.decode("utf-8"), name=csv_safe(path.name))
    except NotAFile as error:
        return StudentRow(student, None, "not-a-file", detail=f"{csv_safe(path.name)}: {error}")
    except (NotebookError, UnicodeDecodeError, ValueError) as error:
        return StudentRow(student, None, "invalid-notebook", detail=str(error)[:600])
    # The exercise code is taken now, from the bytes as submitted, before any student code
    # runs: nothing the kernel does later can change what is graded.
    code = extract_exercise_code(notebook, path=path.name)
    if code.lesson is None:
        return StudentRow(student, run.lesson, "unknown-lesson")
    if run.lesson and code.lesson != run.lesson:
        row = StudentRow(
            student,
            run.lesson,
            "wrong-lesson",
            detail=f"this is a notebook of lesson {code.lesson}; lesson {run.lesson} is graded",
        )
        _fill_points(row, run.lesson, None, reason=row.detail)
        return row
    execution = execute_notebook(
        notebook,
        isolation=run.isolation,
        timeout=run.timeout,
        cell_timeout=run.cell_timeout,
        memory_mb=run.memory_mb,
        fast=run.fast,
    )
    try:
        _write_html(execution.notebook, run.out / "executed" / f"{student}.html")
    except Exception as error:  # noqa: BLE001 - a broken output must not cost the grade
        print(f"warning: {csv_safe(student)}: executed HTML not written: {error}", file=sys.stderr)
    result = run_sandbox(
        code,
        timeout=run.timeout,
        memory_mb=run.memory_mb,
        env={FAST_ENV: "1"} if run.fast else None,
        seed=run.seed,
        isolation=run.isolation,
        package=run.redacted_package(code.lesson),
    )
    row = StudentRow(
        student,
        code.lesson,
        execution.status,
        detail=execution.detail,
        execution_seconds=execution.seconds,
    )
    if result.status != "ok":
        sandbox_status = {"crashed": "kernel-died"}.get(result.status, result.status)
        if row.status in {"ok", "error"}:
            row.status = sandbox_status
        row.detail = "; ".join(filter(None, [row.detail, f"checks: {result.message}"]))
    _fill_points(row, code.lesson, result)
    row.seconds = time.monotonic() - start
    return row


# --------------------------------------------------------------------------- the whole folder


class GradingInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the grader; its sandboxes and temporary files are gone."""


def _submission_paths(submissions: Path) -> list[Path]:
    """Every non-hidden entry named ``*.ipynb``, whatever it is (files are checked later)."""
    with os.scandir(submissions) as entries:
        names = [e.name for e in entries if e.name.endswith(".ipynb") and e.name[0] != "."]
    return [submissions / name for name in sorted(names)]


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def grade(
    submissions: str | Path,
    out: str | Path,
    *,
    timeout: float = 1800,
    cell_timeout: float = 600,
    memory_mb: int | None = 4096,
    jobs: int = 1,
    fast: bool = False,
    progress: bool = True,
    isolation: str | Isolation = "bwrap",
    lesson: str | None = None,
) -> list[StudentRow]:
    """Grade every ``*.ipynb`` in ``submissions``; write the gradebook and feedback in ``out``.

    Parameters
    ----------
    submissions : path
        Folder of student notebooks; the student's name is the file name without ``.ipynb``.
        Nothing in it is written or changed.
    out : path
        Output folder (created): ``gradebook.csv``, ``feedback/<student>.md``,
        ``executed/<student>.html``, ``isolation.txt``. Must not be inside ``submissions``.
    timeout : float
        Wall-clock limit in seconds for one notebook's execution, and again for its checks.
    cell_timeout : float
        Limit in seconds for one cell.
    memory_mb : int or None
        Memory limit in MiB for the notebook's sandbox (and for the checks'); ``None`` for none.
    jobs : int
        Notebooks graded at the same time.
    fast : bool
        Set ``VAE_TF_FAST=1`` for the students' runs (fewer epochs and images).
    progress : bool
        Print one line per notebook and a summary on stderr.
    isolation : str or Isolation
        ``"bwrap"`` (the default; :class:`IsolationUnavailable` when bubblewrap cannot run,
        with what to install or change) or ``"none"`` (plain processes, chosen explicitly).
    lesson : str, optional
        The lesson being graded; a notebook of another lesson gets ``wrong-lesson``.

    Returns
    -------
    list of StudentRow
        Sorted by student.

    Raises
    ------
    GradingInterrupted
        On Ctrl-C or SIGTERM, after every sandbox is stopped and the temporary files removed.
    """
    from vae_tf.grading.registry import lessons
    from vae_tf.grading.sandbox import allow_sandboxes, stop_all_sandboxes

    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    if out == submissions or submissions in out.parents:
        raise ValueError(
            f"--out {out} is inside the submissions folder {submissions}; choose another folder"
        )
    if lesson is not None and lesson not in lessons():
        raise ValueError(f"--lesson {lesson!r} is not a lesson; choose one of {sorted(lessons())}")
    isolation = isolation if isinstance(isolation, Isolation) else find_isolation(isolation)
    paths = _submission_paths(submissions)
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    write_atomically(out / "isolation.txt", isolation.describe() + "\n")
    run = GradingRun(
        out=out,
        isolation=isolation,
        timeout=timeout,
        cell_timeout=cell_timeout,
        memory_mb=memory_mb,
        fast=fast,
        lesson=lesson,
        seed=secrets.randbits(63),
        scratch=Path(tempfile.mkdtemp(prefix="vae-tf-grade-")),
    )
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        rows = _grade_all(paths, run, jobs=jobs, progress=progress)
    except KeyboardInterrupt as signal_name:
        stopped = stop_all_sandboxes()
        raise GradingInterrupted(
            f"interrupted ({signal_name or 'SIGINT'}): stopped {stopped} running sandbox(es) "
            "and removed the temporary files; no gradebook was written"
        ) from None
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(run.scratch, ignore_errors=True)
        allow_sandboxes()
    order = _exercise_order(rows)
    for row in rows:
        write_atomically(out / "feedback" / f"{row.student}.md", feedback_markdown(row, order))
    write_atomically(out / "gradebook.csv", gradebook_csv(rows, order))
    if progress:
        print(summary_line(rows, out, isolation), file=sys.stderr, flush=True)
    return rows


def _grade_all(
    paths: list[Path], run: GradingRun, *, jobs: int, progress: bool
) -> list[StudentRow]:
    """Grade ``paths`` with ``jobs`` threads; on Ctrl-C stop every sandbox before returning."""
    from vae_tf.grading.sandbox import SandboxStopped, stop_all_sandboxes

    start = time.monotonic()
    rows: list[StudentRow] = []

    def one(path: Path) -> StudentRow:
        try:
            return grade_notebook(path, run)
        except SandboxStopped:
            raise
        except Exception as error:  # noqa: BLE001 - one broken submission costs only its row
            return StudentRow(
                path.name[: -len(".ipynb")],
                None,
                "grader-error",
                detail=f"{type(error).__name__}: {error}"[:600],
            )

    pool = ThreadPoolExecutor(max_workers=max(1, int(jobs)))
    try:
        futures = [pool.submit(one, path) for path in paths]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            if progress:
                print(
                    f"[{len(rows)}/{len(paths)}] {csv_safe(row.student)}: {row.status}, "
                    f"{row.total}/{row.max_total} points ({time.monotonic() - start:.0f} s elapsed)",
                    file=sys.stderr,
                    flush=True,
                )
    except BaseException:
        stop_all_sandboxes()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return sorted(rows, key=lambda row: row.student)


def summary_line(rows: list[StudentRow], out: Path, isolation: Isolation | None = None) -> str:
    """The last line the grader prints: counts per status, the isolation, the gradebook."""
    counts = {status: sum(row.status == status for row in rows) for status in STATUS_ORDER}
    parts = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    ran = f"; isolation: {isolation.name}" if isolation else ""
    if isolation and isolation.name == "none":
        ran += " (no sandbox: student code ran as your user)"
    return (
        f"graded {len(rows)} notebooks: {parts or 'none'}{ran}; gradebook: {out / 'gradebook.csv'}"
    )


# --------------------------------------------------------------------------- command line


EXIT_NO_SANDBOX, EXIT_INTERRUPTED = 3, 130


def cmd_grade(args: argparse.Namespace) -> int:
    """``vae-tf grade``: exit 0 when grading completed, 2 bad input, 3 no sandbox, 130 stopped.

    Errors are printed in the CLI's style, ``vae-tf grade: error: ...``.
    """

    def fail(message: str, code: int) -> int:
        print(f"vae-tf grade: error: {message}", file=sys.stderr, flush=True)
        return code

    try:
        grade(
            args.submissions,
            args.out,
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            memory_mb=args.memory_mb or None,
            jobs=args.jobs,
            fast=args.fast,
            isolation=args.isolation,
            lesson=args.lesson,
        )
    except IsolationUnavailable as error:
        return fail(
            f"refusing to run student code without a sandbox: {error}\n"
            "To grade anyway with plain processes (student code then runs as your user, with "
            "your files), pass --isolation none.",
            EXIT_NO_SANDBOX,
        )
    except GradingInterrupted as error:
        return fail(str(error), EXIT_INTERRUPTED)
    except (FileNotFoundError, ValueError) as error:
        return fail(str(error), 2)
    return 0


def register_cli(subparsers: Any) -> None:
    """Add the ``grade`` subcommand to the ``vae-tf`` command line."""
    parser = subparsers.add_parser(
        "grade",
        help="grade a folder of student notebooks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Grade every SUBMISSIONS/*.ipynb (the student's name is the file name).\n\n"
            "Each notebook runs in a bubblewrap sandbox (read-only system, private scratch\n"
            "folder, no network, its own processes, no access to your files or environment)\n"
            "with a time limit and a memory limit; then the lesson's checks run on the\n"
            "exercise cells as submitted, in another sandbox, and every point is decided\n"
            "outside it. Nothing in SUBMISSIONS is changed.\n\n"
            "Writes OUT/gradebook.csv (one row per student, one column per exercise),\n"
            "OUT/feedback/<student>.md (the reason for every lost point),\n"
            "OUT/executed/<student>.html (the executed notebook) and OUT/isolation.txt.\n\n"
            "Statuses in the gradebook:\n"
            + "\n".join(
                textwrap.fill(
                    meaning, width=79, initial_indent=f"  {status:<17} ", subsequent_indent=" " * 20
                )
                for status, meaning in STATUS_MEANING.items()
            )
            + "\n\nThe exit code is 0 when grading completed, even if students lost points; 3 when"
            "\nno sandbox can run (the message says what to install), 130 when interrupted."
        ),
        epilog="example: vae-tf grade submissions/ --out grades/ --lesson 03_vae --jobs 2",
    )
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="folder of student .ipynb files")
    parser.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="folder for the gradebook and feedback (created)",
    )
    parser.add_argument(
        "--lesson",
        metavar="ID",
        default=None,
        help="the lesson being graded, e.g. 03_vae: a notebook of another lesson scores 0 with "
        "status wrong-lesson (default: each notebook's own lesson)",
    )
    parser.add_argument(
        "--isolation",
        choices=["bwrap", "none"],
        default="bwrap",
        help="bwrap: run student code in a bubblewrap sandbox, and refuse when it cannot run "
        "(the default); none: plain processes with limits only, student code runs as you",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        metavar="S",
        help="wall-clock limit for one notebook, and again for its checks, in seconds (default: 1800)",
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=600,
        metavar="S",
        help="limit for one cell, in seconds (default: 600)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=4096,
        metavar="M",
        help="memory limit of the kernel and of the checks, in MiB; 0 for none (default: 4096)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="notebooks graded in parallel (default: 1)"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help=f"set {FAST_ENV}=1 for the students' runs, so that lessons train for fewer epochs "
        "on fewer images (for CI and quick checks; grades may differ from a full run)",
    )
    parser.set_defaults(func=cmd_grade)


def main(argv: list[str] | None = None) -> int:
    """Run ``grade`` on its own (``python -m vae_tf.grading.grader``), without the ``vae-tf`` CLI."""
    parser = argparse.ArgumentParser(prog="python -m vae_tf.grading.grader")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["grade", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
