"""Experiment 1 of the original study, measured: the effect of mu.

decode(mu) versus decode(mu + sigma * eps + u), u ~ Uniform(-1, 1) in every latent
dimension. **distance** is the root-mean-square pixel difference between a decoding and its
original (grey levels, 0-1), averaged over held-out images; **label kept** is the fraction
of decodings a small digit classifier (``vae_tf.classifier``) reads as the original's digit,
bounded by the classifier's own held-out accuracy, reported next to it.
"""

from __future__ import annotations

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
from vae_tf.latent import decode, noisy_expectation, require_vae

if TYPE_CHECKING:
    from vae_tf.classifier import DigitClassifier
    from vae_tf.data import MnistData
    from vae_tf.models import VAE
    from vae_tf.recipe import Recipe

__all__ = ["MuResult", "mu_experiment"]


@dataclass
class MuResult:
    """decode(mu) versus decode(mu + sigma * eps + u), u ~ Uniform(-1, 1) per dimension.

    Images (for one held-out image of each digit): ``originals``, ``decoded_mu`` and
    ``decoded_noisy``, each (10, 28, 28), in the order of ``digits``.
    Numbers (over ``n_images`` held-out images): ``distance_*`` is the mean RMS pixel
    difference from the original (grey levels, 0-1); ``label_kept_*`` the fraction of
    decodings the classifier reads as the original's digit, to be read against
    ``classifier_accuracy``; ``*_per_digit`` the same rate for each digit 0-9.
    """

    digits: np.ndarray
    indices: np.ndarray
    originals: np.ndarray
    decoded_mu: np.ndarray
    decoded_noisy: np.ndarray
    distance_mu: float
    distance_noisy: float
    label_kept_mu: float
    label_kept_noisy: float
    label_kept_mu_per_digit: list
    label_kept_noisy_per_digit: list
    classifier_accuracy: float
    n_images: int
    seed: int
    source_description: str

    def to_dict(self) -> dict[str, Any]:
        """The numbers (no images), JSON-safe."""
        skip = {"originals", "decoded_mu", "decoded_noisy"}
        out = {k: v for k, v in self.__dict__.items() if k not in skip}
        out["distance_unit"] = "RMS pixel difference (grey levels, 0-1), mean over images"
        out["label_kept_unit"] = "fraction of held-out images"
        return json_safe(out)


def mu_experiment(
    model: VAE,
    data: MnistData,
    *,
    classifier: DigitClassifier | None = None,
    n_images: int = 1000,
    seed: int = 0,
    recipe: Recipe | None = None,
) -> MuResult:
    """Experiment 1 of the original study, measured.

    For each held-out image (up to ``n_images``, chosen with ``seed``), decode its
    posterior mean ``mu`` and its "noisy expectation" ``mu + sigma * eps + u`` with
    eps ~ N(0, I) and u ~ Uniform(-1, 1) in **every** latent dimension (the original
    hard-coded two). The original found that moving the mean moves the decoded digit
    toward neighbouring digits; here that reads as a lower ``label_kept_noisy``.

    Parameters
    ----------
    model : VAE
        A trained VAE (any latent_dim).
    data : MnistData
        Its held-out images are used; its training images train the classifier.
    classifier : DigitClassifier, optional
        Default: ``train_digit_classifier(data, recipe.replace(seed=seed))``.
    n_images : int, default 1000
    seed : int, default 0
        Seeds the choice of images, the noise and the classifier.
    recipe : Recipe, optional
        Trains the default classifier (its ``classifier_epochs``); default ``ORIGINAL``.

    Returns
    -------
    MuResult
    """
    require_vae(model, "mu_experiment")
    rng = np.random.default_rng(seed)
    classifier = classifier_for(data, classifier, recipe, seed)
    images, labels, indices = held_out(data, n_images, rng)

    mu, log_var = encode_posteriors(model, images)
    decoded_mu = decode(model, mu)
    decoded_noisy = decode(model, noisy_expectation(mu, log_var, rng))

    kept_mu = classifier.predict(decoded_mu) == labels
    kept_noisy = classifier.predict(decoded_noisy) == labels
    shown = pick_one_per_digit(labels, seed=seed)
    return MuResult(
        digits=labels[shown],
        indices=indices[shown],
        originals=images[shown, :, :, 0],
        decoded_mu=decoded_mu[shown],
        decoded_noisy=decoded_noisy[shown],
        distance_mu=float(np.mean(rms_distance(decoded_mu, images))),
        distance_noisy=float(np.mean(rms_distance(decoded_noisy, images))),
        label_kept_mu=float(np.mean(kept_mu)),
        label_kept_noisy=float(np.mean(kept_noisy)),
        label_kept_mu_per_digit=label_kept_per_digit(kept_mu, labels),
        label_kept_noisy_per_digit=label_kept_per_digit(kept_noisy, labels),
        classifier_accuracy=float(classifier.accuracy),
        n_images=len(images),
        seed=seed,
        source_description=data.source_description,
    )
