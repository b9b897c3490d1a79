"""A catalogue of typical mistakes for the exercises of lessons 06 and 07, as tests.

For every exercise: at least four typical wrong answers, each of which loses at least one
point and whose FIRST failed check names that mistake, and at least two right answers
written differently (NumPy, TensorFlow, keras.ops, SciPy...), which get full points. The
whole catalogue runs through ``run_checks`` (as the self-check cell does); one wrong and
one right variant per exercise also go through the real grading path (the sandbox with the
redacted package, as the grader runs them; marked ``slow``).

``KLWarmup`` runs inside ``fit`` of a real VAE, compiled with ``tf.function`` and with XLA:
the checks read the weight that the compiled step really used from the logged loss.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vae_tf.grading import run_checks

SEED = int(os.environ.get("VAE_TF_CHECK_SEED", "2026"))


def first_failure(name: str, obj: object) -> str:
    """The message of the first failed check; the object must lose at least one point."""
    outcome = run_checks(name, obj, seed=SEED)
    failures = outcome.failures()
    assert failures, f"the checks of {name!r} passed on a wrong answer:\n{outcome.verdict()}"
    return failures[0].message


def assert_full_points(name: str, obj: object) -> None:
    outcome = run_checks(name, obj, seed=SEED)
    assert outcome.passed, outcome.verdict()


# =========================================================================== lesson 06
# --------------------------------------------------------------------------- aggregate_moments


def moments_reference(codes):
    codes = np.asarray(codes, dtype=np.float64)
    return codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False))


def moments_by_hand(codes):
    codes = np.asarray(codes, dtype=np.float64)
    mean = codes.mean(axis=0)
    centred = codes - mean
    return mean, centred.T @ centred / (len(codes) - 1)


def moments_tensorflow(codes):
    import tensorflow as tf

    codes = tf.convert_to_tensor(codes, dtype=tf.float64)
    mean = tf.reduce_mean(codes, axis=0)
    centred = codes - mean
    count = tf.cast(tf.shape(codes)[0], tf.float64)
    return mean, tf.matmul(centred, centred, transpose_a=True) / (count - 1.0)


@pytest.mark.parametrize("right", [moments_reference, moments_by_hand, moments_tensorflow])
def test_aggregate_moments_right_answers_get_full_points(right):
    assert_full_points("aggregate_moments", right)


MOMENTS_MISTAKES = {
    "np.cov without rowvar": (
        lambda c: (c.mean(axis=0), np.cov(c)),
        ["D x D", "each row as a variable"],
    ),
    "divided by N": (
        lambda c: (c.mean(axis=0), np.atleast_2d(np.cov(c, rowvar=False, bias=True))),
        ["divided by N", "N - 1"],
    ),
    "codes not centred": (
        lambda c: (c.mean(axis=0), c.T.astype(np.float64) @ c / (len(c) - 1)),
        ["not centred"],
    ),
    "0-d covariance for D = 1": (
        lambda c: (c.mean(axis=0), np.cov(c, rowvar=False)),
        ["D = 1", "(1, 1)"],
    ),
    "mean over the wrong axis": (
        lambda c: (c.mean(axis=1), np.atleast_2d(np.cov(c, rowvar=False))),
        ["one value per latent dimension"],
    ),
    "only the mean returned": (lambda c: c.mean(axis=0), ["two things"]),
}


@pytest.mark.parametrize("mistake", sorted(MOMENTS_MISTAKES))
def test_aggregate_moments_mistakes_lose_points_and_are_named(mistake):
    wrong, words = MOMENTS_MISTAKES[mistake]
    message = first_failure("aggregate_moments", wrong)
    assert all(word in message for word in words), message


# --------------------------------------------------------------------------- knn_latent_accuracy


def knn_numpy(train_codes, train_labels, test_codes, test_labels, k=5):
    train_codes, test_codes = np.asarray(train_codes), np.asarray(test_codes)
    distances = np.sum((test_codes[:, None, :] - train_codes[None, :, :]) ** 2, axis=-1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    votes = np.asarray(train_labels)[nearest]
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == np.asarray(test_labels)))


def knn_sklearn(train_codes, train_labels, test_codes, test_labels, k=5):
    from sklearn.neighbors import KNeighborsClassifier

    neighbours = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
    return float(neighbours.score(test_codes, test_labels))


def knn_scipy_cdist(train_codes, train_labels, test_codes, test_labels, k=5):
    from scipy.spatial.distance import cdist
    from scipy.stats import mode

    nearest = np.argpartition(cdist(test_codes, train_codes), k - 1, axis=1)[:, :k]
    predicted = mode(np.asarray(train_labels)[nearest], axis=1, keepdims=False).mode
    return float((predicted == np.asarray(test_labels)).mean())


@pytest.mark.parametrize("right", [knn_numpy, knn_sklearn, knn_scipy_cdist])
def test_knn_latent_accuracy_right_answers_get_full_points(right):
    assert_full_points("knn_latent_accuracy", right)


def _knn_percentage(*args, k=5):
    return 100 * knn_numpy(*args, k=k)


def _knn_count(train_codes, train_labels, test_codes, test_labels, k=5):
    return knn_numpy(train_codes, train_labels, test_codes, test_labels, k=k) * len(test_labels)


def _knn_nearest_only(train_codes, train_labels, test_codes, test_labels, k=5):
    return knn_numpy(train_codes, train_labels, test_codes, test_labels, k=1)


def _knn_neighbours_among_test_codes(train_codes, train_labels, test_codes, test_labels, k=5):
    # Leaks the answer: the neighbours (and their labels) come from the test set.
    return knn_numpy(test_codes, test_labels, test_codes, test_labels, k=k)


def _knn_farthest(train_codes, train_labels, test_codes, test_labels, k=5):
    distances = np.sum((np.asarray(test_codes)[:, None] - np.asarray(train_codes)[None]) ** 2, -1)
    nearest = np.argsort(-distances, axis=1)[:, :k]
    votes = np.asarray(train_labels)[nearest]
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == np.asarray(test_labels)))


def _knn_against_train_labels(train_codes, train_labels, test_codes, test_labels, k=5):
    from sklearn.neighbors import KNeighborsClassifier

    predicted = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels).predict(
        test_codes
    )
    reference = np.asarray(train_labels)[: len(predicted)]
    return float(np.mean(predicted == reference))


KNN_MISTAKES = {
    "a percentage": (_knn_percentage, ["percentage"]),
    "a count": (_knn_count, ["number of right answers"]),
    "k ignored (nearest only)": (_knn_nearest_only, ["k argument", "neighbours vote"]),
    "neighbours among the test codes": (_knn_neighbours_among_test_codes, ["test_labels"]),
    "farthest neighbours": (_knn_farthest, ["k nearest", "smallest distances"]),
    "scored against the training labels": (_knn_against_train_labels, ["test_labels"]),
}


@pytest.mark.parametrize("mistake", sorted(KNN_MISTAKES))
def test_knn_latent_accuracy_mistakes_lose_points_and_are_named(mistake):
    wrong, words = KNN_MISTAKES[mistake]
    message = first_failure("knn_latent_accuracy", wrong)
    assert all(word in message for word in words), message

