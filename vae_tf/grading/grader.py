"""Grading a folder of student notebooks: ``vae-tf grade SUBMISSIONS --out OUT``.

For each ``SUBMISSIONS/*.ipynb`` (the student is the file name without ``.ipynb``):

1. the file is read once and copied to a private temporary folder; the submissions folder
   is never written to;
2. the copy is executed through nbclient, in a kernel started under a memory limit
   (``RLIMIT_DATA``, see :mod:`vae_tf.grading.limits`), with a per-cell timeout, a
   wall-clock limit for the whole notebook and a watchdog on the kernel's process tree;
3. the lesson's checks run against the exercise cells *as submitted*, in a fresh process
   (:mod:`vae_tf.grading.sandbox`), so nothing the kernel did (replacing ``check``,
   printing fake verdicts, writing a fake gradebook) can change the grade;
4. ``OUT/gradebook.csv`` (one row per student, one column per exercise),
   ``OUT/feedback/<student>.md`` (the reason for every lost point) and
   ``OUT/executed/<student>.html`` (the executed notebook) are written.

Statuses: see :data:`STATUS_MEANING`.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
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

STATUS_MEANING = {
    "ok": "the notebook ran from top to bottom without errors",
    "error": "some cells raised errors when the notebook ran; the exercises were still graded",
    "timeout": "a cell, the whole notebook or the checks took longer than the time limit and were "
    "stopped; the exercises were still graded from the submitted code",
    "memory": "the notebook or the checks used more memory than allowed and were stopped; "
    "the exercises were still graded from the submitted code",
    "kernel-died": "the Python kernel stopped in the middle of the notebook (a crash, or a call "
    "such as os._exit or sys.exit); the exercises were still graded from the submitted code",
    "invalid-notebook": "the file is not a valid Jupyter notebook, so nothing could be graded",
    "unknown-lesson": "the notebook does not say which lesson it belongs to and no known exercise "
    "was found in it, so nothing could be graded",
    "grader-error": "the grader itself failed on this notebook; tell the instructor",
}
STATUS_ORDER = list(STATUS_MEANING)

REASON_LIMIT = 1500  # characters per lost point in the feedback
FEEDBACK_LIMIT = 20000  # characters per feedback file
OUTPUT_TEXT_LIMIT = 10000  # characters per text output in the executed HTML
OUTPUT_DATA_LIMIT = 2_000_000  # characters per image or rich output in the executed HTML


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


def _kernel_manager_class() -> type:
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Integer

    from vae_tf.grading.limits import limited_command

    class LimitedKernelManager(AsyncKernelManager):
        """Starts ``python -m ipykernel_launcher`` of this interpreter under a memory limit.

        The command never comes from the notebook's kernelspec, so a submission cannot
        choose another interpreter.
        """

        memory_mb = Integer(0)

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            command = [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                os.path.realpath(self.connection_file),
                *(extra_arguments or []),
            ]
            return limited_command(command, self.memory_mb or None)

    return LimitedKernelManager


@dataclass
class Execution:
    status: str
    detail: str
    notebook: Any
    seconds: float


def _first_error(notebook: Any) -> tuple[int, str, str] | None:
    for number, cell in enumerate(notebook.cells, start=1):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                return number, str(output.get("ename", "")), str(output.get("evalue", ""))[:300]
    return None


def execute_notebook(
    notebook: Any,
    workdir: Path,
    *,
    timeout: float,
    cell_timeout: float,
    memory_mb: int | None,
    env: dict[str, str],
) -> Execution:
    """Execute ``notebook`` (in place) in a limited kernel whose working folder is ``workdir``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from vae_tf.grading.limits import MemoryWatchdog

    start = time.monotonic()
    # nbclient and jupyter_client log every timeout and dead kernel; the grader reports
    # those itself, once per student, so their loggers are kept quiet.
    quiet = logging.getLogger("vae_tf.grading.kernel")
    quiet.setLevel(logging.CRITICAL + 1)
    quiet.propagate = False
    manager = _kernel_manager_class()(kernel_name="python3", memory_mb=memory_mb or 0, log=quiet)
    client = NotebookClient(
        notebook,
        km=manager,
        log=quiet,
        kernel_name="python3",
        timeout=int(cell_timeout),
        startup_timeout=120,
        allow_errors=True,
        record_timing=False,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(workdir)}},
    )

    def kernel_pid() -> int | None:
        process = getattr(manager.provisioner, "process", None) if manager.provisioner else None
        return getattr(process, "pid", None)

    log_path = workdir.parent / "kernel.log"
    status, detail = "ok", ""
    with (
        open(log_path, "wb") as log,
        MemoryWatchdog(kernel_pid, memory_mb=memory_mb, deadline_s=timeout) as watchdog,
    ):
        try:
            client.execute(env=env, stdout=log, stderr=log)
        except CellTimeoutError:
            status = "timeout"
            detail = f"a cell ran longer than {cell_timeout:g} s (the time limit of one cell)"
        except DeadKernelError:
            status = "kernel-died"
        except Exception as error:  # noqa: BLE001 - e.g. the kernel never started
            status = "kernel-died"
            detail = f"the kernel stopped: {type(error).__name__}: {str(error)[:300]}"
    kernel_log = log_path.read_bytes()[-4000:].decode("utf-8", "replace")
    first_error = _first_error(notebook)
    if watchdog.reason == "timeout":
        status, detail = "timeout", f"the notebook ran longer than {timeout:g} s (the time limit)"
    elif watchdog.reason == "memory":
        status, detail = "memory", f"the notebook used more than {memory_mb} MB (the memory limit)"
    elif status in {"kernel-died", "timeout"} and (
        any(sign in kernel_log for sign in ("bad_alloc", "MemoryError", "Cannot allocate memory"))
        or (memory_mb and watchdog.peak_mb > 0.9 * memory_mb)
    ):
        # Out of memory, a kernel may die or hang while reporting the error; either way
        # the cause is memory, not time.
        status, detail = "memory", f"the kernel ran out of memory (limit {memory_mb} MB)"
    elif status == "kernel-died" and not detail:
        detail = "the kernel process ended before the notebook finished"
    elif status == "ok" and first_error:
        number, name, value = first_error
        status = "memory" if name == "MemoryError" else "error"
        detail = f"cell {number} raised {name}: {value}"
        if status == "memory":
            detail += f" (the memory limit is {memory_mb} MB)"
    if status in {"timeout", "kernel-died", "memory"} and first_error and "raised" not in detail:
        number, name, value = first_error
        detail += f"; earlier, cell {number} raised {name}: {value}"
    return Execution(status, detail, notebook, time.monotonic() - start)


