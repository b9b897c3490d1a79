"""Grading a folder of student notebooks: ``vae-tf grade SUBMISSIONS --out OUT``.

For each ``SUBMISSIONS/*.ipynb`` (the student is the file name without ``.ipynb``) and
``SUBMISSIONS/*/*.ipynb`` (the student is the folder), SUBMISSIONS being a folder or a zip:

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
   isolation that ran) are written: each student's as soon as they are graded, into a
   private folder of OUT that replaces the previous results when the run is complete.
   Every string is made writable first (:func:`safe_text`), and names unique
   (:func:`name_submissions`), so that one hostile submission costs only its own row.

Statuses: see :data:`STATUS_MEANING`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vae_tf._files import write_atomically
from vae_tf.config import FAST_ENV
from vae_tf.grading.isolation import Isolation, IsolationUnavailable, find_isolation

if TYPE_CHECKING:
    from vae_tf.grading.sandbox import JobSettings

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
    "no-submission": "the roster (--roster) lists this student, but no notebook of theirs was "
    "found in the submissions",
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


def safe_text(text: object) -> str:
    """``text`` that can always be written as UTF-8: a lone surrogate becomes ``\\udXXX``.

    Student code controls exception messages and file names; one unpaired surrogate in
    them must not stop the gradebook and everyone's feedback from being written.
    """
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (a zip made on Windows) become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


_UNSAFE_IN_FILE_NAME = re.compile(r"[^\w.\-]+")


@dataclass
class StudentRow:
    """The grade of one student: one row of the gradebook and the source of their feedback."""

    student: str
    lesson: str | None
    status: str
    detail: str = ""
    submission: str = ""  # the file as submitted, relative to SUBMISSIONS
    file_stem: str = ""  # feedback/<file_stem>.md; the student's name when empty
    # Points per exercise, weighted by the exercise's `points=` (see the registry).
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    seconds: float = 0.0
    execution_seconds: float = 0.0
    # From the roster (--roster): see vae_tf.grading.gradebook.apply_roster.
    student_id: str = ""
    student_name: str = ""
    late: bool = False  # Canvas named the file with _LATE_

    @property
    def total(self) -> float:
        return round(sum(self.points.values()), 2)

    @property
    def max_total(self) -> float:
        return round(sum(self.max_points.values()), 2)


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
EXECUTED_JSON_ITEMS = 2_000_000  # JSON items of an executed notebook read back (about 130 MB)


def _runner_request(notebook: Any) -> bytes:
    import nbformat

    return nbformat.writes(notebook).encode("utf-8")


def _executed_from_answer(answer: bytes) -> tuple[str, str, Any] | None:
    """``(status, detail, notebook)`` from the runner's answer, or ``None`` when it is unusable.

    The answer comes from inside the sandbox: its status must be a known one, its detail is
    cut, and its notebook must be a valid notebook before it is turned into HTML.
    """
    import nbformat

    # Millions of tiny JSON lists would cost gigabytes once parsed: refuse them unparsed.
    if answer.count(b"[") + answer.count(b"{") + answer.count(b",") > EXECUTED_JSON_ITEMS:
        return None
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


RENDER_TIMEOUT = 120  # seconds to render one executed notebook as HTML
RENDER_MEMORY_MB = 1500
RENDER_ANSWER_LIMIT = 60_000_000  # bytes of HTML kept


def render_html(notebook: Any, *, isolation: Isolation) -> str:
    """The HTML of an executed notebook, rendered in a sandbox of its own, under limits.

    The student controls the notebook's text, and rendering some Markdown takes time
    quadratic in its size; a render that runs out of time or memory gives a short page
    that says so, never a grader that hangs.
    """
    import nbformat

    from vae_tf.grading.isolation import sandbox_env
    from vae_tf.grading.limits import Limits
    from vae_tf.grading.sandbox import run_in_sandbox

    run = run_in_sandbox(
        [sys.executable, "-m", "vae_tf.grading.render"],
        request=nbformat.writes(notebook).encode("utf-8", "backslashreplace"),
        isolation=isolation,
        limits=Limits(memory_mb=RENDER_MEMORY_MB, cpu_seconds=RENDER_TIMEOUT + 30),
        timeout=RENDER_TIMEOUT,
        env=sandbox_env(fast=False),
        answer_limit=RENDER_ANSWER_LIMIT,
    )
    if run.stopped is None and run.returncode == 0 and run.answer and not run.answer_cut:
        return run.answer.decode("utf-8", "replace")
    why = {
        "timeout": f"took longer than {RENDER_TIMEOUT} s",
        "memory": f"needed more than {RENDER_MEMORY_MB} MB",
    }.get(run.stopped or "", f"failed (exit code {run.returncode})")
    if run.answer_cut:
        why = f"was larger than {RENDER_ANSWER_LIMIT // 1_000_000} MB"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>not rendered</title></head>"
        f"<body><p>The executed notebook was not rendered: rendering it {why}. "
        "The grade does not depend on it.</p></body></html>"
    )


def feedback_markdown(row: StudentRow, exercise_order: list[str]) -> str:
    """The feedback a student reads: status in plain words and the reason for each lost point.

    Each reason is said once (see :func:`vae_tf.grading.gradebook.feedback_sections`), with
    the points it cost and the exercise's first hint.
    """
    from vae_tf.grading.gradebook import feedback_sections, format_points, lost_points_words

    lines = [f"# Feedback for {row.student}", ""]
    lines.append(f"- lesson: {row.lesson or 'unknown'}")
    lines.append(f"- status: **{row.status}**: {STATUS_MEANING.get(row.status, '')}")
    if row.detail:
        lines.append(f"- details: {_truncate(row.detail, 600)}")
    lines.append(f"- points: {format_points(row.total)} of {format_points(row.max_total)}")
    lines.append("")
    for section in feedback_sections(row, exercise_order):
        lines.append(
            f"## {section.name}: {format_points(section.points)} of "
            f"{format_points(section.max_points)} points"
        )
        lines.append("")
        if not section.lost:
            lines.append("All checks passed.")
        elif section.first_hint:
            lines.extend([f"First hint: {section.first_hint}", ""])
        for lost in section.lost:
            checks = ", ".join(f"**{name}**" for name in lost.checks)
            if lost.said_in:
                lines.append(
                    f"- {lost_points_words(lost)}: {checks}, for the same reason as in "
                    f"**{lost.said_in}** above"
                )
                lines.append("")
                continue
            lines.append(f"- {lost_points_words(lost)}: {checks}")
            lines.append("")
            lines.append("  ```text")
            lines.extend(f"  {line}" for line in _truncate(lost.reason, REASON_LIMIT).splitlines())
            lines.append("  ```")
            lines.append("")
        lines.append("")
    text = safe_text("\n".join(lines).rstrip() + "\n")
    if len(text) > FEEDBACK_LIMIT:
        text = text[:FEEDBACK_LIMIT] + "\n\n(feedback cut here: it was too long)\n"
    return text


def gradebook_csv(
    rows: list[StudentRow], exercise_order: list[str], *, roster: bool = False
) -> str:
    """The gradebook as CSV text: student, lesson, status, one column per exercise, totals.

    Points are weighted by each exercise's ``points=`` and printed with at most two
    decimals. With ``roster``, the columns ``student_id``, ``name`` and ``late`` follow
    ``student``.
    """
    from vae_tf.grading.gradebook import format_points

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    ids = ["student_id", "name", "late"] if roster else []
    writer.writerow(
        ["student", *ids, "submission", "lesson", "status", *exercise_order, "total", "max_total"]
    )
    for row in sorted(rows, key=lambda row: row.student):
        cells = [
            format_points(row.points.get(name, 0)) if name in row.max_points else ""
            for name in exercise_order
        ]
        id_cells = (
            [csv_safe(row.student_id), csv_safe(row.student_name), "yes" if row.late else ""]
            if roster
            else []
        )
        writer.writerow(
            [
                csv_safe(row.student),
                *id_cells,
                csv_safe(row.submission),
                csv_safe(row.lesson or ""),
                row.status,
                *cells,
                format_points(row.total),
                format_points(row.max_total),
            ]
        )
    return safe_text(buffer.getvalue())


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
        row.points[ex.name] = ex.score(outcome.points) if outcome else 0.0
        if outcome:
            lost = [(check.name, check.message) for check in outcome.failures()]
        else:
            lost = [(check.name, reason or "the check did not run") for check in ex.checks]
        if lost:
            row.failures[ex.name] = lost


@dataclass
class GradingRun:
    """What every submission of one run shares: where results go, the jobs' settings."""

    out: Path
    job: JobSettings  # limits, isolation and the secret seed, as every job receives them
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

    def settings(self, *, local: bool = True) -> JobSettings:
        """The run's limits, isolation and seed as plain data for a job (maybe on a worker).

        ``local``: the job runs in this process, and makes its redacted packages in the run's
        scratch folder (removed at the end); a remote worker makes its own.
        """
        packages = str(self.scratch / "worker-packages") if local else None
        return dataclasses.replace(self.job, packages_dir=packages)


