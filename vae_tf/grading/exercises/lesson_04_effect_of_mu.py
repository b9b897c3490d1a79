"""Checks for lesson 04 (the effect of mu): the noisy expectation and latent interpolation.

Two exercises:

- ``noisy_expectation(mu, log_var, rng)``: draws eps ~ N(0, I) and u ~ Uniform(-1, 1), one
  of each per image and latent dimension, from the NumPy ``Generator`` it is given, and
  returns ``mu + exp(log_var / 2) * eps + u``, for any latent_dim. The checks look at the
  statistics of many draws, so any order of drawing and any equivalent NumPy call passes.
- ``interpolate(vae, image_a, image_b, steps)``: the decodings (pixel probabilities) of
  ``steps`` codes on the straight line from ``mu(image_a)`` to ``mu(image_b)``, both ends
  included. The checks use a small VAE of the package with random weights that the judge
  rebuilds from the check's inputs.

Each check's inputs are drawn from the run's seed; its probe calls the student's object,
its verdict compares and explains a failure in plain words. A check that finds the
student's code raising, after an earlier check already reported it, says so instead of
guessing another cause.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of
from vae_tf.grading.exercises._helpers import call_described, require_correlated, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "04_effect_of_mu"


def _raised(described: Any, tried: str, hint: str | None = None) -> None:
    """Fail with the student's own exception, if their code raised."""
    raised = described.get("raised") if isinstance(described, dict) else None
    if isinstance(raised, dict):
        raise CheckFailed(
            f"Your function raised {str(raised.get('type'))[:100]}: "
            f"{str(raised.get('message'))[:300]}{str(raised.get('where', ''))[:300]}",
            tried=tried,
            hint=hint or "fix this error first; the other checks use the same call",
        )


# --------------------------------------------------------------------------- noisy_expectation

noisy_expectation_exercise = exercise(
    "noisy_expectation",
    lesson=LESSON,
    points=4,
    symbol="noisy_expectation",
    description="mu + sigma * eps + u with eps ~ N(0, I), u ~ Uniform(-1, 1) drawn from rng",
    references=(
        "vae_tf.latent:noisy_expectation",
        "vae_tf.latent:sample_with_sigma_factor",
    ),
    hints=(
        "Two kinds of noise are needed, each with the shape of mu (one value per image and "
        "latent dimension): a standard normal eps and a uniform u between -1 and 1.",
        "Draw both from the Generator rng you are given (its methods standard_normal and "
        "uniform take a size), never from np.random directly: the seed must decide them.",
        "sigma is the standard deviation, the square root of the variance exp(log_var); "
        "eps is scaled by sigma, u is added unscaled.",
    ),
)

_SAMPLE_ROWS = 4000  # images per statistical check: estimates within about 1-2 percent


def _noisy_call(noisy_expectation: Any, mu: np.ndarray, log_var: np.ndarray, seed: int) -> Any:
    return call_described(noisy_expectation, mu, log_var, np.random.default_rng(seed))


def _noisy(described: Any, tried: str) -> np.ndarray:
    _raised(described, tried)
    return array_of(described, "noisy_expectation").astype(np.float64)


def _shapes_inputs(rng: np.random.Generator) -> Inputs:
    sizes = [(int(rng.integers(3, 8)), 2), (int(rng.integers(4, 9)), int(rng.integers(3, 7)))]
    sizes += [(3, 1), (2, int(rng.integers(10, 20)))]
    cases = []
    for batch, latent_dim in sizes:
        mu = rng.normal(size=(batch, latent_dim)).astype(np.float32)
        log_var = rng.uniform(-2.0, 1.0, size=(batch, latent_dim)).astype(np.float32)
        cases.append((mu, log_var, int(rng.integers(0, 2**31))))
    return {"cases": cases}


def _noisy_shapes_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    answers = [_noisy_call(noisy_expectation, *case) for case in inputs["cases"]]
    mu, log_var, seed = inputs["cases"][1]
    # The same noise around mu + 10: codes that ignore mu do not move with it.
    return [*answers, _noisy_call(noisy_expectation, mu + np.float32(10.0), log_var, seed)]


