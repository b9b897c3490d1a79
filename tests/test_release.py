"""Generating lessons from solutions (``vae_tf.grading.release``) and ``vae-tf release --check``."""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
import pytest
from lesson01_example import lesson01_notebook
from nbformat.v4 import new_code_cell, new_output

from vae_tf.grading.notebook_code import BEGIN_MARKER, END_MARKER
from vae_tf.grading.release import (
    ReleaseError,
    check_release,
    register_cli,
    release,
    replace_solution_regions,
    validate_solutions,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _release_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    args = parser.parse_args(["release", *argv])
    return args.func(args)


@pytest.fixture
def course(tmp_path: Path) -> tuple[Path, Path]:
    solutions, lessons = tmp_path / "solutions", tmp_path / "lessons"
    solutions.mkdir()
    notebook = lesson01_notebook()
    only = new_code_cell("print('instructor notes')")
    only.metadata["vae_course"] = {"solution_only": True}
    notebook.cells.append(only)
    nbformat.write(notebook, solutions / "01_data.ipynb")
    return solutions, lessons


def test_generation_replaces_regions_and_keeps_the_rest(course: tuple[Path, Path]) -> None:
    solutions, lessons = course
    written = release(solutions, lessons)
    assert written == [lessons / "01_data.ipynb"]
    solution = nbformat.read(solutions / "01_data.ipynb", as_version=4)
    lesson = nbformat.read(written[0], as_version=4)
    assert lesson.metadata["vae_course"] == solution.metadata["vae_course"]
    assert len(lesson.cells) == len(solution.cells) - 1  # the solution_only cell is dropped
    scale = lesson.cells[1].source
    assert "### BEGIN SOLUTION" not in scale and "astype" not in scale
    assert (
        '    raise NotImplementedError("Exercise scale_pixels: convert to float32, divide by 255, '
        'add a channel axis when there is none")' in scale.splitlines()
    )
    assert scale.startswith("import numpy as np\n\n\ndef scale_pixels(images):")
    assert "Exercise binarize: replace this line with your code" in lesson.cells[3].source
    assert lesson.cells[1].metadata["vae_course"] == {"exercise": "scale_pixels"}
    for index in (0, 2, 4):
        assert lesson.cells[index].source == solution.cells[index].source


def test_generation_clears_outputs(course: tuple[Path, Path]) -> None:
    solutions, lessons = course
    notebook = nbformat.read(solutions / "01_data.ipynb", as_version=4)
    notebook.cells[2].outputs = [new_output("stream", name="stdout", text="PASSED")]
    notebook.cells[2].execution_count = 3
    nbformat.write(notebook, solutions / "01_data.ipynb")
    lesson = nbformat.read(release(solutions, lessons)[0], as_version=4)
    assert lesson.cells[2].outputs == [] and lesson.cells[2].execution_count is None
    assert any("has outputs" in problem for problem in validate_solutions(solutions))


def test_generation_is_idempotent(course: tuple[Path, Path]) -> None:
    solutions, lessons = course
    first = release(solutions, lessons)[0].read_bytes()
    second = release(solutions, lessons)[0].read_bytes()
    assert first == second and first.endswith(b"\n")
    assert check_release(solutions, lessons) == []


def test_check_fails_and_names_a_hand_edited_lesson(
    course: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    solutions, lessons = course
    release(solutions, lessons)
    edited = nbformat.read(lessons / "01_data.ipynb", as_version=4)
    edited.cells[0].source += "\nA sentence added by hand."
    nbformat.write(edited, lessons / "01_data.ipynb")
    problems = check_release(solutions, lessons)
    assert len(problems) == 1 and "01_data.ipynb" in problems[0] and "differs" in problems[0]
    assert _release_cli("--check", "--solutions", str(solutions), "--lessons", str(lessons)) == 1
    assert "01_data.ipynb" in capsys.readouterr().err


def test_check_reports_missing_and_extra_lessons(course: tuple[Path, Path]) -> None:
    solutions, lessons = course
    lessons.mkdir()
    nbformat.write(lesson01_notebook(), lessons / "99_old.ipynb")
    problems = check_release(solutions, lessons)
    assert any("01_data.ipynb (missing" in problem for problem in problems)
    assert any("99_old.ipynb (extra" in problem for problem in problems)


def test_check_passes_after_release_through_the_cli(course: tuple[Path, Path]) -> None:
    solutions, lessons = course
    assert _release_cli("--solutions", str(solutions), "--lessons", str(lessons)) == 0
    assert _release_cli("--check", "--solutions", str(solutions), "--lessons", str(lessons)) == 0


def test_region_without_end_marker_names_notebook_and_cell(course: tuple[Path, Path]) -> None:
    solutions, lessons = course
    notebook = nbformat.read(solutions / "01_data.ipynb", as_version=4)
    notebook.cells[3].source = notebook.cells[3].source.replace("    ### END SOLUTION\n", "")
    nbformat.write(notebook, solutions / "01_data.ipynb")
    with pytest.raises(
        ReleaseError,
        match=r"01_data\.ipynb, cell 4: '### BEGIN SOLUTION' on line \d+ has no matching",
    ):
        release(solutions, lessons)
    assert not (lessons / "01_data.ipynb").exists()


def test_end_marker_without_begin_is_an_error() -> None:
    with pytest.raises(ReleaseError, match="has no '### BEGIN SOLUTION' before it"):
        replace_solution_regions("x = 1\n### END SOLUTION\n", exercise="x", where="nb, cell 1")


def test_stub_keeps_indentation_of_nested_regions() -> None:
    source = "class A:\n    def f(self):\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION\n"
    assert replace_solution_regions(source, exercise="a", where="nb") == (
        'class A:\n    def f(self):\n        raise NotImplementedError("Exercise a: replace this line '
        'with your code, then run the check cell below")\n'
    )


def test_validation_finds_unlisted_and_unregistered_exercises(course: tuple[Path, Path]) -> None:
    solutions, _ = course
    notebook = nbformat.read(solutions / "01_data.ipynb", as_version=4)
    notebook.metadata["vae_course"]["exercises"] = ["scale_pixels", "no_such_exercise"]
    nbformat.write(notebook, solutions / "01_data.ipynb")
    problems = validate_solutions(solutions)
    assert any(
        "'no_such_exercise' is listed in the metadata but has no exercise cell" in p
        for p in problems
    )
    assert any("'no_such_exercise' is not registered" in p for p in problems)
    assert any("exercise cell 'binarize' is not listed" in p for p in problems)


def test_committed_lessons_match_generation_from_solutions() -> None:
    solutions, lessons = REPO_ROOT / "solutions", REPO_ROOT / "lessons"
    assert list(solutions.glob("*.ipynb")), "solutions/ holds no notebook: nothing to compare"
    problems = check_release(solutions, lessons)
    assert problems == [], "lessons differ from generation (run `vae-tf release`):\n" + "\n".join(
        problems
    )


def test_committed_solutions_are_clean_and_registered() -> None:
    solutions = REPO_ROOT / "solutions"
    assert list(solutions.glob("*.ipynb")), "solutions/ holds no notebook: nothing to validate"
    problems = validate_solutions(solutions)
    assert problems == [], "\n".join(problems)


LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("*.ipynb"))


def test_every_solution_has_its_lesson_so_the_lesson_tests_below_have_cases():
    # The tests parametrized by LESSONS would pass vacuously, with no case, on an empty list.
    solutions = sorted(path.name for path in (REPO_ROOT / "solutions").glob("*.ipynb"))
    assert solutions, "solutions/ holds no notebook"
    assert [path.name for path in LESSONS] == solutions


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS, ids=[path.stem for path in LESSONS])
def test_generated_lesson_fails_every_check_with_a_plain_message(path):
    from vae_tf.grading.notebook_code import exercise_code_from_path
    from vae_tf.grading.registry import exercises_of_lesson
    from vae_tf.grading.sandbox import run_sandbox

    code = exercise_code_from_path(path)
    result = run_sandbox(code, timeout=600, memory_mb=4096)
    assert result.status == "ok", result.message
    for exercise in exercises_of_lesson(code.lesson):
        outcome = result.exercises[exercise.name]
        assert outcome.points == 0, f"{path.name}: a stub of {exercise.name} earned points"
        for failure in outcome.failures():
            # The student reads what to do, not a traceback.
            assert "not written yet" in failure.message, failure.message
            assert "Traceback" not in failure.message
            assert f"Exercise {exercise.name}" in failure.message  # the stub's hint


