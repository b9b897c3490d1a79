"""``vae-tf grade --scheduler ADDRESS`` and ``--jobs N`` on Dask (issue 15, grading at scale).

Each test starts its own Dask cluster of 2 workers listening on tcp://127.0.0.1 (the
workers are threads of the test process, but every job and result crosses the TCP
connection, serialized, as it would to another machine), and passes its address as
``--scheduler``. The quick tests replace the per-notebook job by a stand-in that obeys the
notebook's text (a JSON order); one test grades real notebooks in their sandboxes.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import nbformat
import pytest
from lesson01_example import lesson01_notebook

from vae_tf.grading import cluster, grader, sandbox
from vae_tf.grading.cluster import ClusterError
from vae_tf.grading.grader import StudentRow, grade

distributed = pytest.importorskip("distributed")


@pytest.fixture
def dask_cluster():
    """A LocalCluster of 2 single-thread workers on tcp://127.0.0.1, quiet, no dashboard."""
    import logging

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:
        yield local


def fake_job(job: sandbox.NotebookJob) -> sandbox.JobResult:
    """A stand-in for ``run_notebook_job``: the notebook's text is a JSON order.

    ``{"points": P}`` scores P of 4; ``"raise"`` fails the job; ``"wait_for": PATTERN`` waits
    (at most 30 s) until a file matching PATTERN exists; ``"close_worker"`` closes the worker
    that runs it, as a worker that dies would.
    """
    order = json.loads(job.raw)
    if "wait_for" in order:
        folder, pattern = order["wait_for"]
        deadline = time.monotonic() + 30
        while not list(Path(folder).glob(pattern)) and time.monotonic() < deadline:
            time.sleep(0.1)
        order["points"] = 4 if list(Path(folder).glob(pattern)) else 0
    if order.get("raise"):
        raise RuntimeError(f"the job of {job.student} broke")
    if order.get("close_worker"):
        worker = distributed.get_worker()
        worker.loop.add_callback(worker.close)
        time.sleep(5)
    row = StudentRow(job.student, "01_data", "ok", submission=job.label, file_stem=job.file_stem)
    row.points, row.max_points = {"scale_pixels": order["points"]}, {"scale_pixels": 4}
    return sandbox.JobResult(row, html=f"<p>{job.student}</p>")


def _orders(folder: Path, orders: dict[str, dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for student, order in orders.items():
        (folder / f"{student}.ipynb").write_text(json.dumps(order))
    return folder


def _gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_the_grader_on_a_2_worker_cluster_writes_each_row_as_it_finishes_and_a_broken_job_costs_only_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_cluster
) -> None:
    monkeypatch.setattr(sandbox, "run_notebook_job", fake_job)
    out = tmp_path / "out"
    subs = _orders(
        tmp_path / "subs",
        {
            "alice": {"points": 4},
            "bob": {"raise": True},
            # zed scores only if alice's feedback was written while zed was still running.
            "zed": {"wait_for": [str(out), ".grading-*/feedback/alice.md"]},
        },
    )
    (subs / "carol.ipynb").mkdir()  # not a file: its row is made by the grader, no job
    rows = grade(
        subs, out, isolation="none", progress=False, scheduler=dask_cluster.scheduler_address
    )
    by_student = {row.student: row for row in rows}
    assert {name: (row.status, row.total) for name, row in by_student.items()} == {
        "alice": ("ok", 4),
        "bob": ("grader-error", 0),
        "carol": ("not-a-file", 0),
        "zed": ("ok", 4),
    }
    assert "the job of bob broke" in by_student["bob"].detail
    assert [line["student"] for line in _gradebook(out)] == ["alice", "bob", "carol", "zed"]
    assert (out / "executed" / "alice.html").read_text() == "<p>alice</p>"
    assert sorted(p.name for p in (out / "feedback").glob("*.md")) == [
        "alice.md",
        "bob.md",
        "carol.md",
        "zed.md",
    ]


def test_jobs_2_runs_on_an_embedded_cluster_without_dask_noise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    seen_clusters = []
    real_client_for = cluster.client_for

    def spy(scheduler, jobs, **options):
        seen_clusters.append((scheduler, jobs))
        return real_client_for(scheduler, jobs, **options)

    monkeypatch.setattr(sandbox, "run_notebook_job", fake_job)
    monkeypatch.setattr(cluster, "client_for", spy)
    subs = _orders(tmp_path / "subs", {f"s{index}": {"points": index % 5} for index in range(5)})
    rows = grade(subs, tmp_path / "out", isolation="none", jobs=2)
    assert seen_clusters == [(None, 2)]
    assert [row.total for row in rows] == [0, 1, 2, 3, 4]
    printed = capfd.readouterr().err
    assert "graded 5 notebooks: 5 ok" in printed
    for noise in ("distributed.", "INFO", "dashboard", "Dashboard"):
        assert noise not in printed


def test_a_cluster_whose_workers_die_stops_with_an_error_naming_it_and_keeps_the_graded_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_cluster
) -> None:
    monkeypatch.setattr(sandbox, "run_notebook_job", fake_job)
    monkeypatch.setattr(cluster, "NO_WORKER_TIMEOUT", 3)
    out = tmp_path / "out"
    # alice is graded first; mallory's job closes each worker that runs it.
    subs = _orders(
        tmp_path / "subs",
        {
            "alice": {"points": 4},
            "mallory": {"wait_for": [str(out), ".grading-*/feedback/alice.md"], "close_worker": 1},
        },
    )
    address = dask_cluster.scheduler_address
    with pytest.raises(ClusterError, match=r"has had no worker for 3 s") as error:
        grade(subs, out, isolation="none", progress=False, scheduler=address)
    assert address in str(error.value)
    assert [line["student"] for line in _gradebook(out / "incomplete-run")] == ["alice"]
    assert not (out / "gradebook.csv").exists()


