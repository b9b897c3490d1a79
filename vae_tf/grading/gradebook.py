"""An LMS-ready gradebook: the roster, the exports and each student's feedback page.

``vae-tf grade SUBMISSIONS --out OUT --roster ROSTER --export canvas,gradescope,moodle``

- :func:`read_roster` reads who is in the class: a gradebook exported from Canvas (the
  columns ``Student, ID, SIS User ID, SIS Login ID, Section``) or a plain CSV
  ``file_or_name,student_id[,name[,email]]`` (a header line is optional);
- :func:`apply_roster` finds each submission's student: by the Canvas user id in a file
  name that Canvas gave (``smithalice_12345_678_01_data.ipynb``, and
  ``smithalice_LATE_12345_678_01_data.ipynb`` for a late one), or by the file or folder
  name the roster lists; every roster student with no notebook gets a ``no-submission``
  row;
- :func:`write_exports` writes one CSV per learning system, one line per roster student,
  with the weighted total (see ``points=`` in :mod:`vae_tf.grading.registry`);
- :func:`feedback_sections` is what a student reads, each reason said once, and
  :func:`feedback_html` its HTML page (every student string escaped).

Every cell of every CSV goes through :func:`vae_tf.grading.grader.csv_safe`: a name the
student controls never becomes a spreadsheet formula nor breaks a line.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vae_tf.grading.grader import StudentRow

EXPORT_FORMATS = ("canvas", "gradescope", "moodle")
ROSTER_LIMIT = 10 * 1024 * 1024  # bytes of a roster file
NO_SUBMISSION = "no-submission"

# Canvas names downloaded submissions <name>[_LATE]_<user id>_<attachment id>_<file>, the
# name being the student's sortable name in lower case without spaces or punctuation.
_CANVAS_FILE = re.compile(
    r"^(?P<name>[^_]+?)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<attachment>\d+)(?:_(?P<rest>.*))?$"
)
_CANVAS_HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def format_points(value: float) -> str:
    """Points as the gradebook prints them: ``4``, ``2.4``, ``2.67`` (at most two decimals)."""
    value = round(float(value), 2)
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _plural_points(value: float) -> str:
    return f"{format_points(value)} point" + ("" if value == 1 else "s")


# --------------------------------------------------------------------------- the roster


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file, the line and what is wrong."""


@dataclass
class RosterEntry:
    """One student of the class, as the roster gives them."""

    student_id: str
    name: str = ""
    keys: list[str] = field(default_factory=list)  # file or student names, casefolded
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""


@dataclass
class Roster:
    """The students of a class, in the roster's order; ``kind`` is ``canvas`` or ``plain``."""

    path: Path
    kind: str
    entries: list[RosterEntry]

    def by_id(self, student_id: str) -> RosterEntry | None:
        return next((entry for entry in self.entries if entry.student_id == student_id), None)


@dataclass(frozen=True)
class CanvasName:
    """What a Canvas file name says: the student's name part, late or not, the user id."""

    name: str
    late: bool
    user_id: str
    attachment: int


def parse_canvas_name(file_name: str) -> CanvasName | None:
    """The parts of a file name Canvas gave to a submission, or ``None`` for another name.

    ``smithalice_LATE_12345_678_01_data.ipynb`` -> ``CanvasName("smithalice", True, "12345",
    678)``.
    """
    base = file_name.rsplit("/", 1)[-1]
    base = base[: -len(".ipynb")] if base.endswith(".ipynb") else base
    match = _CANVAS_FILE.match(base)
    if match is None:
        return None
    return CanvasName(
        match["name"], bool(match["late"]), match["user_id"], int(match["attachment"])
    )


def canvas_key(name: str) -> str:
    """A person's name as Canvas puts it in file names: ``"Smith, Alice"`` -> ``smithalice``."""
    return re.sub(r"[^\w]|_", "", name).casefold()


