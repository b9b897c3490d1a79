"""Beyond the original study: posterior collapse as the KL weight beta grows.

One fresh VAE per beta, scored on binarized held-out images: reconstruction, KL, -ELBO,
the IWAE estimate of -log p(x) (nats per image) and the active units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf._files import json_safe
from vae_tf.evaluation import encode_posteriors
from vae_tf.recipe import BETA_SWEEP, Recipe
from vae_tf.training import train_vae

if TYPE_CHECKING:
    from vae_tf.data import MnistData

__all__ = ["BETAS", "BetaSweepResult", "beta_sweep"]

BETAS = (0.25, 1.0, 4.0, 16.0)  # KL weights of the beta sweep


@dataclass
class BetaSweepResult:
    """One trained VAE per KL weight beta, scored on binarized held-out images.

    Lists are per beta, in the order of ``betas``. ``reconstruction``, ``kl`` and
    ``neg_elbo`` (= reconstruction + kl, the beta=1 objective whatever beta trained) are
    one-sample estimates in nats per image; ``iwae_nll`` is the IWAE estimate of
    -log p(x) with ``k`` samples (nats per image, lower is better); ``active_units``
    counts latent dimensions with Cov_x(E_q[z_u | x]) > 0.01 (Burda et al., 2016);
    ``kl_per_unit[i]`` lists the KL of each latent dimension (nats per image, sorted from
    largest to smallest), which shows a unit fading toward the prior before its variance
    falls below Burda's threshold.
    """

    betas: list
    reconstruction: list
    kl: list
    neg_elbo: list
    iwae_nll: list
    active_units: list
    kl_per_unit: list
    latent_dim: int
    epochs: int
    k: int
    n_images: int
    seed: int
    source_description: str
    updates: int = 0
    recipe: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["unit"] = "nats per image on binarized held-out images; active_units of latent_dim"
        return json_safe(out)


def beta_sweep(
    data: MnistData,
    recipe: Recipe | None = None,
    *,
    betas: Sequence[float] = BETAS,
    verbose: int = 0,
    progress: bool = True,
) -> BetaSweepResult:
    """The experiment beyond the original: how the KL weight beta trades the two terms.

    For each beta, a fresh VAE is trained with ``recipe.replace(kl_weight=beta)`` (the
    recipe's binarization too: ``BETA_SWEEP`` binarizes the training images dynamically,
    the usual protocol for likelihoods on MNIST) and scored by ``vae_tf.evaluation.evaluate`` on the held-out images binarized once
    with ``recipe.seed``: reconstruction, KL, -ELBO, the IWAE estimate of -log p(x) with
    ``recipe.iwae_k`` samples and the number of active units. As beta grows the KL
    falls, the reconstruction worsens and units collapse to the prior (posterior
    collapse), so active units drop. If ``data`` was loaded binarized already, its
    images are used as they are.

    Parameters
    ----------
    data : MnistData
    recipe : Recipe, optional
        Default: ``vae_tf.recipe.BETA_SWEEP.for_run()`` (latent 8, 1,000 updates).
    betas : sequence of float >= 0, default (0.25, 1, 4, 16)
    verbose : int, default 0
        Passed to ``fit``.
    progress : bool, default True
        Print one line per epoch of each run, named by its beta (see ``train_vae``).

    Returns
    -------
    BetaSweepResult
    """
    from vae_tf.data import binarize_images
    from vae_tf.evaluation import evaluate
    from vae_tf.losses import kl_divergence

    recipe = BETA_SWEEP.for_run() if recipe is None else recipe
    betas = [float(beta) for beta in betas]
    if not betas or any(not beta >= 0 for beta in betas):
        raise ValueError(f"betas must be a non-empty list of numbers >= 0, got {betas!r}")
    already_binary = data.binarize != "none"
    # The images evaluate() scores: binarized once, with the same seed it uses.
    test_images = (
        np.asarray(data.x_test, dtype=np.float32)
        if already_binary
        else binarize_images(data.x_test, seed=recipe.seed)
    )

    columns: dict[str, list] = {
        "reconstruction": [],
        "kl": [],
        "neg_elbo": [],
        "iwae_nll": [],
        "active_units": [],
        "kl_per_unit": [],
    }
    for beta in betas:
        model, _ = train_vae(
            data,
            recipe.replace(kl_weight=beta),
            verbose=verbose,
            progress=f"beta {beta:g}" if progress else False,
            validation_images=test_images,
        )
        scores = evaluate(
            model, data, k=recipe.iwae_k, seed=recipe.seed, binarize=not already_binary
        )
        columns["reconstruction"].append(scores.reconstruction)
        columns["kl"].append(scores.kl)
        columns["neg_elbo"].append(scores.neg_elbo)
        columns["iwae_nll"].append(scores.iwae_nll)
        columns["active_units"].append(scores.active_units)
        # The KL of each unit: the one KL formula applied to each dimension alone.
        mu, log_var = encode_posteriors(model, test_images)
        unit_kl = np.asarray(kl_divergence(mu.reshape(-1, 1), log_var.reshape(-1, 1)))
        unit_kl = unit_kl.reshape(mu.shape).mean(axis=0)
        columns["kl_per_unit"].append(sorted((float(v) for v in unit_kl), reverse=True))
    n_train = len(data.x_train)
    return BetaSweepResult(
        betas=betas,
        **columns,
        latent_dim=recipe.latent_dim,
        epochs=recipe.epochs_for(n_train),
        k=recipe.iwae_k,
        n_images=len(test_images),
        seed=recipe.seed,
        source_description=data.source_description,
        updates=recipe.epochs_for(n_train) * recipe.steps_per_epoch(n_train),
        recipe=recipe.to_dict(),
    )
