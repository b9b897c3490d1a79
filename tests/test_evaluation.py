"""ELBO and the IWAE estimate of -log p(x)."""

from __future__ import annotations

import numpy as np
import pytest

from vae_tf.config import set_seed
from vae_tf.data import binarize_images, load_mnist
from vae_tf.evaluation import (
    active_units,
    evaluate,
    evaluate_elbo,
    iwae_log_weights,
    iwae_nll,
    kl_per_unit,
)
from vae_tf.losses import kl_divergence, kl_per_dimension
from vae_tf.models import VAE


@pytest.fixture(scope="module")
def trained():
    set_seed(0)
    data = load_mnist("sample", binarize="dynamic", seed=0, verbose=False)
    model = VAE(latent_dim=4, seed=0)
    model.compile()
    model.fit(data.train, epochs=3, verbose=0)
    images = binarize_images(data.x_test[:300], seed=0)
    return model, data, images


def numpy_log_normal(z, mu, log_var):
    return -0.5 * np.sum(np.log(2 * np.pi) + log_var + (z - mu) ** 2 / np.exp(log_var), axis=-1)


def test_log_weights_match_a_numpy_reference(trained):
    model, _, images = trained
    x = images[:3]
    eps = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    got = np.asarray(iwae_log_weights(model, x, eps), np.float64)

    mu, log_var = (np.asarray(t, np.float64)[:, None, :] for t in model.encoder(x))
    z = mu + np.exp(0.5 * log_var) * eps
    logits = np.asarray(model.decoder(z.reshape(15, 4).astype(np.float32)), np.float64)
    logits = logits.reshape(3, 5, 784)
    target = np.repeat(x.reshape(3, 1, 784), 5, axis=1).astype(np.float64)
    log_px = -(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))).sum(-1)
    expected = log_px + numpy_log_normal(z, 0, 0) - numpy_log_normal(z, mu, log_var)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def known_model(mu, log_var, logits) -> VAE:
    """A VAE whose every image has posterior N(mu, exp(log_var)) and whose decoder
    ignores z and gives ``logits``: then p(x) is the Bernoulli likelihood of ``logits``."""
    latent_dim = len(mu)
    model = VAE(latent_dim=latent_dim)
    encoder_out = model.encoder.get_layer("mu_and_log_var")
    kernel, _ = encoder_out.get_weights()
    encoder_out.set_weights([np.zeros_like(kernel), np.concatenate([mu, log_var]).astype("f4")])
    decoder_out = model.decoder.get_layer("pixel_logits")
    kernel, _ = decoder_out.get_weights()
    decoder_out.set_weights([np.zeros_like(kernel), logits.astype(np.float32)])
    return model


def bernoulli_nll(images: np.ndarray, logits: np.ndarray) -> float:
    """-log p(x) in nats per image, in float64, for pixel probabilities sigmoid(logits)."""
    x = images.reshape(len(images), -1).astype(np.float64)
    logits = logits.astype(np.float64)
    per_pixel = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    return float(per_pixel.sum(axis=1).mean())


@pytest.fixture(scope="module")
def binary_images():
    data = load_mnist("sample", verbose=False, max_test=200)
    return binarize_images(data.x_test, seed=0)


@pytest.fixture(scope="module")
def pixel_logits(binary_images):
    mean = np.clip(binary_images.reshape(len(binary_images), -1).mean(axis=0), 0.02, 0.98)
    return np.log(mean / (1 - mean))


@pytest.mark.parametrize("k", [1, 7, 100])
def test_iwae_equals_minus_log_p_x_when_the_posterior_is_the_prior(binary_images, pixel_logits, k):
    # q = p(z) and a decoder that ignores z: every importance weight is p(x) itself.
    model = known_model(np.zeros(2), np.zeros(2), pixel_logits)
    exact = bernoulli_nll(binary_images, pixel_logits)
    assert exact > 50  # a real number of nats, not a degenerate case
    assert iwae_nll(model, binary_images, k=k, seed=k) == pytest.approx(exact, rel=1e-5)
    elbo = evaluate_elbo(model, binary_images, seed=0)
    assert elbo["kl"] == pytest.approx(0.0, abs=1e-6)
    assert elbo["neg_elbo"] == pytest.approx(exact, rel=1e-5)


