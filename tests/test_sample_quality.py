"""The sample-quality measurements of lesson 08 (``vae_tf.sample_quality``)."""

from __future__ import annotations

import numpy as np
import pytest

from vae_tf.grading.checking import run_checks
from vae_tf.sample_quality import (
    aggregate_posterior_codes,
    bernoulli_sample,
    class_probabilities,
    sample_quality,
)


def test_uniform_class_probabilities_have_log_10_nats_of_entropy_and_confidence_one_tenth():
    quality = sample_quality(np.full((7, 10), 0.1))
    assert quality["confidence"] == pytest.approx(0.1)
    assert quality["mean_entropy"] == pytest.approx(np.log(10))
    assert quality["label_entropy"] == pytest.approx(0.0)  # every argmax is class 0


def test_one_hot_probabilities_of_ten_equally_frequent_digits_have_label_entropy_log_10():
    quality = sample_quality(np.eye(10)[np.arange(50) % 10])
    assert quality["confidence"] == pytest.approx(1.0)
    assert quality["mean_entropy"] == pytest.approx(0.0)
    assert quality["label_entropy"] == pytest.approx(np.log(10))


def test_sample_quality_refuses_probabilities_that_are_not_a_matrix():
    with pytest.raises(ValueError, match="shape"):
        sample_quality(np.full(10, 0.1))


def test_bernoulli_sample_is_binary_and_each_pixel_is_on_with_its_probability():
    p = np.linspace(0.0, 1.0, 11)
    draws = bernoulli_sample(np.tile(p, (20_000, 1)), np.random.default_rng(0))
    assert set(np.unique(draws)) <= {0.0, 1.0}
    # 20,000 draws: the frequency is within 4 standard errors (at most 0.0035) of p.
    np.testing.assert_allclose(draws.mean(axis=0), p, atol=0.015)


def test_aggregate_posterior_codes_with_one_image_have_its_mean_and_standard_deviation():
    mu = np.array([[1.0, -2.0, 0.5]])
    log_var = np.log(np.array([[0.25, 4.0, 1.0]]))
    z = aggregate_posterior_codes(mu, log_var, 40_000, np.random.default_rng(0))
    assert z.shape == (40_000, 3) and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), mu[0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 2.0, 1.0], rtol=0.03)


def test_aggregate_posterior_codes_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="mu and log_var"):
        aggregate_posterior_codes(np.zeros((3, 2)), np.zeros((3, 4)), 5, np.random.default_rng(0))


def test_class_probabilities_are_the_softmax_of_the_classifiers_logits():
    class Classifier:  # a stand-in: logits 0, 1, ..., 9 for every image
        @staticmethod
        def model(images, training=False):
            return np.tile(np.arange(10.0), (len(images), 1))

    probabilities = class_probabilities(Classifier(), np.zeros((3, 28, 28)), batch_size=2)
    expected = np.exp(np.arange(10.0)) / np.exp(np.arange(10.0)).sum()
    np.testing.assert_allclose(probabilities, np.tile(expected, (3, 1)))


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("bernoulli_sample", bernoulli_sample),
        ("sample_quality", sample_quality),
        ("aggregate_posterior_codes", aggregate_posterior_codes),
    ],
)
def test_the_package_references_pass_the_lesson_08_checks(name, reference):
    outcome = run_checks(name, reference, seed=1)
    assert outcome.passed, outcome.verdict()
