"""Hostile submissions against ``vae-tf grade``: OS isolation, files and names, output.

The attack classes 3, 4 and 5 of issue 8, each as a small lesson-01 notebook: a right
scale_pixels and a wrong binarize (all zeros: 0 points when graded honestly), plus an attack
in a cell and, where it matters, atop the scale_pixels exercise cell, which runs in the
checks' sandbox. So an attacker's row shows what the attack did: a forged grade shows as
binarize points, an attack that broke its own checks as scale_pixels points lost. (Stubs as
attackers would score 0 whatever the attack did.) All of them and two honest students go into ONE folder, graded once
by ``vae-tf grade`` as a subprocess (``--jobs 2 --fast --lesson 01_data``), with a fake
secret in the grader's environment and HOME. Each test then asserts on that run: the
attacker's row, the honest rows, the submissions and the package byte for byte, nothing
left running, no secret in OUT, a living grader with its summary line.

They run only where bubblewrap can run (the isolation is the point); elsewhere they skip
and say why.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from lesson01_example import lesson01_notebook
from test_judge_attacks import FORGED_ANSWER, IMPORTED, MONKEYPATCH, READ_THE_FILE, WRONG_BINARIZE

from vae_tf.grading.isolation import IsolationUnavailable, find_isolation, package_dir
from vae_tf.grading.release import generate_lesson

REPO_ROOT = Path(__file__).resolve().parents[1]
MARK = "vae-attack-" + secrets.token_hex(4)  # in every attacker process's command line
LIMITS = ["--timeout", "60", "--cell-timeout", "30", "--memory-mb", "1500", "--jobs", "2"]
HONEST = ("alice", "zz_honest")
FORMULA_NAME = '=HYPERLINK("evil.example","click")'
NEWLINE_NAME = "kim\nnew,line"


def _bwrap_or_skip() -> None:
    try:
        find_isolation("bwrap")
    except IsolationUnavailable as error:
        pytest.skip(f"bubblewrap cannot run on this machine, so the sandbox is not tested: {error}")


# --------------------------------------------------------------------------- the attacks

KILLER = """\
import os, signal
# Class 3: stop, then kill, the grader and everything of the grading that can be seen. (Only
# those: were the sandbox to fail, the test must not take down the machine's other processes.)
def ours(pid):
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False
    return any(word in cmdline for word in (b"vae_tf", b"bwrap", b"ipykernel", b"pytest"))
for pid in sorted({os.getppid(), GRADER_PID, *[int(p) for p in os.listdir("/proc") if p.isdigit()]}):
    if pid != os.getpid() and (pid in (os.getppid(), GRADER_PID) or ours(pid)):
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
"""

REWRITER = """\
import glob, os
# Class 3: find SUBMISSIONS and OUT (from /proc, or known outright) and rewrite them.
paths = {SUBMISSIONS, OUT}
for cmdline in glob.glob("/proc/*/cmdline"):
    try:
        paths.update(a for a in open(cmdline, "rb").read().decode().split("\\0") if a.startswith("/"))
    except OSError:
        pass
targets = [SUBMISSIONS + "/zz_honest.ipynb", SUBMISSIONS + "/planted.ipynb", OUT + "/gradebook.csv",
           OUT + "/feedback/zz_honest.md"]
for target in targets + [p + "/pwned.txt" for p in paths]:
    try:
        with open(target, "w") as file:
            file.write(STUB_JSON)
        print("WROTE", target)
    except OSError as error:
        print("refused", target, type(error).__name__)