def test_iwae_closes_the_gap_of_a_known_kl_as_k_grows(binary_images, pixel_logits):
    # q = N(0.5, 0.8^2) per dimension, decoder ignoring z: the negative ELBO is exactly
    # -log p(x) + KL(q || p), and IWAE_k falls from it toward -log p(x) as k grows.
    mu, log_var = np.full(3, 0.5), np.full(3, 2 * np.log(0.8))
    model = known_model(mu, log_var, pixel_logits)
    exact = bernoulli_nll(binary_images, pixel_logits)
    kl = float(np.sum(-0.5 * (1 + log_var - mu**2 - np.exp(log_var))))  # 0.40 nats
    neg_elbo = evaluate_elbo(model, binary_images, seed=0)["neg_elbo"]
    assert neg_elbo == pytest.approx(exact + kl, rel=1e-5)
    gaps = [iwae_nll(model, binary_images, k=k, seed=0) - exact for k in (1, 10, 1000)]
    # Monte Carlo spread of the mean over 200 images: about 0.04 nats at k = 1.
    assert gaps[0] == pytest.approx(kl, abs=0.1)
    assert gaps[0] > gaps[1] > gaps[2] >= -1e-3
    assert gaps[2] < 0.01


def test_iwae_is_below_the_negative_elbo_and_tightens_with_k(trained):
    model, _, images = trained
    neg_elbo = evaluate_elbo(model, images, seed=1)["neg_elbo"]
    estimates = {k: iwae_nll(model, images, k=k, seed=1) for k in (1, 10, 100)}
    assert estimates[100] < estimates[10] < estimates[1]
    assert estimates[100] < neg_elbo


