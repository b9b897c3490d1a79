"""Checks for lesson 04 (the effect of mu): the noisy expectation and the label-kept rate.

Two NumPy exercises:

- ``noisy_expectation(mu, log_var, eps, u)``: ``mu + exp(log_var / 2) * eps + u``, the code
  the original study decoded to see what happens when the mean is shifted; any latent_dim.
- ``label_kept_rate(predicted_labels, true_labels)``: the fraction (in [0, 1]) of images
  whose predicted label equals the true one; arrays of different shapes are an error.

Each check's inputs are drawn from the run's seed; its probe calls the student's function,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, number_of, type_name
from vae_tf.grading.exercises._helpers import call_each, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise

LESSON = "04_effect_of_mu"


def _probe(function: Any, inputs: Inputs) -> Any:
    return call_each(function, inputs["calls"])


# --------------------------------------------------------------------------- noisy_expectation

noisy_expectation_exercise = exercise(
    "noisy_expectation",
    lesson=LESSON,
    symbol="noisy_expectation",
    description="mu + exp(log_var / 2) * eps + u: the mean shifted by uniform noise",
    references=("vae_tf.experiments:sample_with_sigma_factor",),
)


def _noisy_case(rng: np.random.Generator, batch: int, latent_dim: int) -> tuple[np.ndarray, ...]:
    shape = (batch, latent_dim)
    mu = rng.normal(size=shape).astype(np.float32)
    log_var = rng.uniform(-2.0, 1.0, size=shape).astype(np.float32)
    eps = rng.normal(size=shape).astype(np.float32)
    u = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    return mu, log_var, eps, u


def _noisy(answer: Any) -> np.ndarray:
    return array_of(answer, "noisy_expectation").astype(np.float64)


def _no_noise_inputs(rng: np.random.Generator) -> Inputs:
    mu, log_var, _, _ = _noisy_case(rng, int(rng.integers(3, 8)), 2)
    zeros = np.zeros_like(mu)
    return {"calls": [((mu, log_var, zeros, zeros), {})]}


@noisy_expectation_exercise.probe("returns mu when there is no noise", inputs=_no_noise_inputs)
def _noisy_no_noise_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    return _probe(noisy_expectation, inputs)


@noisy_expectation_exercise.verdict("returns mu when there is no noise")
def _noisy_no_noise_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, *_), _ = inputs["calls"][0]
    result = _noisy(answer[0])
    if result.shape != mu.shape or not np.allclose(result, mu, rtol=1e-4, atol=1e-5):
        raise CheckFailed(
            "With eps = 0 and u = 0 nothing is added, so the result should be mu itself.",
            tried=f"mu of shape {mu.shape}, any log_var, eps = zeros, u = zeros",
            expected=f"mu, shape {mu.shape}: {short(mu[0])} for the first image",
            got=f"shape {result.shape}: {short(result.reshape(-1)[:2])}",
            hint="start from mu and add the two noise terms",
        )


def _sigma_inputs(rng: np.random.Generator) -> Inputs:
    variances = np.round(rng.uniform(0.2, 5.0, size=(1, 3)), 2).astype(np.float32)
    mu = np.zeros((1, 3), dtype=np.float32)
    return {
        "calls": [((mu, np.log(variances), np.ones_like(mu), np.zeros_like(mu)), {})],
        "variances": variances,
    }


@noisy_expectation_exercise.probe("scales eps by sigma = exp(log_var / 2)", inputs=_sigma_inputs)
def _noisy_sigma_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    return _probe(noisy_expectation, inputs)


@noisy_expectation_exercise.verdict("scales eps by sigma = exp(log_var / 2)")
def _noisy_sigma_verdict(inputs: Inputs, answer: Any) -> None:
    variances = inputs["variances"].astype(np.float64)
    result = _noisy(answer[0])
    expected = np.sqrt(variances)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=1e-4):
        return
    hint = "sigma is the standard deviation: exp(log_var / 2), the square root of the variance"
    if result.shape == expected.shape and np.allclose(result, variances, rtol=1e-4):
        what = "eps was scaled by the variance exp(log_var), not by the standard deviation."
    else:
        what = "eps should be scaled by the standard deviation sigma = exp(log_var / 2)."
    raise CheckFailed(
        what,
        tried=f"mu = 0, variances {short(variances[0], 2)}, eps = 1, u = 0",
        expected=short(expected),
        got=short(result),
        hint=hint,
    )


def _shift_inputs(rng: np.random.Generator) -> Inputs:
    mu = rng.normal(size=(1, 2)).round(2).astype(np.float32)
    u = rng.uniform(-1.0, 1.0, size=(1, 2)).round(2).astype(np.float32)
    zeros = np.zeros((1, 2), dtype=np.float32)
    return {"calls": [((mu, zeros, zeros, u), {})]}


@noisy_expectation_exercise.probe("adds the uniform shift u", inputs=_shift_inputs)
def _noisy_adds_u_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    return _probe(noisy_expectation, inputs)


@noisy_expectation_exercise.verdict("adds the uniform shift u")
def _noisy_adds_u_verdict(inputs: Inputs, answer: Any) -> None:
    (mu, _, _, u), _ = inputs["calls"][0]
    result = _noisy(answer[0])
    expected = mu.astype(np.float64) + u
    if result.shape != expected.shape or not np.allclose(result, expected, rtol=1e-4):
        raise CheckFailed(
            "The uniform noise u should be added to the code, unchanged.",
            tried=f"mu = {short(mu[0], 2)}, eps = 0, u = {short(u[0], 2)}",
            expected=short(expected),
            got=short(result),
            hint="use the u you are given (do not draw a new one, do not scale it)",
        )


def _any_size_inputs(rng: np.random.Generator) -> Inputs:
    sizes = (
        (int(rng.integers(4, 9)), int(rng.integers(3, 7))),
        (3, 1),
        (2, int(rng.integers(10, 20))),
    )
    return {"calls": [(_noisy_case(rng, batch, latent_dim), {}) for batch, latent_dim in sizes]}


@noisy_expectation_exercise.probe(
    "works for any latent_dim and batch size", inputs=_any_size_inputs
)
def _noisy_any_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    return _probe(noisy_expectation, inputs)


@noisy_expectation_exercise.verdict("works for any latent_dim and batch size")
def _noisy_any_verdict(inputs: Inputs, answer: Any) -> None:
    for (args, _), described in zip(inputs["calls"], answer, strict=True):
        mu, log_var, eps, u = (a.astype(np.float64) for a in args)
        expected = mu + np.exp(log_var / 2.0) * eps + u
        latent_dim = mu.shape[1]
        tried = f"random mu, log_var, eps, u of shape {mu.shape}"
        if "raised" in described:
            raise CheckFailed(
                f"The code fails for a latent space of {latent_dim} dimensions "
                "(the original study hard-coded 2 dimensions; do not repeat that).",
                tried=tried,
                got=f"{described['raised'].get('type')}: {str(described['raised'].get('message'))[:300]}",
                hint="use element-wise operations on the whole arrays; no fixed sizes",
            )
        result = _noisy(described)
        if result.shape != expected.shape or not np.allclose(
            result, expected, rtol=1e-4, atol=1e-5
        ):
            raise CheckFailed(
                "The result is wrong for a latent space that is not 2-dimensional "
                "(the original study hard-coded 2 dimensions; do not repeat that).",
                tried=tried,
                expected=f"shape {expected.shape}, first row {short(expected[0][:4])}",
                got=f"shape {result.shape}, first values {short(result.reshape(-1)[: min(latent_dim, 4)])}",
                hint="use element-wise operations on the whole arrays; no fixed sizes",
            )


# --------------------------------------------------------------------------- label_kept_rate

label_kept_rate_exercise = exercise(
    "label_kept_rate",
    lesson=LESSON,
    symbol="label_kept_rate",
    description="fraction of images whose predicted label equals the true label",
)


def _rate(answer: Any) -> float:
    return number_of(answer, "label_kept_rate")


def _fraction_inputs(rng: np.random.Generator) -> Inputs:
    count = int(rng.integers(8, 21))
    kept = int(rng.integers(1, count))
    true = rng.integers(0, 10, size=count)
    predicted = true.copy()
    changed = rng.choice(count, size=count - kept, replace=False)
    predicted[changed] = (true[changed] + rng.integers(1, 10, size=len(changed))) % 10
    return {"calls": [((predicted, true), {})], "kept": kept}


@label_kept_rate_exercise.probe("returns a fraction between 0 and 1", inputs=_fraction_inputs)
def _kept_fraction_probe(label_kept_rate: Any, inputs: Inputs) -> Any:
    return _probe(label_kept_rate, inputs)


@label_kept_rate_exercise.verdict("returns a fraction between 0 and 1")
def _kept_fraction_verdict(inputs: Inputs, answer: Any) -> None:
    (predicted, _), _ = inputs["calls"][0]
    count, kept = len(predicted), inputs["kept"]
    expected = kept / count
    got = _rate(answer[0])
    if abs(got - expected) < 1e-6:
        return
    if abs(got - kept) < 1e-6:
        what = "This is the number of kept labels; divide by the number of images."
    elif abs(got - 100 * expected) < 1e-4:
        what = "This is a percentage; return a fraction between 0 and 1 instead."
    elif abs(got - (1 - expected)) < 1e-6:
        what = "This is the fraction of labels that changed, not of those kept."
    else:
        what = "The rate should be the fraction of images whose label was kept."
    raise CheckFailed(
        what,
        tried=f"{count} predicted and true labels, {kept} of which agree",
        expected=f"{expected:.4g} ({kept} of {count} agree)",
        got=f"{got:.4g}",
        hint="np.mean(predicted_labels == true_labels)",
    )


def _extremes_inputs(rng: np.random.Generator) -> Inputs:
    labels = rng.integers(0, 10, size=int(rng.integers(10, 40)))
    return {"calls": [((labels, labels.copy()), {}), (((labels + 1) % 10, labels), {})]}


@label_kept_rate_exercise.probe(
    "gives 1 when all agree and 0 when none do", inputs=_extremes_inputs
)
def _kept_extremes_probe(label_kept_rate: Any, inputs: Inputs) -> Any:
    return _probe(label_kept_rate, inputs)


@label_kept_rate_exercise.verdict("gives 1 when all agree and 0 when none do")
def _kept_extremes_verdict(inputs: Inputs, answer: Any) -> None:
    all_kept, none_kept = _rate(answer[0]), _rate(answer[1])
    if abs(all_kept - 1.0) > 1e-6 or abs(none_kept) > 1e-6:
        raise CheckFailed(
            "Identical labels should give 1.0 and labels that all differ should give 0.0.",
            tried="labels against themselves, then against labels shifted by one",
            expected="1.0 and 0.0",
            got=f"{all_kept:.4g} and {none_kept:.4g}",
        )


def _list_inputs(rng: np.random.Generator) -> Inputs:
    true = rng.integers(0, 10, size=4).astype(np.int64)
    predicted = true.copy()
    predicted[3] = (predicted[3] + 1) % 10
    return {"calls": [(([int(v) for v in predicted], true), {})]}


@label_kept_rate_exercise.probe(
    "accepts lists and integer arrays of other dtypes", inputs=_list_inputs
)
def _kept_inputs_probe(label_kept_rate: Any, inputs: Inputs) -> Any:
    return _probe(label_kept_rate, inputs)


@label_kept_rate_exercise.verdict("accepts lists and integer arrays of other dtypes")
def _kept_inputs_verdict(inputs: Inputs, answer: Any) -> None:
    got = _rate(answer[0])
    if abs(got - 0.75) > 1e-6:
        raise CheckFailed(
            "A Python list of predictions should work like an array.",
            tried="4 predictions as a Python list, 4 true labels as an int64 array, 3 agree",
            expected="0.75",
            got=f"{got:.4g}",
            hint="convert both inputs with np.asarray first",
        )


def _shapes_inputs(rng: np.random.Generator) -> Inputs:
    count = int(rng.integers(4, 9))
    predicted = rng.integers(0, 10, size=count)
    return {
        "calls": [
            ((predicted, predicted[:-1].copy()), {}),
            # (N,) == (N, 1) broadcasts to (N, N) and would give a wrong number silently.
            ((predicted, predicted[:, np.newaxis].copy()), {}),
        ],
    }


@label_kept_rate_exercise.probe(
    "refuses labels of different shapes with a ValueError", inputs=_shapes_inputs
)
def _kept_shapes_probe(label_kept_rate: Any, inputs: Inputs) -> Any:
    return _probe(label_kept_rate, inputs)


@label_kept_rate_exercise.verdict("refuses labels of different shapes with a ValueError")
def _kept_shapes_verdict(inputs: Inputs, answer: Any) -> None:
    for ((first, second), _), described in zip(inputs["calls"], answer, strict=True):
        tried = f"shapes {first.shape} and {second.shape}"
        raised = described.get("raised")
        if isinstance(raised, dict) and raised.get("type") == "ValueError":
            continue
        if isinstance(raised, dict):
            raise CheckFailed(
                "Labels of different shapes should raise a ValueError that says so.",
                tried=tried,
                expected="ValueError",
                got=f"{str(raised.get('type'))[:100]}: {str(raised.get('message'))[:300]}",
                hint="compare predicted.shape with true.shape and raise ValueError(...)",
            )
        shown = short(described["array"]) if "array" in described else f"a {type_name(described)}"
        raise CheckFailed(
            "Labels of different shapes should raise a ValueError, not give a number: "
            "comparing them broadcasts or fails in confusing ways.",
            tried=tried,
            expected="ValueError",
            got=shown,
            hint="if predicted.shape != true.shape: raise ValueError(...)",
        )
