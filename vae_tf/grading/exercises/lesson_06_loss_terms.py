"""Checks for lesson 06 (the two loss terms): measuring a latent space.

Two NumPy exercises:

- ``aggregate_moments(codes)``: the mean ``(D,)`` and the sample covariance ``(D, D)``
  (divided by N - 1, like ``np.cov``) of latent codes ``(N, D)``, also for D = 1.
- ``knn_latent_accuracy(train_codes, train_labels, test_codes, test_labels, k=5)``: the
  fraction of test codes whose k nearest training codes vote for the right digit.

Each check's inputs are drawn from the run's seed; its probe calls the student's function,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, number_of, raise_if_raised, type_name
from vae_tf.grading.exercises._helpers import (
    call_each,
    require_values,
    short,
    then_companion,
    with_companion,
)
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "06_loss_terms"


def _probe(function: Any, inputs: Inputs) -> Any:
    return call_each(function, inputs["calls"])


# --------------------------------------------------------------------------- aggregate_moments

aggregate_moments_exercise = exercise(
    "aggregate_moments",
    lesson=LESSON,
    points=4,
    symbol="aggregate_moments",
    description="mean (D,) and covariance (D, D) of latent codes (N, D)",
    references=("vae_tf.latent:aggregate_moments",),
    hints=(
        "Each row of codes is one image's code: the mean and the covariance are taken over "
        "the rows (the images), one mean per latent dimension.",
        "A covariance multiplies the CENTRED codes (the mean subtracted) dimension by "
        "dimension and averages with N - 1 in the denominator.",
        "np.cov treats each row as a variable unless told otherwise, and gives a 0-d array "
        "when there is only one variable; check the shapes for D = 1.",
    ),
)


def _moments(answer: Any, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raise_if_raised(answer)
    items = answer.get("items") if isinstance(answer, dict) else None
    if not isinstance(items, list) or answer.get("length") != 2 or len(items) != 2:
        raise CheckFailed(
            "aggregate_moments should return two things: (mean, cov).",
            tried=f"codes of shape {codes.shape}",
            expected="a tuple (mean, cov)",
            got=f"a {type_name(answer)}",
            hint="end with `return mean, cov`",
        )
    mean = array_of(items[0], "aggregate_moments' mean").astype(np.float64)
    cov = array_of(items[1], "aggregate_moments' cov").astype(np.float64)
    return mean, cov


def _codes(rng: np.random.Generator, count: int, latent_dim: int) -> np.ndarray:
    mixing = rng.normal(size=(latent_dim, latent_dim))
    return (rng.normal(size=(count, latent_dim)) @ mixing + rng.normal(size=latent_dim)).astype(
        np.float32
    )


def _codes_inputs(rng: np.random.Generator) -> Inputs:
    codes = _codes(rng, int(rng.integers(30, 60)), int(rng.integers(3, 6)))
    return {"calls": [((codes,), {})]}


@aggregate_moments_exercise.check(
    "returns shapes (D,) and (D, D)", probe=_probe, inputs=_codes_inputs
)
def _moments_shapes_verdict(inputs: Inputs, answer: Any) -> None:
    ((codes,), _) = inputs["calls"][0]
    count, dims = codes.shape
    mean, cov = _moments(answer[0], codes)
    if mean.shape != (dims,):
        raise CheckFailed(
            "The mean should have one value per latent dimension.",
            tried=f"codes of shape {codes.shape}: {count} codes, {dims} latent dimensions",
            expected=f"mean of shape ({dims},)",
            got=f"mean of shape {mean.shape}",
            hint="the mean is taken over the images (the rows)",
        )
    if cov.shape != (dims, dims):
        raise CheckFailed(
            "The covariance should be a D x D matrix, one row and column per latent dimension.",
            tried=f"codes of shape {codes.shape}",
            expected=f"cov of shape ({dims}, {dims})",
            got=f"cov of shape {cov.shape}",
            hint="np.cov treats each row as a variable by default; here each column is one",
        )
    # The right shapes of the wrong numbers (zeros, the prior's 0 and I) earn nothing.
    _moments_values_verdict(inputs, answer)


@aggregate_moments_exercise.check("matches np.mean and np.cov", probe=_probe, inputs=_codes_inputs)
def _moments_values_verdict(inputs: Inputs, answer: Any) -> None:
    ((codes,), _) = inputs["calls"][0]
    count, dims = codes.shape
    mean, cov = _moments(answer[0], codes)
    codes64 = codes.astype(np.float64)
    expected_mean = codes64.mean(axis=0)
    expected_cov = np.cov(codes64, rowvar=False)
    if mean.shape != expected_mean.shape or not np.allclose(
        mean, expected_mean, rtol=1e-4, atol=1e-5
    ):
        raise CheckFailed(
            "The mean is wrong.",
            tried=f"{count} random codes of dimension {dims}",
            expected=short(expected_mean[:3]),
            got=short(mean.reshape(-1)[:3]),
            hint="one mean per latent dimension, taken over the images",
        )
    if cov.shape == expected_cov.shape and np.allclose(cov, expected_cov, rtol=1e-4, atol=1e-5):
        return
    what = "The covariance is wrong."
    if cov.shape == expected_cov.shape:
        if np.allclose(cov, expected_cov * (count - 1) / count, rtol=1e-4):
            what = "The covariance was divided by N; divide by N - 1 like np.cov (the unbiased estimate)."
        elif np.allclose(cov, codes64.T @ codes64 / (count - 1), rtol=1e-4):
            what = "The codes were not centred: subtract the mean before multiplying."
        elif np.allclose(np.diag(cov), np.diag(expected_cov), rtol=1e-4):
            what = "The variances are right but the covariances (off-diagonal entries) are not."
    raise CheckFailed(
        what,
        tried=f"{count} random, correlated codes of dimension {dims}",
        expected=f"np.cov(codes, rowvar=False), first row {short(expected_cov[0][:3])}",
        got=f"first values {short(cov.reshape(-1)[:3])}",
        hint="compare your covariance with np.cov on a small example you can check by hand",
    )


def _one_dimension_inputs(rng: np.random.Generator) -> Inputs:
    codes = np.round(rng.normal(0.0, 2.0, size=(int(rng.integers(4, 9)), 1)), 1).astype(np.float32)
    return {"calls": [((codes,), {})]}


@aggregate_moments_exercise.check(
    "works for one latent dimension (D = 1)", probe=_probe, inputs=_one_dimension_inputs
)
def _moments_one_verdict(inputs: Inputs, answer: Any) -> None:
    ((codes,), _) = inputs["calls"][0]
    mean, cov = _moments(answer[0], codes)
    if mean.shape != (1,) or cov.shape != (1, 1):
        raise CheckFailed(
            "For D = 1 the mean should still have shape (1,) and the covariance (1, 1).",
            tried=f"codes of shape {codes.shape}",
            expected="mean shape (1,), cov shape (1, 1)",
            got=f"mean shape {mean.shape}, cov shape {cov.shape}",
            hint="np.cov returns a 0-d array for one variable; the result must be 2-D",
        )
    values = codes[:, 0].astype(np.float64)
    expected_mean, expected_var = values.mean(), values.var(ddof=1)
    if not (
        np.isclose(mean[0], expected_mean, atol=1e-5)
        and np.isclose(cov[0, 0], expected_var, rtol=1e-4)
    ):
        raise CheckFailed(
            "The moments of a single latent dimension are wrong.",
            tried=f"codes of shape {codes.shape}",
            expected=f"mean [{expected_mean:.4g}], cov [[{expected_var:.4g}]]",
            got=f"mean {short(mean)}, cov {short(cov)}",
        )


def _normal_inputs(rng: np.random.Generator) -> Inputs:
    return {"calls": [((rng.normal(size=(5000, 2)).astype(np.float32),), {})]}


@aggregate_moments_exercise.check(
    "gives the standard normal's moments on N(0, I) samples",
    probe=_probe,
    inputs=with_companion(_normal_inputs, lambda rng: _codes_inputs(rng)["calls"][0]),
)
def _moments_normal_verdict(inputs: Inputs, answer: Any) -> None:
    ((codes,), _) = inputs["calls"][0]
    mean, cov = _moments(answer[0], codes)
    # 5,000 draws: standard errors near 0.014 (mean and covariances) and 0.02 (variances);
    # the tolerance is at least 5 of them. (Few enough that np.cov without rowvar, 5,000 x 5,000, fits.)
    if (
        mean.shape != (2,)
        or cov.shape != (2, 2)
        or not (np.allclose(mean, 0.0, atol=0.1) and np.allclose(cov, np.eye(2), atol=0.1))
    ):
        raise CheckFailed(
            "Codes drawn from N(0, I) should give a mean near 0 and a covariance near I.",
            tried="5,000 codes drawn from N(0, I) in 2 dimensions",
            expected="mean ~ [0, 0], cov ~ [[1, 0], [0, 1]]",
            got=f"mean {short(mean.reshape(-1)[:2])}, cov {short(cov.reshape(-1)[:4])}",
        )
    # The prior's own moments, 0 and I, returned whatever the codes, are right here only.
    ((other,), _) = inputs["calls"][-1]
    other_mean, other_cov = _moments(answer[-1], other)
    other = other.astype(np.float64)
    for got, expected in ((other_mean, other.mean(axis=0)), (other_cov, np.cov(other.T))):
        require_values(
            got,
            expected,
            lambda: None,
            what="Right on N(0, I) samples, but not on other codes (the prior's 0 and I are "
            "not the moments of any codes): fix the check 'matches np.mean and np.cov' first.",
            rtol=1e-4,
            atol=1e-5,
        )


# --------------------------------------------------------------------------- knn_latent_accuracy

knn_latent_accuracy_exercise = exercise(
    "knn_latent_accuracy",
    lesson=LESSON,
    points=4,
    symbol="knn_latent_accuracy",
    description="k-nearest-neighbour accuracy of test codes against training codes (fraction)",
    references=("vae_tf.latent:knn_accuracy",),
    hints=(
        "For each test code: the distances to every training code, the k smallest of them, "
        "and the digit most of those k neighbours carry.",
        "All distances at once: broadcasting test codes (N_test, 1, D) against training codes "
        "(1, N_train, D) gives an (N_test, N_train) table; sort each row, not each column.",
        "The vote of k labels is a count per digit (np.bincount with minlength=10) and its "
        "argmax; the accuracy compares the votes with test_labels and is a fraction.",
    ),
)


def _accuracy(answer: Any) -> float:
    return number_of(answer, "knn_latent_accuracy")


def _clusters(
    rng: np.random.Generator, per_class: int, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ten tight clusters far apart: digit d sits around (spacing d, -spacing d)."""
    labels = np.repeat(np.arange(10), per_class)
    centres = np.stack([spacing * labels, -spacing * labels], axis=1)
    return (centres + rng.normal(scale=0.5, size=centres.shape)).astype(np.float32), labels