def test_per_unit_kls_sum_to_the_kl(trained):
    model, _, images = trained
    per_unit = kl_per_unit(model, images)
    assert per_unit.shape == (4,) and np.all(per_unit >= 0)
    total = evaluate_elbo(model, images, seed=0)["kl"]
    assert per_unit.sum() == pytest.approx(total, rel=1e-5)
    rng = np.random.default_rng(5)
    mu, log_var = rng.normal(size=(2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(kl_per_dimension(mu, log_var)).sum(axis=-1),
        np.asarray(kl_divergence(mu, log_var)),
        rtol=1e-6,
    )


def test_iwae_does_not_depend_on_the_chunk_size(trained):
    model, _, images = trained
    whole = iwae_nll(model, images[:50], k=8, seed=3)
    chunked = iwae_nll(model, images[:50], k=8, seed=3, chunk_size=7)
    assert chunked == pytest.approx(whole, rel=1e-5)
    assert iwae_nll(model, images[:50], k=8, seed=3) == whole  # repeatable for a seed


def test_iwae_rejects_bad_arguments(trained):
    model, _, images = trained
    with pytest.raises(ValueError, match="k must be"):
        iwae_nll(model, images, k=0)
    with pytest.raises(ValueError, match="shape"):
        iwae_nll(model, images.reshape(len(images), -1))
    with pytest.raises(ValueError, match="empty"):
        iwae_nll(model, images[:0])


def test_elbo_terms_add_up(trained):
    model, _, images = trained
    result = evaluate_elbo(model, images, seed=0)
    assert result["neg_elbo"] == pytest.approx(result["reconstruction"] + result["kl"])
    assert result["kl"] > 0


def test_active_units_counts_latent_dimensions_that_move_with_the_input(trained):
    model, _, images = trained
    dense = model.encoder.get_layer("mu_and_log_var")
    kernel, bias = dense.get_weights()
    saved = [kernel.copy(), bias.copy()]
    try:
        # Zero the mu half of the encoder's last layer: no unit moves any more.
        kernel[:, :4] = 0
        dense.set_weights([kernel, bias])
        assert active_units(model, images) == 0
        # Give units 0 and 2 back a weight: exactly those two move.
        rng = np.random.default_rng(0)
        kernel[:, [0, 2]] = rng.normal(scale=0.5, size=(kernel.shape[0], 2))
        dense.set_weights([kernel, bias])
        assert active_units(model, images) == 2
    finally:
        dense.set_weights(saved)


@pytest.mark.slow
def test_active_units_fall_as_beta_grows():
    # Measured (latent 8, 128 hidden units, 1,000 dynamically binarized sample images,
    # 3 epochs, seeds 0-4): beta = 1 keeps 7 or 8 of the 8 units active, beta = 32 0 or 1.
    data = load_mnist("sample", binarize="dynamic", max_train=1000, verbose=False)
    counts = {}
    for beta in (1.0, 32.0):
        set_seed(0)
        model = VAE(latent_dim=8, hidden_units=128, kl_weight=beta, seed=0)
        model.compile()
        model.fit(data.train, epochs=3, verbose=0)
        counts[beta] = active_units(model, data.x_test[:500])
    assert counts[1.0] >= 6, counts
    assert counts[32.0] <= 2, counts


def test_evaluate_reports_the_source_and_binarizes_with_the_seed(trained):
    model, data, _ = trained
    small = type(data)(
        **{**data.__dict__, "x_test": data.x_test[:100], "y_test": data.y_test[:100]}
    )
    first = evaluate(model, small, k=5, seed=4)
    second = evaluate(model, small, k=5, seed=4)
    assert first.iwae_nll == second.iwae_nll
    assert first.source == "sample" and "sample" in first.source_description
    record = first.to_dict()
    assert record["unit"] == "nats per image" and record["images"] == 100
    assert record["binarized"] is True and "bound on -log p(x)" in record["quantity"]
    assert sum(record["kl_per_unit"]) == pytest.approx(record["kl"], rel=1e-5)


def test_evaluate_on_grey_levels_labels_the_numbers_as_cross_entropy(trained):
    model, data, _ = trained
    grey = load_mnist("sample", max_test=50, verbose=False)  # binarize="none": grey levels
    assert not np.all((grey.x_test == 0) | (grey.x_test == 1))
    result = evaluate(model, grey, k=3, binarize=False)
    assert result.binarized is False
    assert "cross-entropy" in result.quantity and "not a bound" in result.quantity


def test_compiled_iwae_matches_the_log_weights_and_ignores_chunking():
    import io

    from vae_tf.evaluation import IwaeProgress, iwae_bound, iwae_log_weights, iwae_nll
    from vae_tf.models import VAE

    model = VAE(latent_dim=3, hidden_units=16, hidden_layers=2, seed=0)
    x = (np.random.default_rng(1).random((23, 28, 28, 1)) > 0.5).astype(np.float32)
    eps = np.random.default_rng(3).standard_normal((23, 7, 3)).astype(np.float32)
    expected = -float(np.mean(np.asarray(iwae_bound(iwae_log_weights(model, x, eps)))))
    log = io.StringIO()
    chunked = iwae_nll(model, x, k=7, seed=3, chunk_size=2, progress=IwaeProgress(7, file=log))
    whole = iwae_nll(model, x, k=7, seed=3, jit_compile=False)
    assert chunked == pytest.approx(expected, rel=1e-5)
    assert whole == pytest.approx(expected, rel=1e-5)
    lines = log.getvalue().splitlines()  # 12 chunks, but at most about 10 lines
    assert 2 <= len(lines) <= 11 and lines[-1].strip().startswith("IWAE k=7: 23/23 images")


def test_xla_is_used_for_dense_decoders_and_not_for_convolutional_ones():
    from vae_tf.evaluation import use_xla_for

    assert use_xla_for(VAE(latent_dim=2, hidden_units=8, seed=0))
    assert not use_xla_for(VAE(latent_dim=2, arch="conv", hidden_units=8, seed=0))
    # A convolutional encoder with a dense decoder: the decoder does the work, XLA on.
    assert use_xla_for(VAE(latent_dim=2, arch="conv", decoder_arch="mlp", hidden_units=8, seed=0))


@pytest.mark.parametrize("decoder_arch", ["conv", "mlp"])
def test_convolutional_iwae_matches_the_log_weights_with_xla_on_off_and_auto(decoder_arch):
    from vae_tf.evaluation import iwae_bound

    model = VAE(latent_dim=3, arch="conv", decoder_arch=decoder_arch, hidden_units=16, seed=0)
    x = (np.random.default_rng(1).random((9, 28, 28, 1)) > 0.5).astype(np.float32)
    eps = np.random.default_rng(2).standard_normal((9, 5, 3)).astype(np.float32)
    expected = -float(np.mean(np.asarray(iwae_bound(iwae_log_weights(model, x, eps)))))
    for jit_compile in (None, True, False):
        got = iwae_nll(model, x, k=5, seed=2, chunk_size=4, jit_compile=jit_compile)
        assert got == pytest.approx(expected, rel=1e-5), jit_compile


def test_iwae_rejects_a_jit_compile_that_is_not_a_choice(trained):
    model, _, images = trained
    with pytest.raises(ValueError, match="jit_compile must be one of None, True, False"):
        iwae_nll(model, images[:5], k=2, jit_compile="yes")


def test_chunks_are_sized_by_the_decoders_widest_layer_not_its_output():
    # At k=100, 2**23 values hold 107 images of 784 pixels, but only 3 images of a
    # convolutional decoder with 28 x 28 x 32 activations: its chunks are smaller.
    import keras
    from keras import layers

    from vae_tf.models import build_decoder, build_encoder

    codes = keras.Input(shape=(2,))
    h = layers.Reshape((7, 7, 8))(layers.Dense(7 * 7 * 8)(codes))
    h = layers.Conv2DTranspose(8, 3, strides=2, padding="same")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same")(h)
    wide = keras.Model(codes, layers.Conv2D(1, 3, padding="same")(h))
    x = (np.random.default_rng(1).random((7, 28, 28, 1)) > 0.5).astype(np.float32)
    decoders = {"mlp": build_decoder(2, "mlp", 16), "wide conv": wide}
    done = {}
    for name, decoder in decoders.items():
        model = VAE(latent_dim=2, encoder=build_encoder(2, "mlp", 16), decoder=decoder, seed=0)
        done[name] = []
        iwae_nll(model, x, k=100, seed=0, progress=lambda n, total, a=name: done[a].append(n))
    assert done == {"mlp": [7], "wide conv": [3, 6, 7]}
