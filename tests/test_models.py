"""The VAE, the autoencoder and the loss terms: math, training, saving, distribution."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae_tf.config import set_seed
from vae_tf.data import load_mnist
from vae_tf.losses import LOG_VAR_MAX, LOG_VAR_MIN, kl_divergence, reconstruction_loss
from vae_tf.models import (
    VAE,
    Autoencoder,
    Sampling,
    TrainingDiverged,
    build_decoder,
    build_encoder,
)


def numpy_kl(mu, log_var):
    return -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)


def numpy_bce_from_logits(x, logits):
    x = x.reshape(len(x), -1).astype(np.float64)
    logits = logits.reshape(len(logits), -1).astype(np.float64)
    # log(1 + exp(-|l|)) form: stable for large |logits|
    per_pixel = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return per_pixel.sum(axis=1)


class FixedNoise(keras.layers.Layer):
    """Replaces the sampling layer so that a test knows z exactly."""

    def __init__(self, eps):
        super().__init__()
        self.eps = tf.constant(eps)

    def call(self, inputs):
        mu, log_var = inputs
        return mu + tf.exp(0.5 * log_var) * self.eps


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample", verbose=False)


# ---------------------------------------------------------------- the loss terms
def test_kl_is_zero_for_standard_normal_posterior():
    mu = np.zeros((5, 3), np.float32)
    log_var = np.zeros((5, 3), np.float32)
    np.testing.assert_allclose(np.asarray(kl_divergence(mu, log_var)), np.zeros(5), atol=1e-7)


def test_kl_matches_closed_form_and_sums_over_latent_dimensions():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(6, 4)).astype(np.float32)
    log_var = rng.normal(size=(6, 4)).astype(np.float32)
    got = np.asarray(kl_divergence(mu, log_var))
    np.testing.assert_allclose(got, numpy_kl(mu, log_var), rtol=1e-5)
    # Summed, not averaged: doubling the dimensions by repetition doubles the KL.
    doubled = np.asarray(kl_divergence(np.tile(mu, 2), np.tile(log_var, 2)))
    np.testing.assert_allclose(doubled, 2 * got, rtol=1e-5)


def test_reconstruction_loss_matches_numpy_and_is_finite_for_extreme_logits():
    rng = np.random.default_rng(1)
    x = rng.random((4, 28, 28, 1)).astype(np.float32)
    logits = (rng.normal(size=(4, 28, 28, 1)) * 3).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(reconstruction_loss(x, logits)), numpy_bce_from_logits(x, logits), rtol=1e-5
    )
    extreme = np.where(rng.random((4, 28, 28, 1)) < 0.5, -80.0, 80.0).astype(np.float32)
    got = np.asarray(reconstruction_loss(x, extreme))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, numpy_bce_from_logits(x, extreme), rtol=1e-5)


def test_vae_losses_match_numpy_reference_to_1e_4(sample):
    set_seed(0)
    model = VAE(latent_dim=3)
    x = sample.x_test[:16]
    eps = np.random.default_rng(2).normal(size=(16, 3)).astype(np.float32)
    model.sampling = FixedNoise(eps)
    losses = {k: float(v) for k, v in model.compute_losses(tf.constant(x)).items()}

    mu, log_var = (np.asarray(t, np.float64) for t in model.encoder(x))
    z = mu + np.exp(0.5 * log_var) * eps
    logits = np.asarray(model.decoder(z.astype(np.float32)), np.float64)
    reconstruction = numpy_bce_from_logits(x, logits).mean()
    kl = numpy_kl(mu, log_var).mean()
    assert losses["reconstruction_loss"] == pytest.approx(reconstruction, rel=1e-4)
    assert losses["kl_loss"] == pytest.approx(kl, rel=1e-4, abs=1e-4)
    assert losses["loss"] == pytest.approx(reconstruction + kl, rel=1e-4)


def test_a_decoder_giving_logits_0_costs_784_log_2_nats_on_any_grey_levels(sample):
    # Bernoulli cross-entropy at p = 1/2 is log 2 per pixel whatever the target in [0, 1],
    # and a posterior equal to the prior costs 0 nats of KL: the loss is known exactly.
    model = VAE(latent_dim=3)
    for network, layer in ((model.decoder, "pixel_logits"), (model.encoder, "mu_and_log_var")):
        dense = network.get_layer(layer)
        dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])
    losses = model.compute_losses(tf.constant(sample.x_train[:64]))
    assert float(losses["reconstruction_loss"]) == pytest.approx(784 * np.log(2), rel=1e-6)
    assert float(losses["kl_loss"]) == pytest.approx(0.0, abs=1e-6)
    assert float(losses["loss"]) == pytest.approx(784 * np.log(2), rel=1e-6)


def test_log_var_is_clipped_to_the_documented_bound():
    encoder = build_encoder(latent_dim=2)
    dense = encoder.get_layer("mu_and_log_var")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 0, np.array([0, 0, 1e4, -1e4], np.float32)])
    _, log_var = encoder(np.ones((1, 28, 28, 1), np.float32))
    np.testing.assert_allclose(np.asarray(log_var), [[LOG_VAR_MAX, LOG_VAR_MIN]])


@pytest.mark.parametrize("latent_dim", [1, 2, 5])
def test_encoder_splits_mu_and_log_var_for_any_latent_dim(latent_dim):
    encoder = build_encoder(latent_dim=latent_dim)
    mu, log_var = encoder(np.zeros((3, 28, 28, 1), np.float32))
    assert tuple(mu.shape) == (3, latent_dim) and tuple(log_var.shape) == (3, latent_dim)
    decoder = build_decoder(latent_dim=latent_dim)
    assert tuple(decoder(mu).shape) == (3, 28, 28, 1)


def test_sampling_has_the_requested_mean_and_spread():
    layer = Sampling(seed=3)
    mu = np.full((20000, 2), [1.0, -2.0], np.float32)
    log_var = np.full((20000, 2), [0.0, np.log(0.25)], np.float32)
    z = np.asarray(layer([mu, log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.03)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 0.5], atol=0.02)


# ---------------------------------------------------------------- weights of the terms
def test_reconstruction_weight_zero_leaves_decoder_untouched_but_metric_reported(sample):
    set_seed(0)
    model = VAE(latent_dim=2, reconstruction_weight=0.0)
    model.compile()
    before = [w.copy() for w in model.decoder.get_weights()]
    history = model.fit(sample.x_train[:256], batch_size=128, epochs=1, verbose=0)
    after = model.decoder.get_weights()
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    assert history.history["reconstruction_loss"][0] > 100  # measured, though not trained on
    assert history.history["loss"][0] == pytest.approx(history.history["kl_loss"][0], rel=1e-5)


def test_kl_weight_zero_gradient_equals_reconstruction_gradient(sample):
    set_seed(0)
    model = VAE(latent_dim=2, kl_weight=0.0)
    x = tf.constant(sample.x_train[:32])
    model.sampling = FixedNoise(np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        losses = model.compute_losses(x, training=True)
    weights = model.encoder.trainable_weights
    total = tape.gradient(losses["loss"], weights)
    reconstruction_only = tape.gradient(losses["reconstruction_loss"], weights)
    for a, b in zip(total, reconstruction_only, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert float(losses["kl_loss"]) > 0  # still measured


def test_weights_are_validated_and_settable_during_training():
    model = VAE()
    with pytest.raises(ValueError, match="kl_weight"):
        model.kl_weight = float("nan")
    with pytest.raises(ValueError, match="hidden_units must be a positive integer"):
        VAE(hidden_units=0)
    with pytest.raises(ValueError, match="kl_weight"):
        model.kl_weight = -1
    with pytest.raises(ValueError, match="reconstruction_weight"):
        VAE(reconstruction_weight="much")
    model.kl_weight = 0.25
    assert float(model.kl_weight) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="arch"):
        VAE(arch="transformer")
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(latent_dim=0)


# ---------------------------------------------------------------- shapes
def test_models_accept_images_with_or_without_channel_axis(sample):
    model = VAE(seed=0)
    x = sample.x_test[:4]
    mu4, _ = model.encode(x)
    mu3, _ = model.encode(x[..., 0])
    np.testing.assert_allclose(np.asarray(mu4), np.asarray(mu3))
    assert tuple(model(x).shape) == (4, 28, 28, 1)


@pytest.mark.parametrize("shape", [(4, 784), (4, 28, 28, 3), (4, 32, 32, 1)])
def test_models_reject_other_shapes_naming_the_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\).*" + str(shape[1])):
        VAE().encode(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="28, 28"):
        Autoencoder()(np.zeros(shape, np.float32))


# ---------------------------------------------------------------- training, saving
def pixel_mean_cross_entropy(train: np.ndarray, test: np.ndarray) -> float:
    """Nats per image of the best image-independent decoder: p = the training pixel means.

    A model that beats it on held-out images has learned something about each image.
    """
    p = np.clip(train.reshape(len(train), -1).mean(axis=0), 1e-6, 1 - 1e-6).astype(np.float64)
    x = test.reshape(len(test), -1).astype(np.float64)
    return float(-(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=1).mean())


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "epochs"), [("mlp", 4), ("conv", 5)])
def test_a_few_epochs_beat_the_best_image_independent_decoder(sample, arch, epochs):
    # Measured on the offline sample (seeds 0 and 1): the held-out reconstruction term is
    # 189-190 nats per image after 4 epochs (mlp) and 188 after 5 (conv), against 211
    # for the pixel means; after 2 epochs the VAE is still no better than the pixel means.
    baseline = pixel_mean_cross_entropy(sample.x_train, sample.x_test)
    assert 150 < baseline < 250  # measured: 211 nats per image on the offline sample
    set_seed(0)
    model = VAE(latent_dim=2, arch=arch, seed=0)
    model.compile()
    history = model.fit(sample.train, validation_data=sample.test, epochs=epochs, verbose=0)
    assert set(history.history) >= {"loss", "reconstruction_loss", "kl_loss", "val_kl_loss"}
    assert history.history["val_reconstruction_loss"][-1] < baseline - 10, history.history


@pytest.mark.slow
def test_autoencoder_beats_the_best_image_independent_decoder(sample):
    baseline = pixel_mean_cross_entropy(sample.x_train, sample.x_test)
    set_seed(0)
    model = Autoencoder(latent_dim=2)
    model.compile()
    history = model.fit(sample.train, validation_data=sample.test, epochs=2, verbose=0)
    assert history.history["val_loss"][-1] < baseline - 10, history.history


def test_autoencoder_encoder_gives_the_code_alone_without_a_log_variance_half(sample):
    autoencoder, vae = Autoencoder(latent_dim=3), VAE(latent_dim=3)
    codes = autoencoder.encode(sample.x_test[:5])
    assert tuple(codes.shape) == (5, 3)
    assert len(autoencoder.encoder.outputs) == 1
    assert autoencoder.encoder.layers[-1].units == 3
    # The VAE's last encoder layer has 2 * 3 outputs: 512 * 3 + 3 more weights.
    assert vae.encoder.count_params() - autoencoder.encoder.count_params() == 512 * 3 + 3


def test_nan_loss_stops_fit_at_once_with_advice(sample):
    set_seed(0)
    model = VAE(latent_dim=2)
    model.compile(steps_per_execution=1)
    images = sample.x_train[:256].copy()
    images[0, 0, 0, 0] = np.nan  # in the first batch of 64
    batches = []
    counter = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: batches.append(batch)
    )
    with pytest.raises(TrainingDiverged) as error:
        model.fit(images, batch_size=64, epochs=5, shuffle=False, verbose=0, callbacks=[counter])
    assert isinstance(error.value, RuntimeError)
    message = str(error.value)
    assert "nan" in message and "epoch 1, step 1" in message
    assert "learning rate" in message and "[0, 1]" in message
    # Stopped after the first step: no second step began (4 per epoch, 5 epochs asked).
    assert batches == [0]


def test_nan_loss_stops_fit_within_the_first_epoch_with_the_default_compile(sample):
    model = VAE(latent_dim=2)
    model.compile()  # XLA, 16 steps per execution: Keras reports every 16th step
    images = sample.x_train[:256].copy()
    images[5, 3, 3, 0] = np.inf
    epochs = []
    counter = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epochs.append(epoch)
    )
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        model.fit(images, batch_size=64, epochs=50, verbose=0, callbacks=[counter])
    assert epochs == [0]


def test_finite_losses_train_through_every_epoch_with_the_divergence_check(sample):
    model = VAE(latent_dim=2)
    model.compile()
    history = model.fit(sample.x_train[:128], batch_size=64, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_importing_vae_tf_hides_tensorflow_log_lines_unless_verbose(tmp_path):
    # A variant folder without dataset_info.json makes tensorflow-datasets warn via absl;
    # tf.constant + 1 initializes the devices (the cuInit line on a machine without GPU).
    (tmp_path / "mnist" / "3.0.1").mkdir(parents=True)
    script = (
        "import vae_tf.models\n"
        "import tensorflow_datasets as tfds\n"
        f"tfds.builder('mnist', data_dir={str(tmp_path)!r}).is_prepared()\n"
        "import tensorflow as tf\n"
        "print(int(tf.constant(1) + 1))\n"
    )
    lines = ("absl::InitializeLog", "oneDNN", "cuda", "cpu_feature_guard", "Variant folder")
    stderr = {}
    for verbose in ("0", "1"):
        # TF_CPP_MIN_LOG_LEVEL=2, as other tools set it, still shows the cuInit line.
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "VAE_TF_VERBOSE": verbose}
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip() == "2"
        stderr[verbose] = result.stderr
    shown = [line for line in lines if line.lower() in stderr["0"].lower()]
    assert not shown, stderr["0"][-3000:]
    # The same run with VAE_TF_VERBOSE=1 shows them: the check above can fail.
    assert "oneDNN" in stderr["1"] and "Variant folder" in stderr["1"], stderr["1"][-3000:]


@pytest.mark.parametrize("cls", [VAE, Autoencoder])
def test_save_and_load_give_the_same_outputs(tmp_path, sample, cls):
    set_seed(0)
    kwargs = {"kl_weight": 0.5} if cls is VAE else {}
    model = cls(latent_dim=3, **kwargs)
    model.compile()
    model.fit(sample.x_train[:256], epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is cls
    x = sample.x_test[:8]
    z = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded.decode(z)), np.asarray(model.decode(z)), atol=1e-6)
    if cls is VAE:
        for a, b in zip(loaded.encode(x), model.encode(x), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
        assert float(loaded.kl_weight) == pytest.approx(0.5)
    # A loaded model comes back compiled and keeps training.
    loaded.fit(sample.x_train[:128], epochs=1, verbose=0)


@pytest.mark.slow
def test_a_notebook_that_imports_vae_tf_first_shows_no_tensorflow_log_lines(monkeypatch):
    # ipykernel forwards what the kernel writes to file descriptor 2 into the cell's
    # output, so TensorFlow's C++ lines land in the notebook unless vae_tf hides them.
    # It does so except under pytest, which it detects by this variable.
    import nbclient
    import nbformat

    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)

    outputs = {}
    for first in ("import vae_tf", "import os"):
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [
            nbformat.v4.new_code_cell(first),
            nbformat.v4.new_code_cell("import tensorflow as tf\nprint(int(tf.constant(1) + 1))"),
        ]
        nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
        outputs[first] = "".join(
            output.get("text", "") for cell in notebook.cells for output in cell.outputs
        )
    assert outputs["import vae_tf"] == "2\n", outputs["import vae_tf"][-2000:]
    # Without vae_tf the same cells show the lines: the check above can fail.
    assert "oneDNN" in outputs["import os"], outputs["import os"][-2000:]


@pytest.mark.slow
def test_one_step_under_mirrored_strategy_on_two_cpus_equals_one_step_on_one_device():
    # Same initial weights, same batch of 64, same noise (a function of each image's mu,
    # so that it does not depend on how the batch is split between replicas), and plain
    # SGD, whose step is proportional to the gradient (Adam's first step is not: it would
    # hide a wrong scaling of the replicas' gradients).
    script = textwrap.dedent(
        """
        import json, numpy as np, tensorflow as tf, keras
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from vae_tf.config import set_seed
        from vae_tf.data import load_mnist
        from vae_tf.models import VAE

        class NoiseFromMu(keras.layers.Layer):
            def call(self, inputs):
                mu, log_var = inputs
                eps = tf.stop_gradient(tf.sin(1000.0 * mu))
                return mu + tf.exp(0.5 * log_var) * eps

        x = load_mnist("sample", verbose=False).x_train[:64]

        def one_step(strategy, weights):
            with strategy.scope():
                set_seed(0)
                model = VAE(latent_dim=2, seed=0)
                model.sampling = NoiseFromMu()
                model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01))
            if weights is not None:
                model.set_weights(weights)
            start = [w.copy() for w in model.get_weights()]
            dataset = tf.data.Dataset.from_tensor_slices(x).batch(64)
            history = model.fit(dataset, epochs=1, verbose=0)
            return start, model.get_weights(), history.history["loss"][0]

        start, one_device, loss_one = one_step(tf.distribute.get_strategy(), None)
        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        _, two_replicas, loss_two = one_step(mirrored, start)
        moved = max(float(np.abs(a - b).max()) for a, b in zip(one_device, start))
        differ = max(float(np.abs(a - b).max()) for a, b in zip(one_device, two_replicas))
        print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "moved": moved,
                          "differ": differ, "loss_one": loss_one, "loss_two": loss_two}))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["replicas"] == 2
    # The step moved the weights, and both runs moved them the same way.
    assert record["moved"] > 1e-3, record
    assert record["differ"] < 1e-5, record
    # The loss shown is the mean over the global batch in both (nats per image).
    assert record["loss_two"] == pytest.approx(record["loss_one"], rel=1e-5)


def test_builders_seed_each_layer_without_global_seeding():
    import numpy as np

    from vae_tf.models import build_encoder, layer_seed

    np.random.seed(3)
    first = build_encoder(2, hidden_units=16, seed=7).get_weights()
    again = build_encoder(2, hidden_units=16, seed=7).get_weights()
    other = build_encoder(2, hidden_units=16, seed=8).get_weights()
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    # Each layer its own seed (layers of one shape must not start equal); None stays None.
    assert layer_seed(7, "encoder/1") != layer_seed(7, "encoder/2") != layer_seed(8, "encoder/2")
    assert layer_seed(None, "encoder/1") is None
    assert np.random.rand() == np.random.RandomState(3).rand()  # the global stream untouched