def _knn_companion(rng: np.random.Generator) -> Any:
    """Separated clusters with some test labels changed: the right accuracy is a fraction
    drawn afresh, so that no constant answer passes the check that makes this call too."""
    spacing = float(rng.uniform(8.0, 15.0))
    train_codes, train_labels = _clusters(rng, 10, spacing)
    test_codes, test_labels = _clusters(rng, 4, spacing)
    changed = rng.choice(len(test_labels), size=int(rng.integers(7, 34)), replace=False)
    test_labels[changed] = (test_labels[changed] + 1) % 10
    return ((train_codes, train_labels, test_codes, test_labels), {"k": 5})


@judge_only
def _knn_companion_verdict(inputs: Inputs, answer: Any, check: str) -> None:
    (_, _, _, test_labels), _ = inputs["calls"][-1]
    changed = int(np.sum(test_labels != np.repeat(np.arange(10), 4)))
    expected = 1.0 - changed / len(test_labels)
    got = _accuracy(answer[-1])
    if abs(got - expected) > 1e-6:
        what = (
            f"The answer to '{check}' is right, but so would a constant be: on separated "
            f"clusters with {changed} of {len(test_labels)} test labels changed, the accuracy "
            "is wrong."
        )
        if got > expected:
            what += (
                " The votes agree with test_labels more often than the training codes around "
                "them allow: the neighbours (or their labels) came from the test set. "
                "Neighbours are training codes; test_labels only score the votes."
            )
        raise CheckFailed(
            what,
            tried="10 far-apart clusters, 4 test codes in each, some labelled with another digit",
            expected=f"{expected:.4g}",
            got=f"{got:.4g}",
            hint="compute the accuracy from the neighbours' votes, for any codes and labels",
        )