def prepare_job(submission: Submission, run: GradingRun, *, local: bool = True) -> Any:
    """The submission read (never through a link) as a job, or its row when it cannot be read.

    ``local``: the job runs in this process (``--jobs``), so it uses the run's scratch folder.
    """
    from vae_tf.grading.sandbox import NotebookJob

    try:
        raw = read_submission(submission.path)
    except NotAFile as error:
        return _row_of(submission, "not-a-file", f"{csv_safe(submission.label)}: {error}")
    except ValueError as error:
        return _row_of(submission, "invalid-notebook", str(error)[:600])
    return NotebookJob(
        submission.student,
        submission.label,
        submission.file_stem,
        submission.path.name,
        raw,
        run.settings(local=local),
    )


def _row_of(submission: Any, status: str, detail: str) -> StudentRow:
    """A row without points for ``submission`` (a :class:`Submission` or a job)."""
    return StudentRow(
        submission.student,
        None,
        status,
        detail=detail,
        submission=submission.label,
        file_stem=submission.file_stem,
    )


def _keep_result(result: Any, out: Path) -> StudentRow:
    """Write a job's executed HTML under ``out`` (a failure only warns); its row."""
    row = result.row
    warning = result.warning
    if result.html is not None:
        try:
            write_atomically(out / "executed" / f"{row.file_stem}.html", result.html)
        except Exception as error:  # noqa: BLE001 - a broken output must not cost the grade
            warning = f"executed HTML not written: {error}"
    if warning:
        print(f"warning: {csv_safe(row.student)}: {warning}", file=sys.stderr)
    return row