def _exercise_cells(folder: str) -> dict[str, tuple[str, str]]:
    """Every exercise cell of the committed notebooks in ``folder``: name -> (lesson, source)."""
    cells = {}
    for path in sorted((REPO_ROOT / folder).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            name = cell.metadata.get("vae_course", {}).get("exercise")
            if name:
                cells[name] = (path.stem, cell.source)
    return cells


def _solution_lines(source: str) -> list[str]:
    """The code lines between the solution markers (comments and short lines left out)."""
    inside, found = False, []
    for line in source.splitlines():
        if BEGIN_MARKER in line:
            inside = True
        elif END_MARKER in line:
            inside = False
        elif inside:
            found.append(line.strip())
    return [line for line in found if len(line) > 12 and not line.startswith("#")]


def test_no_lesson_stub_and_no_hint_holds_a_line_of_the_answer() -> None:
    from vae_tf.grading.registry import get_exercise

    solutions, lessons = _exercise_cells("solutions"), _exercise_cells("lessons")
    assert solutions.keys() == lessons.keys()
    for name, (lesson, source) in solutions.items():
        answer = _solution_lines(source)
        assert answer, f"{lesson}: exercise {name} has no solution lines"
        hints = get_exercise(name).hints
        assert 2 <= len(hints) <= 4, f"{name}: {len(hints)} hints, the ladder needs 2 to 4"
        for line in answer:
            assert line not in lessons[name][1], f"lessons/{lesson}: {name}'s stub holds {line!r}"
            for hint in hints:
                assert line not in hint, f"a hint of {name} gives the line {line!r}"