# --------------------------------------------------------------------------- reports


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... ({len(text) - limit} more characters cut)"


def _cap_outputs(notebook: Any) -> Any:
    """Shorten huge outputs so that the executed HTML stays readable (changes ``notebook``)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", [])[:50]:
            if output.get("output_type") == "stream":
                output["text"] = _truncate(str(output.get("text", "")), OUTPUT_TEXT_LIMIT)
            elif output.get("output_type") == "error":
                output["traceback"] = [
                    _truncate(line, OUTPUT_TEXT_LIMIT) for line in output.get("traceback", [])[:40]
                ]
            else:
                data = output.get("data", {})
                for key in list(data):
                    value = data[key]
                    text = (
                        value
                        if isinstance(value, str)
                        else "".join(value)
                        if isinstance(value, list)
                        else None
                    )
                    if text is None:
                        continue
                    if key.startswith("text/plain"):
                        data[key] = _truncate(text, OUTPUT_TEXT_LIMIT)
                    elif len(text) > OUTPUT_DATA_LIMIT:
                        del data[key]
                        data.setdefault(
                            "text/plain", f"[{key} output of {len(text)} characters removed]"
                        )
            kept.append(output)
        cell["outputs"] = kept
    return notebook


def _write_html(notebook: Any, path: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(sanitize_html=True)
    body, _resources = exporter.from_notebook_node(_cap_outputs(notebook))
    write_atomically(path, body)


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
        for check_name, reason in lost:
            lines.append(f"- lost 1 point: **{check_name}**")
            lines.append("")
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
            [row.student, row.lesson or "", row.status, *cells, row.total, row.max_total]
        )
    return buffer.getvalue()


def _exercise_order(rows: list[StudentRow]) -> list[str]:
    from vae_tf.grading.registry import exercises_of_lesson

    seen = sorted({row.lesson for row in rows if row.lesson})
    return [ex.name for lesson in seen for ex in exercises_of_lesson(lesson)]


# --------------------------------------------------------------------------- one student


def _student_env(fast: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(FAST_ENV, None)
    if fast:
        env[FAST_ENV] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def grade_notebook(
    path: Path,
    out: Path,
    *,
    timeout: float,
    cell_timeout: float,
    memory_mb: int | None,
    fast: bool,
) -> StudentRow:
    """Grade one submission and write its feedback and executed HTML under ``out``."""
    from vae_tf.grading.registry import exercises_of_lesson
    from vae_tf.grading.sandbox import run_sandbox
    from vae_tf.notebook_code import NotebookError, extract_exercise_code, read_notebook_text

    start = time.monotonic()
    student = path.stem
    env = _student_env(fast)
    with tempfile.TemporaryDirectory(prefix="vae-tf-grade-") as private:
        workdir = Path(private) / "work"
        workdir.mkdir()
        raw = path.read_bytes()  # read once: the original is never opened again
        (workdir / path.name).write_bytes(raw)
        try:
            notebook = read_notebook_text(raw.decode("utf-8"), name=path.name)
        except (NotebookError, UnicodeDecodeError) as error:
            return StudentRow(student, None, "invalid-notebook", detail=str(error)[:600])
        # The exercise code is taken now, from the bytes as submitted, before any student
        # code runs: nothing the kernel writes later can change what is graded.
        code = extract_exercise_code(notebook, path=path.name)
        if code.lesson is None:
            return StudentRow(student, None, "unknown-lesson")
        execution = execute_notebook(
            notebook,
            workdir,
            timeout=timeout,
            cell_timeout=cell_timeout,
            memory_mb=memory_mb,
            env=env,
        )
        try:
            _write_html(execution.notebook, out / "executed" / f"{student}.html")
        except Exception as error:  # noqa: BLE001 - a broken output must not cost the grade
            print(f"warning: {student}: executed HTML not written: {error}", file=sys.stderr)
    result = run_sandbox(code, timeout=timeout, memory_mb=memory_mb, env=env)
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
    for ex in exercises_of_lesson(code.lesson):
        outcome = result.exercises.get(ex.name)
        row.max_points[ex.name] = ex.max_points
        row.points[ex.name] = outcome.points if outcome else 0
        if outcome:
            lost = [(check.name, check.message) for check in outcome.failures()]
        else:
            lost = [(check.name, "the check did not run") for check in ex.checks]
        if lost:
            row.failures[ex.name] = lost
    row.seconds = time.monotonic() - start
    return row


# --------------------------------------------------------------------------- the whole folder


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
) -> list[StudentRow]:
    """Grade every ``*.ipynb`` in ``submissions``; write the gradebook and feedback in ``out``.

    Parameters
    ----------
    submissions : path
        Folder of student notebooks; the student's name is the file name without ``.ipynb``.
        Nothing in it is written or changed.
    out : path
        Output folder (created): ``gradebook.csv``, ``feedback/<student>.md``,
        ``executed/<student>.html``. Must not be inside ``submissions``.
    timeout : float
        Wall-clock limit in seconds for one notebook's execution, and again for its checks.
    cell_timeout : float
        Limit in seconds for one cell.
    memory_mb : int or None
        Memory limit in MiB for the kernel (and for the checks); ``None`` for no limit.
    jobs : int
        Notebooks graded at the same time.
    fast : bool
        Set ``VAE_TF_FAST=1`` for the students' runs (fewer epochs and images).
    progress : bool
        Print one line per notebook and a summary on stderr.

    Returns
    -------
    list of StudentRow
        Sorted by student.
    """
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    if out == submissions or submissions in out.parents:
        raise ValueError(
            f"--out {out} is inside the submissions folder {submissions}; choose another folder"
        )
    paths = sorted(path for path in submissions.glob("*.ipynb") if path.is_file())
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    start = time.monotonic()
    lock = threading.Lock()
    rows: list[StudentRow] = []

    def one(path: Path) -> StudentRow:
        try:
            return grade_notebook(
                path,
                out,
                timeout=timeout,
                cell_timeout=cell_timeout,
                memory_mb=memory_mb,
                fast=fast,
            )
        except Exception as error:  # noqa: BLE001 - one broken submission costs only its row
            return StudentRow(
                path.stem, None, "grader-error", detail=f"{type(error).__name__}: {error}"[:600]
            )

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        futures = [pool.submit(one, path) for path in paths]
        for future in as_completed(futures):
            row = future.result()
            with lock:
                rows.append(row)
                if progress:
                    print(
                        f"[{len(rows)}/{len(paths)}] {row.student}: {row.status}, "
                        f"{row.total}/{row.max_total} points ({time.monotonic() - start:.0f} s elapsed)",
                        file=sys.stderr,
                        flush=True,
                    )
    rows.sort(key=lambda row: row.student)
    order = _exercise_order(rows)
    for row in rows:
        write_atomically(out / "feedback" / f"{row.student}.md", feedback_markdown(row, order))
    write_atomically(out / "gradebook.csv", gradebook_csv(rows, order))
    if progress:
        print(summary_line(rows, out), file=sys.stderr, flush=True)
    return rows


def summary_line(rows: list[StudentRow], out: Path) -> str:
    counts = {status: sum(row.status == status for row in rows) for status in STATUS_ORDER}
    parts = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    return f"graded {len(rows)} notebooks: {parts or 'none'}; gradebook: {out / 'gradebook.csv'}"


# --------------------------------------------------------------------------- command line


def _run(args: argparse.Namespace) -> int:
    try:
        grade(
            args.submissions,
            args.out,
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            memory_mb=args.memory_mb or None,
            jobs=args.jobs,
            fast=args.fast,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    return 0


def register_cli(subparsers: Any) -> None:
    """Add the ``grade`` subcommand to the ``vae-tf`` command line."""
    parser = subparsers.add_parser(
        "grade",
        help="grade a folder of student notebooks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Grade every SUBMISSIONS/*.ipynb (the student's name is the file name).\n\n"
            "Each notebook is copied to a private temporary folder and executed there with a\n"
            "time limit and a memory limit; then the lesson's checks run on the exercise cells\n"
            "as submitted, in a fresh process the notebook cannot reach. Nothing in SUBMISSIONS\n"
            "is changed.\n\n"
            "Writes OUT/gradebook.csv (one row per student, one column per exercise),\n"
            "OUT/feedback/<student>.md (the reason for every lost point) and\n"
            "OUT/executed/<student>.html (the executed notebook).\n\n"
            "Statuses in the gradebook:\n"
            + "\n".join(
                textwrap.fill(
                    meaning, width=79, initial_indent=f"  {status:<17} ", subsequent_indent=" " * 20
                )
                for status, meaning in STATUS_MEANING.items()
            )
            + "\n\nThe exit code is 0 when grading completed, even if students lost points."
        ),
        epilog="example: vae-tf grade submissions/ --out grades/ --jobs 2 --fast",
    )
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="folder of student .ipynb files")
    parser.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="folder for the gradebook and feedback (created)",
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
    parser.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    """Run ``grade`` on its own (``python -m vae_tf.grading.grader``), without the ``vae-tf`` CLI."""
    parser = argparse.ArgumentParser(prog="python -m vae_tf.grading.grader")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["grade", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
