"""Generating student lessons from solution notebooks, and checking that they match.

Solutions are the single source (``solutions/*.ipynb``). A lesson is its solution with:

- every region between a ``### BEGIN SOLUTION`` line and the next ``### END SOLUTION``
  line replaced by ``raise NotImplementedError("Exercise <name>: <hint>")`` at the
  indentation of the BEGIN line (the hint comes from a ``### HINT: ...`` line inside the
  region, else a generic one);
- outputs and execution counts cleared;
- cells whose metadata says ``vae_course.solution_only = true`` dropped;
- all metadata kept, so that the lesson still names its lesson id and exercises.

Generation is deterministic: running it twice gives the same bytes, so a test can fail
when a committed lesson was edited by hand (``vae-tf release --check``).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from vae_tf._files import write_atomically
from vae_tf.grading.notebook_code import (
    BEGIN_MARKER,
    END_MARKER,
    HINT_MARKER,
    METADATA_KEY,
    NotebookError,
    cell_course_metadata,
    exercise_of_cell,
    notebook_course_metadata,
    read_notebook,
)

GENERIC_HINT = "replace this line with your code, then run the check cell below"


class ReleaseError(ValueError):
    """A solution notebook cannot be turned into a lesson; the message names notebook and cell."""


def _is_marker(line: str, marker: str) -> bool:
    return line.strip().startswith(marker)


def replace_solution_regions(source: str, *, exercise: str, where: str) -> str:
    """Replace each BEGIN/END SOLUTION region of ``source`` by a ``NotImplementedError`` stub.

    ``where`` (e.g. ``"solutions/01_data.ipynb, cell 4"``) names the place in error messages.
    """
    lines = source.splitlines()
    output: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _is_marker(line, END_MARKER):
            raise ReleaseError(
                f"{where}: '{END_MARKER}' on line {index + 1} has no '{BEGIN_MARKER}' before it"
            )
        if not _is_marker(line, BEGIN_MARKER):
            output.append(line)
            index += 1
            continue
        begin = index
        indent = line[: len(line) - len(line.lstrip())]
        hint = None
        index += 1
        while index < len(lines) and not _is_marker(lines[index], END_MARKER):
            if _is_marker(lines[index], BEGIN_MARKER):
                raise ReleaseError(
                    f"{where}: '{BEGIN_MARKER}' on line {index + 1} is inside the region opened on "
                    f"line {begin + 1}; close it with '{END_MARKER}' first"
                )
            if hint is None and _is_marker(lines[index], HINT_MARKER):
                hint = lines[index].strip()[len(HINT_MARKER) :].strip()
            index += 1
        if index == len(lines):
            raise ReleaseError(
                f"{where}: '{BEGIN_MARKER}' on line {begin + 1} has no matching '{END_MARKER}'"
            )
        message = json.dumps(f"Exercise {exercise}: {hint or GENERIC_HINT}", ensure_ascii=False)
        output.append(f"{indent}raise NotImplementedError({message})")
        index += 1  # skip the END line
    text = "\n".join(output)
    return text + "\n" if source.endswith("\n") and text else text


def _ensure_cell_ids(notebook: Any, seed: str) -> None:
    """Give cells without an id a deterministic one (nbformat 4.5 wants ids)."""
    if notebook.nbformat_minor < 5:
        notebook.nbformat_minor = 5
    for index, cell in enumerate(notebook.cells):
        if not cell.get("id"):
            digest = hashlib.sha1(f"{seed}:{index}".encode()).hexdigest()[:8]
            cell["id"] = f"cell-{index}-{digest}"


def generate_lesson(solution: Any, *, name: str = "<solution>") -> Any:
    """The student lesson for the solution notebook ``solution`` (a new notebook object)."""
    lesson = copy.deepcopy(solution)
    notebook_stem = Path(name).stem
    cells = []
    for number, cell in enumerate(lesson.cells, start=1):
        if cell_course_metadata(cell).get("solution_only"):
            continue
        if cell.cell_type == "code":
            exercise = exercise_of_cell(cell) or notebook_stem
            cell.source = replace_solution_regions(
                cell.source, exercise=exercise, where=f"{name}, cell {number}"
            )
            cell.outputs = []
            cell.execution_count = None
        elif any(_is_marker(line, BEGIN_MARKER) for line in cell.source.splitlines()):
            raise ReleaseError(f"{name}, cell {number}: solution markers belong in code cells only")
        cells.append(cell)
    lesson.cells = cells
    _ensure_cell_ids(lesson, notebook_stem)
    return lesson


def render_notebook(notebook: Any) -> str:
    """Notebook JSON in nbformat's stable layout (sorted keys, indent 1), ending in a newline."""
    import nbformat

    text = nbformat.writes(notebook, version=4)
    return text if text.endswith("\n") else text + "\n"


def _solution_paths(solutions_dir: Path) -> list[Path]:
    """The solution notebooks; a folder that does not exist or holds none is an error."""
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"solutions folder {solutions_dir} does not exist")
    paths = sorted(path for path in solutions_dir.glob("*.ipynb") if path.is_file())
    if not paths:
        raise FileNotFoundError(f"solutions folder {solutions_dir} holds no *.ipynb notebook")
    return paths


def _read_solution(path: Path) -> Any:
    try:
        return read_notebook(path)
    except NotebookError as error:
        raise ReleaseError(str(error)) from None


def generated_text(solution_path: str | Path) -> str:
    """The exact text ``release`` writes for the solution at ``solution_path``."""
    path = Path(solution_path)
    return render_notebook(generate_lesson(_read_solution(path), name=str(path)))