@noisy_expectation_exercise.check(
    "returns one code per image, for any latent_dim",
    probe=_noisy_shapes_probe,
    inputs=_shapes_inputs,
)
def _noisy_shapes_verdict(inputs: Inputs, answer: Any) -> None:
    two_dimensional_ok = False
    cases = inputs["cases"]
    for (mu, log_var, _), described in zip(cases, answer[: len(cases)], strict=True):
        latent_dim = mu.shape[1]
        tried = f"mu and log_var of shape {mu.shape} (latent_dim = {latent_dim})"
        raised = isinstance(described, dict) and "raised" in described
        shape = (
            None if raised else np.shape(described.get("array")) if "array" in described else None
        )
        if not raised and shape == mu.shape:
            result = _noisy(described, tried)  # the right shape is not enough: no NaN, inf or None
            _require_noise(result, mu, log_var, tried)  # nor mu itself, log_var or a constant
            two_dimensional_ok = two_dimensional_ok or latent_dim == 2
            continue
        if two_dimensional_ok and latent_dim != 2:
            raise CheckFailed(
                f"The code works for 2 latent dimensions but not for {latent_dim}: it "
                "hard-codes 2 dimensions (the original study's fault; do not repeat it).",
                tried=tried,
                expected=f"an array of shape {mu.shape}",
                got=(
                    f"{described['raised'].get('type')}: {str(described['raised'].get('message'))[:200]}"
                    if raised
                    else f"shape {shape}"
                ),
                hint="take every size from mu.shape; write no number of dimensions",
            )
        _raised(described, tried)
        result = _noisy(described, tried)
        raise CheckFailed(
            "The result should hold one code per image: the shape of mu.",
            tried=tried,
            expected=f"shape {mu.shape}",
            got=f"shape {result.shape}",
            hint="draw eps and u with size=mu.shape, so that everything is element-wise",
        )

    _require_follows_mu(
        cases[1][0], answer[1], answer[-1], "mu and mu + 10, the same seed", exactly=False
    )


@judge_only
def _require_follows_mu(
    mu: np.ndarray, at_mu: Any, at_shifted: Any, tried: str, *, exactly: bool = True
) -> None:
    """Fail unless the codes for mu + 10 are those for mu moved by 10 (the same noise).

    Not ``exactly``: only fail codes that do not move with mu at all (a later check names
    the other mistakes, e.g. mu added twice or unseeded noise).
    """
    moved = _noisy(at_shifted, tried) - _noisy(at_mu, tried)
    if exactly:
        wrong = moved.shape != mu.shape or not np.allclose(moved, 10.0, rtol=0.0, atol=1e-3)
    else:
        wrong = moved.shape != mu.shape or abs(float(np.mean(moved))) < 5.0
    if wrong:
        raise CheckFailed(
            "With the same rng seed, mu + 10 should give the same codes moved by 10: the codes "
            "are mu plus noise, and here they do not follow mu.",
            tried=tried,
            expected="result(mu + 10) - result(mu) = 10 everywhere",
            got=f"differences {short(moved.reshape(-1)[:4])}",
        )


@judge_only
def _require_noise(result: np.ndarray, mu: np.ndarray, log_var: np.ndarray, tried: str) -> None:
    """Fail for codes of the right shape that are no noisy codes: mu, log_var or one constant."""
    what = None
    if np.allclose(result, mu, rtol=0.0, atol=1e-6):
        what = "The codes are mu itself: nothing was added."
    elif np.allclose(result, log_var, rtol=0.0, atol=1e-6):
        what = "The codes are log_var: the codes are mu plus noise."
    elif result.size > 1 and np.unique(result).size == 1:
        what = f"Every code is {result.reshape(-1)[0]:g}: the codes are mu plus noise."
    if what is not None:
        raise CheckFailed(
            what + " Add sigma * eps + u to mu (the checks below test each part).",
            tried=tried,
            expected="mu + exp(log_var / 2) * eps + u, new noise in every entry",
            got=short(result.reshape(-1)[:4]),
        )


def _many(rng: np.random.Generator, log_var_value: float) -> Inputs:
    latent_dim = int(rng.integers(2, 5))
    mu = rng.normal(size=(_SAMPLE_ROWS, latent_dim)).round(2).astype(np.float32)
    log_var = np.full_like(mu, log_var_value)
    return {"mu": mu, "log_var": log_var, "seed": int(rng.integers(0, 2**31))}