def grade_notebook(submission: Submission, run: GradingRun) -> StudentRow:
    """Grade one submission here and write its executed HTML under ``run.out``.

    The job itself is :func:`vae_tf.grading.sandbox.run_notebook_job`, the same one a Dask
    worker runs for ``--jobs N`` and ``--scheduler``.
    """
    from vae_tf.grading.sandbox import run_notebook_job

    job = prepare_job(submission, run)
    if isinstance(job, StudentRow):
        return job
    result = run_notebook_job(job, package_for=run.redacted_package)
    return _keep_result(result, run.out)


# --------------------------------------------------------------------------- the whole folder


class GradingInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the grader; its sandboxes and temporary files are gone."""


@dataclass(frozen=True)
class Submission:
    """One notebook to grade: where it is read, what the instructor calls it, whose it is."""

    path: Path
    label: str  # its path inside SUBMISSIONS (or inside the zip), as printable text
    student: str  # unique in the run: the gradebook's key
    file_stem: str  # unique and safe: feedback/<file_stem>.md, executed/<file_stem>.html


ZIP_MEMBER_LIMIT = 10_000  # members of a submissions zip that are looked at


def find_submissions(folder: Path) -> list[tuple[Path, str, str]]:
    """``(path, label, student)`` of every non-hidden ``*.ipynb`` entry, one folder deep too.

    ``folder/alice.ipynb`` is the student ``alice``; ``folder/alice/01_data.ipynb`` is
    ``alice`` too, or ``alice/01_data`` when that folder holds several notebooks. Links to
    folders are not followed; entries are returned whatever they are (a link or a FIFO
    named ``*.ipynb`` gets its own row when it is read).
    """

    def notebooks_in(where: Path) -> list[str]:
        with os.scandir(where) as entries:
            return sorted(e.name for e in entries if e.name.endswith(".ipynb") and e.name[0] != ".")

    found = [(folder / name, name, name[: -len(".ipynb")]) for name in notebooks_in(folder)]
    with os.scandir(folder) as entries:
        subfolders = sorted(
            e.name
            for e in entries
            if e.name[0] != "."
            and not e.name.endswith(".ipynb")
            and e.is_dir(follow_symlinks=False)
        )
    for sub in subfolders:
        try:
            names = notebooks_in(folder / sub)
        except OSError:
            continue
        for name in names:
            student = sub if len(names) == 1 else f"{sub}/{name[: -len('.ipynb')]}"
            found.append((folder / sub / name, f"{sub}/{name}", student))
    return found


def name_submissions(found: list[tuple[Path, str, str]]) -> list[Submission]:
    """Unique gradebook names and safe file names for ``found`` (see :func:`find_submissions`).

    Names are made printable (bytes that are not UTF-8 become U+FFFD); two entries whose names
    then coincide (``caf\\xe9`` and ``caf\\xe8`` from a Windows zip, or ``Alice`` and
    ``alice`` on a case-insensitive disk) get ``-2``, ``-3``... so no row or feedback file
    overwrites another; the ``submission`` column keeps the name as submitted.
    """
    taken_students: set[str] = set()
    taken_stems: set[str] = set()
    named = []
    for path, label, student in found:
        student = display_name(student)
        stem = _UNSAFE_IN_FILE_NAME.sub("_", student).strip("._")[:100] or "student"
        candidate, candidate_stem, number = student, stem, 1
        while candidate in taken_students or candidate_stem.casefold() in taken_stems:
            number += 1
            candidate, candidate_stem = f"{student}-{number}", f"{stem}-{number}"
        taken_students.add(candidate)
        taken_stems.add(candidate_stem.casefold())
        named.append(Submission(path, display_name(label), candidate, candidate_stem))
    return named


def extract_zip(archive: Path, dest: Path, limit: int = SUBMISSION_LIMIT) -> list[str]:
    """Write the ``*.ipynb`` members of ``archive`` (one folder deep at most) under ``dest``.

    Nothing outside ``dest`` is written whatever the member names say (absolute paths and
    ``..`` are skipped); links are skipped; a member larger than ``limit`` is cut at
    ``limit + 1`` bytes, so that reading it later gives its row the status
    ``invalid-notebook``. Returns the names of the members skipped, to be reported.
    """
    import zipfile
    from pathlib import PurePosixPath

    skipped = []
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()[:ZIP_MEMBER_LIMIT]
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if member.is_dir() or not parts or not parts[-1].endswith(".ipynb"):
                    continue
                mode = member.external_attr >> 16
                unsafe = parts[0] == "/" or ".." in parts or len(parts) > 2
                if unsafe or any(part.startswith(".") for part in parts) or stat.S_ISLNK(mode):
                    skipped.append(display_name(member.filename))
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, open(target, "xb") as copy:
                    copy.write(source.read(limit + 1))
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as error:
        raise ValueError(f"{archive}: not a readable zip file ({error})") from None
    return skipped


class NothingToGrade(ValueError):
    """The submissions held no notebook: an empty gradebook would look like a graded class."""


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
    roster: str | Path | None = None,
    export: str | tuple[str, ...] = (),
    assignment: str | None = None,
    scheduler: str | None = None,
) -> list[StudentRow]:
    """Grade every ``*.ipynb`` in ``submissions``; write the gradebook and feedback in ``out``.

    Parameters
    ----------
    submissions : path
        Folder of student notebooks, or a ``.zip`` of them: ``alice.ipynb`` (the student is
        the file name) or ``alice/01_data.ipynb`` (the student is the folder). Nothing in it
        is written or changed.
    out : path
        Output folder (created): ``gradebook.csv``, ``feedback/<student>.md``,
        ``executed/<student>.html``, ``isolation.txt``. Must not be inside ``submissions``.
        Each student's feedback and row are written as soon as that student is graded, in a
        private folder of ``out``; they replace the previous run's results only when the run
        is complete (a stopped run leaves its part in ``out/incomplete-run``).
    timeout : float
        Wall-clock limit in seconds for one notebook's execution, and again for its checks.
    cell_timeout : float
        Limit in seconds for one cell.
    memory_mb : int or None
        Memory limit in MiB for the notebook's sandbox (and for the checks'); ``None`` for none.
    jobs : int
        Notebooks graded at the same time: above 1, on an embedded Dask LocalCluster of
        ``jobs`` threads (see :mod:`vae_tf.grading.cluster`).
    fast : bool
        Set ``VAE_TF_FAST=1`` for the students' runs (fewer epochs and images).
    progress : bool
        Print one line per notebook and a summary on stderr.
    isolation : str or Isolation
        ``"bwrap"`` (the default; :class:`IsolationUnavailable` when bubblewrap cannot run,
        with what to install or change) or ``"none"`` (plain processes, chosen explicitly).
    lesson : str, optional
        The lesson being graded; a notebook of another lesson gets ``wrong-lesson``.
    roster : path, optional
        The class list (a Canvas gradebook export, or ``file_or_name,student_id[,name]``
        lines): the gradebook gets ``student_id``, ``name`` and ``late`` columns and a
        ``no-submission`` row per listed student with no notebook. Read before anything
        runs; see :mod:`vae_tf.grading.gradebook`.
    export : str or tuple of str
        ``"canvas,gradescope,moodle"`` or a part of it: ``OUT/exports/<format>.csv``, one
        line per roster student (needs ``roster``).
    assignment : str, optional
        The assignment's column name in the Canvas and Moodle exports (default:
        ``vae-tf <lesson>``).
    scheduler : str, optional
        ``tcp://host:port`` of a Dask scheduler: the notebooks are graded by its workers,
        each in its own sandbox there (``jobs`` is then ignored).

    Returns
    -------
    list of StudentRow
        Sorted by student.

    Raises
    ------
    GradingInterrupted
        On Ctrl-C or SIGTERM, after every sandbox is stopped and the temporary files removed.
    NothingToGrade
        When ``submissions`` holds no notebook (nothing is written).
    vae_tf.grading.cluster.ClusterError
        When the scheduler cannot be reached, or the cluster loses its workers.
    """
    from vae_tf.grading.registry import lessons
    from vae_tf.grading.sandbox import allow_sandboxes, stop_all_sandboxes

    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.exists():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    if not submissions.is_dir() and submissions.suffix.lower() != ".zip":
        raise ValueError(f"{submissions} is neither a folder of notebooks nor a .zip of them")
    if out == submissions or submissions in out.parents:
        raise ValueError(
            f"--out {out} is inside the submissions folder {submissions}; choose another folder"
        )
    if lesson is not None and lesson not in lessons():
        raise ValueError(f"--lesson {lesson!r} is not a lesson; choose one of {sorted(lessons())}")
    book = _gradebook_options(roster, export, assignment)
    if int(jobs) < 1:
        raise ValueError(f"--jobs {jobs}: give at least 1 notebook at a time")
    if scheduler is not None:
        from vae_tf.grading.cluster import check_scheduler_address

        scheduler = check_scheduler_address(scheduler)
    isolation = isolation if isinstance(isolation, Isolation) else find_isolation(isolation)
    scratch = Path(tempfile.mkdtemp(prefix="vae-tf-grade-"))
    staging: Path | None = None
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        folder, skipped = submissions, []
        if submissions.is_file():
            folder = scratch / "submissions"
            folder.mkdir()
            skipped = extract_zip(submissions, folder)
        found = name_submissions(find_submissions(folder))
        if skipped and progress:
            print(
                f"skipped {len(skipped)} zip member(s) that are links, hidden, or deeper than one "
                f"folder: {', '.join(csv_safe(name) for name in skipped[:10])}",
                file=sys.stderr,
            )
        if not found:
            raise NothingToGrade(
                f"no notebook to grade in {submissions}: no *.ipynb at its top level or one "
                "folder down (nothing was written)"
            )
        out.mkdir(parents=True, exist_ok=True)
        # Results go to a private folder of OUT first, student by student, and replace the
        # previous run's only at the end: a rerun never mixes with stale feedback, and an
        # interrupted one never replaces a complete gradebook.
        staging = Path(tempfile.mkdtemp(prefix=".grading-", dir=out))
        (staging / "feedback").mkdir()
        write_atomically(staging / "isolation.txt", isolation.describe() + "\n")
        from vae_tf.grading.sandbox import JobSettings

        job = JobSettings(
            isolation=isolation,
            timeout=timeout,
            cell_timeout=cell_timeout,
            memory_mb=memory_mb,
            fast=fast,
            lesson=lesson,
            seed=secrets.randbits(63),
        )
        run = GradingRun(out=staging, job=job, scratch=scratch)
        rows = _grade_all(found, run, jobs=jobs, progress=progress, scheduler=scheduler)
        rows = _finish_gradebook(staging, rows, book, lesson=lesson, progress=progress)
    except KeyboardInterrupt as signal_name:
        stopped = stop_all_sandboxes()
        kept = _keep_incomplete(staging, out)
        raise GradingInterrupted(
            f"interrupted ({signal_name or 'SIGINT'}): stopped {stopped} running sandbox(es) "
            f"and removed the temporary files; no gradebook was written{kept}"
        ) from None
    except BaseException:
        _keep_incomplete(staging, out)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(scratch, ignore_errors=True)
        allow_sandboxes()
    _publish(staging, out)
    if progress:
        print(summary_line(rows, out, isolation), file=sys.stderr, flush=True)
    return rows


def _write_results(folder: Path, row: StudentRow, rows: list[StudentRow]) -> None:
    """``row``'s feedback, and the gradebook of ``rows`` so far, written at once in ``folder``."""
    from vae_tf.grading.gradebook import feedback_html

    stem = row.file_stem or row.student
    order = _exercise_order([row])
    write_atomically(folder / "feedback" / f"{stem}.md", feedback_markdown(row, order))
    write_atomically(
        folder / "feedback" / f"{stem}.html",
        feedback_html(row, order, status_meaning=STATUS_MEANING),
    )
    write_atomically(folder / "gradebook.csv", gradebook_csv(rows, _exercise_order(rows)))


