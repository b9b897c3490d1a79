"""Checks for lesson 04 (the effect of mu): the noisy expectation and the label-kept rate.

Two NumPy exercises:

- ``noisy_expectation(mu, log_var, eps, u)``: ``mu + exp(log_var / 2) * eps + u``, the code
  the original study decoded to see what happens when the mean is shifted; any latent_dim.
- ``label_kept_rate(predicted_labels, true_labels)``: the fraction (in [0, 1]) of images
  whose predicted label equals the true one; arrays of different shapes are an error.

Each check is worth one point and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.exercises._helpers import short, to_numpy
from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "04_effect_of_mu"


# --------------------------------------------------------------------------- noisy_expectation

noisy_expectation_exercise = exercise(
    "noisy_expectation",
    lesson=LESSON,
    symbol="noisy_expectation",
    description="mu + exp(log_var / 2) * eps + u: the mean shifted by uniform noise",
)


def _noisy_case(batch: int, latent_dim: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(batch, latent_dim)).astype(np.float32)
    log_var = rng.uniform(-2.0, 1.0, size=(batch, latent_dim)).astype(np.float32)
    eps = rng.normal(size=(batch, latent_dim)).astype(np.float32)
    u = rng.uniform(-1.0, 1.0, size=(batch, latent_dim)).astype(np.float32)
    return mu, log_var, eps, u


@noisy_expectation_exercise.add_check("returns mu when there is no noise")
def _noisy_no_noise(noisy_expectation: Any) -> None:
    mu, log_var, _, _ = _noisy_case(4, 2, seed=0)
    zeros = np.zeros_like(mu)
    result = to_numpy(noisy_expectation(mu, log_var, zeros, zeros), "noisy_expectation")
    if result.shape != mu.shape or not np.allclose(result, mu, rtol=1e-4, atol=1e-5):
        raise CheckFailed(
            "With eps = 0 and u = 0 nothing is added, so the result should be mu itself.",
            tried="mu of shape (4, 2), any log_var, eps = zeros, u = zeros",
            expected=f"mu, shape {mu.shape}: {short(mu[0])} for the first image",
            got=f"shape {result.shape}: {short(result.reshape(-1)[:2])}",
            hint="start from mu and add the two noise terms",
        )


@noisy_expectation_exercise.add_check("scales eps by sigma = exp(log_var / 2)")
def _noisy_sigma(noisy_expectation: Any) -> None:
    mu = np.zeros((1, 3), dtype=np.float32)
    log_var = np.log(np.array([[4.0, 1.0, 0.25]], dtype=np.float32))  # sigma = 2, 1, 0.5
    eps = np.ones((1, 3), dtype=np.float32)
    u = np.zeros((1, 3), dtype=np.float32)
    result = to_numpy(noisy_expectation(mu, log_var, eps, u), "noisy_expectation")
    expected = np.array([[2.0, 1.0, 0.5]])
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4):
        return
    hint = "sigma is the standard deviation: exp(log_var / 2), the square root of the variance"
    if result.shape == expected.shape and np.allclose(result, [[4.0, 1.0, 0.25]], rtol=1e-4):
        what = "eps was scaled by the variance exp(log_var), not by the standard deviation."
    else:
        what = "eps should be scaled by the standard deviation sigma = exp(log_var / 2)."
    raise CheckFailed(
        what,
        tried="mu = 0, variances (4, 1, 0.25), eps = 1, u = 0",
        expected=short(expected),
        got=short(result),
        hint=hint,
    )


@noisy_expectation_exercise.add_check("adds the uniform shift u")
def _noisy_adds_u(noisy_expectation: Any) -> None:
    mu = np.array([[0.5, -0.5]], dtype=np.float32)
    log_var = np.zeros((1, 2), dtype=np.float32)
    eps = np.zeros((1, 2), dtype=np.float32)
    u = np.array([[0.75, -0.25]], dtype=np.float32)
    result = to_numpy(noisy_expectation(mu, log_var, eps, u), "noisy_expectation")
    expected = mu + u
    if result.shape != expected.shape or not np.allclose(result, expected, rtol=1e-4):
        raise CheckFailed(
            "The uniform noise u should be added to the code, unchanged.",
            tried="mu = (0.5, -0.5), eps = 0, u = (0.75, -0.25)",
            expected=short(expected),
            got=short(result),
            hint="use the u you are given (do not draw a new one, do not scale it)",
        )


@noisy_expectation_exercise.add_check("works for any latent_dim and batch size")
def _noisy_any_latent_dim(noisy_expectation: Any) -> None:
    for batch, latent_dim, seed in ((7, 5, 1), (3, 1, 2), (2, 16, 3)):
        mu, log_var, eps, u = _noisy_case(batch, latent_dim, seed)
        expected = mu + np.exp(log_var / 2.0) * eps + u
        tried = f"random mu, log_var, eps, u of shape ({batch}, {latent_dim})"
        try:
            value = noisy_expectation(mu, log_var, eps, u)
        except NotImplementedError:
            raise  # an unfinished stub: reported as "not written yet"
        except Exception as error:  # noqa: BLE001 - explained in terms of the latent size
            raise CheckFailed(
                f"The code fails for a latent space of {latent_dim} dimensions "
                "(the original study hard-coded 2 dimensions; do not repeat that).",
                tried=tried,
                got=f"{type(error).__name__}: {error}",
                hint="use element-wise operations on the whole arrays; no fixed sizes",
            ) from None
        result = to_numpy(value, "noisy_expectation")
        if result.shape != expected.shape or not np.allclose(
            result, expected, rtol=1e-4, atol=1e-5
        ):
            raise CheckFailed(
                "The result is wrong for a latent space that is not 2-dimensional "
                "(the original study hard-coded 2 dimensions; do not repeat that).",
                tried=tried,
                expected=f"shape {expected.shape}, first row {short(expected[0])}",
                got=f"shape {result.shape}, first values {short(result.reshape(-1)[:latent_dim])}",
                hint="use element-wise operations on the whole arrays; no fixed sizes",
            )


# --------------------------------------------------------------------------- label_kept_rate

label_kept_rate_exercise = exercise(
    "label_kept_rate",
    lesson=LESSON,
    symbol="label_kept_rate",
    description="fraction of images whose predicted label equals the true label",
)


def _as_float(value: Any, what: str) -> float:
    try:
        return float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{what} should return one number, a fraction between 0 and 1.",
            got=f"a {type(value).__name__} of shape {np.shape(value)}",
        ) from None


@label_kept_rate_exercise.add_check("returns a fraction between 0 and 1")
def _kept_fraction(label_kept_rate: Any) -> None:
    predicted = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    true = np.array([3, 1, 4, 1, 5, 3, 5, 8])  # 5 of 8 agree
    got = _as_float(label_kept_rate(predicted, true), "label_kept_rate")
    if abs(got - 0.625) < 1e-6:
        return
    if abs(got - 5) < 1e-6:
        what = "This is the number of kept labels; divide by the number of images."
    elif abs(got - 62.5) < 1e-4:
        what = "This is a percentage; return a fraction between 0 and 1 instead."
    elif abs(got - 0.375) < 1e-6:
        what = "This is the fraction of labels that changed, not of those kept."
    else:
        what = "The rate should be the fraction of images whose label was kept."
    raise CheckFailed(
        what,
        tried="predicted [3 1 4 1 5 9 2 6], true [3 1 4 1 5 3 5 8]",
        expected="0.625 (5 of 8 agree)",
        got=f"{got:.4g}",
        hint="np.mean(predicted_labels == true_labels)",
    )


@label_kept_rate_exercise.add_check("gives 1 when all agree and 0 when none do")
def _kept_extremes(label_kept_rate: Any) -> None:
    labels = np.arange(10).repeat(3)
    all_kept = _as_float(label_kept_rate(labels, labels.copy()), "label_kept_rate")
    none_kept = _as_float(label_kept_rate((labels + 1) % 10, labels), "label_kept_rate")
    if abs(all_kept - 1.0) > 1e-6 or abs(none_kept) > 1e-6:
        raise CheckFailed(
            "Identical labels should give 1.0 and labels that all differ should give 0.0.",
            tried="30 labels against themselves, then against labels shifted by one",
            expected="1.0 and 0.0",
            got=f"{all_kept:.4g} and {none_kept:.4g}",
        )


@label_kept_rate_exercise.add_check("accepts lists and integer arrays of other dtypes")
def _kept_inputs(label_kept_rate: Any) -> None:
    got = _as_float(
        label_kept_rate([0, 1, 2, 3], np.array([0, 1, 2, 9], dtype=np.int64)), "label_kept_rate"
    )
    if abs(got - 0.75) > 1e-6:
        raise CheckFailed(
            "A Python list of predictions should work like an array.",
            tried="predicted [0, 1, 2, 3] (a list), true array([0, 1, 2, 9], dtype=int64)",
            expected="0.75",
            got=f"{got:.4g}",
            hint="convert both inputs with np.asarray first",
        )


@label_kept_rate_exercise.add_check("refuses labels of different shapes with a ValueError")
def _kept_shapes(label_kept_rate: Any) -> None:
    predicted = np.array([1, 2, 3, 4])
    cases = (
        ("4 predictions and 3 true labels", predicted, np.array([1, 2, 3])),
        # (N,) == (N, 1) broadcasts to (N, N) and would give a wrong number silently.
        ("shapes (4,) and (4, 1)", predicted, predicted[:, np.newaxis]),
    )
    for tried, first, second in cases:
        try:
            value = label_kept_rate(first, second)
        except ValueError:
            continue
        except NotImplementedError:
            raise  # an unfinished stub: reported as "not written yet"
        except Exception as error:  # noqa: BLE001 - any other error type is the mistake here
            raise CheckFailed(
                "Labels of different shapes should raise a ValueError that says so.",
                tried=tried,
                expected="ValueError",
                got=f"{type(error).__name__}: {error}",
                hint="compare predicted.shape with true.shape and raise ValueError(...)",
            ) from None
        raise CheckFailed(
            "Labels of different shapes should raise a ValueError, not give a number: "
            "comparing them broadcasts or fails in confusing ways.",
            tried=tried,
            expected="ValueError",
            got=f"{value!r}",
            hint="if predicted.shape != true.shape: raise ValueError(...)",
        )