def read_roster(path: str | Path) -> Roster:
    """The roster in ``path``: a Canvas gradebook export or a plain CSV.

    A Canvas export has the columns ``Student, ID, SIS User ID, SIS Login ID, Section``;
    its ``Points Possible`` line and Canvas' ``Student, Test`` are skipped, and ``ID`` (the
    Canvas user id, which Canvas puts in the file names) is the student id. A plain roster
    has lines ``file_or_name,student_id[,name[,email]]``, the first one optionally a header
    (``file,student_id,name,email``); one student may have several lines (several names).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    RosterError
        For an empty or unreadable file, a line without a student id, a file or name given to
        two students, a student id given twice in a Canvas export.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--roster {path}: no such file")
    raw = path.read_bytes()[: ROSTER_LIMIT + 1]
    if len(raw) > ROSTER_LIMIT:
        raise RosterError(f"--roster {path}: larger than {ROSTER_LIMIT // (1024 * 1024)} MB")
    try:
        text = raw.decode("utf-8-sig")  # Excel and Canvas write a byte-order mark
    except UnicodeDecodeError as error:
        raise RosterError(
            f"--roster {path}: not UTF-8 text (byte {error.start}); save it as CSV UTF-8"
        ) from None
    try:
        lines = [
            (number, [cell.strip() for cell in cells])
            for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1)
            if any(cell.strip() for cell in cells)
        ]
    except csv.Error as error:
        raise RosterError(f"--roster {path}: not a readable CSV file ({error})") from None
    if not lines:
        raise RosterError(f"--roster {path}: the file is empty; it must list the students")
    header = lines[0][1]
    if tuple(header[: len(_CANVAS_HEADER)]) == _CANVAS_HEADER:
        roster = Roster(path, "canvas", _canvas_entries(path, lines[1:]))
    else:
        if len(header) >= 2 and header[1].casefold().replace(" ", "_") in {
            "student_id",
            "id",
            "sid",
        }:
            lines = lines[1:]
        roster = Roster(path, "plain", _plain_entries(path, lines))
    if not roster.entries:
        raise RosterError(f"--roster {path}: no student in it, only a header")
    return roster


def _canvas_entries(path: Path, lines: list[tuple[int, list[str]]]) -> list[RosterEntry]:
    entries: dict[str, RosterEntry] = {}
    for number, cells in lines:
        cells = cells + [""] * (len(_CANVAS_HEADER) - len(cells))
        name, user_id, sis_user_id, sis_login_id, section = cells[: len(_CANVAS_HEADER)]
        # Canvas' own lines: the points of each assignment, and its test student.
        if name.casefold() in {"points possible", "student, test", "test student"}:
            continue
        if not user_id:
            if name.casefold().startswith(("points possible", "muted")):
                continue
            raise RosterError(f"--roster {path}, line {number}: {name!r} has no ID (column 2)")
        if user_id in entries:
            raise RosterError(f"--roster {path}, line {number}: the ID {user_id} appears twice")
        keys = [key for key in {sis_login_id.casefold(), canvas_key(name)} if key]
        entries[user_id] = RosterEntry(
            user_id, name, keys, sis_user_id, sis_login_id, section, email=""
        )
    return list(entries.values())


def _plain_entries(path: Path, lines: list[tuple[int, list[str]]]) -> list[RosterEntry]:
    entries: dict[str, RosterEntry] = {}
    owner: dict[str, str] = {}
    for number, cells in lines:
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise RosterError(
                f"--roster {path}, line {number}: expected file_or_name,student_id[,name[,email]]"
                f" with both of the first two filled, got {len(cells)} cell(s)"
            )
        if len(cells) > 4:
            raise RosterError(
                f"--roster {path}, line {number}: {len(cells)} cells; a plain roster has at most "
                "4 (file_or_name,student_id,name,email)"
            )
        key, student_id = cells[0], cells[1]
        name = cells[2] if len(cells) > 2 else ""
        email = cells[3] if len(cells) > 3 else ""
        key = key[: -len(".ipynb")] if key.casefold().endswith(".ipynb") else key
        if owner.get(key.casefold(), student_id) != student_id:
            raise RosterError(
                f"--roster {path}, line {number}: {key!r} is given to two students, "
                f"{owner[key.casefold()]} and {student_id}"
            )
        owner[key.casefold()] = student_id
        entry = entries.setdefault(student_id, RosterEntry(student_id))
        entry.keys.append(key.casefold())
        entry.name = entry.name or name
        entry.email = entry.email or email
    return list(entries.values())


# --------------------------------------------------------------------------- matching


def _candidates(label: str, student: str) -> list[str]:
    """The names a submission can be listed under: file, stem, folder, Canvas name part."""
    label = label.replace("\\", "/")
    file_name = label.rsplit("/", 1)[-1]
    names = [label, file_name, student, label.split("/", 1)[0]]
    names += [name[: -len(".ipynb")] for name in names if name.endswith(".ipynb")]
    canvas = parse_canvas_name(file_name)
    if canvas is not None:
        names.append(canvas.name)
    return [name.casefold() for name in names if name]


def match_submission(roster: Roster, label: str, student: str) -> RosterEntry | None:
    """The roster student who handed in ``label`` (the path inside SUBMISSIONS), if any.

    The Canvas user id in a Canvas file name decides first; then a file, folder or student
    name that the roster lists; then, for a Canvas roster, the student's name as Canvas
    writes it in file names, when only one student has it.
    """
    canvas = parse_canvas_name(label.replace("\\", "/").rsplit("/", 1)[-1])
    if canvas is not None and roster.by_id(canvas.user_id) is not None:
        return roster.by_id(canvas.user_id)
    candidates = _candidates(label, student)
    for candidate in candidates:
        found = [entry for entry in roster.entries if candidate in entry.keys]
        if len(found) == 1:
            return found[0]
    return None


def apply_roster(
    rows: list[StudentRow], roster: Roster, *, lesson: str | None = None
) -> list[StudentRow]:
    """``rows`` with their students' ids and names, and a row per student with no notebook.

    Each row gets ``student_id``, ``student_name`` and ``late`` (Canvas' ``_LATE_``); a
    submission that no roster line matches keeps an empty ``student_id`` (and is not
    exported). A roster student with no matched submission gets a row with the status
    ``no-submission``, worth 0 of the points of ``lesson`` (or of the only lesson graded).

    Returns
    -------
    list of StudentRow
        Every row, sorted by student.
    """
    from vae_tf.grading.grader import StudentRow
    from vae_tf.grading.registry import exercises_of_lesson

    matched: set[str] = set()
    for row in rows:
        canvas = parse_canvas_name(row.submission.replace("\\", "/").rsplit("/", 1)[-1])
        row.late = bool(canvas and canvas.late)
        entry = match_submission(roster, row.submission, row.student)
        if entry is not None:
            row.student_id, row.student_name = entry.student_id, entry.name
            matched.add(entry.student_id)
    lessons = {row.lesson for row in rows if row.lesson}
    lesson = lesson or (lessons.pop() if len(lessons) == 1 else None)
    taken = {row.student for row in rows}
    missing = []
    for entry in roster.entries:
        if entry.student_id in matched:
            continue
        student = entry.name or entry.student_id
        while student in taken:
            student += f" ({entry.student_id})"
        taken.add(student)
        row = StudentRow(
            student,
            lesson,
            NO_SUBMISSION,
            detail="no notebook of this student was found in the submissions",
            student_id=entry.student_id,
            student_name=entry.name,
        )
        for ex in exercises_of_lesson(lesson) if lesson else []:
            row.points[ex.name] = 0.0
            row.max_points[ex.name] = ex.max_points
        missing.append(row)
    return sorted([*rows, *missing], key=lambda row: row.student)


def unmatched(rows: list[StudentRow]) -> list[StudentRow]:
    """The rows of submissions no roster line names (they are left out of the exports)."""
    return [row for row in rows if not row.student_id]


# --------------------------------------------------------------------------- exports


def parse_exports(text: str | None) -> tuple[str, ...]:
    """``"canvas,moodle"`` -> ``("canvas", "moodle")``; a ``ValueError`` names a wrong one."""
    if not text:
        return ()
    names = tuple(dict.fromkeys(name.strip().casefold() for name in text.split(",") if name))
    wrong = [name for name in names if name not in EXPORT_FORMATS]
    if wrong or not names:
        raise ValueError(
            f"--export {text!r}: {', '.join(map(repr, wrong)) or 'nothing'} is not a format; "
            f"choose among {', '.join(EXPORT_FORMATS)}, separated by commas"
        )
    return names


def _best_rows(rows: list[StudentRow]) -> dict[str, StudentRow]:
    """One row per student id: the best total when a student handed in several notebooks."""
    best: dict[str, StudentRow] = {}
    for row in rows:
        if row.student_id and (
            row.student_id not in best or row.total > best[row.student_id].total
        ):
            best[row.student_id] = row
    return best


def export_csv(fmt: str, rows: list[StudentRow], roster: Roster, assignment: str) -> str:
    """One learning system's import file: a line per roster student, in the roster's order.

    ``canvas``: ``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>`` and the
    ``Points Possible`` line; ``gradescope``: ``Name, SID, Email, Total Score``;
    ``moodle``: ``ID number, Full name, Email address, <assignment>, Feedback``. A student
    with no submission gets an empty score (the learning system then leaves their grade as
    it is); a student with several notebooks gets the best total.
    """
    from vae_tf.grading.grader import STATUS_MEANING, csv_safe

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    best = _best_rows(rows)
    max_total = max((row.max_total for row in rows), default=0.0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = {
        "canvas": [*_CANVAS_HEADER, assignment],
        "gradescope": ["Name", "SID", "Email", "Total Score"],
        "moodle": ["ID number", "Full name", "Email address", assignment, "Feedback"],
    }[fmt]
    writer.writerow([csv_safe(cell) for cell in header])
    if fmt == "canvas":
        writer.writerow(["Points Possible", "", "", "", "", format_points(max_total)])
    for entry in roster.entries:
        row = best.get(entry.student_id)
        submitted = row is not None and row.status != NO_SUBMISSION
        score = format_points(row.total) if submitted and row is not None else ""
        cells = {
            "canvas": [
                entry.name,
                entry.student_id,
                entry.sis_user_id,
                entry.sis_login_id,
                entry.section,
                score,
            ],
            "gradescope": [entry.name, entry.student_id, entry.email, score],
            "moodle": [
                entry.student_id,
                entry.name,
                entry.email,
                score,
                f"{row.status}: {STATUS_MEANING.get(row.status, '')}"
                if submitted and row is not None
                else "",
            ],
        }[fmt]
        writer.writerow([csv_safe(cell) for cell in cells])
    return buffer.getvalue()


def write_exports(
    folder: Path,
    rows: list[StudentRow],
    roster: Roster,
    formats: tuple[str, ...],
    assignment: str,
) -> list[Path]:
    """Write ``folder/<format>.csv`` for each of ``formats``; the paths written."""
    from vae_tf._files import write_atomically
    from vae_tf.grading.grader import safe_text

    written = []
    for fmt in formats:
        path = folder / f"{fmt}.csv"
        write_atomically(path, safe_text(export_csv(fmt, rows, roster, assignment)))
        written.append(path)
    return written


# --------------------------------------------------------------------------- feedback


@dataclass
class LostPoints:
    """Checks of one exercise that failed for one reason; ``said_in`` when said before."""

    checks: list[str]
    points: float
    reason: str
    said_in: str = ""  # the exercise whose section gave this reason already


@dataclass
class ExerciseFeedback:
    """One exercise in a student's feedback."""

    name: str
    points: float
    max_points: float
    first_hint: str = ""
    lost: list[LostPoints] = field(default_factory=list)


def _first_hint(exercise_name: str) -> str:
    from vae_tf.grading.registry import all_exercises

    exercise = all_exercises().get(exercise_name)
    return exercise.hints[0] if exercise and exercise.hints else ""


def _check_points(row: StudentRow, exercise_name: str, lost_checks: int) -> float:
    """What one check of the exercise is worth in ``row``."""
    from vae_tf.grading.registry import all_exercises

    exercise = all_exercises().get(exercise_name)
    if exercise is not None and exercise.checks:
        return exercise.check_points()
    return 1.0 if lost_checks else 0.0


def feedback_sections(row: StudentRow, exercise_order: list[str]) -> list[ExerciseFeedback]:
    """What the student reads, exercise by exercise: points, the first hint, each reason once.

    Checks that failed for the same reason are listed together with the points they cost;
    a reason already given for an earlier exercise (a notebook that did not run, the wrong
    lesson) is not repeated, only pointed to.
    """
    said: dict[str, str] = {}
    sections = []
    for name in [name for name in exercise_order if name in row.max_points]:
        section = ExerciseFeedback(name, row.points.get(name, 0), row.max_points[name])
        lost = row.failures.get(name, [])
        if lost:
            section.first_hint = _first_hint(name)
        each = _check_points(row, name, len(lost))
        by_reason: dict[str, list[str]] = {}
        for check_name, reason in lost:
            by_reason.setdefault(reason, []).append(check_name)
        for reason, checks in by_reason.items():
            section.lost.append(
                LostPoints(checks, round(each * len(checks), 2), reason, said.get(reason, ""))
            )
            said.setdefault(reason, name)
        sections.append(section)
    return sections


def lost_points_words(lost: LostPoints) -> str:
    """``"lost 2 points"``."""
    return "lost " + _plural_points(lost.points)


_HTML_STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.4}"
    "pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}"
    ".hint{background:#eef6ff;padding:.4em .6em}"
)