@dataclass(frozen=True)
class GradebookOptions:
    """``--roster``, ``--export`` and ``--assignment``, checked before anything runs."""

    roster: Any  # vae_tf.grading.gradebook.Roster or None
    exports: tuple[str, ...]
    assignment: str | None


def _gradebook_options(
    roster: str | Path | None, export: str | tuple[str, ...], assignment: str | None
) -> GradebookOptions:
    """The roster read and the export formats checked: a wrong one fails before grading."""
    from vae_tf.grading.gradebook import parse_exports, read_roster

    exports = parse_exports(export) if isinstance(export, str) else parse_exports(",".join(export))
    if exports and roster is None:
        raise ValueError(
            f"--export {','.join(exports)} needs --roster FILE: the learning systems import "
            "grades by student id, which the roster gives"
        )
    if assignment is not None and not assignment.strip():
        raise ValueError("--assignment is empty; give the assignment's name, e.g. 'Lesson 03'")
    return GradebookOptions(
        read_roster(roster) if roster is not None else None, exports, assignment
    )


def _finish_gradebook(
    folder: Path,
    rows: list[StudentRow],
    book: GradebookOptions,
    *,
    lesson: str | None,
    progress: bool,
) -> list[StudentRow]:
    """With a roster: ids, ``no-submission`` rows, the final gradebook and the exports."""
    from vae_tf.grading.gradebook import apply_roster, unmatched, write_exports

    if book.roster is None:
        return rows
    rows = apply_roster(rows, book.roster, lesson=lesson)
    write_atomically(
        folder / "gradebook.csv", gradebook_csv(rows, _exercise_order(rows), roster=True)
    )
    strangers = unmatched(rows)
    if strangers and progress:
        names = ", ".join(csv_safe(row.submission) for row in strangers[:10])
        print(
            f"warning: {len(strangers)} submission(s) match no line of the roster "
            f"{book.roster.path} and are left out of the exports: {names}",
            file=sys.stderr,
        )
    if book.exports:
        lessons_graded = sorted({row.lesson for row in rows if row.lesson})
        assignment = book.assignment or f"vae-tf {'+'.join(lessons_graded) or 'grade'}"
        (folder / "exports").mkdir(exist_ok=True)
        write_exports(folder / "exports", rows, book.roster, book.exports, assignment)
    return rows