def _many_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    return _noisy_call(noisy_expectation, inputs["mu"], inputs["log_var"], inputs["seed"])


def _many_tried(inputs: Inputs, sigma: str) -> str:
    return f"{len(inputs['mu'])} random mu of latent_dim {inputs['mu'].shape[1]}, {sigma}"


def _offsets(inputs: Inputs, answer: Any, tried: str) -> np.ndarray:
    result = _noisy(answer, tried)
    mu = inputs["mu"].astype(np.float64)
    if result.shape != mu.shape:
        raise CheckFailed(
            "The result does not have the shape of mu; fix the earlier check first.",
            tried=tried,
            expected=f"shape {mu.shape}",
            got=f"shape {result.shape}",
        )
    return result - mu


def _sigma_inputs(rng: np.random.Generator) -> Inputs:
    variance = float(rng.choice([25.0, 49.0, 100.0]))
    inputs = _many(rng, float(np.log(variance)))
    inputs["variance"] = variance
    return inputs


@noisy_expectation_exercise.check(
    "scales a standard normal eps by sigma = exp(log_var / 2)",
    probe=_many_probe,
    inputs=_sigma_inputs,
)
def _noisy_sigma_verdict(inputs: Inputs, answer: Any) -> None:
    variance = inputs["variance"]
    sigma = float(np.sqrt(variance))
    tried = _many_tried(inputs, f"log_var = log({variance:g}), so sigma = {sigma:g}")
    offsets = _offsets(inputs, answer, tried)
    # Across the images of one dimension, sigma * eps varies by sigma (at least 5 here) and u
    # by 0.58: a spread below 1.5 in every dimension means no eps of each image's own.
    spread_per_dimension = offsets.std(axis=0)
    if np.all(spread_per_dimension < 1.5):
        raise CheckFailed(
            "Every image got the same eps, or none: within one latent dimension the codes of "
            "all images moved alike, not each by sigma * eps with an eps of its own. Draw eps "
            "with the shape of mu, one value per image and dimension.",
            tried=tried,
            expected=f"standard deviation over the images about {np.sqrt(variance + 1 / 3):.3g} "
            "in every dimension",
            got=f"standard deviation over the images {short(spread_per_dimension, 3)}",
        )
    # u adds 1/3 to the variance; the spread of 4000+ draws is known within about 2 percent.
    expected_std = float(np.sqrt(variance + 1.0 / 3.0))
    spread = float(offsets.std())
    got = f"standard deviation of result - mu: {spread:.4g}"
    expected = f"about {expected_std:.4g} (sigma * eps plus u)"
    if abs(spread / expected_std - 1.0) > 0.06:
        log_var = float(np.log(variance))
        if abs(spread / np.sqrt(variance**2 + 1 / 3) - 1.0) < 0.06:
            what = "eps was scaled by the variance exp(log_var): sigma is exp(log_var / 2)."
        elif abs(spread / np.sqrt(log_var**2 + 1 / 3) - 1.0) < 0.06:
            what = "eps was scaled by log_var itself: sigma is exp(log_var / 2)."
        elif spread < 1.0:
            what = "The sample does not spread with sigma: eps * sigma is missing."
        else:
            what = f"The spread around mu should be sigma = {sigma:g} (plus u)."
        raise CheckFailed(what, tried=tried, expected=expected, got=got)
    scaled = (offsets - offsets.mean()) / spread
    kurtosis = float(np.mean(scaled**4))
    if not 2.6 < kurtosis < 3.4:
        raise CheckFailed(
            "The spread is right but eps is not normally distributed (its tails are wrong): "
            "eps should be a standard normal draw.",
            tried=tried,
            expected="kurtosis about 3 (a normal distribution; a uniform one has 1.8)",
            got=f"kurtosis {kurtosis:.3g}",
        )
    with np.errstate(all="ignore"):  # a constant column gives NaN, not a warning
        correlation = float(np.abs(np.corrcoef(offsets[:, 0], offsets[:, 1])[0, 1]))
    if correlation > 0.1:
        raise CheckFailed(
            "The noise of different latent dimensions is correlated: draw eps for each "
            "dimension separately.",
            tried=tried,
        )


