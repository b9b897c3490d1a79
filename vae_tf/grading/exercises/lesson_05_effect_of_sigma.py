"""Checks for lesson 05 (the effect of sigma): the sigma sweep.

One exercise:

- ``sigma_sweep(vae, images, factors, eps)``: encode the images once, then for each factor
  decode ``mu + factor * exp(log_var / 2) * eps`` with the **same** eps, and return the
  pixel probabilities, shape ``(len(factors), N, 28, 28)``. ``factor = 1`` is the
  reparameterization trick, ``factor = 0`` decodes ``mu``.

The checks use a small VAE of the package with random weights, rebuilt by the judge from
the check's inputs (see :func:`vae_tf.grading.exercises.lesson_04_effect_of_mu.build_check_vae`).
Each check's inputs are drawn from the run's seed; its probe calls the student's function,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of
from vae_tf.grading.exercises._helpers import call_described, require_correlated, short
from vae_tf.grading.exercises.lesson_04_effect_of_mu import _raised, build_check_vae
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "05_effect_of_sigma"

sigma_sweep_exercise = exercise(
    "sigma_sweep",
    lesson=LESSON,
    points=4,
    symbol="sigma_sweep",
    description="decode mu + factor * sigma * eps for each factor, with the same eps",
    references=(
        "vae_tf.latent:sigma_sweep",
        "vae_tf.latent:sample_with_sigma_factor",
    ),
    hints=(
        "Encode the images once, outside the loop over factors; inside the loop build the "
        "codes for one factor and decode them. Collect one block of pictures per factor.",
        "Use the eps you are given, the same for every factor: then only the factor changes "
        "from one block to the next. The factor multiplies the noise term only, not mu.",
        "sigma is the standard deviation exp(log_var / 2); the factor multiplies sigma "
        "(not the variance).",
        "vae.decode gives pixel probabilities; stack the blocks into one array whose first "
        "axis runs over the factors.",
    ),
)

_MAX_ERROR = 1e-4  # pixel probabilities of float32 networks agree to about 1e-6


def _inputs(factors: Any) -> Any:
    def inputs(rng: np.random.Generator) -> Inputs:
        latent_dim = int(rng.choice([2, 3, 5]))
        count = int(rng.integers(3, 7))
        images = rng.uniform(size=(count, 28, 28)) * (rng.uniform(size=(count, 28, 28)) < 0.3)
        chosen = factors(rng) if callable(factors) else list(factors)
        return {
            "latent_dim": latent_dim,
            "model_seed": int(rng.integers(0, 2**31)),
            "images": images.astype(np.float32),
            "eps": rng.standard_normal((count, latent_dim)).astype(np.float32),
            "factors": chosen,
        }

    return inputs


def _probe(sigma_sweep: Any, inputs: Inputs) -> Any:
    model = build_check_vae(inputs["latent_dim"], inputs["model_seed"])
    return call_described(
        sigma_sweep, model, inputs["images"], tuple(inputs["factors"]), inputs["eps"]
    )


@judge_only
def _reference(inputs: Inputs, factors: Any = None, *, sigma_power: float = 0.5) -> np.ndarray:
    """(len(factors), N, 784); ``sigma_power`` 1 gives the variance-for-sigma mistake."""
    model = build_check_vae(inputs["latent_dim"], inputs["model_seed"])
    mu, log_var = model.encode(inputs["images"].reshape(-1, 28, 28, 1))
    mu, log_var = np.asarray(mu, np.float64), np.asarray(log_var, np.float64)
    blocks = []
    for factor in inputs["factors"] if factors is None else factors:
        z = (mu + factor * np.exp(log_var * sigma_power) * inputs["eps"]).astype(np.float32)
        blocks.append(np.asarray(model.decode(z), np.float64).reshape(len(z), -1))
    return np.stack(blocks)


def _tried(inputs: Inputs) -> str:
    factors = ", ".join(f"{f:g}" for f in inputs["factors"])
    return (
        f"a small random VAE (latent_dim {inputs['latent_dim']}), {len(inputs['images'])} "
        f"images, factors ({factors}), eps of shape {inputs['eps'].shape}"
    )


def _blocks(inputs: Inputs, answer: Any) -> np.ndarray:
    tried = _tried(inputs)
    _raised(answer, tried)
    result = array_of(answer, "sigma_sweep").astype(np.float64)
    count, n_factors = len(inputs["images"]), len(inputs["factors"])
    if result.size != n_factors * count * 28 * 28 or result.shape[:2] != (n_factors, count):
        raise CheckFailed(
            f"The result should hold, for each of the {n_factors} factors, the {count} decoded "
            "images: factors first.",
            tried=tried,
            expected=f"shape ({n_factors}, {count}, 28, 28)",
            got=f"shape {result.shape}",
            hint="decode once per factor and stack the blocks",
        )
    return result.reshape(n_factors, count, 28 * 28)


def _same(first: np.ndarray, second: np.ndarray) -> bool:
    return first.shape == second.shape and bool(np.allclose(first, second, atol=_MAX_ERROR))


@sigma_sweep_exercise.check(
    "returns pixel probabilities, one block per factor",
    probe=_probe,
    inputs=_inputs(lambda rng: [1.0, float(rng.integers(2, 6)), 0.5]),
)
def _shape_verdict(inputs: Inputs, answer: Any) -> None:
    blocks = _blocks(inputs, answer)
    if blocks.min() < -1e-6 or blocks.max() > 1 + 1e-6:
        raise CheckFailed(
            "The pictures hold values outside [0, 1]: these are logits, not pixel probabilities.",
            tried=_tried(inputs),
            expected="pixel probabilities between 0 and 1",
            got=f"values from {blocks.min():.3g} to {blocks.max():.3g}",
            hint="vae.decode applies the sigmoid; vae.decoder alone does not",
        )
    # Probabilities of the right shape must be the VAE's decodings: not zeros, noise or the
    # images themselves (a wrong factor or noise still decodes with the same model).
    require_correlated(
        blocks,
        _reference(inputs),
        lambda: None,
        what="These pictures are not decodings of the VAE given (constant, random or the "
        "input images): decode mu + factor * sigma * eps for each factor.",
    )


@sigma_sweep_exercise.check("factor 0 decodes mu", probe=_probe, inputs=_inputs([0.0]))
def _zero_verdict(inputs: Inputs, answer: Any) -> None:
    blocks = _blocks(inputs, answer)
    expected = _reference(inputs)
    if _same(blocks, expected):
        return
    if _same(blocks, _reference(inputs, [1.0])):
        what = "Factor 0 gave the usual sample mu + sigma * eps: the factor is ignored."
    else:
        model = build_check_vae(inputs["latent_dim"], inputs["model_seed"])
        at_zero = np.asarray(model.decode(np.zeros_like(inputs["eps"])), np.float64).reshape(
            1, len(inputs["eps"]), -1
        )
        if _same(blocks, at_zero):
            what = "Factor 0 decoded the code 0: the factor multiplied mu too; it scales sigma * eps only."
        else:
            what = (
                "With factor 0 the noise vanishes, so each picture should be decode(mu) of its "
                "image (mu: the first output of vae.encode, not a sample)."
            )
    raise CheckFailed(
        what,
        tried=_tried(inputs),
        expected=f"decode(mu), first picture {short(expected[0, 0, 300:303])}...",
        got=f"first picture {short(blocks[0, 0, 300:303])}...",
    )


@sigma_sweep_exercise.check(
    "uses the eps it is given, the same for every factor",
    probe=_probe,
    inputs=_inputs([1.0, 1.0]),
)
def _eps_verdict(inputs: Inputs, answer: Any) -> None:
    blocks = _blocks(inputs, answer)
    expected = _reference(inputs)
    if _same(blocks, expected):
        return
    if not _same(blocks[0], blocks[1]):
        what = (
            "The same factor twice gave different pictures: new noise was drawn; use the eps "
            "you are given, for every factor."
        )
    elif _same(blocks, _reference(inputs, sigma_power=1.0)):
        what = "eps was scaled by the variance exp(log_var): sigma is exp(log_var / 2)."
    elif _same(blocks, _reference(inputs, [0.0, 0.0])):
        what = "With factor 1 the pictures are decode(mu): the noise term sigma * eps is missing."
    else:
        what = "With factor 1 the pictures should be decodings of mu + sigma * eps, with your eps."
    raise CheckFailed(
        what,
        tried=_tried(inputs),
        expected=f"decode(mu + sigma * eps), first picture {short(expected[0, 0, 300:303])}...",
        got=f"first picture {short(blocks[0, 0, 300:303])}...",
    )


@sigma_sweep_exercise.check(
    "the factor scales the standard deviation",
    probe=_probe,
    inputs=_inputs(
        lambda rng: [round(float(rng.uniform(0.05, 0.5)), 3), float(rng.integers(3, 12))]
    ),
)
def _scale_verdict(inputs: Inputs, answer: Any) -> None:
    blocks = _blocks(inputs, answer)
    expected = _reference(inputs)
    if _same(blocks, expected):
        return
    factors = inputs["factors"]
    if _same(blocks, _reference(inputs, [np.sqrt(f) for f in factors])):
        what = "The factor scaled the variance; it should scale the standard deviation sigma."
    elif _same(blocks[:1], expected[:1]) or _same(blocks[1:], expected[1:]):
        what = "One factor is right and the other is not: apply every factor, in the order given."
    else:
        what = "Each block should decode mu + factor * sigma * eps for its own factor."
    raise CheckFailed(
        what,
        tried=_tried(inputs),
        expected=f"first picture per factor {[short(b[0, 300:302]) for b in expected]}",
        got=f"first picture per factor {[short(b[0, 300:302]) for b in blocks]}",
    )