def _publish(staging: Path, out: Path) -> None:
    """Replace the previous run's results in ``out`` with the complete ones in ``staging``."""
    for name in ("feedback", "executed", "exports"):
        old = out / name
        if old.is_symlink() or old.is_file():
            old.unlink()
        elif old.exists():
            shutil.rmtree(old)
        if (staging / name).exists():
            (staging / name).rename(old)
    for name in ("gradebook.csv", "isolation.txt"):
        os.replace(staging / name, out / name)
    shutil.rmtree(staging, ignore_errors=True)


def _keep_incomplete(staging: Path | None, out: Path) -> str:
    """Keep what a stopped run graded in ``out/incomplete-run``; the words that say so."""
    if staging is None or not staging.exists():
        return ""
    done = len(list((staging / "feedback").glob("*.md")))
    if not done:
        shutil.rmtree(staging, ignore_errors=True)
        return ""
    kept = out / "incomplete-run"
    shutil.rmtree(kept, ignore_errors=True)
    staging.rename(kept)
    return f" (the {done} notebook(s) graded before the stop are in {kept})"


def _grade_all(
    submissions: list[Submission],
    run: GradingRun,
    *,
    jobs: int,
    progress: bool,
    scheduler: str | None = None,
) -> list[StudentRow]:
    """Grade ``submissions``, writing each student's results as soon as they are graded.

    ``--jobs 1`` grades here, one notebook after the other; ``--jobs N`` on an embedded Dask
    LocalCluster of N threads, ``--scheduler`` on an existing Dask cluster
    (:mod:`vae_tf.grading.cluster`). Every path runs the same job,
    :func:`vae_tf.grading.sandbox.run_notebook_job`. On Ctrl-C every sandbox is stopped
    before returning.
    """
    from vae_tf.grading.sandbox import SandboxStopped, stop_all_sandboxes

    start = time.monotonic()
    rows: list[StudentRow] = []

    def grader_error(submission: Any, error: BaseException) -> StudentRow:
        return _row_of(
            submission, "grader-error", safe_text(f"{type(error).__name__}: {error}")[:600]
        )

    def finished(row: StudentRow) -> None:
        rows.append(row)
        _write_results(run.out, row, rows)
        if progress:
            print(
                f"[{len(rows)}/{len(submissions)}] {csv_safe(row.student)}: {row.status}, "
                f"{row.total}/{row.max_total} points ({time.monotonic() - start:.0f} s elapsed)",
                file=sys.stderr,
                flush=True,
            )

    try:
        if scheduler is None and max(1, int(jobs)) == 1:
            for submission in submissions:
                try:
                    row = grade_notebook(submission, run)
                except SandboxStopped:
                    raise
                except Exception as error:  # noqa: BLE001 - one submission costs only its row
                    row = grader_error(submission, error)
                finished(row)
        else:
            _grade_on_dask(submissions, run, jobs, scheduler, finished, grader_error)
    except BaseException:
        stop_all_sandboxes()
        raise
    return sorted(rows, key=lambda row: row.student)