def _shift_inputs(rng: np.random.Generator) -> Inputs:
    # sigma = exp(-15) ~ 3e-7: the sample is mu + u, up to a negligible eps term.
    return _many(rng, -30.0)


@noisy_expectation_exercise.check(
    "adds a uniform shift u in (-1, 1), one per image and dimension",
    probe=_many_probe,
    inputs=_shift_inputs,
)
def _noisy_shift_verdict(inputs: Inputs, answer: Any) -> None:
    tried = _many_tried(inputs, "log_var = -30 (sigma about 3e-7), so that only u remains")
    shift = _offsets(inputs, answer, tried)
    low, high, mean = float(shift.min()), float(shift.max()), float(shift.mean())
    got = f"result - mu between {low:.3g} and {high:.3g}, mean {mean:.3g}"
    expected = "values spread evenly between -1 and 1, mean about 0"
    if np.all(np.abs(shift) < 1e-3):
        what = "Nothing was added to mu when sigma is tiny: the uniform shift u is missing."
    # sigma * eps is below 2e-6 here: rows (or columns) that agree to 1e-4 share one u.
    elif np.allclose(shift, shift[:1], atol=1e-4):
        what = "Every image got the same shift: draw u for each image and each dimension."
    elif np.allclose(shift, shift[:, :1], atol=1e-4):
        what = "Every latent dimension got the same shift: draw u for each dimension."
    elif low >= -1e-6 and high <= 1.0 and high > 0.9:
        what = "u lies in [0, 1): it should lie in (-1, 1), centred on 0."
    elif low < -1.0 - 1e-6 or high > 1.0 + 1e-6:
        what = (
            "With sigma about 0 the code moved more than 1 from mu: u should be uniform in "
            "(-1, 1), and nothing else should be added."
        )
    elif abs(mean) > 0.05 or not 0.28 < float(shift.var()) < 0.39 or low > -0.9 or high < 0.9:
        what = (
            f"u does not look uniform on (-1, 1): variance {float(shift.var()):.3g}, expected 1/3."
        )
    else:
        return
    raise CheckFailed(what, tried=tried, expected=expected, got=got)


def _seeded_inputs(rng: np.random.Generator) -> Inputs:
    latent_dim = int(rng.integers(2, 6))
    mu = rng.normal(size=(6, latent_dim)).astype(np.float32)
    log_var = rng.uniform(-1.0, 1.0, size=mu.shape).astype(np.float32)
    first = int(rng.integers(0, 2**31))
    return {"mu": mu, "log_var": log_var, "seeds": [first, first, first + 1]}


def _noisy_seeded_probe(noisy_expectation: Any, inputs: Inputs) -> Any:
    mu, log_var, seeds = inputs["mu"], inputs["log_var"], inputs["seeds"]
    answers = [_noisy_call(noisy_expectation, mu, log_var, seed) for seed in seeds]
    return [*answers, _noisy_call(noisy_expectation, mu + np.float32(10.0), log_var, seeds[0])]


@noisy_expectation_exercise.check(
    "draws its noise from the rng it is given", probe=_noisy_seeded_probe, inputs=_seeded_inputs
)
def _noisy_seeded_verdict(inputs: Inputs, answer: Any) -> None:
    seeds = inputs["seeds"]
    tried = f"the same mu and log_var with rng seeded {seeds[0]}, again {seeds[0]}, then {seeds[2]}"
    first, again, other = (_noisy(described, tried) for described in answer[:3])
    if not (first.shape == again.shape == other.shape == inputs["mu"].shape):
        raise CheckFailed(
            "The result does not have the shape of mu; fix the earlier check first.", tried=tried
        )
    if not np.allclose(first, again, rtol=0, atol=1e-6):
        raise CheckFailed(
            "Two generators with the same seed gave different codes: the noise does not come "
            "from rng alone (np.random.* or another unseeded source was used).",
            tried=tried,
            expected="the same codes for the same seed",
            got=f"{short(first[0][:3])} then {short(again[0][:3])}",
            hint="draw eps and u with rng's own methods",
        )
    if np.allclose(first, other, rtol=0, atol=1e-9):
        raise CheckFailed(
            "A different seed gave the same codes: the noise is not drawn from rng.",
            tried=tried,
            expected="different codes for a different seed",
            got=f"{short(first[0][:3])} both times",
        )

    # Noise drawn with rng and nothing else (mu ignored) passes the above.
    _require_follows_mu(inputs["mu"], answer[0], answer[3], "mu and mu + 10, the same seed")


