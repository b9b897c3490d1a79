"""One hostile or unlucky submission costs only its own row, and reruns never mix results.

What broke the whole gradebook before (issue 15): an exception message with an unpaired
surrogate, a file name that is not UTF-8, two names that become one; an empty folder that
"graded 0 notebooks" with exit code 0; a rerun that left stale feedback behind. The quick
tests here replace the per-notebook grading by a stand-in (no sandbox needed), so they test
the folder-level logic alone; the slow one grades real notebooks.
"""

from __future__ import annotations

import argparse
import csv
import os
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest
from lesson01_example import lesson01_notebook

from vae_tf.grading import grader
from vae_tf.grading.grader import (
    NothingToGrade,
    StudentRow,
    extract_zip,
    find_submissions,
    grade,
    name_submissions,
    register_cli,
)

SURROGATE = "bad \ud800 message"


def _touch(path: Path, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.fsencode(path), "w", encoding="utf-8") as file:
        file.write(text)


def _fake_grading(monkeypatch: pytest.MonkeyPatch, *, fail_on: str | None = None) -> list[str]:
    """Replace the per-notebook grading by a stand-in whose reasons hold a lone surrogate."""
    seen = []

    def fake(submission, run):
        seen.append(submission.student)
        if submission.student == fail_on:
            raise KeyboardInterrupt("SIGTERM")
        row = StudentRow(
            submission.student,
            "01_data",
            "error",
            detail=SURROGATE,
            submission=submission.label,
            file_stem=submission.file_stem,
        )
        row.points, row.max_points = (
            {"scale_pixels": 3, "binarize": 4},
            {"scale_pixels": 4, "binarize": 4},
        )
        row.failures = {"scale_pixels": [("scales 0..255 to 0..1", SURROGATE)]}
        return row

    monkeypatch.setattr(grader, "grade_notebook", fake)
    return seen


def _gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_a_lone_surrogate_and_a_non_utf8_file_name_cost_no_one_their_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = tmp_path / "subs"
    _touch(subs / "alice.ipynb")
    _touch(Path(os.fsdecode(os.fsencode(subs) + b"/jos\xe9.ipynb")))
    _fake_grading(monkeypatch)
    rows = grade(subs, tmp_path / "out", isolation="none", progress=False)
    assert [row.student for row in rows] == ["alice", "jos\ufffd"]
    book = _gradebook(tmp_path / "out")
    assert [(line["student"], line["submission"], line["total"]) for line in book] == [
        ("alice", "alice.ipynb", "7"),
        ("jos\ufffd", "jos\ufffd.ipynb", "7"),
    ]
    feedback = (tmp_path / "out" / "feedback" / "alice.md").read_text(encoding="utf-8")
    assert "bad \\ud800 message" in feedback
    assert sorted(p.name for p in (tmp_path / "out" / "feedback").iterdir()) == [
        "alice.html",
        "alice.md",
        "jos.html",
        "jos.md",
    ]


def test_names_that_become_one_are_made_unique_and_the_submitted_name_is_kept(
    tmp_path: Path,
) -> None:
    raw = [b"caf\xe9", b"caf\xe8", b"Alice", b"alice", b"=cmd|x"]
    found = [(tmp_path / "x", os.fsdecode(name) + ".ipynb", os.fsdecode(name)) for name in raw]
    named = name_submissions(found)
    students = [s.student for s in named]
    stems = [s.file_stem.casefold() for s in named]
    assert len(set(students)) == len(students) == 5 and len(set(stems)) == 5
    assert students[:2] == ["caf\ufffd", "caf\ufffd-2"]
    assert named[1].label == "caf\ufffd.ipynb"
    assert all(ch.isalnum() or ch in "._-" for s in named for ch in s.file_stem)


