"""Checks for lesson 05 (the effect of sigma): sampling with a scaled standard deviation.

One NumPy exercise:

- ``sample_with_sigma_factor(mu, log_var, factor, eps)``: ``mu + factor * exp(log_var / 2) * eps``.
  ``factor = 1`` is the reparameterization trick; ``factor = 0`` gives ``mu``.

Each check is worth one point and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.exercises._helpers import short, to_numpy
from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "05_effect_of_sigma"

sample_with_sigma_factor_exercise = exercise(
    "sample_with_sigma_factor",
    lesson=LESSON,
    symbol="sample_with_sigma_factor",
    description="mu + factor * exp(log_var / 2) * eps",
)


def _case(batch: int = 5, latent_dim: int = 3, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(batch, latent_dim)).astype(np.float32)
    log_var = rng.uniform(-3.0, 1.0, size=(batch, latent_dim)).astype(np.float32)
    eps = rng.normal(size=(batch, latent_dim)).astype(np.float32)
    return mu, log_var, eps


def _reference(mu: np.ndarray, log_var: np.ndarray, factor: float, eps: np.ndarray) -> np.ndarray:
    return mu + factor * np.exp(log_var / 2.0) * eps


def _same(result: np.ndarray, expected: np.ndarray) -> bool:
    return result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-5)


@sample_with_sigma_factor_exercise.add_check("factor 0 gives mu")
def _factor_zero(sample_with_sigma_factor: Any) -> None:
    mu, log_var, eps = _case()
    result = to_numpy(sample_with_sigma_factor(mu, log_var, 0.0, eps), "sample_with_sigma_factor")
    if not _same(result, mu.astype(np.float64)):
        raise CheckFailed(
            "With factor 0 the noise vanishes, so the result should be mu, unchanged.",
            tried="random mu, log_var, eps of shape (5, 3), factor = 0",
            expected=f"mu, first row {short(mu[0])}",
            got=f"shape {result.shape}, first values {short(result.reshape(-1)[:3])}",
            hint="the factor multiplies only the noise term sigma * eps, never mu",
        )


@sample_with_sigma_factor_exercise.add_check("factor 1 is the reparameterization trick")
def _factor_one(sample_with_sigma_factor: Any) -> None:
    mu, log_var, eps = _case(seed=1)
    expected = _reference(mu, log_var, 1.0, eps)
    result = to_numpy(sample_with_sigma_factor(mu, log_var, 1.0, eps), "sample_with_sigma_factor")
    if _same(result, expected):
        return
    what = "With factor 1 the result should be the usual sample mu + sigma * eps."
    if _same(result, mu + np.exp(log_var) * eps):
        what = "eps was scaled by the variance exp(log_var), not by sigma = exp(log_var / 2)."
    elif _same(result, mu + log_var * eps):
        what = "eps was scaled by log_var itself; sigma is exp(log_var / 2)."
    raise CheckFailed(
        what,
        tried="random mu, log_var, eps of shape (5, 3), factor = 1",
        expected=f"mu + exp(log_var / 2) * eps, first row {short(expected[0])}",
        got=f"shape {result.shape}, first values {short(result.reshape(-1)[:3])}",
        hint="sigma = np.exp(log_var / 2) is the standard deviation",
    )


@sample_with_sigma_factor_exercise.add_check("the factor scales the standard deviation")
def _factor_scales_sigma(sample_with_sigma_factor: Any) -> None:
    mu = np.zeros((1, 2), dtype=np.float32)
    log_var = np.log(np.array([[4.0, 0.25]], dtype=np.float32))  # sigma = 2 and 0.5
    eps = np.ones((1, 2), dtype=np.float32)
    expected = np.array([[20.0, 5.0]])
    result = to_numpy(sample_with_sigma_factor(mu, log_var, 10.0, eps), "sample_with_sigma_factor")
    if _same(result, expected):
        return
    what = "With factor 10 the sample should lie 10 standard deviations from mu."
    if _same(result, np.sqrt(10.0) * np.array([[2.0, 0.5]])):
        what = "The factor scaled the variance; it should scale the standard deviation sigma."
    elif _same(result, np.array([[2.0, 0.5]])):
        what = "The factor was ignored: the sample is mu + sigma * eps."
    raise CheckFailed(
        what,
        tried="mu = 0, variances (4, 0.25) so sigma = (2, 0.5), eps = 1, factor = 10",
        expected=short(expected),
        got=short(result),
        hint="multiply sigma * eps by the factor: mu + factor * sigma * eps",
    )


@sample_with_sigma_factor_exercise.add_check("is linear in the factor, for any latent_dim")
def _linear_in_factor(sample_with_sigma_factor: Any) -> None:
    for latent_dim, seed in ((1, 2), (8, 3)):
        mu, log_var, eps = _case(batch=4, latent_dim=latent_dim, seed=seed)
        for factor in (0.1, 100.0):
            expected = _reference(mu, log_var, factor, eps)
            result = to_numpy(
                sample_with_sigma_factor(mu, log_var, factor, eps), "sample_with_sigma_factor"
            )
            if not _same(result, expected):
                raise CheckFailed(
                    "The distance from mu should grow in proportion to the factor.",
                    tried=f"random mu, log_var, eps of shape (4, {latent_dim}), factor = {factor}",
                    expected=f"mu + {factor} * sigma * eps, first row {short(expected[0])}",
                    got=f"shape {result.shape}, first values {short(result.reshape(-1)[:latent_dim])}",
                    hint="use element-wise operations on whole arrays; no fixed latent size",
                )