def _centred_inputs(rng: np.random.Generator) -> Inputs:
    inputs = _many(rng, float(rng.uniform(-1.0, 0.5)))
    inputs["mu"] = (inputs["mu"] * 3.0).astype(np.float32)
    return inputs


@noisy_expectation_exercise.check("is centred on mu", probe=_many_probe, inputs=_centred_inputs)
def _noisy_centred_verdict(inputs: Inputs, answer: Any) -> None:
    tried = _many_tried(inputs, "one log_var for all, between -1 and 0.5")
    offsets = _offsets(inputs, answer, tried)
    bias = offsets.mean(axis=0)
    # Each mean of 4000 offsets has a standard error below 0.022: 0.15 is 6.8 of them.
    if np.all(np.abs(bias) < 0.15):
        # Centred, and with the spread of sigma * eps + u (mu itself or u alone is centred too).
        expected = float(np.mean(np.exp(inputs["log_var"].astype(np.float64)))) + 1.0 / 3.0
        spread = float(offsets.var())
        if not 0.8 < spread / expected < 1.25:
            raise CheckFailed(
                "The codes sit on mu on average, but do not spread like sigma * eps + u around "
                "it: fix the checks on sigma and on u first.",
                tried=tried,
                expected=f"a variance of result - mu near sigma^2 + 1/3 = {expected:.3g}",
                got=f"{spread:.3g}",
            )
        return
    mu = inputs["mu"].astype(np.float64)
    slope = float(np.sum(offsets * mu) / np.sum(mu * mu))
    what = "On average the codes should sit on mu: both noises have mean 0."
    if abs(slope) > 0.2:
        what = "The codes move away from mu in proportion to mu: mu should be added once, unscaled."
    raise CheckFailed(
        what,
        tried=tried,
        expected="mean of result - mu about 0 in every dimension",
        got=f"mean of result - mu {short(bias, 3)}",
    )


# --------------------------------------------------------------------------- interpolate

interpolate_exercise = exercise(
    "interpolate",
    lesson=LESSON,
    points=4,
    symbol="interpolate",
    description="decode the straight line from mu(image_a) to mu(image_b)",
    references=("vae_tf.latent:interpolate",),
    hints=(
        "Three steps: encode both images, build `steps` codes between their two codes, "
        "decode those codes. The pictures in between come from the decoder, not from mixing "
        "pixels.",
        "The code of an image is its mean mu (the first output of vae.encode), not a sample: "
        "the result must not change from one call to the next.",
        "The weights t of the line run from 0 to 1 with both ends included (np.linspace does "
        "that); the code at t is (1 - t) * mu_a + t * mu_b.",
        "vae.decode returns pixel probabilities (vae.decoder alone returns logits); return "
        "an array with one 28 x 28 picture per step.",
    ),
)

_HIDDEN = 32  # a small network: the checks need a nonlinear decoder, not a good one


def build_check_vae(latent_dim: int, seed: int) -> Any:
    """A small VAE with weights drawn from ``seed``: the same in the worker and the judge."""
    import vae_tf  # noqa: F401 - quiets TensorFlow before it loads
    from vae_tf.models import VAE

    model = VAE(latent_dim=latent_dim, hidden_units=_HIDDEN)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.normal(scale=1.5 / np.sqrt(max(w.shape[0], 1)), size=w.shape).astype(np.float32)
            if w.ndim == 2
            else rng.normal(scale=0.3, size=w.shape).astype(np.float32)
            for w in model.get_weights()
        ]
    )
    return model