def release(
    solutions_dir: str | Path = "solutions", lessons_dir: str | Path = "lessons"
) -> list[Path]:
    """Write one lesson in ``lessons_dir`` for each ``*.ipynb`` in ``solutions_dir``.

    Returns the paths written, sorted. Raises :class:`ReleaseError` (naming the notebook and
    cell) when a solution cannot be turned into a lesson; nothing is written in that case.
    """
    solutions_dir, lessons_dir = Path(solutions_dir), Path(lessons_dir)
    texts = {path.name: generated_text(path) for path in _solution_paths(solutions_dir)}
    written = []
    for name, text in texts.items():
        target = lessons_dir / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            write_atomically(target, text)
        written.append(target)
    return written


def check_release(
    solutions_dir: str | Path = "solutions", lessons_dir: str | Path = "lessons"
) -> list[str]:
    """Names of lessons that differ from what generation gives, are missing, or have no solution.

    Each entry reads like ``"lessons/01_data.ipynb (differs from generation)"``. An empty
    list means the committed lessons are exactly what :func:`release` would write.
    """
    solutions_dir, lessons_dir = Path(solutions_dir), Path(lessons_dir)
    problems = []
    solution_names = set()
    for path in _solution_paths(solutions_dir):
        solution_names.add(path.name)
        target = lessons_dir / path.name
        if not target.exists():
            problems.append(f"{target} (missing: run `vae-tf release`)")
        elif target.read_text(encoding="utf-8") != generated_text(path):
            problems.append(
                f"{target} (differs from generation: edit {path}, then run `vae-tf release`)"
            )
    if lessons_dir.is_dir():
        for path in sorted(lessons_dir.glob("*.ipynb")):
            if path.name not in solution_names:
                problems.append(f"{path} (extra: no {solutions_dir / path.name})")
    return problems


def validate_solutions(solutions_dir: str | Path = "solutions") -> list[str]:
    """Problems in the solution notebooks themselves, in plain words (empty when all is well).

    Checks that outputs are cleared, that the notebook names its lesson, that every exercise
    listed in its metadata has an exercise cell and is registered for that lesson, and that
    every exercise cell is listed.
    """
    from vae_tf.grading.registry import all_exercises

    registered = all_exercises()
    problems = []
    for path in _solution_paths(Path(solutions_dir)):
        try:
            notebook = _read_solution(path)
        except ReleaseError as error:
            problems.append(str(error))
            continue
        for number, cell in enumerate(notebook.cells, start=1):
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                problems.append(f"{path}, cell {number}: has outputs; clear them before committing")
                break
        meta = notebook_course_metadata(notebook)
        lesson = meta.get("lesson")
        if not lesson:
            problems.append(f"{path}: metadata['{METADATA_KEY}']['lesson'] is missing")
        listed = list(meta.get("exercises", []))
        cells = [exercise_of_cell(cell) for cell in notebook.cells]
        for name in listed:
            if name not in cells:
                problems.append(
                    f"{path}: exercise '{name}' is listed in the metadata but has no exercise cell"
                )
            if name not in registered:
                problems.append(
                    f"{path}: exercise '{name}' is not registered in vae_tf/grading/exercises/"
                )
            elif lesson and registered[name].lesson != lesson:
                problems.append(
                    f"{path}: exercise '{name}' is registered for lesson "
                    f"'{registered[name].lesson}', not '{lesson}'"
                )
        for name in cells:
            if name and name not in listed:
                problems.append(
                    f"{path}: exercise cell '{name}' is not listed in the notebook metadata"
                )
    return problems


# --------------------------------------------------------------------------- command line


def _run(args: argparse.Namespace) -> int:
    """``vae-tf release``: exit 0 when done, 1 when a lesson differs or a solution is wrong.

    Errors follow the CLI's style (``vae-tf release: error: ...`` on stderr); a
    ``ReleaseError`` (an unreadable notebook) is left to the CLI, which reports it the
    same way.
    """
    import sys

    def error(message: str) -> None:
        print(f"vae-tf release: error: {message}", file=sys.stderr)

    problems = validate_solutions(args.solutions)
    if args.check:
        differing = check_release(args.solutions, args.lessons)
        for line in differing + problems:
            error(line)
        if differing or problems:
            error(
                f"release check failed: {len(differing)} lesson(s) differ, "
                f"{len(problems)} problem(s) in the solutions"
            )
            return 1
        print(f"release check passed: {args.lessons} matches {args.solutions}")
        return 0
    for path in release(args.solutions, args.lessons):
        print(f"wrote {path}")
    for line in problems:
        error(line)
    return 1 if problems else 0


def register_cli(subparsers: Any) -> None:
    """Add the ``release`` subcommand to the ``vae-tf`` command line."""
    parser = subparsers.add_parser(
        "release",
        help="generate the student lessons from the solution notebooks",
        description=(
            "Write lessons/NAME.ipynb for every solutions/NAME.ipynb: each region between "
            "'### BEGIN SOLUTION' and '### END SOLUTION' becomes a "
            '`raise NotImplementedError("Exercise <name>: <hint>")` stub (the hint comes '
            "from a '### HINT: ...' line in the region), outputs are cleared and cells marked "
            "solution_only are dropped. Also checks that the solutions have no outputs and that "
            "every exercise they list has an exercise cell and registered checks. Exit code 1 "
            "when something is wrong."
        ),
    )
    parser.add_argument(
        "--solutions",
        default="solutions",
        metavar="DIR",
        help="solution notebooks (default: solutions)",
    )
    parser.add_argument(
        "--lessons", default="lessons", metavar="DIR", help="where lessons go (default: lessons)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and name each lesson that differs from generation "
        "(for CI and before committing)",
    )
    parser.set_defaults(func=_run)