def test_per_student_folders_are_found_and_named_after_the_folder(tmp_path: Path) -> None:
    _touch(tmp_path / "top.ipynb")
    _touch(tmp_path / "alice" / "01_data.ipynb")
    _touch(tmp_path / "bob" / "01_data.ipynb")
    _touch(tmp_path / "bob" / "02_autoencoder.ipynb")
    _touch(tmp_path / ".hidden" / "x.ipynb")
    _touch(tmp_path / "carol" / "deeper" / "x.ipynb")  # two folders down: not a submission
    os.symlink(tmp_path / "alice", tmp_path / "linked")  # a link to a folder is not followed
    found = {student: label for _, label, student in find_submissions(tmp_path)}
    assert found == {
        "top": "top.ipynb",
        "alice": "alice/01_data.ipynb",
        "bob/01_data": "bob/01_data.ipynb",
        "bob/02_autoencoder": "bob/02_autoencoder.ipynb",
    }
    stems = {s.student: s.file_stem for s in name_submissions(find_submissions(tmp_path))}
    assert stems["bob/01_data"] == "bob_01_data"


def test_a_zip_is_extracted_without_escaping_its_folder(tmp_path: Path) -> None:
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("alice.ipynb", "{}")
        bundle.writestr("bob/01_data.ipynb", "{}")
        bundle.writestr("../escape.ipynb", "{}")
        bundle.writestr("/abs.ipynb", "{}")
        bundle.writestr("a/b/c.ipynb", "{}")
        bundle.writestr("notes.txt", "not a notebook")
        link = zipfile.ZipInfo("link.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
        bundle.writestr("big.ipynb", "x" * 200)
    dest = tmp_path / "extracted"
    dest.mkdir()
    skipped = extract_zip(archive, dest, limit=100)
    assert sorted(skipped) == ["../escape.ipynb", "/abs.ipynb", "a/b/c.ipynb", "link.ipynb"]
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["alice.ipynb", "big.ipynb", "bob/01_data.ipynb"]
    assert (dest / "big.ipynb").stat().st_size == 101  # cut: reading it says "larger than"
    assert not (tmp_path / "escape.ipynb").exists()


def test_a_zip_of_submissions_is_graded_like_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("alice/01_data.ipynb", "{}")
        bundle.writestr("bob.ipynb", "{}")
    _fake_grading(monkeypatch)
    rows = grade(archive, tmp_path / "out", isolation="none", progress=False)
    assert [(row.student, row.submission) for row in rows] == [
        ("alice", "alice/01_data.ipynb"),
        ("bob", "bob.ipynb"),
    ]


def test_an_empty_folder_is_an_error_and_leaves_the_previous_gradebook(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "subs").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "gradebook.csv").write_text("student,total\nalice,8\n")
    with pytest.raises(NothingToGrade, match="no notebook to grade"):
        grade(tmp_path / "subs", out, isolation="none", progress=False)
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(
        ["grade", str(tmp_path / "subs"), "--out", str(out), "--isolation", "none"]
    )
    assert args.func(args) == 2
    assert "no notebook to grade" in capsys.readouterr().err
    assert (out / "gradebook.csv").read_text() == "student,total\nalice,8\n"


def test_a_rerun_replaces_the_results_and_leaves_no_stale_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    _touch(subs / "alice.ipynb")
    _touch(subs / "bob.ipynb")
    _fake_grading(monkeypatch)
    grade(subs, out, isolation="none", progress=False)
    assert (out / "feedback" / "bob.md").exists()
    (subs / "bob.ipynb").unlink()
    grade(subs, out, isolation="none", progress=False)
    assert [p.name for p in (out / "feedback").glob("*.md")] == ["alice.md"]
    assert [line["student"] for line in _gradebook(out)] == ["alice"]
    assert not [p for p in out.iterdir() if p.name.startswith(".grading-")]