@judge_only
def _interpolate_reference(inputs: Inputs, steps: int) -> np.ndarray:
    model = build_check_vae(inputs["latent_dim"], inputs["model_seed"])
    pair = np.stack([inputs["image_a"], inputs["image_b"]]).reshape(2, 28, 28, 1)
    mu, _ = model.encode(pair)
    mu = np.asarray(mu, dtype=np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    codes = ((1.0 - t) * mu[0] + t * mu[1]).astype(np.float32)
    return np.asarray(model.decode(codes), dtype=np.float64).reshape(steps, 28 * 28)


def _interpolate_inputs(rng: np.random.Generator) -> Inputs:
    images = rng.uniform(size=(2, 28, 28)) * (rng.uniform(size=(2, 28, 28)) < 0.3)
    return {
        "latent_dim": int(rng.choice([2, 3, 5])),
        "model_seed": int(rng.integers(0, 2**31)),
        "image_a": images[0].astype(np.float32),
        "image_b": images[1].astype(np.float32),
        "steps": int(rng.integers(5, 9)),
    }


def _interpolate_probe(interpolate: Any, inputs: Inputs, steps_list: list[int]) -> Any:
    model = build_check_vae(inputs["latent_dim"], inputs["model_seed"])
    return [
        call_described(interpolate, model, inputs["image_a"], inputs["image_b"], steps=steps)
        for steps in steps_list
    ]


def _frames(described: Any, steps: int, tried: str) -> np.ndarray:
    _raised(described, tried)
    result = array_of(described, "interpolate").astype(np.float64)
    if result.size != steps * 28 * 28 or result.shape[0] != steps:
        raise CheckFailed(
            f"The result should hold {steps} pictures of 28 x 28 pixels, one per step.",
            tried=tried,
            expected=f"shape ({steps}, 28, 28) (or ({steps}, 28, 28, 1))",
            got=f"shape {result.shape}",
            hint="decode all the codes of the line and return the decoded images",
        )
    return result.reshape(steps, 28 * 28)


def _tried(inputs: Inputs, steps: int) -> str:
    return (
        f"a small random VAE (latent_dim {inputs['latent_dim']}), two images of 28 x 28 "
        f"pixels, steps = {steps}"
    )


def _interpolate_shape_probe(interpolate: Any, inputs: Inputs) -> Any:
    return _interpolate_probe(interpolate, inputs, [inputs["steps"], 3])


@interpolate_exercise.check(
    "returns one decoded picture per step",
    probe=_interpolate_shape_probe,
    inputs=_interpolate_inputs,
)
def _interpolate_shape_verdict(inputs: Inputs, answer: Any) -> None:
    for steps, described in zip([inputs["steps"], 3], answer, strict=True):
        frames = _frames(described, steps, _tried(inputs, steps))
        if frames.min() < -1e-6 or frames.max() > 1 + 1e-6:
            raise CheckFailed(
                "The pictures hold values outside [0, 1]: these are logits, not pixel "
                "probabilities.",
                tried=_tried(inputs, steps),
                expected="pixel probabilities between 0 and 1",
                got=f"values from {frames.min():.3g} to {frames.max():.3g}",
                hint="vae.decode applies the sigmoid; vae.decoder alone does not",
            )
    _require_decoded(inputs, answer[0])


@judge_only
def _require_decoded(inputs: Inputs, described: Any) -> None:
    """Pictures of the right shape must be the VAE's decodings: not zeros, noise or pixels."""
    steps = inputs["steps"]
    frames = _frames(described, steps, _tried(inputs, steps))

    def explain() -> None:
        _interpolate_ends_verdict(inputs, [described])
        _interpolate_between_verdict(inputs, [described])

    require_correlated(
        frames,
        _interpolate_reference(inputs, steps),
        explain,
        what="These pictures are not decodings of the VAE given (constant, random or pixel "
        "mixtures): decode the codes on the line between the two means.",
    )


def _interpolate_mu_probe(interpolate: Any, inputs: Inputs) -> Any:
    return _interpolate_probe(interpolate, inputs, [inputs["steps"], inputs["steps"]])


@interpolate_exercise.check(
    "is deterministic: it uses mu, not a sample",
    probe=_interpolate_mu_probe,
    inputs=_interpolate_inputs,
)
def _interpolate_mu_verdict(inputs: Inputs, answer: Any) -> None:
    steps = inputs["steps"]
    tried = _tried(inputs, steps) + ", called twice"
    first, second = (_frames(described, steps, tried) for described in answer)
    if not np.allclose(first, second, atol=1e-5):
        raise CheckFailed(
            "Two calls with the same images gave different pictures: the codes were sampled "
            "(z = mu + sigma * eps, or vae(x)) instead of taking the mean mu.",
            tried=tried,
            expected="the same pictures twice",
            got=f"pictures differing by up to {np.abs(first - second).max():.3g}",
        )
    _require_decoded(inputs, answer[0])  # zeros are deterministic too


def _interpolate_ends_probe(interpolate: Any, inputs: Inputs) -> Any:
    return _interpolate_probe(interpolate, inputs, [inputs["steps"]])


@interpolate_exercise.check(
    "starts at decode(mu(image_a)) and ends at decode(mu(image_b))",
    probe=_interpolate_ends_probe,
    inputs=_interpolate_inputs,
)
def _interpolate_ends_verdict(inputs: Inputs, answer: Any) -> None:
    steps = inputs["steps"]
    tried = _tried(inputs, steps)
    frames = _frames(answer[0], steps, tried)
    expected = _interpolate_reference(inputs, steps)
    start_ok = np.allclose(frames[0], expected[0], atol=1e-4)
    end_ok = np.allclose(frames[-1], expected[-1], atol=1e-4)
    if start_ok and end_ok:
        return
    originals = np.stack([inputs["image_a"], inputs["image_b"]]).reshape(2, -1)
    if np.allclose(frames[0], originals[0], atol=1e-4) or np.allclose(
        frames[-1], originals[1], atol=1e-4
    ):
        what = (
            "The ends are the original images themselves: the pictures should be decodings "
            "of codes (decode(mu)), not mixtures of pixels."
        )
    elif np.allclose(frames[0], expected[-1], atol=1e-4) and np.allclose(
        frames[-1], expected[0], atol=1e-4
    ):
        what = "The line runs backwards: it should start at image_a and end at image_b."
    elif start_ok:
        what = (
            "The first picture is right but the last is not decode(mu(image_b)): the line "
            "must include its end (t = 1)."
        )
    else:
        what = "The first picture should be decode(mu(image_a)) and the last decode(mu(image_b))."
    raise CheckFailed(
        what,
        tried=tried,
        expected=f"first picture {short(expected[0][300:303])}..., last {short(expected[-1][300:303])}...",
        got=f"first picture {short(frames[0][300:303])}..., last {short(frames[-1][300:303])}...",
    )


def _interpolate_between_probe(interpolate: Any, inputs: Inputs) -> Any:
    return _interpolate_probe(interpolate, inputs, [inputs["steps"]])


@interpolate_exercise.check(
    "decodes evenly spaced codes between the two means",
    probe=_interpolate_between_probe,
    inputs=_interpolate_inputs,
)
def _interpolate_between_verdict(inputs: Inputs, answer: Any) -> None:
    steps = inputs["steps"]
    tried = _tried(inputs, steps)
    frames = _frames(answer[0], steps, tried)
    expected = _interpolate_reference(inputs, steps)
    if np.allclose(frames, expected, atol=1e-4):
        return
    if not (
        np.allclose(frames[0], expected[0], atol=1e-4)
        and np.allclose(frames[-1], expected[-1], atol=1e-4)
    ):
        raise CheckFailed(
            "The ends are wrong; fix the earlier check (the two ends) first.", tried=tried
        )
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cross_fade = (1.0 - t) * expected[0] + t * expected[-1]
    if np.allclose(frames, cross_fade, atol=1e-4):
        what = (
            "The pictures in between are mixtures of the two end pictures' pixels: decode "
            "each code of the line instead, so that the decoder draws them."
        )
    else:
        wrong = int(np.argmax(np.abs(frames - expected).max(axis=1)))
        what = (
            f"Picture {wrong} is not the decoding of the code at t = {t[wrong, 0]:.3g}: the "
            "codes should be evenly spaced on the straight line between the two means."
        )
    raise CheckFailed(
        what,
        tried=tried,
        expected=f"the middle picture {short(expected[steps // 2][300:303])}...",
        got=f"the middle picture {short(frames[steps // 2][300:303])}...",
    )
