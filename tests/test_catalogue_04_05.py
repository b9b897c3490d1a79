"""A catalogue of typical mistakes (and right answers written differently) for lessons 04-05.

Every wrong answer must lose at least one point, and the FIRST failed check's message must
name that mistake; every right variant must get full points. The catalogue runs through
``run_checks`` (the self-check path, fast); one wrong and one right variant per exercise
also go through the real grading path (the sandbox with the redacted package, then the
judge), marked slow.
"""

from __future__ import annotations

import textwrap

import pytest
from catalogue import SEED, graded_in_sandbox

import vae_tf  # noqa: F401 - quiets TensorFlow before it loads
from vae_tf.grading import run_checks


def _first_failure(name: str, source: str) -> tuple[int, int, str]:
    """(points, max points, message of the first failed check) of ``source``'s function."""
    namespace: dict = {}
    exec(textwrap.dedent(source), namespace)
    outcome = run_checks(name, namespace[name], seed=SEED)
    failed = [result.message for result in outcome.results if not result.passed]
    return outcome.points, outcome.max_points, failed[0] if failed else ""


# --------------------------------------------------------------------------- noisy_expectation

NOISY_RIGHT = {
    "standard_normal_and_uniform": """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            eps = rng.standard_normal(np.shape(mu))
            u = rng.uniform(-1.0, 1.0, size=np.shape(mu))
            return mu + np.exp(log_var / 2) * eps + u
    """,
    "u_first_sqrt_of_variance_and_random": """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            mu = np.asarray(mu)
            u = 2.0 * rng.random(mu.shape) - 1.0
            eps = rng.normal(0.0, 1.0, size=mu.shape)
            return mu + u + np.sqrt(np.exp(log_var)) * eps
    """,
    "keras_ops_for_sigma": """
        import numpy as np
        from keras import ops

        def noisy_expectation(mu, log_var, rng):
            sigma = ops.convert_to_numpy(ops.exp(0.5 * ops.convert_to_tensor(log_var)))
            noise = rng.standard_normal((2,) + np.shape(mu))
            return mu + sigma * noise[0] + rng.uniform(-1, 1, np.shape(mu))
    """,
}

