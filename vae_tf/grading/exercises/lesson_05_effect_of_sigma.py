"""Checks for lesson 05 (the effect of sigma): sampling with a scaled standard deviation.

One NumPy exercise:

- ``sample_with_sigma_factor(mu, log_var, factor, eps)``: ``mu + factor * exp(log_var / 2) * eps``.
  ``factor = 1`` is the reparameterization trick; ``factor = 0`` gives ``mu``.

Each check's inputs are drawn from the run's seed; its probe calls the student's function,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of
from vae_tf.grading.exercises._helpers import call_each, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "05_effect_of_sigma"

sample_with_sigma_factor_exercise = exercise(
    "sample_with_sigma_factor",
    lesson=LESSON,
    symbol="sample_with_sigma_factor",
    description="mu + factor * exp(log_var / 2) * eps",
    references=("vae_tf.experiments:sample_with_sigma_factor",),
)


def _case(rng: np.random.Generator, batch: int, latent_dim: int) -> tuple[np.ndarray, ...]:
    mu = rng.normal(size=(batch, latent_dim)).astype(np.float32)
    log_var = rng.uniform(-3.0, 1.0, size=(batch, latent_dim)).astype(np.float32)
    eps = rng.normal(size=(batch, latent_dim)).astype(np.float32)
    return mu, log_var, eps


@judge_only
def _reference(mu: np.ndarray, log_var: np.ndarray, factor: float, eps: np.ndarray) -> np.ndarray:
    mu, log_var, eps = (np.asarray(a, dtype=np.float64) for a in (mu, log_var, eps))
    return mu + factor * np.exp(log_var / 2.0) * eps


def _same(result: np.ndarray, expected: np.ndarray) -> bool:
    return result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4, atol=1e-5)


def _result(answer: Any) -> np.ndarray:
    return array_of(answer, "sample_with_sigma_factor").astype(np.float64)


def _probe(sample_with_sigma_factor: Any, inputs: Inputs) -> Any:
    return call_each(sample_with_sigma_factor, inputs["calls"])


def _factor_inputs(factor: float) -> Any:
    def inputs(rng: np.random.Generator) -> Inputs:
        mu, log_var, eps = _case(rng, int(rng.integers(3, 8)), int(rng.integers(2, 5)))
        return {"calls": [((mu, log_var, factor, eps), {})]}

    return inputs


@sample_with_sigma_factor_exercise.probe("factor 0 gives mu", inputs=_factor_inputs(0.0))
def _factor_zero_probe(sample_with_sigma_factor: Any, inputs: Inputs) -> Any:
    return _probe(sample_with_sigma_factor, inputs)


@sample_with_sigma_factor_exercise.verdict("factor 0 gives mu")
def _factor_zero_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, *_), _ = inputs["calls"][0]
    result = _result(answer[0])
    if not _same(result, mu.astype(np.float64)):
        raise CheckFailed(
            "With factor 0 the noise vanishes, so the result should be mu, unchanged.",
            tried=f"random mu, log_var, eps of shape {mu.shape}, factor = 0",
            expected=f"mu, first row {short(mu[0])}",
            got=f"shape {result.shape}, first values {short(result.reshape(-1)[:3])}",
            hint="the factor multiplies only the noise term sigma * eps, never mu",
        )


@sample_with_sigma_factor_exercise.probe(
    "factor 1 is the reparameterization trick", inputs=_factor_inputs(1.0)
)
def _factor_one_probe(sample_with_sigma_factor: Any, inputs: Inputs) -> Any:
    return _probe(sample_with_sigma_factor, inputs)


@sample_with_sigma_factor_exercise.verdict("factor 1 is the reparameterization trick")
def _factor_one_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, log_var, _, eps), _ = inputs["calls"][0]
    expected = _reference(mu, log_var, 1.0, eps)
    result = _result(answer[0])
    if _same(result, expected):
        return
    what = "With factor 1 the result should be the usual sample mu + sigma * eps."
    mu64, log_var64, eps64 = (a.astype(np.float64) for a in (mu, log_var, eps))
    if _same(result, mu64 + np.exp(log_var64) * eps64):
        what = "eps was scaled by the variance exp(log_var), not by sigma = exp(log_var / 2)."
    elif _same(result, mu64 + log_var64 * eps64):
        what = "eps was scaled by log_var itself; sigma is exp(log_var / 2)."
    raise CheckFailed(
        what,
        tried=f"random mu, log_var, eps of shape {mu.shape}, factor = 1",
        expected=f"mu + exp(log_var / 2) * eps, first row {short(expected[0])}",
        got=f"shape {result.shape}, first values {short(result.reshape(-1)[: mu.shape[1]])}",
        hint="sigma = np.exp(log_var / 2) is the standard deviation",
    )


def _scales_inputs(rng: np.random.Generator) -> Inputs:
    variances = np.round(rng.uniform(0.2, 5.0, size=(1, 2)), 2).astype(np.float32)
    factor = float(rng.integers(3, 20))
    mu = np.zeros((1, 2), dtype=np.float32)
    return {
        "calls": [((mu, np.log(variances), factor, np.ones_like(mu)), {})],
        "variances": variances,
        "factor": factor,
    }


@sample_with_sigma_factor_exercise.probe(
    "the factor scales the standard deviation", inputs=_scales_inputs
)
def _factor_scales_probe(sample_with_sigma_factor: Any, inputs: Inputs) -> Any:
    return _probe(sample_with_sigma_factor, inputs)


@sample_with_sigma_factor_exercise.verdict("the factor scales the standard deviation")
def _factor_scales_verdict(inputs: Inputs, answer: Any) -> None:
    factor = inputs["factor"]
    sigma = np.sqrt(inputs["variances"].astype(np.float64))
    expected = factor * sigma
    result = _result(answer[0])
    if _same(result, expected):
        return
    what = f"With factor {factor:g} the sample should lie {factor:g} standard deviations from mu."
    if _same(result, np.sqrt(factor) * sigma):
        what = "The factor scaled the variance; it should scale the standard deviation sigma."
    elif _same(result, sigma):
        what = "The factor was ignored: the sample is mu + sigma * eps."
    raise CheckFailed(
        what,
        tried=f"mu = 0, sigma = {short(sigma[0], 3)}, eps = 1, factor = {factor:g}",
        expected=short(expected),
        got=short(result),
        hint="multiply sigma * eps by the factor: mu + factor * sigma * eps",
    )


def _linear_inputs(rng: np.random.Generator) -> Inputs:
    calls = []
    for latent_dim in (1, int(rng.integers(5, 12))):
        mu, log_var, eps = _case(rng, 4, latent_dim)
        for factor in (round(float(rng.uniform(0.05, 0.5)), 3), float(rng.integers(20, 200))):
            calls.append(((mu, log_var, factor, eps), {}))
    return {"calls": calls}


@sample_with_sigma_factor_exercise.probe(
    "is linear in the factor, for any latent_dim", inputs=_linear_inputs
)
def _linear_probe(sample_with_sigma_factor: Any, inputs: Inputs) -> Any:
    return _probe(sample_with_sigma_factor, inputs)


@sample_with_sigma_factor_exercise.verdict("is linear in the factor, for any latent_dim")
def _linear_verdict(inputs: Inputs, answer: Any) -> None:
    for ((mu, log_var, factor, eps), _), described in zip(inputs["calls"], answer, strict=True):
        expected = _reference(mu, log_var, factor, eps)
        result = _result(described)
        if not _same(result, expected):
            latent_dim = mu.shape[1]
            raise CheckFailed(
                "The distance from mu should grow in proportion to the factor.",
                tried=f"random mu, log_var, eps of shape {mu.shape}, factor = {factor:g}",
                expected=f"mu + {factor:g} * sigma * eps, first row {short(expected[0][:4])}",
                got=f"shape {result.shape}, first values {short(result.reshape(-1)[: min(latent_dim, 4)])}",
                hint="use element-wise operations on whole arrays; no fixed latent size",
            )