def _separated_inputs(rng: np.random.Generator) -> Inputs:
    spacing = float(rng.uniform(8.0, 15.0))
    train_codes, train_labels = _clusters(rng, int(rng.integers(15, 25)), spacing)
    test_codes, test_labels = _clusters(rng, int(rng.integers(5, 9)), spacing)
    order = rng.permutation(len(test_labels))
    return {
        "calls": [((train_codes, train_labels, test_codes[order], test_labels[order]), {"k": 5})]
    }


@knn_latent_accuracy_exercise.check(
    "separated clusters give accuracy 1",
    probe=_probe,
    inputs=with_companion(_separated_inputs, _knn_companion),
)
def _knn_separated_verdict(inputs: Inputs, answer: Any) -> None:
    (train_codes, train_labels, test_codes, test_labels), _ = inputs["calls"][0]
    got = _accuracy(answer[0])
    if abs(got - 1.0) < 1e-6:
        return
    what = "Every test code sits inside the cluster of its own digit, so all should be right."
    against_train = float(np.mean(test_labels == train_labels[: len(test_labels)]))
    if abs(got - against_train) < 1e-6:
        what = (
            "The predictions were compared with train_labels: the accuracy compares the votes "
            "for the test codes with test_labels."
        )
    elif got < 0.05:
        what = (
            "Not one test code got its digit, although all its nearest training codes carry "
            "it: the vote should come from the k nearest training codes (smallest distances)."
        )
    elif abs(got - 100.0) < 1e-4:
        what = "This is a percentage; return a fraction between 0 and 1 instead."
    elif abs(got - len(test_codes)) < 1e-4:
        what = "This is the number of right answers; divide by the number of test codes."
    raise CheckFailed(
        what,
        tried=f"{len(train_codes)} training and {len(test_codes)} test codes in 10 far-apart "
        "clusters, k = 5",
        expected="1.0",
        got=f"{got:.4g}",
        hint="predict each test code from its nearest training codes; return a fraction",
    )


