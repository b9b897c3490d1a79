"""Reading course notebooks: which lesson a notebook is, and the code of its exercises.

Shared by the release step (solutions -> lessons), the grader and pytest. Nothing here
runs the code; :mod:`vae_tf.grading.sandbox` does that in a fresh process.

Conventions (see ``docs/ARCHITECTURE.md``):

- notebook metadata ``metadata["vae_course"] = {"lesson": ..., "exercises": [...]}``;
- an exercise cell is a code cell with ``metadata["vae_course"] = {"exercise": name}``;
- a self-check cell calls ``check("name", symbol)``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

METADATA_KEY = "vae_course"
BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
HINT_MARKER = "### HINT:"

# `check("scale_pixels", ...)` or `check('scale_pixels', ...)`, possibly as grading.check(...).
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


class NotebookError(ValueError):
    """A notebook cannot be read or does not follow the course conventions."""


@dataclass
class ExerciseCode:
    """The code a notebook holds for its exercises, ready to run in a fresh namespace.

    ``cells`` lists ``(exercise name, source)`` in notebook order, magics removed.
    """

    path: str
    lesson: str | None
    exercises: list[str] = field(default_factory=list)
    cells: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "path": self.path,
                "lesson": self.lesson,
                "exercises": self.exercises,
                "cells": [list(cell) for cell in self.cells],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ExerciseCode:
        data = json.loads(text)
        return cls(
            path=data["path"],
            lesson=data["lesson"],
            exercises=list(data["exercises"]),
            cells=[(name, source) for name, source in data["cells"]],
        )


def read_notebook_text(text: str, *, name: str = "<notebook>") -> nbformat.NotebookNode:
    """Parse and validate notebook JSON; a :class:`NotebookError` names ``name`` and the fault."""
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:  # noqa: BLE001 - json, nbformat and reader errors alike
        raise NotebookError(f"{name} is not a readable notebook: {_first_line(error)}") from None
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise NotebookError(f"{name} is not a valid notebook: {_first_line(error)}") from None
    return notebook


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read and validate the notebook at ``path`` (nbformat 4)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"{path} cannot be read: {error}") from None
    return read_notebook_text(text, name=str(path))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def cell_course_metadata(cell: Any) -> dict:
    value = cell.get("metadata", {}).get(METADATA_KEY, {})
    return value if isinstance(value, dict) else {}


def exercise_of_cell(cell: Any) -> str | None:
    """The exercise name of a code cell, or ``None`` when it is not an exercise cell."""
    if cell.get("cell_type") != "code":
        return None
    name = cell_course_metadata(cell).get("exercise")
    return name if isinstance(name, str) and name else None


def notebook_course_metadata(notebook: Any) -> dict:
    value = notebook.get("metadata", {}).get(METADATA_KEY, {})
    return value if isinstance(value, dict) else {}


def find_lesson(notebook: Any) -> str | None:
    """The lesson id of a notebook, or ``None`` when it cannot be told.

    The notebook metadata says it first. Students' tools sometimes drop metadata, so the
    content decides next: the exercise names of exercise cells, then the names in
    ``check("name", ...)`` calls, each looked up in the exercise registry.
    """
    from vae_tf.grading.registry import all_exercises, lessons

    lesson = notebook_course_metadata(notebook).get("lesson")
    if isinstance(lesson, str) and lesson in lessons():
        return lesson
    known = all_exercises()
    votes: dict[str, int] = {}
    for cell in notebook.get("cells", []):
        names = []
        name = exercise_of_cell(cell)
        if name:
            names.append(name)
        if cell.get("cell_type") == "code":
            names.extend(_CHECK_CALL.findall(cell.get("source", "")))
        for name in names:
            if name in known:
                votes[known[name].lesson] = votes.get(known[name].lesson, 0) + 1
    if not votes:
        return None
    # The lesson most exercises point at; ties go to the smaller lesson id, to be stable.
    return sorted(votes, key=lambda lesson_id: (-votes[lesson_id], lesson_id))[0]


def strip_magics(source: str) -> str:
    """Remove IPython-only lines (``%magic``, ``%%cell magic``, ``!shell``) from ``source``.

    They are replaced by ``pass`` with the same indentation, so that line numbers in error
    messages still match the cell and an indented magic leaves a valid block.
    """
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = line[: len(line) - len(stripped)]
            lines.append(f"{indent}pass  # IPython-only line removed")
        else:
            lines.append(line)
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


def _check_call_cells(notebook: Any, names: set[str]) -> list[tuple[str, int]]:
    """Exercise names and indices of code cells that are followed by ``check("name", ...)``."""
    found = []
    cells = notebook.get("cells", [])
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or exercise_of_cell(cell):
            continue
        for name in _CHECK_CALL.findall(cell.get("source", "")):
            if name in names:
                found.append((name, index))
    return found


def extract_exercise_code(notebook: Any, *, path: str = "<notebook>") -> ExerciseCode:
    """Collect the source of every exercise cell of ``notebook``, magics removed.

    When a notebook lost its cell metadata (some editors drop it), the code cell right
    before each ``check("name", ...)`` cell is taken as the exercise cell instead.
    """
    from vae_tf.grading.registry import exercises_of_lesson

    lesson = find_lesson(notebook)
    names = [ex.name for ex in exercises_of_lesson(lesson)] if lesson else []
    cells: list[tuple[str, str]] = []
    for cell in notebook.get("cells", []):
        name = exercise_of_cell(cell)
        if name:
            cells.append((name, strip_magics(cell.get("source", ""))))
    if lesson and not cells:
        all_cells = notebook.get("cells", [])
        for name, index in _check_call_cells(notebook, set(names)):
            previous = [cell for cell in all_cells[:index] if cell.get("cell_type") == "code"]
            if previous:
                cells.append((name, strip_magics(previous[-1].get("source", ""))))
    return ExerciseCode(path=path, lesson=lesson, exercises=names, cells=cells)


def exercise_code_from_path(path: str | Path) -> ExerciseCode:
    """Read the notebook at ``path`` and return its exercise code (see :func:`extract_exercise_code`)."""
    return extract_exercise_code(read_notebook(path), path=str(path))
