"""The LMS-ready gradebook (issue 15): roster, Canvas names, exports, weighted points, feedback.

Fast: no notebook runs; the rows are built by hand.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from vae_tf.grading import gradebook
from vae_tf.grading.grader import STATUS_MEANING, StudentRow, feedback_markdown, gradebook_csv
from vae_tf.grading.registry import get_exercise


def _row(student: str, submission: str, scale: float = 4, binarize: float = 4) -> StudentRow:
    row = StudentRow(student, "01_data", "ok", submission=submission)
    row.points = {"scale_pixels": scale, "binarize": binarize}
    row.max_points = {"scale_pixels": 4.0, "binarize": 4.0}
    return row


def _canvas_roster(tmp_path: Path) -> gradebook.Roster:
    path = tmp_path / "canvas.csv"
    path.write_text(
        "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Lesson 1 (77)\n"
        "    Points Possible,,,,,8\n"
        '"Smith, Alice",12345,S1,asmith,A,\n'
        '"Jones, Bob",23456,S2,bjones,A,\n'
        '"=cmd, Eve",34567,S3,eve,B,\n'
        '"Student, Test",99999,,,A,\n',
        encoding="utf-8",
    )
    return gradebook.read_roster(path)


def test_canvas_file_names_give_the_user_id_and_lateness() -> None:
    on_time = gradebook.parse_canvas_name("smithalice_12345_678_01_data.ipynb")
    late = gradebook.parse_canvas_name("jonesbob_LATE_23456_679_01_data-1.ipynb")
    assert on_time == gradebook.CanvasName("smithalice", False, "12345", 678)
    assert late == gradebook.CanvasName("jonesbob", True, "23456", 679)
    assert gradebook.parse_canvas_name("alice.ipynb") is None


def test_a_canvas_export_is_read_without_its_points_line_and_test_student(tmp_path) -> None:
    roster = _canvas_roster(tmp_path)
    assert roster.kind == "canvas"
    assert [entry.student_id for entry in roster.entries] == ["12345", "23456", "34567"]
    assert roster.entries[0].sis_login_id == "asmith" and roster.entries[0].name == "Smith, Alice"


def test_submissions_match_the_roster_and_missing_students_get_a_row(tmp_path) -> None:
    roster = _canvas_roster(tmp_path)
    rows = [
        _row("smithalice_12345_678_01_data", "smithalice_12345_678_01_data.ipynb"),
        _row("bjones", "bjones/01_data.ipynb", scale=2),
        _row("mallory", "mallory.ipynb"),
    ]
    rows = gradebook.apply_roster(rows, roster)
    by_id = {row.student_id: row for row in rows}
    assert by_id["12345"].total == 8 and by_id["23456"].total == 6
    assert by_id["34567"].status == "no-submission" and by_id["34567"].max_total == 8
    assert [row.student for row in gradebook.unmatched(rows)] == ["mallory"]


def test_late_canvas_submissions_are_marked_late(tmp_path) -> None:
    roster = _canvas_roster(tmp_path)
    rows = gradebook.apply_roster(
        [_row("x", "smithalice_LATE_12345_678_01_data.ipynb")], roster, lesson="01_data"
    )
    alice = next(row for row in rows if row.student_id == "12345")
    assert alice.late
    text = gradebook_csv(rows, ["scale_pixels", "binarize"], roster=True)
    assert text.splitlines()[0].startswith("student,student_id,name,late,")
    assert ',12345,"Smith, Alice",yes,' in text


def test_exports_have_one_line_per_roster_student_and_no_formulas(tmp_path) -> None:
    roster = _canvas_roster(tmp_path)
    rows = gradebook.apply_roster(
        [_row("a", "smithalice_12345_678_01_data.ipynb", scale=2.4)], roster
    )
    canvas = list(csv.reader(io.StringIO(gradebook.export_csv("canvas", rows, roster, "L1"))))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "L1"]
    assert canvas[1][0] == "Points Possible" and canvas[1][-1] == "8"
    assert canvas[2] == ["Smith, Alice", "12345", "S1", "asmith", "A", "6.4"]
    assert canvas[3][-1] == "" and canvas[4][0] == "'=cmd, Eve"
    moodle = gradebook.export_csv("moodle", rows, roster, "L1").splitlines()
    gradescope = gradebook.export_csv("gradescope", rows, roster, "L1").splitlines()
    assert len(moodle) == len(gradescope) == 1 + 3


def test_a_plain_roster_maps_file_names_to_ids(tmp_path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("file,student_id,name\nalice.ipynb,S1,Alice\nbob,S2,Bob\n", encoding="utf-8")
    roster = gradebook.read_roster(path)
    assert gradebook.match_submission(roster, "alice.ipynb", "alice").student_id == "S1"
    assert gradebook.match_submission(roster, "bob/01_data.ipynb", "bob").student_id == "S2"
    assert gradebook.match_submission(roster, "carol.ipynb", "carol") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("alice.ipynb\n", "line 1"),
        ("alice,S1\nalice,S2\n", "two students"),
    ],
)
def test_a_bad_roster_names_the_file_and_the_line(tmp_path, text, words) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(gradebook.RosterError, match=words) as error:
        gradebook.read_roster(path)
    assert str(path) in str(error.value)


def test_an_unknown_export_format_is_refused_by_name() -> None:
    assert gradebook.parse_exports("canvas, Moodle") == ("canvas", "moodle")
    with pytest.raises(ValueError, match="'blackboard'"):
        gradebook.parse_exports("canvas,blackboard")


def test_exercise_points_are_shared_by_its_checks() -> None:
    train_step = get_exercise("train_step")
    assert train_step.max_points == 12
    assert train_step.score(len(train_step.checks)) == 12
    assert train_step.score(len(train_step.checks) + 5) == 12  # never above the maximum
    assert get_exercise("build_encoder").max_points == 8
    kl = get_exercise("kl_divergence")
    assert kl.score(1) == round(4 / len(kl.checks), 2)
    assert gradebook.format_points(2.6666) == "2.67" and gradebook.format_points(8.0) == "8"


def test_feedback_says_a_reason_shared_by_exercises_once() -> None:
    row = _row("bob", "bob.ipynb", scale=0, binarize=0)
    reason = "this is a notebook of lesson 03_vae; lesson 01_data is graded"
    row.failures = {
        name: [(check.name, reason) for check in get_exercise(name).checks]
        for name in ("scale_pixels", "binarize")
    }
    text = feedback_markdown(row, ["scale_pixels", "binarize"])
    assert text.count(reason) == 1 and "same reason as in **scale_pixels**" in text
    assert text.count("lost 4 points") == 2
    assert text.count("First hint:") == 2


def test_html_feedback_escapes_student_strings() -> None:
    row = _row("<script>alert(1)</script>", "x.ipynb", scale=3)
    row.failures = {"scale_pixels": [("dtype", "got <b>uint8</b> & more")]}
    page = gradebook.feedback_html(row, ["scale_pixels"], status_meaning=STATUS_MEANING)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "got &lt;b&gt;uint8&lt;/b&gt; &amp; more" in page
    assert "lost 1 point:" in page


# --------------------------------------------------------------------------- through grade()


def _fake_notebook_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace the per-notebook grading by a stand-in: every notebook scores 6 of 8."""
    from vae_tf.grading import grader

    def fake(submission, run):
        row = _row(submission.student, submission.label, scale=2)
        row.file_stem = submission.file_stem
        return row

    monkeypatch.setattr(grader, "grade_notebook", fake)