def feedback_html(
    row: StudentRow, exercise_order: list[str], *, status_meaning: dict[str, str]
) -> str:
    """The feedback of ``row`` as one self-contained HTML page; every student string escaped."""
    from vae_tf.grading.grader import REASON_LIMIT, _truncate, safe_text

    def esc(text: object) -> str:
        return html.escape(safe_text(text), quote=True)

    parts = [
        "<!DOCTYPE html>",
        "<html><head><meta charset='utf-8'>",
        f"<title>Feedback for {esc(row.student)}</title>",
        f"<style>{_HTML_STYLE}</style></head><body>",
        f"<h1>Feedback for {esc(row.student)}</h1>",
        "<ul>",
        f"<li>lesson: {esc(row.lesson or 'unknown')}</li>",
        f"<li>status: <b>{esc(row.status)}</b>: {esc(status_meaning.get(row.status, ''))}</li>",
    ]
    if row.detail:
        parts.append(f"<li>details: {esc(_truncate(row.detail, 600))}</li>")
    parts.append(
        f"<li>points: {format_points(row.total)} of {format_points(row.max_total)}</li></ul>"
    )
    for section in feedback_sections(row, exercise_order):
        parts.append(
            f"<h2>{esc(section.name)}: {format_points(section.points)} of "
            f"{_plural_points(section.max_points)}</h2>"
        )
        if not section.lost:
            parts.append("<p>All checks passed.</p>")
            continue
        if section.first_hint:
            parts.append(f"<p class='hint'>First hint: {esc(section.first_hint)}</p>")
        parts.append("<ul>")
        for lost in section.lost:
            checks = ", ".join(f"<b>{esc(check)}</b>" for check in lost.checks)
            if lost.said_in:
                parts.append(
                    f"<li>{lost_points_words(lost)}: {checks}, for the same reason as in "
                    f"<b>{esc(lost.said_in)}</b> above</li>"
                )
            else:
                reason = esc(_truncate(lost.reason, REASON_LIMIT))
                parts.append(f"<li>{lost_points_words(lost)}: {checks}<pre>{reason}</pre></li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