def _train_only_inputs(rng: np.random.Generator) -> Inputs:
    # Every test label disagrees with the training codes around it: the right answer is 0.
    spacing = float(rng.uniform(8.0, 15.0))
    train_codes, train_labels = _clusters(rng, int(rng.integers(8, 12)), spacing)
    test_codes, digits = _clusters(rng, 6, spacing)
    test_labels = (digits + 1) % 10
    order = rng.permutation(len(test_labels))
    return {
        "calls": [((train_codes, train_labels, test_codes[order], test_labels[order]), {"k": 5})]
    }


@knn_latent_accuracy_exercise.check(
    "predicts from the training codes and labels only",
    probe=_probe,
    inputs=with_companion(_train_only_inputs, _knn_companion),
)
def _knn_train_only_verdict(inputs: Inputs, answer: Any) -> None:
    got = _accuracy(answer[0])
    if abs(got) < 1e-6:
        return
    what = "The prediction should come from the training codes and their labels alone."
    if got > 0.5:
        what = (
            "The votes agree with test_labels although every training code near a test code "
            "carries another digit: the neighbours (or their labels) came from the test set. "
            "Neighbours are training codes; test_labels only score the votes."
        )
    raise CheckFailed(
        what,
        tried="10 far-apart clusters of training codes labelled d; test codes inside cluster d "
        "labelled d + 1; k = 5",
        expected="0.0 (no test label matches its neighbours)",
        got=f"{got:.4g}",
    )


def _identical_inputs(rng: np.random.Generator) -> Inputs:
    train_labels = np.repeat(np.arange(10), 10)
    test_labels = rng.permutation(np.repeat(np.arange(10), 5))
    point = rng.normal(size=2).astype(np.float32)
    train_codes = np.tile(point, (100, 1))
    test_codes = np.tile(point, (50, 1))
    return {"calls": [((train_codes, train_labels, test_codes, test_labels), {"k": 5})]}


@knn_latent_accuracy_exercise.check(
    "identical codes give chance accuracy",
    probe=_probe,
    inputs=with_companion(_identical_inputs, _knn_companion),
)
def _knn_identical_verdict(inputs: Inputs, answer: Any) -> None:
    got = _accuracy(answer[0])
    # Codes that carry no information leave nothing but a guess: about 1 in 10 is right.
    if not 0.0 <= got <= 0.3:
        raise CheckFailed(
            "When every code is the same, the codes say nothing about the digit, so the "
            "accuracy should be near chance (0.1 for 10 balanced digits).",
            tried="100 training and 50 test codes, all equal; balanced labels",
            expected="about 0.1",
            got=f"{got:.4g}",
            hint="predict the test labels from the training codes only; do not look at test_labels",
        )


def _uses_k_inputs(rng: np.random.Generator) -> Inputs:
    # On a line: one mislabelled training code right at the test point, four of the
    # other digit a little further. One neighbour says `wrong`; five neighbours say `right`.
    # Digits at least 3 apart: the rounded mean of the five labels is then neither digit, so
    # a vote by mean label fails here on every seed (and is named).
    right = int(rng.integers(0, 10))
    wrong = int(rng.choice([d for d in range(10) if abs(d - right) >= 3]))
    far = float(rng.uniform(8.0, 20.0))
    train_codes = np.array(
        [[0.0], [0.3], [-0.3], [0.4], [-0.4], [far], [far + 0.2]], dtype=np.float32
    )
    train_labels = np.array([wrong, right, right, right, right, wrong, wrong])
    test_codes = np.array([[0.01], [far + 0.1]], dtype=np.float32)
    test_labels = np.array([right, wrong])
    args = (train_codes, train_labels, test_codes, test_labels)
    return {"calls": [(args, {"k": 5}), (args, {"k": 1})]}


