"""The exercise checks of lessons 04-07 pass on correct code and fail on typical mistakes.

Each test runs the registered checks (as the self-check cell and the grader do) on a
reference implementation written here, or on a deliberately wrong one, and asserts that
the failure message says what is wrong in plain words.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from vae_tf.grading import run_checks

# The checks draw their inputs from a seed, a secret one when grading; a fixed one here keeps
# the catalogue reproducible (set VAE_TF_CHECK_SEED to try others).
SEED = int(os.environ.get("VAE_TF_CHECK_SEED", "2026"))


def _messages(name: str, obj: object) -> str:
    outcome = run_checks(name, obj, seed=SEED)
    assert not outcome.passed, f"the checks of {name!r} passed on a wrong implementation"
    return "\n".join(result.message for result in outcome.results if not result.passed)


def _assert_passes(name: str, obj: object) -> None:
    outcome = run_checks(name, obj, seed=SEED)
    assert outcome.passed, outcome.verdict()


def _stub(*args: object, **kwargs: object) -> None:
    raise NotImplementedError("Exercise: write it")


# --------------------------------------------------------------------------- lesson 04
# The catalogue of mistakes of lessons 04 and 05 is tests/test_catalogue_04_05.py.


def noisy_expectation(mu, log_var, rng):
    eps = rng.standard_normal(np.shape(mu))
    return mu + np.exp(np.asarray(log_var) / 2) * eps + rng.uniform(-1, 1, np.shape(mu))


def test_noisy_expectation_checks_pass_on_reference():
    _assert_passes("noisy_expectation", noisy_expectation)


def test_noisy_expectation_checks_pass_on_the_package_function():
    from vae_tf.latent import noisy_expectation as package_version

    _assert_passes("noisy_expectation", package_version)


def test_lesson_04_checks_explain_an_unwritten_stub():
    for name in ("noisy_expectation", "interpolate"):
        assert "not written yet" in _messages(name, _stub)


# --------------------------------------------------------------------------- lesson 05


def test_sigma_sweep_checks_pass_on_the_package_function():
    from vae_tf.latent import sigma_sweep

    _assert_passes("sigma_sweep", sigma_sweep)


def test_lesson_05_checks_explain_an_unwritten_stub():
    assert "not written yet" in _messages("sigma_sweep", _stub)


# --------------------------------------------------------------------------- lesson 06


def aggregate_moments(codes):
    codes = np.asarray(codes, dtype=np.float64)
    return codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False))


def knn_latent_accuracy(train_codes, train_labels, test_codes, test_labels, k=5):
    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
    return float(classifier.score(test_codes, test_labels))


def test_aggregate_moments_checks_pass_on_reference():
    _assert_passes("aggregate_moments", aggregate_moments)


def test_aggregate_moments_checks_pass_on_the_package_function():
    from vae_tf.latent import aggregate_moments as package_version

    _assert_passes("aggregate_moments", package_version)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a wrong answer overflows on purpose
def test_aggregate_moments_checks_catch_np_cov_without_rowvar():
    message = _messages("aggregate_moments", lambda c: (c.mean(axis=0), np.cov(c)))
    assert "rowvar=False" in message


def test_aggregate_moments_checks_catch_the_zero_dimensional_cov_for_one_dimension():
    message = _messages("aggregate_moments", lambda c: (c.mean(axis=0), np.cov(c, rowvar=False)))
    assert "D = 1" in message and "2-D" in message


def test_aggregate_moments_checks_catch_uncentred_codes():
    def uncentred(codes):
        codes = np.asarray(codes, dtype=np.float64)
        return codes.mean(axis=0), codes.T @ codes / (len(codes) - 1)

    assert "not centred" in _messages("aggregate_moments", uncentred)


def test_knn_latent_accuracy_checks_pass_on_reference():
    _assert_passes("knn_latent_accuracy", knn_latent_accuracy)


def test_knn_latent_accuracy_checks_catch_an_ignored_k():
    def one_neighbour(train_codes, train_labels, test_codes, test_labels, k=5):
        return knn_latent_accuracy(train_codes, train_labels, test_codes, test_labels, k=1)

    assert "k argument" in _messages("knn_latent_accuracy", one_neighbour)


def test_knn_latent_accuracy_checks_catch_a_percentage():
    def percent(*args, **kwargs):
        return 100 * knn_latent_accuracy(*args, **kwargs)

    assert "percentage" in _messages("knn_latent_accuracy", percent)


def test_lesson_06_checks_explain_an_unwritten_stub():
    for name in ("aggregate_moments", "knn_latent_accuracy"):
        assert "not written yet" in _messages(name, _stub)


# --------------------------------------------------------------------------- lesson 07
# The full catalogue of lesson 07 (and 06) is in tests/test_catalogue_06_07.py.


def iwae_bound(log_weights):
    from scipy.special import logsumexp

    log_weights = np.asarray(log_weights, dtype=np.float64)
    return logsumexp(log_weights, axis=1) - np.log(log_weights.shape[1])


def kl_warmup_weight(step, warmup_updates, target=1.0):
    if warmup_updates <= 0:
        return float(target)
    return float(target) * min(1.0, step / warmup_updates)


def test_iwae_bound_checks_pass_on_reference():
    _assert_passes("iwae_bound", iwae_bound)


def test_iwae_bound_checks_pass_on_the_package_function():
    from vae_tf.evaluation import iwae_bound as package_version

    _assert_passes("iwae_bound", package_version)


def test_iwae_bound_checks_catch_the_mean_of_the_logs():
    assert "mean of the log-weights" in _messages(
        "iwae_bound", lambda log_weights: np.mean(log_weights, axis=1)
    )


def test_kl_warmup_weight_checks_pass_on_reference():
    _assert_passes("kl_warmup_weight", kl_warmup_weight)


def test_kl_warmup_weight_checks_catch_a_division_by_zero():
    def no_guard(step, warmup_updates, target=1.0):
        return target * min(1.0, step / warmup_updates)

    assert "divided by zero" in _messages("kl_warmup_weight", no_guard)


def test_lesson_07_checks_explain_an_unwritten_stub():
    for name in ("iwae_bound", "kl_warmup_weight"):
        assert "not written yet" in _messages(name, _stub)


def test_kl_warmup_callback_checks_fail_every_check_on_the_stub_class():
    import keras

    class KLWarmup(keras.callbacks.Callback):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule

        def on_train_batch_begin(self, batch, logs=None):
            raise NotImplementedError("Exercise kl_warmup_callback: write it")

    outcome = run_checks("kl_warmup_callback", KLWarmup, seed=SEED)
    assert outcome.points == 0
    assert all("not written yet" in result.message for result in outcome.results)