# name: (source, words that the first failed message must contain)
NOISY_WRONG = {
    "hard_coded_two_dimensions": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            eps = rng.standard_normal((len(mu), 2))
            u = rng.uniform(-1, 1, size=(len(mu), 2))
            return mu + np.exp(log_var / 2) * eps + u
        """,
        ["hard-codes 2 dimensions"],
    ),
    "u_in_zero_one": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            return mu + np.exp(log_var / 2) * rng.standard_normal(mu.shape) + rng.random(mu.shape)
        """,
        ["[0, 1)"],
    ),
    "sigma_without_the_half": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            eps = rng.standard_normal(mu.shape)
            return mu + np.exp(log_var) * eps + rng.uniform(-1, 1, mu.shape)
        """,
        ["variance", "exp(log_var / 2)"],
    ),
    "log_var_used_as_sigma": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            return mu + log_var * rng.standard_normal(mu.shape) + rng.uniform(-1, 1, mu.shape)
        """,
        ["log_var itself"],
    ),
    "unseeded_noise": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            eps = np.random.standard_normal(mu.shape)
            u = np.random.uniform(-1, 1, mu.shape)
            return mu + np.exp(log_var / 2) * eps + u
        """,
        ["same seed", "np.random"],
    ),
    "uniform_eps_of_the_right_spread": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            eps = rng.uniform(-np.sqrt(3), np.sqrt(3), mu.shape)
            return mu + np.exp(log_var / 2) * eps + rng.uniform(-1, 1, mu.shape)
        """,
        ["not normally distributed"],
    ),
    "one_shift_shared_by_all_images": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            u = rng.uniform(-1, 1, size=mu.shape[1])
            return mu + np.exp(log_var / 2) * rng.standard_normal(mu.shape) + u
        """,
        ["same shift"],
    ),
    "one_eps_shared_by_all_images": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            eps = rng.standard_normal(mu.shape[1])
            return mu + np.exp(log_var / 2) * eps + rng.uniform(-1, 1, mu.shape)
        """,
        ["same eps", "one value per image"],
    ),
    "uniform_shift_forgotten": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            return mu + np.exp(log_var / 2) * rng.standard_normal(mu.shape)
        """,
        ["shift u is missing"],
    ),
    "mu_added_twice": (
        """
        import numpy as np

        def noisy_expectation(mu, log_var, rng):
            z = mu + np.exp(log_var / 2) * rng.standard_normal(mu.shape)
            return mu + z + rng.uniform(-1, 1, mu.shape)
        """,
        ["moved more than 1"],
    ),
}


@pytest.mark.parametrize("variant", sorted(NOISY_RIGHT))
def test_noisy_expectation_right_variants_get_full_points(variant):
    points, max_points, message = _first_failure("noisy_expectation", NOISY_RIGHT[variant])
    assert points == max_points, message


@pytest.mark.parametrize("variant", sorted(NOISY_WRONG))
def test_noisy_expectation_mistakes_lose_points_and_are_named(variant):
    source, words = NOISY_WRONG[variant]
    points, max_points, message = _first_failure("noisy_expectation", source)
    assert points < max_points
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("seed", range(20))
def test_noisy_expectation_statistical_checks_hold_for_other_seeds(seed):
    # Grading draws a secret seed: the tolerances (6 to 7 standard errors) must hold for any.
    namespace: dict = {}
    exec(textwrap.dedent(NOISY_RIGHT["standard_normal_and_uniform"]), namespace)
    outcome = run_checks("noisy_expectation", namespace["noisy_expectation"], seed=seed)
    assert outcome.passed, outcome.verdict()
    exec(textwrap.dedent(NOISY_WRONG["one_shift_shared_by_all_images"][0]), namespace)
    outcome = run_checks("noisy_expectation", namespace["noisy_expectation"], seed=seed)
    assert "same shift" in [r.message for r in outcome.results if not r.passed][0]


def test_noisy_expectation_an_error_is_reported_as_itself_not_as_two_dimensions():
    source = """
        def noisy_expectation(mu, log_var, rng):
            return mu + undefined_name
    """
    points, _, message = _first_failure("noisy_expectation", source)
    assert points == 0
    assert "NameError" in message and "2 dimensions" not in message


# --------------------------------------------------------------------------- interpolate

INTERPOLATE_RIGHT = {
    "linspace_and_decode": """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu, _ = vae.encode(np.stack([image_a, image_b]))
            mu = np.asarray(mu)
            t = np.linspace(0, 1, steps)[:, None]
            return np.asarray(vae.decode((1 - t) * mu[0] + t * mu[1]))[..., 0]
    """,
    "tensorflow_loop_and_sigmoid_of_decoder": """
        import tensorflow as tf

        def interpolate(vae, image_a, image_b, steps=8):
            mu_a = vae.encoder(tf.reshape(image_a, (1, 28, 28, 1)))[0]
            mu_b = vae.encoder(tf.reshape(image_b, (1, 28, 28, 1)))[0]
            codes = [mu_a + (mu_b - mu_a) * (i / (steps - 1)) for i in range(steps)]
            return tf.sigmoid(vae.decoder(tf.concat(codes, axis=0))).numpy()
    """,
}

INTERPOLATE_WRONG = {
    "pixel_cross_fade": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            t = np.linspace(0, 1, steps)[:, None, None]
            return (1 - t) * np.asarray(image_a) + t * np.asarray(image_b)
        """,
        ["original images themselves", "not mixtures of pixels"],
    ),
    "sampled_codes_instead_of_mu": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu, log_var = (np.asarray(t) for t in vae.encode(np.stack([image_a, image_b])))
            z = mu + np.exp(log_var / 2) * np.random.standard_normal(mu.shape)
            t = np.linspace(0, 1, steps)[:, None]
            return np.asarray(vae.decode((1 - t) * z[0] + t * z[1]))
        """,
        ["sampled"],
    ),
    "end_left_out": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu = np.asarray(vae.encode(np.stack([image_a, image_b]))[0])
            t = (np.arange(steps) / steps)[:, None]
            return np.asarray(vae.decode((1 - t) * mu[0] + t * mu[1]))
        """,
        ["include its end"],
    ),
    "logits_from_the_decoder": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu = np.asarray(vae.encode(np.stack([image_a, image_b]))[0])
            t = np.linspace(0, 1, steps)[:, None]
            return np.asarray(vae.decoder((1 - t) * mu[0] + t * mu[1]))
        """,
        ["logits"],
    ),
    "backwards": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu = np.asarray(vae.encode(np.stack([image_a, image_b]))[0])
            t = np.linspace(0, 1, steps)[:, None]
            return np.asarray(vae.decode(t * mu[0] + (1 - t) * mu[1]))
        """,
        ["backwards"],
    ),
    "decoded_ends_cross_faded": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu = np.asarray(vae.encode(np.stack([image_a, image_b]))[0])
            ends = np.asarray(vae.decode(mu))
            t = np.linspace(0, 1, steps)[:, None, None, None]
            return (1 - t) * ends[0] + t * ends[1]
        """,
        ["mixtures of the two end pictures"],
    ),
    "hard_coded_steps": (
        """
        import numpy as np

        def interpolate(vae, image_a, image_b, steps=8):
            mu = np.asarray(vae.encode(np.stack([image_a, image_b]))[0])
            t = np.linspace(0, 1, 8)[:, None]
            return np.asarray(vae.decode((1 - t) * mu[0] + t * mu[1]))
        """,
        ["one per step"],
    ),
}


@pytest.mark.parametrize("variant", sorted(INTERPOLATE_RIGHT))
def test_interpolate_right_variants_get_full_points(variant):
    points, max_points, message = _first_failure("interpolate", INTERPOLATE_RIGHT[variant])
    assert points == max_points, message


@pytest.mark.parametrize("variant", sorted(INTERPOLATE_WRONG))
def test_interpolate_mistakes_lose_points_and_are_named(variant):
    source, words = INTERPOLATE_WRONG[variant]
    points, max_points, message = _first_failure("interpolate", source)
    assert points < max_points
    for word in words:
        assert word in message, message


def test_interpolate_agrees_with_the_package_function():
    from vae_tf.latent import interpolate

    outcome = run_checks("interpolate", interpolate, seed=SEED)
    assert outcome.passed, outcome.verdict()


# --------------------------------------------------------------------------- sigma_sweep

SIGMA_RIGHT = {
    "loop_over_factors": """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            sigma = np.exp(log_var / 2)
            return np.stack([np.asarray(vae.decode(mu + f * sigma * eps))[..., 0] for f in factors])
    """,
    "one_batch_with_keras_ops": """
        import numpy as np
        from keras import ops

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = vae.encoder(ops.reshape(ops.convert_to_tensor(images), (-1, 28, 28, 1)))
            f = ops.reshape(ops.convert_to_tensor(np.asarray(factors, "float32")), (-1, 1, 1))
            z = mu[None] + f * ops.exp(0.5 * log_var)[None] * ops.convert_to_tensor(eps)[None]
            n, d = len(factors), mu.shape[1]
            pictures = ops.sigmoid(vae.decoder(ops.reshape(z, (-1, d))))
            return ops.convert_to_numpy(pictures).reshape(n, -1, 28, 28)
    """,
}

SIGMA_WRONG = {
    "new_noise_for_each_factor": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            return np.stack([
                np.asarray(vae.decode(mu + f * np.exp(log_var / 2) * np.random.standard_normal(mu.shape)))
                for f in factors
            ])
        """,
        ["new noise was drawn"],
    ),
    "variance_instead_of_sigma": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            return np.stack([np.asarray(vae.decode(mu + f * np.exp(log_var) * eps)) for f in factors])
        """,
        ["variance exp(log_var)"],
    ),
    "factor_applied_to_mu": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            return np.stack([np.asarray(vae.decode(f * (mu + np.exp(log_var / 2) * eps))) for f in factors])
        """,
        ["multiplied mu too"],
    ),
    "factor_scales_the_variance": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            return np.stack([
                np.asarray(vae.decode(mu + np.sqrt(f * np.exp(log_var)) * eps)) for f in factors
            ])
        """,
        ["scaled the variance"],
    ),
    "logits_from_the_decoder": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            return np.stack([np.asarray(vae.decoder(mu + f * np.exp(log_var / 2) * eps)) for f in factors])
        """,
        ["logits"],
    ),
    "sampled_code_from_the_model_call": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            return np.stack([np.asarray(vae(images)) for f in factors])
        """,
        ["not a sample"],
    ),
    "only_the_last_factor_returned": (
        """
        import numpy as np

        def sigma_sweep(vae, images, factors, eps):
            mu, log_var = (np.asarray(t) for t in vae.encode(images))
            for f in factors:
                pictures = np.asarray(vae.decode(mu + f * np.exp(log_var / 2) * eps))
            return pictures
        """,
        ["for each of the"],
    ),
}


@pytest.mark.parametrize("variant", sorted(SIGMA_RIGHT))
def test_sigma_sweep_right_variants_get_full_points(variant):
    points, max_points, message = _first_failure("sigma_sweep", SIGMA_RIGHT[variant])
    assert points == max_points, message


@pytest.mark.parametrize("variant", sorted(SIGMA_WRONG))
def test_sigma_sweep_mistakes_lose_points_and_are_named(variant):
    source, words = SIGMA_WRONG[variant]
    points, max_points, message = _first_failure("sigma_sweep", source)
    assert points < max_points
    for word in words:
        assert word in message, message


def test_sigma_sweep_agrees_with_the_package_function():
    from vae_tf.latent import sigma_sweep

    outcome = run_checks("sigma_sweep", sigma_sweep, seed=SEED)
    assert outcome.passed, outcome.verdict()


# --------------------------------------------------------------------------- the real grading path


@pytest.mark.slow
def test_lesson_04_graded_in_the_sandbox_right_gets_full_points_and_wrong_is_named():
    right = graded_in_sandbox(
        "04_effect_of_mu",
        {
            "noisy_expectation": NOISY_RIGHT["u_first_sqrt_of_variance_and_random"],
            "interpolate": INTERPOLATE_RIGHT["tensorflow_loop_and_sigmoid_of_decoder"],
        },
        seed=SEED,
    )
    for outcome in right.values():
        assert outcome.points == outcome.max_points, outcome.verdict()
    wrong = graded_in_sandbox(
        "04_effect_of_mu",
        {
            "noisy_expectation": NOISY_WRONG["unseeded_noise"][0],
            "interpolate": INTERPOLATE_WRONG["pixel_cross_fade"][0],
        },
        seed=SEED,
    )
    for name, words in (
        ("noisy_expectation", NOISY_WRONG["unseeded_noise"][1]),
        ("interpolate", INTERPOLATE_WRONG["pixel_cross_fade"][1]),
    ):
        outcome = wrong[name]
        assert outcome.points < outcome.max_points
        first = outcome.failures()[0].message
        assert all(word in first for word in words), first


@pytest.mark.slow
def test_lesson_05_graded_in_the_sandbox_right_gets_full_points_and_wrong_is_named():
    right = graded_in_sandbox(
        "05_effect_of_sigma", {"sigma_sweep": SIGMA_RIGHT["one_batch_with_keras_ops"]}, seed=SEED
    )
    assert right["sigma_sweep"].points == right["sigma_sweep"].max_points
    source, words = SIGMA_WRONG["new_noise_for_each_factor"]
    outcome = graded_in_sandbox("05_effect_of_sigma", {"sigma_sweep": source}, seed=SEED)[
        "sigma_sweep"
    ]
    assert outcome.points < outcome.max_points
    first = outcome.failures()[0].message
    assert all(word in first for word in words), first


# --------------------------------------------------------------------------- the seed sweep
# ``tests/test_seed_sweep.py`` runs every answer below over many seeds.


def _function(name: str, source: str) -> object:
    namespace: dict = {}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


_CATALOGUE = {
    "noisy_expectation": (NOISY_RIGHT, NOISY_WRONG),
    "interpolate": (INTERPOLATE_RIGHT, INTERPOLATE_WRONG),
    "sigma_sweep": (SIGMA_RIGHT, SIGMA_WRONG),
}
SWEEP_RIGHT = {
    name: {variant: _function(name, source) for variant, source in right.items()}
    for name, (right, _) in _CATALOGUE.items()
}
SWEEP_WRONG = {
    name: {variant: _function(name, source) for variant, (source, _) in wrong.items()}
    for name, (_, wrong) in _CATALOGUE.items()
}