def test_grade_with_a_roster_writes_ids_no_submission_rows_and_exports(
    tmp_path, monkeypatch
) -> None:
    from vae_tf.grading.grader import grade

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "smithalice_LATE_12345_678_01_data.ipynb").write_text("{}")
    (subs / "mallory.ipynb").write_text("{}")
    _canvas_roster(tmp_path)
    _fake_notebook_grading(monkeypatch)
    out = tmp_path / "out"
    grade(
        subs,
        out,
        isolation="none",
        progress=False,
        roster=tmp_path / "canvas.csv",
        export="canvas,moodle",
        assignment="Lesson 1",
    )
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as file:
        book = {line["student"]: line for line in csv.DictReader(file)}
    alice = book["smithalice_LATE_12345_678_01_data"]
    assert (alice["student_id"], alice["late"], alice["total"]) == ("12345", "yes", "6")
    assert book["Jones, Bob"]["status"] == "no-submission" and book["mallory"]["student_id"] == ""
    canvas = (out / "exports" / "canvas.csv").read_text(encoding="utf-8").splitlines()
    assert canvas[0].endswith(",Lesson 1") and canvas[2].endswith(",6")
    assert (out / "exports" / "moodle.csv").exists()
    assert (out / "feedback" / "mallory.html").read_text().startswith("<!DOCTYPE html>")


def test_grade_refuses_an_export_without_a_roster_before_grading(tmp_path, monkeypatch) -> None:
    from vae_tf.grading.grader import grade

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    _fake_notebook_grading(monkeypatch)
    with pytest.raises(ValueError, match="needs --roster"):
        grade(subs, tmp_path / "out", isolation="none", progress=False, export="canvas")
    assert not (tmp_path / "out").exists()


def test_the_self_check_verdict_shows_the_points_earned() -> None:
    from vae_tf.grading.checking import CheckResult, ExerciseResult

    checks = get_exercise("train_step").checks
    results = [CheckResult(check.name, index == 0) for index, check in enumerate(checks)]
    verdict = ExerciseResult("train_step", results).verdict()
    each = gradebook.format_points(12 / len(checks))
    assert f"1 of {len(checks)} checks passed ({each} of 12 points)" in verdict.splitlines()[0]