def test_an_unreachable_or_malformed_scheduler_is_a_clear_error_before_grading(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    subs = _orders(tmp_path / "subs", {"alice": {"points": 4}})
    parser = argparse.ArgumentParser()
    grader.register_cli(parser.add_subparsers())
    common = [str(subs), "--out", str(tmp_path / "out"), "--isolation", "none"]

    args = parser.parse_args(["grade", *common, "--scheduler", "tcp://127.0.0.1:9"])
    assert args.func(args) == grader.EXIT_CLUSTER
    message = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in message
    assert not (tmp_path / "out" / "gradebook.csv").exists()

    args = parser.parse_args(["grade", *common, "--scheduler", "tcp://127.0.0.1:port"])
    assert args.func(args) == 2
    assert "--scheduler 'tcp://127.0.0.1:port' is not a Dask" in capsys.readouterr().err

    args = parser.parse_args(["grade", *common, "--scheduler", "tcp://127.0.0.1"])
    assert args.func(args) == 2
    assert "tcp://host:8786" in capsys.readouterr().err

    args = parser.parse_args(["grade", *common, "--jobs", "0"])
    assert args.func(args) == 2
    assert "--jobs 0" in capsys.readouterr().err


def test_real_notebooks_graded_on_the_cluster_get_the_gradebook_of_jobs_1(
    tmp_path: Path, dask_cluster
) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(lesson01_notebook(), subs / "alice.ipynb")
    wrong = "def scale_pixels(images):\n    return images\n"
    nbformat.write(lesson01_notebook(scale_pixels_source=wrong), subs / "bob.ipynb")
    (subs / "carol.ipynb").write_text("not a notebook")
    options = {"isolation": "auto", "progress": False, "fast": True, "lesson": "01_data"}
    grade(subs, tmp_path / "one", jobs=1, **options)
    grade(subs, tmp_path / "dask", scheduler=dask_cluster.scheduler_address, **options)
    one, dask = _gradebook(tmp_path / "one"), _gradebook(tmp_path / "dask")
    assert dask == one
    assert [(line["student"], line["status"], line["total"]) for line in dask] == [
        ("alice", "ok", "8"),
        ("bob", "ok", "4"),
        ("carol", "invalid-notebook", "0"),
    ]
    for name in ("alice", "bob"):
        assert "<html" in (tmp_path / "dask" / "executed" / f"{name}.html").read_text().lower()


def test_a_worker_finds_its_own_bubblewrap_when_the_graders_path_is_not_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vae_tf.grading.isolation import Isolation

    here = Isolation("bwrap", "/usr/bin/true")
    monkeypatch.setattr(sandbox, "find_isolation", lambda requested: ("found here", requested))
    assert sandbox.isolation_here(here) is here
    assert sandbox.isolation_here(Isolation("none")) == Isolation("none")
    elsewhere = Isolation("bwrap", "/the/graders/venv/bin/bwrap")
    assert sandbox.isolation_here(elsewhere) == ("found here", "bwrap")