def _grade_on_dask(
    submissions: list[Submission],
    run: GradingRun,
    jobs: int,
    scheduler: str | None,
    finished: Any,
    grader_error: Any,
) -> None:
    """The jobs of ``submissions`` on Dask; ``finished(row)`` as each one ends."""
    from vae_tf.grading.cluster import as_finished, client_for, stop_worker_sandboxes
    from vae_tf.grading.sandbox import SandboxStopped, run_notebook_job, stop_all_sandboxes

    def jobs_to_run() -> Any:
        for submission in submissions:
            job = prepare_job(submission, run, local=scheduler is None)
            if isinstance(job, StudentRow):
                finished(job)  # unreadable: its row at once, no job
            else:
                yield job

    with client_for(scheduler, jobs, local_directory=str(run.scratch / "dask")) as client:
        address = scheduler or "the embedded LocalCluster"
        try:
            for job, future in as_finished(
                client, run_notebook_job, jobs_to_run(), address=address
            ):
                try:
                    row = _keep_result(future.result(), run.out)
                except SandboxStopped:
                    raise
                except Exception as error:  # noqa: BLE001 - one submission costs only its row
                    row = grader_error(job, _worker_error(error))
                finished(row)
        except BaseException:
            # Before the cluster closes: its threads wait for their sandboxes.
            stop_all_sandboxes()
            if scheduler is not None:
                stop_worker_sandboxes(client)
            raise


