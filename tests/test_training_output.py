"""What a student sees while models train: one line per epoch, and no TensorFlow warnings.

Keras builds one ``tf.function`` per model from the same Python function, and TensorFlow
counts their first calls together, so training several models in turn printed
``WARNING:tensorflow:5 out of the last 9 calls ... triggered tf.function retracing``
although no function was traced twice. ``vae_tf.config`` filters that one false alarm.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys

import pytest

import vae_tf  # noqa: F401 - installs the filter on TensorFlow's logger
from vae_tf.callbacks import EpochProgress

KERAS_FALSE_ALARM = (
    "5 out of the last 9 calls to <function TensorFlowTrainer._make_function.<locals>."
    "multi_step_on_iterator at 0x7f00> triggered tf.function retracing. Tracing is expensive"
)
OUR_RETRACING = (
    "5 out of the last 5 calls to <function encode_batch at 0x7f00> triggered tf.function "
    "retracing. Tracing is expensive"
)


def _logged(message: str) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        logger.warning(message)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_keras_per_model_retracing_false_alarm_is_not_shown(monkeypatch):
    monkeypatch.delenv("VAE_TF_VERBOSE", raising=False)
    assert _logged(KERAS_FALSE_ALARM) == ""


@pytest.mark.parametrize(
    "function",
    [
        # model.predict of several models in turn (the digit classifiers, the experiments)
        "TensorFlowTrainer.make_predict_function.<locals>.one_step_on_data_distributed",
        "TensorFlowTrainer.make_predict_function.<locals>.multi_step_on_data",
        # the single-step function, compiled on its own (steps_per_execution=1, XLA)
        "TensorFlowTrainer._make_function.<locals>.one_step_on_data",
    ],
)
def test_every_keras_per_model_function_false_alarm_is_not_shown(function, monkeypatch):
    monkeypatch.delenv("VAE_TF_VERBOSE", raising=False)
    message = KERAS_FALSE_ALARM.replace(
        "TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator", function
    )
    assert function in message and _logged(message) == ""


@pytest.mark.slow
def test_predicting_with_several_models_in_turn_shows_no_retracing_warning():
    # Measured before the fix: from the fifth model on, every predict printed
    # "WARNING:tensorflow:5 out of the last 5 calls to <function TensorFlowTrainer.
    # make_predict_function.<locals>.one_step_on_data_distributed ...> ... retracing".
    script = (
        "import vae_tf\n"
        "import numpy as np\n"
        "from vae_tf.models import VAE\n"
        "x = np.zeros((4, 28, 28, 1), np.float32)\n"
        "for seed in range(7):\n"
        "    model = VAE(latent_dim=2, hidden_units=8, seed=seed)\n"
        "    model.predict(x, verbose=0)\n"
        "print('done')\n"
    )
    env = {**os.environ}
    env.pop("VAE_TF_VERBOSE", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-3000:]
    assert "retracing" not in done.stderr, done.stderr[-3000:]


def test_a_retracing_of_any_other_function_is_still_shown(monkeypatch):
    monkeypatch.delenv("VAE_TF_VERBOSE", raising=False)
    assert "encode_batch" in _logged(OUR_RETRACING)


def test_verbose_shows_the_false_alarm_too(monkeypatch):
    monkeypatch.setenv("VAE_TF_VERBOSE", "1")
    assert "multi_step_on_iterator" in _logged(KERAS_FALSE_ALARM)


def _epoch_lines(epochs: int, label: str = "") -> list[str]:
    out = io.StringIO()
    progress = EpochProgress(label, file=out)
    progress.set_params({"epochs": epochs})
    progress.on_train_begin()
    for epoch in range(epochs):
        logs = {"kl_loss": 3.0, "loss": 150.0 - epoch, "reconstruction_loss": 147.0}
        progress.on_epoch_end(epoch, {**logs, "val_loss": 155.0, "val_kl_loss": 0.0004})
    return out.getvalue().splitlines()


def test_epoch_progress_prints_one_line_per_epoch_with_the_losses_in_order():
    lines = _epoch_lines(3, label="kl_only")
    assert len(lines) == 3
    assert re.match(r"kl_only: epoch 2/3 \( *\d+\.\d s\)  loss 149\.00  ", lines[1]), lines[1]
    assert (
        lines[0].index(" loss ")
        < lines[0].index("reconstruction_loss")
        < lines[0].index(" kl_loss")
    )
    assert lines[0].index(" kl_loss") < lines[0].index("val_loss")
    assert "val_kl_loss 4.0e-04" in lines[0]  # a KL near 0 keeps its digits


def test_epoch_progress_of_a_long_run_prints_every_few_epochs_and_the_last():
    lines = _epoch_lines(100)
    assert len(lines) <= EpochProgress.MAX_LINES + 1
    assert lines[0].startswith("epoch   1/100") and lines[-1].startswith("epoch 100/100")


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["loss-terms", "beta-sweep"])
def test_an_experiment_shows_its_epochs_and_no_tensorflow_warning(experiment, tmp_path):
    env = {**os.environ, "VAE_TF_FAST": "1"}
    env.pop("VAE_TF_VERBOSE", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "vae_tf.cli", "experiment", experiment, "--data", "sample"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout + done.stderr
    assert not re.search(r"warning|retracing", printed, re.IGNORECASE), printed
    runs = ("full", "kl_only", "reconstruction_only")
    if experiment == "beta-sweep":
        runs = ("beta 0.25", "beta 1", "beta 4", "beta 16")
    for run in runs:
        assert re.search(rf"^{run}: epoch 1/\d+ .* loss ", done.stdout, re.MULTILINE), done.stdout


@pytest.mark.slow
def test_train_vae_prints_its_epochs_unless_silenced(capsys):
    from vae_tf.data import load_mnist
    from vae_tf.recipe import FAST_OVERRIDES, ORIGINAL
    from vae_tf.training import train_vae

    recipe = ORIGINAL.replace(**FAST_OVERRIDES)
    data = load_mnist("sample", max_train=recipe.max_train, max_test=recipe.max_test)
    capsys.readouterr()
    _, history = train_vae(data, recipe)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(history["loss"]) >= 2, lines
    assert all(line.startswith(f"epoch {n}/") for n, line in enumerate(lines, 1)), lines
    train_vae(data, recipe, progress=False)
    assert capsys.readouterr().out == ""
