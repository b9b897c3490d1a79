"""The ``vae-tf`` command line: help, train, evaluate, and one error style for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tf import cli
from vae_tf.cli import build_parser, main
from vae_tf.recipe import ORIGINAL

SUBCOMMANDS = ["train", "evaluate", "sample", "experiment", "reproduce", "release", "grade"]


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
        (["train", "--updates", "0"], "positive integer"),
        (["reproduce", "--updates", "-3"], "positive integer"),
        (["experiment", "gamma"], "invalid choice"),
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
    err = capsys.readouterr().err
    assert err.startswith("vae-tf evaluate: error: --model") and "nope.keras" in err


def test_train_reports_a_bad_data_source_clearly(tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("vae-tf train: error: ")
    assert "missing" in err and "sample" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args, command, message",
    [
        (["experiment", "loss-terms", "--model", "x.keras"], "experiment", "trains its own"),
        (["experiment", "mu", "--model", "missing.keras"], "experiment", "no such file"),
        (["grade", "no-such-folder", "--out", "grades"], "grade", "no-such-folder"),
        (["reproduce", "--data", "no-such-folder"], "reproduce", "no-such-folder"),
    ],
)
def test_every_subcommand_reports_bad_input_in_one_style_with_exit_code_2(
    args, command, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vae-tf {command}: error: ") and message in err
    assert "Traceback" not in err


def test_release_check_failures_use_the_same_style_with_exit_code_1(repo_root, tmp_path, capsys):
    import shutil

    solutions, lessons = tmp_path / "solutions", tmp_path / "lessons"
    solutions.mkdir()
    lessons.mkdir()
    shutil.copy(repo_root / "solutions" / "01_data.ipynb", solutions)
    code = main(["release", "--check", "--solutions", str(solutions), "--lessons", str(lessons)])
    assert code == 1  # the lesson is missing
    err = capsys.readouterr().err
    assert err.startswith("vae-tf release: error: ") and "01_data" in err


def test_a_release_error_is_a_failed_job_with_exit_code_1_not_bad_input(tmp_path, capsys):
    # ReleaseError is a ValueError: the CLI must catch it before ValueError (exit code 2).
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    solutions = tmp_path / "solutions"
    solutions.mkdir()
    broken = new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1\n")])
    broken.metadata["vae_course"] = {"lesson": "01_data", "exercises": []}
    nbformat.write(broken, solutions / "01_data.ipynb")
    code = main(["release", "--solutions", str(solutions), "--lessons", str(tmp_path / "lessons")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("vae-tf release: error: ") and "END SOLUTION" in err


@pytest.mark.parametrize("missing", ["solutions", "lessons", "both"])
def test_release_check_with_a_folder_that_does_not_exist_fails(
    missing, repo_root, tmp_path, capsys
):
    folders = {name: repo_root / name for name in ("solutions", "lessons")}
    for name in folders if missing == "both" else [missing]:
        folders[name] = tmp_path / f"no-such-{name}"
    args = ["release", "--check", "--solutions", str(folders["solutions"])]
    code = main([*args, "--lessons", str(folders["lessons"])])
    captured = capsys.readouterr()
    assert code != 0 and "passed" not in captured.out + captured.err
    assert "no-such-" in captured.err


def test_a_diverged_training_run_is_a_failure_with_exit_code_1(monkeypatch, capsys):
    import vae_tf.models

    class Diverged(Exception):
        pass

    # TrainingDiverged comes from vae_tf.models (raised by fit on a NaN loss).
    monkeypatch.setattr(vae_tf.models, "TrainingDiverged", Diverged, raising=False)

    def train(args):
        raise Diverged("the loss became NaN at epoch 3; try a smaller learning rate")

    assert cli.run("train", train, None) == 1
    err = capsys.readouterr().err
    assert (
        err == "vae-tf train: error: the loss became NaN at epoch 3; try a smaller learning rate\n"
    )


def test_other_exceptions_are_not_hidden(monkeypatch):
    import vae_tf.models

    monkeypatch.setattr(
        vae_tf.models, "TrainingDiverged", type("Diverged", (Exception,), {}), raising=False
    )

    def broken(args):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        cli.run("train", broken, None)


def test_data_errors_are_printed_once_with_the_command_as_prefix(capsys):
    from vae_tf.data import DataError

    def load(args):
        raise DataError("tensorflow-datasets: MNIST is not prepared; use --data sample")

    assert cli.run("reproduce", load, None) == 2
    err = capsys.readouterr().err
    assert err == (
        "vae-tf reproduce: error: tensorflow-datasets: MNIST is not prepared; use --data sample\n"
    )


def test_verbose_is_set_for_tensorflow_before_anything_imports_it(tmp_path):
    # run() is replaced by a probe: what it sees is what a command would see at its start.
    code = (
        "import os, sys\n"
        "import vae_tf.cli as cli\n"
        "cli.run = lambda command, func, args: print(os.environ.get('VAE_TF_VERBOSE'),"
        " 'tensorflow' in sys.modules) or 0\n"
        "cli.main(['--verbose', 'train'])\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "VAE_TF_VERBOSE"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["1", "False"]


@pytest.mark.slow
def test_train_then_evaluate_on_tiny_settings(tmp_path: Path):
    out = tmp_path / "run"
    trained = run_cli(
        "train",
        "--data",
        "sample",
        "--updates",
        "8",
        "--latent-dim",
        "3",
        "--binarize",
        "dynamic",
        "--max-train",
        "512",
        "--max-test",
        "128",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "offline sample" in trained.stdout
    for name in ("model.keras", "history.json", "loss-curves.png"):
        assert (out / name).stat().st_size > 0
    history = json.loads((out / "history.json").read_text())
    assert history["source"] == "sample" and history["unit"] == "nats per image"
    # The recipe that ran: the options override the default recipe, nothing else.
    assert history["recipe"] == {
        **ORIGINAL.to_dict(),
        "updates": 8,
        "latent_dim": 3,
        "max_train": 512,
        "max_test": 128,
        "seed": 1,
        "binarize": "dynamic",
    }
    # 512 images are 4 updates per epoch: 8 updates are 2 epochs.
    assert len(history["history"]["loss"]) == 2 and history["updates"] == 8
    assert set(history["history"]) >= {"reconstruction_loss", "kl_loss", "val_loss"}

    evaluated = run_cli(
        "evaluate",
        "--model",
        str(out / "model.keras"),
        "--data",
        "sample",
        "--k",
        "10",
        "--max-test",
        "64",
        "--seed",
        "2",
        "--json",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    record = json.loads(evaluated.stdout)
    for key in ("source", "images", "neg_elbo", "reconstruction", "kl", "iwae_nll", "k"):
        assert key in record
    assert record["source"] == "sample" and record["images"] == 64 and record["k"] == 10
    assert record["iwae_nll"] <= record["neg_elbo"] + 2
    assert record["neg_elbo"] == pytest.approx(record["reconstruction"] + record["kl"])
    assert "IWAE" in evaluated.stderr  # progress goes to stderr, JSON alone to stdout


@pytest.mark.parametrize(
    "options, arch, decoder_arch",
    [
        ([], "mlp", None),
        (["--arch", "conv"], "conv", None),
        (["--arch", "conv", "--decoder-arch", "mlp"], "conv", "mlp"),
    ],
)
def test_train_passes_the_decoder_network_to_the_recipe(monkeypatch, options, arch, decoder_arch):
    # The recipe that train_vae receives: what the command line asked for, no more.
    import numpy as np

    from vae_tf import training

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(data, recipe):
        seen["recipe"] = recipe
        raise Stop

    monkeypatch.setattr(training, "train_vae", fake_train)
    fake_data = type("Data", (), {"x_train": np.zeros((64, 28, 28, 1)), "source_description": "x"})
    monkeypatch.setattr(cli, "_load", lambda args, recipe, **options: fake_data)
    with pytest.raises(Stop):
        main(["train", *options])
    recipe = seen["recipe"]
    assert (recipe.arch, recipe.decoder_arch) == (arch, decoder_arch)
    assert recipe == ORIGINAL.for_run().replace(arch=arch, decoder_arch=decoder_arch)