def _worker_error(error: BaseException) -> BaseException:
    """A Dask ``KilledWorker`` in words: the workers running this notebook died."""
    if type(error).__name__ == "KilledWorker":
        return RuntimeError(
            "the Dask worker grading this notebook died (several times, on several workers); "
            f"see the workers' logs ({error})"
        )
    return error


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


EXIT_NO_SANDBOX, EXIT_CLUSTER, EXIT_INTERRUPTED = 3, 4, 130


def cmd_grade(args: argparse.Namespace) -> int:
    """``vae-tf grade``: exit 0 when grading completed, 2 bad input, 3 no sandbox, 4 no Dask
    cluster (``--scheduler``), 130 stopped.

    Errors are printed in the CLI's style, ``vae-tf grade: error: ...``.
    """

    from vae_tf.grading.cluster import ClusterError

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
            scheduler=getattr(args, "scheduler", None),
            **gradebook_arguments(args),
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
    except ClusterError as error:
        return fail(str(error), EXIT_CLUSTER)
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
            "Grade every SUBMISSIONS/*.ipynb (the student's name is the file name) and\n"
            "SUBMISSIONS/*/*.ipynb (the student's name is the folder); SUBMISSIONS may also\n"
            "be a .zip of either layout.\n\n"
            "Each notebook runs in a bubblewrap sandbox (read-only system, private scratch\n"
            "folder, no network, its own processes, no access to your files or environment)\n"
            "with a time limit and a memory limit; then the lesson's checks run on the\n"
            "exercise cells as submitted, in another sandbox, and every point is decided\n"
            "outside it. Nothing in SUBMISSIONS is changed.\n\n"
            "Writes OUT/gradebook.csv (one row per student, one column per exercise, points\n"
            "weighted by exercise), OUT/feedback/<student>.md and .html (the reason for\n"
            "every lost point, each said once, and the first hint),\n"
            "OUT/executed/<student>.html (the executed notebook) and OUT/isolation.txt.\n\n"
            "Statuses in the gradebook:\n"
            + "\n".join(
                textwrap.fill(
                    meaning, width=79, initial_indent=f"  {status:<17} ", subsequent_indent=" " * 20
                )
                for status, meaning in STATUS_MEANING.items()
            )
            + "\n\nEach student's row and feedback are written as soon as they are graded; the"
            "\nprevious results in OUT are replaced only when the whole run is complete.\n\n"
            "The exit code is 0 when grading completed, even if students lost points; 2 for a"
            "\nwrong option or when SUBMISSIONS holds no notebook; 3 when no sandbox can run"
            "\n(the message says what to install); 4 when the Dask scheduler (--scheduler)"
            "\ncannot be reached or loses its workers; 130 when interrupted."
        ),
        epilog="example: vae-tf grade submissions/ --out grades/ --lesson 03_vae --jobs 2\n"
        "         vae-tf grade submissions/ --out grades/ --scheduler tcp://HOST:8786\n"
        "         vae-tf grade canvas.zip --out grades/ --lesson 03_vae "
        "--roster canvas-gradebook.csv --export canvas",
    )
    parser.add_argument(
        "submissions", metavar="SUBMISSIONS", help="folder (or .zip) of student .ipynb files"
    )
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
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="notebooks graded in parallel on this machine, each in its own sandbox; above 1 "
        "they run on an embedded Dask LocalCluster of N threads (default: 1)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="grade on an existing Dask cluster: the address of its scheduler, e.g. "
        "tcp://10.0.0.5:8786; each notebook runs in its own sandbox on a worker (which needs "
        "this package and bubblewrap installed), the results are written here (--jobs is "
        "then ignored)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help=f"set {FAST_ENV}=1 for the students' runs, so that lessons train for fewer epochs "
        "on fewer images (for CI and quick checks; grades may differ from a full run)",
    )
    add_gradebook_arguments(parser)
    parser.set_defaults(func=cmd_grade)


