"""Checks for lesson 06 (the two loss terms): measuring a latent space.

Two NumPy exercises:

- ``aggregate_moments(codes)``: the mean ``(D,)`` and the sample covariance ``(D, D)``
  (divided by N - 1, like ``np.cov``) of latent codes ``(N, D)``, also for D = 1.
- ``knn_latent_accuracy(train_codes, train_labels, test_codes, test_labels, k=5)``: the
  fraction of test codes whose k nearest training codes vote for the right digit.

Each check is worth one point and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.exercises._helpers import short
from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "06_loss_terms"


# --------------------------------------------------------------------------- aggregate_moments

aggregate_moments_exercise = exercise(
    "aggregate_moments",
    lesson=LESSON,
    symbol="aggregate_moments",
    description="mean (D,) and covariance (D, D) of latent codes (N, D)",
)


def _moments(aggregate_moments: Any, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    result = aggregate_moments(codes)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(
            "aggregate_moments should return two things: (mean, cov).",
            tried=f"codes of shape {codes.shape}",
            expected="a tuple (mean, cov)",
            got=f"a {type(result).__name__}",
            hint="end with `return mean, cov`",
        )
    mean, cov = result
    try:
        return np.asarray(mean, dtype=np.float64), np.asarray(cov, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed("mean and cov should be arrays of numbers.") from None


def _codes(count: int, latent_dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(latent_dim, latent_dim))
    return (rng.normal(size=(count, latent_dim)) @ mixing + rng.normal(size=latent_dim)).astype(
        np.float32
    )


@aggregate_moments_exercise.add_check("returns shapes (D,) and (D, D)")
def _moments_shapes(aggregate_moments: Any) -> None:
    codes = _codes(50, 3, seed=0)
    mean, cov = _moments(aggregate_moments, codes)
    if mean.shape != (3,):
        raise CheckFailed(
            "The mean should have one value per latent dimension.",
            tried="codes of shape (50, 3): 50 codes, 3 latent dimensions",
            expected="mean of shape (3,)",
            got=f"mean of shape {mean.shape}",
            hint="average over the codes, axis=0",
        )
    if cov.shape != (3, 3):
        hint = "np.cov treats rows as variables unless you pass rowvar=False"
        raise CheckFailed(
            "The covariance should be a D x D matrix, one row and column per latent dimension.",
            tried="codes of shape (50, 3)",
            expected="cov of shape (3, 3)",
            got=f"cov of shape {cov.shape}",
            hint=hint,
        )


@aggregate_moments_exercise.add_check("matches np.mean and np.cov")
def _moments_values(aggregate_moments: Any) -> None:
    codes = _codes(40, 4, seed=1)
    mean, cov = _moments(aggregate_moments, codes)
    expected_mean = codes.astype(np.float64).mean(axis=0)
    expected_cov = np.cov(codes.astype(np.float64), rowvar=False)
    if mean.shape != expected_mean.shape or not np.allclose(
        mean, expected_mean, rtol=1e-4, atol=1e-5
    ):
        raise CheckFailed(
            "The mean is wrong.",
            tried="40 random codes of dimension 4",
            expected=short(expected_mean),
            got=short(mean),
            hint="codes.mean(axis=0)",
        )
    if cov.shape == expected_cov.shape and np.allclose(cov, expected_cov, rtol=1e-4, atol=1e-5):
        return
    what = "The covariance is wrong."
    if cov.shape == expected_cov.shape and np.allclose(cov, expected_cov * 39 / 40, rtol=1e-4):
        what = (
            "The covariance was divided by N; divide by N - 1 like np.cov (the unbiased estimate)."
        )
    elif cov.shape == expected_cov.shape and np.allclose(cov, codes.T @ codes / 39, rtol=1e-4):
        what = "The codes were not centred: subtract the mean before multiplying."
    elif cov.shape == expected_cov.shape and np.allclose(
        np.diag(cov), np.diag(expected_cov), rtol=1e-4
    ):
        what = "The variances are right but the covariances (off-diagonal entries) are not."
    raise CheckFailed(
        what,
        tried="40 random, correlated codes of dimension 4",
        expected=f"np.cov(codes, rowvar=False), first row {short(expected_cov[0])}",
        got=f"first row {short(cov.reshape(-1)[:4])}",
        hint="centred = codes - mean; cov = centred.T @ centred / (N - 1)",
    )


@aggregate_moments_exercise.add_check("works for one latent dimension (D = 1)")
def _moments_one_dimension(aggregate_moments: Any) -> None:
    codes = np.array([[1.0], [2.0], [4.0], [5.0]], dtype=np.float32)  # mean 3, variance 10/3
    mean, cov = _moments(aggregate_moments, codes)
    if mean.shape != (1,) or cov.shape != (1, 1):
        raise CheckFailed(
            "For D = 1 the mean should still have shape (1,) and the covariance (1, 1).",
            tried="codes [[1], [2], [4], [5]] of shape (4, 1)",
            expected="mean shape (1,), cov shape (1, 1)",
            got=f"mean shape {mean.shape}, cov shape {cov.shape}",
            hint="np.cov returns a 0-d array for one variable; wrap it with np.atleast_2d",
        )
    if not (np.isclose(mean[0], 3.0) and np.isclose(cov[0, 0], 10.0 / 3.0, rtol=1e-4)):
        raise CheckFailed(
            "The moments of a single latent dimension are wrong.",
            tried="codes [[1], [2], [4], [5]]",
            expected="mean [3.], cov [[3.3333]]",
            got=f"mean {short(mean)}, cov {short(cov)}",
        )


@aggregate_moments_exercise.add_check("gives the standard normal's moments on N(0, I) samples")
def _moments_standard_normal(aggregate_moments: Any) -> None:
    codes = np.random.default_rng(2).normal(size=(20000, 2)).astype(np.float32)
    mean, cov = _moments(aggregate_moments, codes)
    # 20,000 draws: standard errors near 0.007 (mean) and 0.01 (covariance entries).
    if (
        mean.shape != (2,)
        or cov.shape != (2, 2)
        or not (np.allclose(mean, 0.0, atol=0.05) and np.allclose(cov, np.eye(2), atol=0.05))
    ):
        raise CheckFailed(
            "Codes drawn from N(0, I) should give a mean near 0 and a covariance near I.",
            tried="20,000 codes drawn from N(0, I) in 2 dimensions",
            expected="mean ~ [0, 0], cov ~ [[1, 0], [0, 1]]",
            got=f"mean {short(mean)}, cov {short(cov)}",
        )


# --------------------------------------------------------------------------- knn_latent_accuracy

knn_latent_accuracy_exercise = exercise(
    "knn_latent_accuracy",
    lesson=LESSON,
    symbol="knn_latent_accuracy",
    description="k-nearest-neighbour accuracy of test codes against training codes (fraction)",
)


def _accuracy(knn_latent_accuracy: Any, *args: Any, **kwargs: Any) -> float:
    value = knn_latent_accuracy(*args, **kwargs)
    try:
        return float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise CheckFailed(
            "knn_latent_accuracy should return one number, a fraction between 0 and 1.",
            got=f"a {type(value).__name__} of shape {np.shape(value)}",
        ) from None


def _clusters(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ten tight clusters far apart: digit d sits around (10 d, -10 d)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class)
    centres = np.stack([10.0 * labels, -10.0 * labels], axis=1)
    return (centres + rng.normal(scale=0.5, size=centres.shape)).astype(np.float32), labels


@knn_latent_accuracy_exercise.add_check("separated clusters give accuracy 1")
def _knn_separated(knn_latent_accuracy: Any) -> None:
    train_codes, train_labels = _clusters(20, seed=0)
    test_codes, test_labels = _clusters(7, seed=1)
    got = _accuracy(knn_latent_accuracy, train_codes, train_labels, test_codes, test_labels, k=5)
    if abs(got - 1.0) < 1e-6:
        return
    what = "Every test code sits inside the cluster of its own digit, so all should be right."
    if abs(got - 100.0) < 1e-4:
        what = "This is a percentage; return a fraction between 0 and 1 instead."
    elif abs(got - 70.0) < 1e-4:
        what = "This is the number of right answers; divide by the number of test codes."
    raise CheckFailed(
        what,
        tried="200 training and 70 test codes in 10 far-apart clusters, k = 5",
        expected="1.0",
        got=f"{got:.4g}",
        hint="fit KNeighborsClassifier(n_neighbors=k) on the training codes, score on the test codes",
    )


@knn_latent_accuracy_exercise.add_check("identical codes give chance accuracy")
def _knn_identical(knn_latent_accuracy: Any) -> None:
    train_labels = np.repeat(np.arange(10), 10)
    test_labels = np.repeat(np.arange(10), 5)
    train_codes = np.zeros((100, 2), dtype=np.float32)
    test_codes = np.zeros((50, 2), dtype=np.float32)
    got = _accuracy(knn_latent_accuracy, train_codes, train_labels, test_codes, test_labels, k=5)
    # Codes that carry no information leave nothing but a guess: about 1 in 10 is right.
    if not 0.0 <= got <= 0.3:
        raise CheckFailed(
            "When every code is the same, the codes say nothing about the digit, so the "
            "accuracy should be near chance (0.1 for 10 balanced digits).",
            tried="100 training and 50 test codes, all equal to (0, 0); balanced labels",
            expected="about 0.1",
            got=f"{got:.4g}",
            hint="predict the test labels from the training codes only; do not look at test_labels",
        )


@knn_latent_accuracy_exercise.add_check("uses k neighbours, not just the nearest one")
def _knn_uses_k(knn_latent_accuracy: Any) -> None:
    # On a line: one mislabelled training code right at the test point, four of the
    # other digit a little further. One neighbour says 1; five neighbours say 0.
    train_codes = np.array([[0.0], [0.3], [-0.3], [0.4], [-0.4], [10.0], [10.2]], dtype=np.float32)
    train_labels = np.array([1, 0, 0, 0, 0, 1, 1])
    test_codes = np.array([[0.01], [10.1]], dtype=np.float32)
    test_labels = np.array([0, 1])
    with_five = _accuracy(
        knn_latent_accuracy, train_codes, train_labels, test_codes, test_labels, k=5
    )
    with_one = _accuracy(
        knn_latent_accuracy, train_codes, train_labels, test_codes, test_labels, k=1
    )
    if abs(with_five - 1.0) > 1e-6 or abs(with_one - 0.5) > 1e-6:
        raise CheckFailed(
            "The k argument should set how many neighbours vote.",
            tried="a test code whose nearest training code has the wrong label but whose "
            "next four have the right one; k = 5 and k = 1",
            expected="1.0 with k = 5 and 0.5 with k = 1",
            got=f"{with_five:.4g} with k = 5 and {with_one:.4g} with k = 1",
            hint="pass n_neighbors=k, and fit on the training codes and labels",
        )


@knn_latent_accuracy_exercise.add_check("scores the test codes against the test labels")
def _knn_scores_test(knn_latent_accuracy: Any) -> None:
    train_codes, train_labels = _clusters(10, seed=3)
    test_codes = np.array(
        [[0.0, 0.0], [10.0, -10.0], [20.0, -20.0], [30.0, -30.0]], dtype=np.float32
    )
    # The last two test labels are deliberately wrong: the right answer is 0.5.
    test_labels = np.array([0, 1, 5, 5])
    got = _accuracy(knn_latent_accuracy, train_codes, train_labels, test_codes, test_labels, k=3)
    if abs(got - 0.5) > 1e-6:
        raise CheckFailed(
            "The accuracy should compare the predictions for the test codes with test_labels.",
            tried="4 test codes in the clusters of digits 0, 1, 2, 3, labelled 0, 1, 5, 5",
            expected="0.5",
            got=f"{got:.4g}",
            hint="fit on (train_codes, train_labels), then score on (test_codes, test_labels)",
        )
