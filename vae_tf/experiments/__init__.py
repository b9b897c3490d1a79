"""The experiments of the original study, each with numbers instead of eyeballing.

One module per experiment; each function returns a result dataclass that holds the images
to show and the numbers to report (``result.to_dict()`` gives the numbers, JSON-safe).
Every model is trained by ``vae_tf.training.train_vae`` with a ``vae_tf.recipe.Recipe``;
the latent-space math they share is in ``vae_tf.latent``.

- :func:`mu_experiment` (``effect_of_mu``): decode(mu) versus decode(mu + sigma * eps + u),
  u ~ U(-1, 1).
- :func:`sigma_experiment` (``effect_of_sigma``): decode(mu + factor * sigma * eps) for
  factor 0.1 ... 100.
- :func:`loss_terms_experiment` (``loss_terms``): three fresh VAEs trained on -ELBO, on the
  KL term alone and on the reconstruction term alone.
- :func:`beta_sweep` (``posterior_collapse``): beyond the original; the KL weight beta
  traded against reconstruction, with active units and an IWAE estimate of -log p(x).

``vae_tf.experiments.registry.EXPERIMENTS`` lists them for ``vae-tf experiment`` and
``vae-tf reproduce``.

How the numbers are measured, and why:

- **distance**: the root-mean-square pixel difference between a decoded image (pixel
  probabilities) and its original (grey levels), averaged over the held-out images;
  0 means identical, 1 means every pixel inverted. It reads directly in grey levels,
  and unlike the cross-entropy it is 0 for a perfect copy (the cross-entropy of a
  grey-level image never drops below the image's own entropy).
- **label kept**: the fraction of held-out images whose decoding a small digit
  classifier (:mod:`vae_tf.classifier`) reads as the original's label. It is bounded
  by the classifier's own held-out accuracy, reported next to it in every result.
- **kNN accuracy**: 5-nearest-neighbour accuracy of held-out codes given the training
  codes; 0.1 (chance) when the code carries no information about the digit.
- **aggregate moments**: mean and covariance of the codes z ~ q(z|x) over the images,
  that is of the aggregate posterior q(z), compared with the prior N(0, I).

Every random draw comes from a NumPy ``Generator`` or a seeded Keras generator built from
the seed, so one seed gives the same numbers on a CPU.

The names of ``vae_tf.training`` and ``vae_tf.latent`` that the lessons use with the
experiments (``train_vae``, ``interpolate``, ...) are importable from here too.
"""

from __future__ import annotations

from vae_tf.experiments._common import pick_one_per_digit
from vae_tf.experiments.effect_of_mu import MuResult, mu_experiment
from vae_tf.experiments.effect_of_sigma import SigmaResult, sigma_experiment
from vae_tf.experiments.loss_terms import (
    LOSS_TERM_RUNS,
    LossTermsResult,
    LossTermsRun,
    loss_terms_experiment,
)
from vae_tf.experiments.posterior_collapse import BETAS, BetaSweepResult, beta_sweep
from vae_tf.latent import (
    aggregate_moments,
    gaussian_kl_to_prior,
    interpolate,
    knn_accuracy,
    noisy_expectation,
    sample_with_sigma_factor,
    sigma_sweep,
)
from vae_tf.training import save_training_run, split_for_early_stopping, train_vae

__all__ = [
    "BETAS",
    "LOSS_TERM_RUNS",
    "pick_one_per_digit",
    "MuResult",
    "mu_experiment",
    "SigmaResult",
    "sigma_experiment",
    "LossTermsRun",
    "LossTermsResult",
    "loss_terms_experiment",
    "BetaSweepResult",
    "beta_sweep",
    # from vae_tf.latent and vae_tf.training, for the lessons
    "aggregate_moments",
    "gaussian_kl_to_prior",
    "interpolate",
    "knn_accuracy",
    "noisy_expectation",
    "sample_with_sigma_factor",
    "sigma_sweep",
    "save_training_run",
    "split_for_early_stopping",
    "train_vae",
]
