"""The ``vae-tf`` command line: help, train, evaluate, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tf.cli import build_parser, main

SUBCOMMANDS = ["train", "evaluate", "experiment", "reproduce", "release", "grade"]


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "vae_tf.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_top_level_help_lists_every_main_job(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in text
    assert "offline sample" in text


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_that_describes_its_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    subparser = parser._subparsers._group_actions[0].choices[command]
    for action in subparser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{command} {action.option_strings} has no help text"
            assert action.option_strings[-1] in text


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--epochs", "0"], "positive integer"),
        (["train", "--kl-weight", "-1"], "number >= 0"),
        (["train", "--arch", "rnn"], "invalid choice"),
    ],
)
def test_bad_arguments_are_named_in_the_error(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_evaluate_reports_a_missing_model_clearly(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "nope.keras")]) == 2
    assert "nope.keras" in capsys.readouterr().err


def test_train_reports_a_bad_data_source_clearly(tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing" in err and "sample" in err


@pytest.mark.slow
def test_train_then_evaluate_on_tiny_settings(tmp_path: Path):
    out = tmp_path / "run"
    trained = run_cli(
        "train", "--data", "sample", "--epochs", "2", "--latent-dim", "3", "--binarize", "dynamic",
        "--max-train", "512", "--max-test", "128", "--seed", "1", "--out", str(out),
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "offline sample" in trained.stdout
    for name in ("model.keras", "history.json", "loss_curves.png"):
        assert (out / name).stat().st_size > 0
    history = json.loads((out / "history.json").read_text())
    assert history["source"] == "sample" and history["unit"] == "nats per image"
    assert len(history["history"]["loss"]) == 2
    assert set(history["history"]) >= {"reconstruction_loss", "kl_loss", "val_loss"}

    evaluated = run_cli(
        "evaluate", "--model", str(out / "model.keras"), "--data", "sample", "--k", "10",
        "--max-test", "64", "--seed", "2", "--json",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    record = json.loads(evaluated.stdout)
    for key in ("source", "images", "neg_elbo", "reconstruction", "kl", "iwae_nll", "k"):
        assert key in record
    assert record["source"] == "sample" and record["images"] == 64 and record["k"] == 10
    assert record["iwae_nll"] <= record["neg_elbo"] + 2
    assert record["neg_elbo"] == pytest.approx(record["reconstruction"] + record["kl"])
    assert "IWAE" in evaluated.stderr  # progress goes to stderr, JSON alone to stdout