def test_a_stopped_run_keeps_what_it_graded_and_the_previous_gradebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("alice", "bob", "carol"):
        _touch(subs / f"{student}.ipynb")
    out.mkdir()
    (out / "gradebook.csv").write_text("the previous run's gradebook\n")
    _fake_grading(monkeypatch, fail_on="carol")
    with pytest.raises(grader.GradingInterrupted, match="2 notebook") as stopped:
        grade(subs, out, isolation="none", progress=False, jobs=1)
    assert "no gradebook was written" in str(stopped.value)
    assert (out / "gradebook.csv").read_text() == "the previous run's gradebook\n"
    kept = out / "incomplete-run"
    assert [line["student"] for line in _gradebook(kept)] == ["alice", "bob"]
    assert sorted(p.name for p in (kept / "feedback").glob("*.md")) == ["alice.md", "bob.md"]


@pytest.mark.slow
def test_real_notebooks_with_a_surrogate_message_and_a_non_utf8_name_are_all_graded(
    tmp_path: Path,
) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    hostile = lesson01_notebook(
        scale_pixels_source="def scale_pixels(images):\n    raise ValueError('bad \\ud800 here')\n"
    )
    nbformat.write(hostile, subs / "mallory.ipynb")
    with open(os.fsencode(subs) + b"/jos\xe9.ipynb", "w", encoding="utf-8") as file:
        file.write(nbformat.writes(lesson01_notebook()))
    rows = grade(subs, tmp_path / "out", isolation="auto", progress=False, fast=True, jobs=2)
    totals = {row.student: row.total for row in rows}
    assert totals == {"jos\ufffd": 8, "mallory": 4}
    feedback = (tmp_path / "out" / "feedback" / "mallory.md").read_text(encoding="utf-8")
    assert "\\ud800" in feedback and feedback.count("lost 4 points") == 1


def _hostile_html_notebook() -> nbformat.NotebookNode:
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    markdown = (
        '<script>alert("md")</script>\n<img src=x onerror="alert(1)">\n'
        '<a href="javascript:alert(3)">y</a><iframe src="http://evil"></iframe>'
    )
    cell = new_code_cell("x")
    cell.outputs = [
        new_output(
            "display_data",
            data={"text/html": '<script>alert("out")</script><svg onload=alert(5)></svg>'},
        ),
        new_output("display_data", data={"application/javascript": 'alert("js")'}),
        new_output(
            "display_data",
            data={"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(6)"/>'},
        ),
    ]
    return new_notebook(cells=[new_markdown_cell(markdown), cell])


@pytest.mark.slow
def test_the_executed_html_holds_no_script_or_event_handler_from_the_student() -> None:
    import re

    from vae_tf.grading.isolation import find_isolation

    html = grader.render_html(_hostile_html_notebook(), isolation=find_isolation("auto"))
    assert "jp-Notebook" in html  # really rendered
    for live in ("<script>alert", "<img src=x onerror", "<svg onload", 'href="javascript:'):
        assert live not in html, live
    assert 'alert("js")' not in html and "alert(6)" not in html
    assert not re.search(r"<iframe", html)


@pytest.mark.slow
def test_a_markdown_cell_that_renders_for_hours_does_not_hang_the_grader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbformat.v4 import new_markdown_cell

    monkeypatch.setattr(grader, "RENDER_TIMEOUT", 5)
    notebook = lesson01_notebook()
    notebook.cells.append(new_markdown_cell("[" * 1_000_000))  # quadratic in nbconvert
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(notebook, subs / "mallory.ipynb")
    rows = grade(subs, tmp_path / "out", isolation="auto", progress=False, fast=True)
    assert [(row.student, row.total) for row in rows] == [("mallory", 8)]
    html = (tmp_path / "out" / "executed" / "mallory.html").read_text(encoding="utf-8")
    assert "not rendered" in html and "longer than 5 s" in html


def test_an_executed_notebook_of_millions_of_tiny_lists_is_not_parsed() -> None:
    forged = b'{"status": "ok", "detail": "", "notebook": [' + b"[]," * 7_000_000 + b"[]]}"
    assert grader._executed_from_answer(forged) is None