def add_gradebook_arguments(parser: argparse.ArgumentParser) -> None:
    """``--roster``, ``--export`` and ``--assignment`` (see :mod:`vae_tf.grading.gradebook`)."""
    parser.add_argument(
        "--roster",
        metavar="FILE",
        default=None,
        help="the class list: a gradebook exported from Canvas, or a CSV of "
        "file_or_name,student_id[,name[,email]] lines. Canvas file names "
        "(name_12345_678_01_data.ipynb, name_LATE_12345_...) are matched by their user id. "
        "Adds student_id, name and late to the gradebook, and a no-submission row per "
        "listed student without a notebook",
    )
    parser.add_argument(
        "--export",
        metavar="FORMATS",
        default="",
        help="also write OUT/exports/<format>.csv to import the totals into a learning system: "
        "canvas, gradescope, moodle, or several separated by commas (needs --roster)",
    )
    parser.add_argument(
        "--assignment",
        metavar="NAME",
        default=None,
        help="the assignment's column in the Canvas and Moodle exports "
        "(default: 'vae-tf <lesson>')",
    )


def gradebook_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`grade` that ``add_gradebook_arguments`` adds."""
    return {
        "roster": getattr(args, "roster", None),
        "export": getattr(args, "export", "") or "",
        "assignment": getattr(args, "assignment", None),
    }


def main(argv: list[str] | None = None) -> int:
    """Run ``grade`` on its own (``python -m vae_tf.grading.grader``), without the ``vae-tf`` CLI."""
    parser = argparse.ArgumentParser(prog="python -m vae_tf.grading.grader")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["grade", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
