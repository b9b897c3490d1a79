"""ELBO and the IWAE estimate of -log p(x)."""

from __future__ import annotations

import math

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
)
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


def test_iwae_is_not_above_the_negative_elbo_and_tightens_with_k(trained):
    model, _, images = trained
    neg_elbo = evaluate_elbo(model, images, seed=1)["neg_elbo"]
    estimates = {k: iwae_nll(model, images, k=k, seed=1) for k in (1, 10, 100)}
    # k = 1 is a one-sample ELBO: equal to the negative ELBO up to sampling noise.
    assert estimates[1] == pytest.approx(neg_elbo, abs=1.5)
    assert estimates[100] <= estimates[10] <= estimates[1]
    assert estimates[100] < neg_elbo
    # A gap of a few nats at most is what a 4-d VAE leaves between the two bounds.
    assert neg_elbo - estimates[100] < 20


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


def test_elbo_terms_add_up_and_are_in_a_plausible_range(trained):
    model, _, images = trained
    result = evaluate_elbo(model, images, seed=0)
    assert result["neg_elbo"] == pytest.approx(result["reconstruction"] + result["kl"])
    assert result["kl"] > 0
    assert 50 < result["neg_elbo"] < 784 * math.log(2)


def test_active_units_counts_latent_dimensions_that_move_with_the_input(trained):
    model, _, images = trained
    assert 1 <= active_units(model, images) <= 4
    # Zero the mu half of the encoder's last layer: no unit moves any more.
    dense = model.encoder.get_layer("mu_and_log_var")
    kernel, bias = dense.get_weights()
    saved = [kernel.copy(), bias.copy()]
    kernel[:, :4] = 0
    try:
        dense.set_weights([kernel, bias])
        assert active_units(model, images) == 0
    finally:
        dense.set_weights(saved)


def test_evaluate_reports_the_source_and_binarizes_with_the_seed(trained):
    model, data, _ = trained
    small = type(data)(**{**data.__dict__, "x_test": data.x_test[:100], "y_test": data.y_test[:100]})
    first = evaluate(model, small, k=5, seed=4)
    second = evaluate(model, small, k=5, seed=4)
    assert first.iwae_nll == second.iwae_nll
    assert first.source == "sample" and "sample" in first.source_description
    record = first.to_dict()
    assert record["unit"] == "nats per image" and record["images"] == 100
    assert record["iwae_nll"] <= record["neg_elbo"] + 1.5
