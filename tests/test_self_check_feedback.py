"""What a student reads after a self-check: the verdict, the hint ladder, the grader's feedback.

A stub fails every check with one reason, which is said once; each failed self-check or
``hint(name)`` reveals one more hint and shows only that one; once every hint is out,
``hint`` says so plainly.
"""

from __future__ import annotations

import pytest

from vae_tf.grading import checking, hint
from vae_tf.grading.checking import CheckResult, ExerciseResult, check
from vae_tf.grading.registry import get_exercise

LADDER = ("look at the dtype", "which number takes 255 to 1?", "astype, then divide")


@pytest.fixture
def ladder(monkeypatch):
    """scale_pixels with a known ladder of three hints, none revealed yet."""
    monkeypatch.setattr(get_exercise("scale_pixels"), "hints", LADDER)
    monkeypatch.setattr(checking, "_REVEALED", {})


def stub(images):
    raise NotImplementedError("Exercise scale_pixels: return float32 images in [0, 1]")


def wrong(images):
    return images


def test_a_stub_says_not_written_yet_once_after_listing_every_check(ladder, capsys):
    check("scale_pixels", stub)
    out = capsys.readouterr().out
    checks = [c.name for c in get_exercise("scale_pixels").checks]
    assert out.count("not written yet") == 1, out
    assert out.count("Exercise scale_pixels: return float32") == 1, out
    assert all(f"FAIL {name}" in out for name in checks), out
    # The checks come first, then their one reason.
    assert out.index(f"FAIL {checks[-1]}") < out.index("not written yet")


def test_different_reasons_are_each_shown_and_identical_neighbours_once():
    outcome = ExerciseResult(
        "x",
        [
            CheckResult("a", False, "same"),
            CheckResult("b", False, "same"),
            CheckResult("c", True),
            CheckResult("d", False, "other"),
            CheckResult("e", False, "same"),
        ],
    )
    text = outcome.verdict()
    assert text.count("same") == 2 and text.count("other") == 1, text
    lines = text.splitlines()
    assert lines[1:4] == ["  FAIL a", "  FAIL b", "         same"], text
    assert "  ok   c" in lines


def test_each_failed_self_check_shows_only_the_newest_hint(ladder, capsys):
    check("scale_pixels", wrong)
    first = capsys.readouterr().out
    assert "hint 1 of 3: look at the dtype" in first
    check("scale_pixels", wrong)
    second = capsys.readouterr().out
    assert "hint 2 of 3: which number takes 255 to 1?" in second
    assert "hint 1 of 3" not in second, second


def test_hint_reveals_the_next_one_then_says_there_are_no_more(ladder, capsys):
    hint("scale_pixels")
    hint("scale_pixels")
    out = capsys.readouterr().out
    assert "hint 1 of 3" in out and "hint 2 of 3" in out and "hint 3 of 3" not in out
    hint("scale_pixels")
    last = capsys.readouterr().out
    assert last.startswith("hint 3 of 3: astype, then divide"), last
    assert "last hint" in last and "hint 2 of 3" not in last
    hint("scale_pixels")
    after = capsys.readouterr().out
    assert "No more hints" in after and "all 3 hints" in after
    assert "hint 3 of 3: astype, then divide" in after  # the last one, repeated
    assert 'hint("scale_pixels", all=True)' in after


def test_hint_all_prints_every_revealed_hint_and_reveals_nothing_more(ladder, capsys):
    hint("scale_pixels")
    hint("scale_pixels")
    capsys.readouterr()
    hint("scale_pixels", all=True)
    out = capsys.readouterr().out
    assert "hint 1 of 3" in out and "hint 2 of 3" in out and "hint 3 of 3" not in out
    assert checking._REVEALED["scale_pixels"] == 2


def test_a_failed_check_after_every_hint_says_there_are_no_more(ladder, capsys):
    for _ in range(3):
        hint("scale_pixels")
    capsys.readouterr()
    check("scale_pixels", wrong)
    out = capsys.readouterr().out
    assert "No more hints" in out and "hint 1 of 3" not in out, out


def test_unknown_exercise_gets_a_plain_answer(capsys):
    hint("no_such_exercise")
    assert "Cannot give a hint" in capsys.readouterr().out


def test_grader_feedback_says_a_stub_reason_once_but_counts_every_lost_point():
    from vae_tf.grading.grader import StudentRow, feedback_markdown

    outcome = checking.run_checks("scale_pixels", stub, seed=1)
    lost = [(result.name, result.message) for result in outcome.failures()]
    row = StudentRow(
        student="bob",
        lesson="01_data",
        status="ok",
        points={"scale_pixels": 0},
        max_points={"scale_pixels": len(lost)},
        failures={"scale_pixels": lost},
    )
    text = feedback_markdown(row, ["scale_pixels"])
    assert len(lost) == 4 and text.count("lost 4 points") == 1
    assert text.count("not written yet") == 1, text