"""

DAEMON = """\
import os, subprocess, sys
# Class 3: a daemon that outlives the run and forges the gradebook afterwards.
loop = '''
import time
deadline = time.time() + 90
while time.time() < deadline:
    for target in (OUT + "/gradebook.csv", SUBMISSIONS + "/zz_honest.ipynb"):
        try:
            open(target, "w").write("forged")
        except OSError:
            pass
    time.sleep(0.2)
'''.replace("OUT", repr(OUT)).replace("SUBMISSIONS", repr(SUBMISSIONS))
subprocess.Popen([sys.executable, "-c", loop, "MARK"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", loop, "MARK"])
    os._exit(0)
"""

PACKAGE_WRITER = """\
import os, site, sys
# Class 3: make this and every later student pass by editing the installed checks.
written = []
for target in (PACKAGE + "/grading/exercises/lesson_01_data.py", PACKAGE + "/grading/judge.py",
               PACKAGE + "/sitecustomize.py", os.path.dirname(PACKAGE) + "/sitecustomize.py",
               *[p + "/usercustomize.py" for p in site.getsitepackages()]):
    try:
        with open(target, "a") as file:
            file.write("\\nimport builtins; builtins.PWNED = True\\n")
        written.append(target)
    except OSError:
        pass
print("written:", written)
"""

LEAKER = """\
import glob, os
# Class 3: put the instructor's environment and HOME into the feedback and the HTML.
found = [repr(dict(os.environ))]
for path in [REAL_HOME + "/.secret", os.path.expanduser("~/.secret"), *glob.glob("/proc/*/environ"),
             *glob.glob("/root/*"), *glob.glob(REAL_HOME + "/*")]:
    try:
        found.append(open(path, "rb").read(4096).decode("utf-8", "replace"))
    except OSError:
        pass
print("\\n".join(found))
raise RuntimeError("\\n".join(found)[:3000])
"""

FLOOD = """\
import sys
# Class 5: 300 MB of output.
chunk = "x" * (1 << 20)
for _ in range(300):
    sys.stdout.write(chunk)
"""

FILE_BOMB = """\
# Class 5: a 1 GB file in the scratch folder.
with open("bomb.bin", "wb") as file:
    for _ in range(1024):
        file.write(b"0" * (1 << 20))
"""


def _attacker(cell: str, *, in_checks: bool = True) -> nbformat.NotebookNode:
    """Right scale_pixels, wrong binarize, ``cell`` as an extra cell and (``in_checks``) atop
    the scale_pixels exercise cell.

    An exercise cell runs in the checks' sandbox, an extra cell in the notebook's.
    """
    notebook = lesson01_notebook(binarize_source=WRONG_BINARIZE, extra_cells=[cell])
    if in_checks:
        exercise = next(c for c in notebook.cells if c.metadata.get("vae_course"))
        assert exercise.metadata["vae_course"]["exercise"] == "scale_pixels"
        exercise.source = cell + "\n" + exercise.source
    return notebook


# Classes 1, 2 and 6 (the judge's side, see tests/test_judge_attacks.py), in the same folder:
# the binarize cell attacks, scale_pixels is written honestly and keeps its 4 points.
NAN_BINARIZE = """\
import numpy as np


def binarize(images, seed):
    return np.full(np.shape(images), np.nan, dtype=np.float32)
"""
JUDGE_ATTACKS = {
    "o_fake_answer": FORGED_ANSWER,
    "p_monkeypatch": MONKEYPATCH,
    "q_package_import": IMPORTED,
    "r_package_source": READ_THE_FILE,
    "s_nan": NAN_BINARIZE,
}


def _fill(source: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        source = source.replace(name, value)
    return source


def _hash_tree(folder: Path) -> dict[str, str]:
    hashes = {}
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts or path.is_symlink() or not path.is_file():
            continue
        hashes[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _write_submissions(folder: Path, outside: Path, values: dict[str, str]) -> None:
    folder.mkdir()
    solution = lesson01_notebook()
    stubs = generate_lesson(solution)
    values = {**values, "STUB_JSON": repr(nbformat.writes(stubs))}
    notebooks = {
        "alice": solution,
        "zz_honest": solution,
        "a_killer": _attacker(_fill(KILLER, values)),
        "b_rewriter": _attacker(_fill(REWRITER, values)),
        "c_daemon": _attacker(_fill(DAEMON, values)),
        "d_package": _attacker(_fill(PACKAGE_WRITER, values)),
        "e_leaker": _attacker(_fill(LEAKER, values)),
        "m_flood": _attacker(FLOOD),
        "n_file_bomb": _attacker(FILE_BOMB, in_checks=False),
        FORMULA_NAME: stubs,
        NEWLINE_NAME: stubs,
        **{
            student: lesson01_notebook(binarize_source=attack)
            for student, attack in JUDGE_ATTACKS.items()
        },
    }
    for student, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{student}.ipynb")
    # Class 4: things named *.ipynb that are not regular files, and another lesson.
    nbformat.write(solution, outside / "solution.ipynb")
    (folder / "f_link_to_solution.ipynb").symlink_to(outside / "solution.ipynb")
    (folder / "g_link_to_passwd.ipynb").symlink_to("/etc/passwd")
    (folder / "h_folder.ipynb").mkdir()
    os.mkfifo(folder / "i_fifo.ipynb")
    (folder / "j_loop.ipynb").symlink_to(folder / "j_loop.ipynb")
    (folder / "l_wrong_lesson.ipynb").write_bytes(
        (REPO_ROOT / "solutions" / "03_vae.ipynb").read_bytes()
    )


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> dict:
    _bwrap_or_skip()
    root = tmp_path_factory.mktemp("attacks")
    submissions, out, outside = root / "submissions", root / "out", root / "outside"
    home, tmp = root / "instructor_home", root / "tmp"
    for folder in (outside, home, tmp):
        folder.mkdir()
    secret_env, secret_home = "ENV-" + secrets.token_hex(8), "HOME-" + secrets.token_hex(8)
    (home / ".secret").write_text(secret_home)
    values = {
        "GRADER_PID": str(os.getpid()),
        "SUBMISSIONS": repr(str(submissions)),
        "OUT": repr(str(out)),
        "PACKAGE": repr(str(package_dir())),
        "REAL_HOME": repr(str(home)),
        "MARK": repr(MARK),
    }
    _write_submissions(submissions, outside, values)
    before = {"submissions": _hash_tree(submissions), "package": _hash_tree(package_dir())}
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "VAE_TF_TEST_SECRET": secret_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "vae_tf.cli", "grade", str(submissions), "--out", str(out)]
    command += ["--lesson", "01_data", "--fast", *LIMITS]
    grader = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak_rss, seen = 0, {}
    watched = psutil.Process(grader.pid)
    while grader.poll() is None:
        try:
            peak_rss = max(peak_rss, watched.memory_info().rss)
            for process in watched.children(recursive=True):
                seen.setdefault((process.pid, process.create_time()), process)
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout, stderr = grader.communicate()
    time.sleep(3)  # a daemon that survived would write the forged gradebook now
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {
        "root": root,
        "submissions": submissions,
        "out": out,
        "tmp": tmp,
        "before": before,
        "returncode": grader.returncode,
        "stderr": stderr,
        "rows": {row["student"]: row for row in rows},
        "gradebook": (out / "gradebook.csv").read_text(encoding="utf-8"),
        "peak_rss_mb": peak_rss / 2**20,
        "secrets": (secret_env, secret_home),
        "descendants": list(seen.values()),
    }


def _row(attacked: dict, student: str) -> dict:
    return attacked["rows"][student]


def _feedback(attacked: dict, student: str) -> str:
    return (attacked["out"] / "feedback" / f"{student}.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the whole run


@pytest.mark.slow
def test_grader_survives_every_attack_and_prints_its_summary(attacked: dict) -> None:
    assert attacked["returncode"] == 0, attacked["stderr"][-2000:]
    summary = attacked["stderr"].strip().splitlines()[-1]
    assert (
        summary.startswith(f"graded {17 + len(JUDGE_ATTACKS)} notebooks:")
        and "isolation: bwrap" in summary
    )
    assert "bubblewrap sandbox" in (attacked["out"] / "isolation.txt").read_text()


@pytest.mark.slow
def test_honest_students_keep_full_marks_next_to_attackers(attacked: dict) -> None:
    for student in HONEST:
        row = _row(attacked, student)
        assert (row["lesson"], row["status"], row["total"], row["max_total"]) == (
            "01_data",
            "ok",
            "8",
            "8",
        )


# What each attacker's code earns when its attack fails: binarize 0 (it returns zeros; a
# forged grade would show here), scale_pixels 4 (right) unless the attack stops its own
# exercise cell or its own checks. The killer, in the checks' sandbox, sees only that
# sandbox's processes: the checks run to the end. The leaker raises in the cell, so
# scale_pixels is undefined. The flood's 300 MB of output end the checks' sandbox, which
# then counts nothing. The file bomb is not in an exercise cell: its checks run as usual.
ATTACKER_POINTS = {
    "a_killer": ("4", "0"),
    "b_rewriter": ("4", "0"),
    "c_daemon": ("4", "0"),
    "d_package": ("4", "0"),
    "e_leaker": ("0", "0"),
    "m_flood": ("0", "0"),
    "n_file_bomb": ("4", "0"),
}


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(ATTACKER_POINTS))
def test_attackers_get_what_their_code_earns_and_no_more(attacked: dict, student: str) -> None:
    row = _row(attacked, student)
    scale_pixels, binarize = ATTACKER_POINTS[student]
    total = str(int(scale_pixels) + int(binarize))
    assert (row["lesson"], row["max_total"]) == ("01_data", "8")
    got = (row["scale_pixels"], row["binarize"], row["total"])
    assert got == (scale_pixels, binarize, total), (
        row["status"],
        _feedback(attacked, student)[:800],
    )


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(JUDGE_ATTACKS))
def test_judge_attackers_lose_the_attacked_exercise_only(attacked: dict, student: str) -> None:
    """Fake answers, patched builtins, the package's own answer and NaN: binarize scores 0.

    The fake answer ends the checks' process (``os._exit``) before any probe ran, so it
    loses scale_pixels too: the judge counts only what it judged.
    """
    row = _row(attacked, student)
    kept = "0" if student == "o_fake_answer" else "4"
    assert (row["lesson"], row["binarize"], row["scale_pixels"]) == ("01_data", "0", kept)
    assert (row["total"], row["max_total"]) == (kept, "8")


@pytest.mark.slow
def test_submissions_and_package_are_unchanged_byte_for_byte(attacked: dict) -> None:
    assert _hash_tree(attacked["submissions"]) == attacked["before"]["submissions"]
    assert _hash_tree(package_dir()) == attacked["before"]["package"]
    assert not (attacked["submissions"] / "planted.ipynb").exists()
    assert "forged" not in attacked["gradebook"] and "pwned" not in attacked["gradebook"]


@pytest.mark.slow
def test_inside_the_sandbox_only_the_scratch_folder_is_writable(attacked: dict) -> None:
    executed = attacked["out"] / "executed"
    package = executed / "d_package.html"
    written = re.search(r"written: \[(.*?)\]", html.unescape(package.read_text(encoding="utf-8")))
    assert written, "the package writer's report is missing"
    # Nothing of the package or the Python environment is writable. Only the sandbox's own
    # in-memory /tmp is: a repository that lives under /tmp (a CI clone) has its parent
    # folder recreated there, private to that sandbox and gone with it.
    landed = [path.strip(" '") for path in written.group(1).split(",") if path.strip()]
    assert all(path.startswith("/tmp/") for path in landed), landed
    protected = (str(package_dir()), sys.prefix, sys.base_prefix)
    assert not any(path.startswith(protected) for path in landed), landed
    rewriter = (executed / "b_rewriter.html").read_text(encoding="utf-8")
    assert "refused " + str(attacked["out"]) + "/gradebook.csv" in rewriter
    assert "WROTE " + str(attacked["submissions"]) not in rewriter


@pytest.mark.slow
def test_nothing_started_by_a_submission_is_left_running(attacked: dict) -> None:
    # Every process the grader started (sandboxes, kernels, the attackers' daemons, seen
    # while it ran), and anything anywhere that carries the attackers' mark.
    assert len(attacked["descendants"]) > 10
    alive = [process for process in attacked["descendants"] if process.is_running()]
    assert alive == []
    marked = [
        process.pid
        for process in psutil.process_iter(["cmdline"])
        if MARK in " ".join(process.info["cmdline"] or [])
    ]
    assert marked == []


@pytest.mark.slow
def test_no_secret_of_the_instructor_reaches_out(attacked: dict) -> None:
    files = [path for path in attacked["out"].rglob("*") if path.is_file()]
    assert any(path.name == "e_leaker.html" for path in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for secret in attacked["secrets"]:
            assert secret not in text, f"{secret} leaked into {path.name}"


@pytest.mark.slow
def test_grader_leaves_no_temporary_files(attacked: dict) -> None:
    assert list(attacked["tmp"].iterdir()) == []


# --------------------------------------------------------------------------- files and names


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "kind"),
    [
        ("f_link_to_solution", "symbolic link"),
        ("g_link_to_passwd", "symbolic link"),
        ("h_folder", "folder"),
        ("i_fifo", "FIFO"),
        ("j_loop", "symbolic link"),
    ],
)
def test_anything_but_a_regular_file_gets_not_a_file(
    attacked: dict, student: str, kind: str
) -> None:
    row = _row(attacked, student)
    assert (row["status"], row["total"]) == ("not-a-file", "0")
    feedback = _feedback(attacked, student)
    assert kind in feedback and "root:" not in feedback


@pytest.mark.slow
def test_notebook_of_another_lesson_is_wrong_lesson(attacked: dict) -> None:
    row = _row(attacked, "l_wrong_lesson")
    assert (row["lesson"], row["status"], row["total"], row["max_total"]) == (
        "01_data",
        "wrong-lesson",
        "0",
        "8",
    )
    assert "03_vae" in _feedback(attacked, "l_wrong_lesson")


@pytest.mark.slow
def test_student_names_never_become_formulas_or_break_lines(attacked: dict) -> None:
    lines = attacked["gradebook"].splitlines()
    assert len(lines) == 1 + 17 + len(JUDGE_ATTACKS)
    names = list(attacked["rows"])
    assert "'" + FORMULA_NAME in names and "kim_new,line" in names
    assert not any(name.startswith(("=", "+", "-", "@", "\t", "\r")) for name in names)


# --------------------------------------------------------------------------- output


@pytest.mark.slow
def test_output_flood_stays_out_of_the_grader_and_the_html(attacked: dict) -> None:
    print(f"grader peak RSS during the attack run: {attacked['peak_rss_mb']:.0f} MB")
    assert attacked["peak_rss_mb"] < 500  # 300 MB printed by a cell never reaches the grader
    html = attacked["out"] / "executed" / "m_flood.html"
    assert html.stat().st_size < 5 * 2**20
    assert (attacked["out"] / "feedback" / "m_flood.md").stat().st_size < 40_000


@pytest.mark.slow
def test_file_size_bomb_is_stopped(attacked: dict) -> None:
    row = _row(attacked, "n_file_bomb")
    assert row["status"] in {"kernel-died", "error"}
    assert not any(
        path.stat().st_size > 64 * 2**20 for path in attacked["root"].rglob("*") if path.is_file()
    )
