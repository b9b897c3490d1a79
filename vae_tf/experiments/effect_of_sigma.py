"""Experiment 2 of the original study, measured: the effect of sigma.

decode(mu + factor * sigma * eps) for factor 0.1 ... 100, with one eps for every factor;
distance and label kept as in ``vae_tf.experiments.effect_of_mu``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf._files import json_safe
from vae_tf.evaluation import encode_posteriors
from vae_tf.experiments._common import (
    classifier_for,
    held_out,
    label_kept_per_digit,
    pick_one_per_digit,
    rms_distance,
)
from vae_tf.latent import require_vae, sigma_sweep

if TYPE_CHECKING:
    from vae_tf.classifier import DigitClassifier
    from vae_tf.data import MnistData
    from vae_tf.models import VAE
    from vae_tf.recipe import Recipe

__all__ = ["SigmaResult", "sigma_experiment"]


@dataclass
class SigmaResult:
    """decode(mu + factor * sigma * eps) for each factor.

    ``images`` is (10, len(factors), 28, 28): one held-out image of each digit (rows, in
    the order of ``digits``) decoded at each factor (columns); ``originals`` (10, 28, 28).
    ``distance[i]`` and ``label_kept[i]`` belong to ``factors[i]`` (units as in
    :class:`MuResult`); ``label_kept_per_digit[i]`` lists the rate for digits 0-9.
    ``sigma_mean`` is the mean posterior standard deviation over the latent dimensions
    and images, to translate a factor into a distance in latent space.
    """

    factors: tuple
    digits: np.ndarray
    indices: np.ndarray
    originals: np.ndarray
    images: np.ndarray
    distance: list
    label_kept: list
    label_kept_per_digit: list
    sigma_mean: float
    classifier_accuracy: float
    n_images: int
    seed: int
    source_description: str

    def to_dict(self) -> dict[str, Any]:
        """The numbers (no images), JSON-safe."""
        out = {k: v for k, v in self.__dict__.items() if k not in {"originals", "images"}}
        out["distance_unit"] = "RMS pixel difference (grey levels, 0-1), mean over images"
        out["label_kept_unit"] = "fraction of held-out images"
        return json_safe(out)


def sigma_experiment(
    model: VAE,
    data: MnistData,
    *,
    factors: Sequence[float] = (0.1, 1, 10, 100),
    classifier: DigitClassifier | None = None,
    n_images: int = 1000,
    seed: int = 0,
    recipe: Recipe | None = None,
) -> SigmaResult:
    """Experiment 2 of the original study, measured.

    Decode ``mu + factor * sigma * eps`` for every factor, with the **same** eps for all
    factors so that only the scale changes between columns. The original found the digit
    kept at 0.1 and 1 and lost at 10 and 100; here that reads as ``label_kept`` falling
    and ``distance`` growing with the factor.

    Parameters and defaults as in ``vae_tf.experiments.mu_experiment``; ``factors`` are the
    multipliers of sigma.
    """
    require_vae(model, "sigma_experiment")
    factors = tuple(float(f) for f in factors)
    if not factors:
        raise ValueError("factors must hold at least one number")
    rng = np.random.default_rng(seed)
    classifier = classifier_for(data, classifier, recipe, seed)
    images, labels, indices = held_out(data, n_images, rng)

    mu, log_var = encode_posteriors(model, images)
    eps = rng.standard_normal(mu.shape).astype(np.float32)
    shown = pick_one_per_digit(labels, seed=seed)
    distance, label_kept, per_digit, columns = [], [], [], []
    for decoded in sigma_sweep(model, images, factors, eps):
        kept = classifier.predict(decoded) == labels
        distance.append(float(np.mean(rms_distance(decoded, images))))
        label_kept.append(float(np.mean(kept)))
        per_digit.append(label_kept_per_digit(kept, labels))
        columns.append(decoded[shown])
    return SigmaResult(
        factors=factors,
        digits=labels[shown],
        indices=indices[shown],
        originals=images[shown, :, :, 0],
        images=np.stack(columns, axis=1),
        distance=distance,
        label_kept=label_kept,
        label_kept_per_digit=per_digit,
        sigma_mean=float(np.mean(np.exp(log_var / 2))),
        classifier_accuracy=float(classifier.accuracy),
        n_images=len(images),
        seed=seed,
        source_description=data.source_description,
    )