@judge_only
def _knn_variant_accuracy(args: tuple, k: int, *, skip: int = 0, rule: str = "majority") -> float:
    """The accuracy of a kNN that skips ``skip`` nearest codes and votes by ``rule``."""
    train_codes, train_labels, test_codes, test_labels = (np.asarray(a) for a in args)
    distances = np.sum((test_codes[:, None, :] - train_codes[None, :, :]) ** 2, axis=-1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, skip : skip + k]
    votes = train_labels[nearest]
    if rule == "mean":
        predicted = np.rint(votes.mean(axis=1)).astype(int)
    else:
        predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == test_labels))


@knn_latent_accuracy_exercise.check(
    "uses k neighbours, not just the nearest one",
    probe=_probe,
    inputs=with_companion(_uses_k_inputs, _knn_companion),
)
def _knn_uses_k_verdict(inputs: Inputs, answer: Any) -> None:
    with_five, with_one = _accuracy(answer[0]), _accuracy(answer[1])
    if abs(with_five - 1.0) <= 1e-6 and abs(with_one - 0.5) <= 1e-6:
        return
    args = inputs["calls"][0][0]

    def gives(**variant: Any) -> bool:
        five = _knn_variant_accuracy(args, 5, **variant)
        one = _knn_variant_accuracy(args, 1, **variant)
        return abs(with_five - five) <= 1e-6 and abs(with_one - one) <= 1e-6

    what = "The k argument should set how many neighbours vote."
    hint = "the k nearest training codes vote, not only the nearest one"
    if gives(skip=1):
        what = (
            "The nearest training code was skipped: the vote comes from neighbours 2 to k + 1. "
            "A test code is not among the training codes, so nothing needs leaving out: the k "
            "nearest are the first k of the sorted distances, the nearest included."
        )
        hint = "take the first k indices of each sorted row, starting at 0"
    elif gives(rule="mean"):
        what = (
            "The neighbours' labels were averaged (and rounded): digits are categories, not "
            "amounts, and the mean of a 1 and a 7 is a 4 that no neighbour carries. The "
            "prediction is the digit most of the k neighbours carry (a majority vote)."
        )
        hint = "count the votes per digit (np.bincount with minlength=10) and take the argmax"
    raise CheckFailed(
        what,
        tried="a test code whose nearest training code has the wrong label but whose "
        "next four have the right one; k = 5 and k = 1",
        expected="1.0 with k = 5 and 0.5 with k = 1",
        got=f"{with_five:.4g} with k = 5 and {with_one:.4g} with k = 1",
        hint=hint,
    )


def _scores_test_inputs(rng: np.random.Generator) -> Inputs:
    spacing = float(rng.uniform(8.0, 15.0))
    train_codes, train_labels = _clusters(rng, 10, spacing)
    digits = rng.choice(10, size=4, replace=False)
    test_codes = np.stack([spacing * digits, -spacing * digits], axis=1).astype(np.float32)
    # The last two test labels are deliberately wrong: the right answer is 0.5.
    test_labels = digits.copy()
    test_labels[2:] = (digits[2:] + rng.integers(1, 10, size=2)) % 10
    return {"calls": [((train_codes, train_labels, test_codes, test_labels), {"k": 3})]}


@knn_latent_accuracy_exercise.check(
    "scores the test codes against the test labels",
    probe=_probe,
    inputs=with_companion(_scores_test_inputs, _knn_companion),
)
def _knn_scores_test_verdict(inputs: Inputs, answer: Any) -> None:
    got = _accuracy(answer[0])
    if abs(got - 0.5) > 1e-6:
        raise CheckFailed(
            "The accuracy should compare the predictions for the test codes with test_labels.",
            tried="4 test codes at the centres of 4 digit clusters, 2 of them labelled with "
            "another digit",
            expected="0.5",
            got=f"{got:.4g}",
            hint="neighbours come from the training codes; test_labels only score the votes",
        )


then_companion(knn_latent_accuracy_exercise, _knn_companion_verdict)
