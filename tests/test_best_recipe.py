"""The best recipe (issue 11): its settings, the training extras, ``--recipe``, ``vae-tf sample``.

What the recipe buys in nats is measured by ``benchmarks/best_recipe.py``, not here: these
tests check that each setting does what it says, on a few updates of the offline sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vae_tf  # noqa: F401
from vae_tf.recipe import BEST, CONV_LESSON, ORIGINAL

TINY = {"max_train": 600, "max_test": 200, "batch_size": 100, "seed": 0}


def run_cli(*args: str, fast: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "VAE_TF_FAST": "1" if fast else "0"}
    return subprocess.run(
        [sys.executable, "-m", "vae_tf.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.fixture(scope="module")
def data():
    from vae_tf.data import load_mnist

    return load_mnist("sample", binarize="dynamic", max_train=600, max_test=200, verbose=False)


# ---------------------------------------------------------------------------- the recipe
def test_best_recipe_is_the_two_layer_mlp_with_every_extra():
    assert BEST.arch == "mlp" and BEST.hidden_layers == 2 and BEST.latent_dim == 32
    assert BEST.binarize == "dynamic" and BEST.lr_schedule == "cosine"
    assert 0 < BEST.kl_warmup_updates < BEST.updates
    assert BEST.early_stopping_patience > 0 and 0 < BEST.validation_fraction < 0.5
    assert BEST.xla  # measured: XLA speeds up the dense layers (not the convolutions)
    # The original keeps the original study's settings.
    assert (ORIGINAL.binarize, ORIGINAL.lr_schedule, ORIGINAL.kl_warmup_updates) == (
        "none",
        "constant",
        0,
    )
    assert CONV_LESSON.arch == "conv" and not CONV_LESSON.xla


def test_the_ladder_of_the_benchmark_climbs_to_best():
    # benchmarks/best_recipe.py measures what each choice buys: its last step must be BEST's
    # networks and schedule (all but the budget and early stopping), or it measures another model.
    import importlib

    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    best_recipe = importlib.import_module("best_recipe")
    changes: dict = {}
    for _label, step in best_recipe.LADDER:
        changes.update(step)
    top = best_recipe.ladder_recipe(changes, BEST.updates, seed=0)
    fields = ("arch", "latent_dim", "hidden_layers", "binarize", "xla", "lr_schedule")
    assert {f: getattr(top, f) for f in fields} == {f: getattr(BEST, f) for f in fields}
    assert top.kl_warmup_updates == BEST.kl_warmup_updates
    # At a reduced budget the warm-up keeps BEST's share of it.
    assert best_recipe.ladder_recipe(changes, 3_000, seed=0).kl_warmup_updates == 1_000


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"binarize": "yes"}, "binarize must be one of"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of 'constant', 'cosine'"),
        ({"kl_warmup_updates": -1}, "kl_warmup_updates must be >= 0"),
        ({"early_stopping_patience": 2.5}, "early_stopping_patience must be an integer"),
        ({"validation_fraction": 0.5}, "validation_fraction must be below 0.5"),
        ({"validation_fraction": -0.1}, "validation_fraction must be a finite number >= 0"),
        ({"early_stopping_patience": 3}, "needs validation_fraction > 0"),
    ],
)
def test_a_bad_extra_is_refused_with_the_field_named(changes, message):
    with pytest.raises(ValueError, match=message):
        ORIGINAL.replace(**changes)


def test_describe_names_every_extra():
    text = BEST.describe(20_000)
    assert "MLP 784-512-512-32" in text
    conv = CONV_LESSON.replace(hidden_layers=2).describe()
    assert "convolutional (32 and 64 filters, dense 256 x 256, latent 16)" in conv
    assert "cosine decay" in text
    assert "dynamic binarization" in text
    assert f"KL warm-up over {BEST.kl_warmup_updates:,} updates" in text
    assert "early stopping (patience 10 epochs, on 10% of the training images)" in text
    assert "XLA on" in text


def test_cosine_schedule_falls_to_zero_over_the_budget():
    optimizer = ORIGINAL.replace(lr_schedule="cosine", updates=100).make_optimizer()
    schedule = optimizer._learning_rate  # the schedule object Keras keeps
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(50)) == pytest.approx(5e-4, rel=1e-3)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------------- training extras
def test_split_for_early_stopping_holds_back_the_tail():
    from vae_tf.training import split_for_early_stopping

    images = np.arange(50, dtype=np.float32)
    recipe = ORIGINAL.replace(early_stopping_patience=3, validation_fraction=0.1)
    train, valid = split_for_early_stopping(images, recipe)
    assert len(train) == 45 and valid.tolist() == list(range(45, 50))
    assert recipe.held_back(50) == 5 and recipe.held_back(3) == 1  # at least one image
    assert ORIGINAL.held_back(50) == 0  # no early stopping, nothing held back
    with pytest.raises(ValueError, match="holds back 1"):
        split_for_early_stopping(images[:1], recipe)
    # describe() counts epochs of the images that are trained on.
    assert "30,000 updates (213 epochs x 141 updates of 18,000 images)" in BEST.describe(20_000)


def test_kl_warmup_raises_the_weight_linearly_then_restores_it(data):
    from vae_tf.training import train_vae

    recipe = ORIGINAL.replace(
        **TINY, updates=12, kl_warmup_updates=12, steps_per_execution=1, kl_weight=2.0
    )
    model, history = train_vae(data, recipe)
    weights = history["kl_weight"]  # logged at the end of each of the 2 epochs
    assert len(weights) == 2
    # Set before each update from the count of updates done: 5/12 then 11/12 of 2.0.
    assert weights == pytest.approx([2.0 * 5 / 12, 2.0 * 11 / 12], rel=1e-5)
    assert float(model.kl_weight) == pytest.approx(2.0)


def test_early_stopping_watches_the_held_back_neg_elbo_and_keeps_the_best(data):
    import keras

    from vae_tf.training import train_vae

    # A scripted validation curve (written into the logs before early stopping reads
    # them) makes the stopping point certain: best at epoch 3, patience 2, so 5 epochs.
    scripted = [300.0, 250.0, 200.0, 210.0, 220.0, 230.0, 240.0, 250.0]

    class Script(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights = []

        def on_epoch_end(self, epoch, logs=None):
            logs["val_reconstruction_loss"] = scripted[epoch] - logs["val_kl_loss"]
            self.weights.append([w.copy() for w in self.model.get_weights()])

    script = Script()
    recipe = ORIGINAL.replace(
        **TINY, updates=40, early_stopping_patience=2, validation_fraction=0.2
    )
    model, history = train_vae(data, recipe, callbacks=[script])
    assert recipe.epochs_for(480) == 8  # the budget: 480 training images, 5 updates each
    assert history["val_neg_elbo"] == pytest.approx(scripted[:5])  # stopped after epoch 5
    # The weights kept are those after epoch 3, not the last ones.
    for kept, best in zip(model.get_weights(), script.weights[2], strict=True):
        np.testing.assert_array_equal(kept, best)
    pairs = zip(script.weights[2], script.weights[-1], strict=True)
    assert any(not np.array_equal(best, last) for best, last in pairs)


def test_early_stopping_measures_held_back_training_images_not_the_test_set(data):
    from vae_tf.training import train_vae

    recipe = ORIGINAL.replace(**TINY, updates=6, early_stopping_patience=2, validation_fraction=0.2)
    seen = {}

    from vae_tf import training

    original = training.split_for_early_stopping

    def spy(images, recipe):
        train, valid = original(images, recipe)
        seen.update(train=len(train), valid=len(valid))
        return train, valid

    training.split_for_early_stopping = spy
    try:
        _, history = train_vae(data, recipe)
    finally:
        training.split_for_early_stopping = original
    assert seen == {"train": 480, "valid": 120}  # 20% of the 600 training images
    assert "val_neg_elbo" in history


# ------------------------------------------------------------------------------- the CLI
@pytest.mark.slow
def test_train_recipe_best_then_sample_and_interpolate(tmp_path: Path):
    out = tmp_path / "best"
    trained = run_cli("train", "--recipe", "best", "--data", "sample", "--out", str(out))
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "recipe best (MLP 784-512-512-32" in trained.stdout
    assert "offline sample" in trained.stdout
    assert f"vae-tf evaluate --model {out / 'model.keras'}" in trained.stdout
    record = json.loads((out / "history.json").read_text())
    assert record["recipe"] == {**BEST.to_dict(), **_fast()}
    held_back = record["validation_images_held_back_from_training"]
    assert held_back == 100 and record["train_images"] == 900  # 10% of the 1,000 images

    samples = tmp_path / "samples.png"
    drawn = run_cli("sample", "--model", str(out / "model.keras"), "--out", str(samples))
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    assert drawn.stdout.strip() == f"Wrote {samples}"
    assert samples.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    line = tmp_path / "line.png"
    args = ("--model", str(out / "model.keras"), "--interpolate", "--data", "sample")
    between = run_cli("sample", *args, "--rows", "2", "--out", str(line))
    assert between.returncode == 0, between.stderr[-3000:]
    assert "offline sample" in between.stderr
    assert line.stat().st_size > 0


def _fast() -> dict:
    from vae_tf.recipe import FAST_OVERRIDES

    return FAST_OVERRIDES


@pytest.mark.parametrize(
    "args, message",
    [
        (("--out", "x.jpg"), "--out x.jpg: give a file name ending in .png"),
        (("--out", "x.png"), "--model missing.keras: no such file"),
        (("--out", "x.png", "--n", "0"), "argument --n: expected a positive integer, got '0'"),
    ],
)
def test_sample_refuses_bad_input_with_the_option_named(args, message, tmp_path, capsys):
    from vae_tf.cli import main

    os.chdir(tmp_path)
    try:
        code = main(["sample", "--model", "missing.keras", *args])
    except SystemExit as exit_info:  # argparse's own errors
        code = exit_info.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_prior_samples_are_seeded_and_decode_the_prior(data):
    from vae_tf.generation import prior_codes, prior_samples
    from vae_tf.models import VAE

    model = VAE(latent_dim=4, seed=0)
    first = prior_samples(model, 10, seed=3)
    assert first.shape == (10, 28, 28) and 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(first, prior_samples(model, 10, seed=3))
    assert not np.array_equal(first, prior_samples(model, 10, seed=4))
    codes = prior_codes(20_000, 4, seed=0)
    assert abs(codes.mean()) < 0.02 and abs(codes.std() - 1.0) < 0.02
    expected = np.asarray(model.decode(prior_codes(10, 4, seed=3))).reshape(10, 28, 28)
    np.testing.assert_allclose(first, expected, rtol=1e-6)


def test_sample_titles_name_the_data_the_model_was_trained_on(tmp_path):
    from vae_tf.cli import _trained_on

    model = tmp_path / "model.keras"
    assert "no history.json beside the model" in _trained_on(model)
    (tmp_path / "history.json").write_text(json.dumps({"source_description": "the sample"}))
    assert _trained_on(model) == "model trained on the sample; no image is read here"
    (tmp_path / "history.json").write_text("not json")
    assert "no history.json beside the model" in _trained_on(model)


def test_hidden_layers_and_decoder_arch_build_the_networks_asked_for():
    from vae_tf.models import VAE

    model = VAE(latent_dim=4, hidden_layers=2, arch="conv", decoder_arch="mlp")
    names = [layer.name for layer in model.decoder.layers]
    assert "hidden_2" in names and "pixel_logits" in names  # an MLP decoder, two layers
    assert any("conv" in layer.name for layer in model.encoder.layers)
    assert "MLP 784-512-512-32" in BEST.describe()
    with pytest.raises(ValueError, match="hidden_layers"):
        ORIGINAL.replace(hidden_layers=0)
    with pytest.raises(ValueError, match="decoder_arch"):
        ORIGINAL.replace(decoder_arch="rnn")
