"""Experiment 3 of the original study, measured: what each term of -ELBO does alone.

Three fresh VAEs trained on -ELBO, on the KL term alone and on the reconstruction term
alone; for each, the held-out KL and reconstruction (nats per image), the 5-nearest-
neighbour accuracy of the codes (0.1 is chance) and the moments of the aggregate codes
compared with the prior N(0, I).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf._files import json_safe
from vae_tf.evaluation import encode_posteriors
from vae_tf.experiments._common import CHANCE_ACCURACY
from vae_tf.latent import (
    aggregate_moments,
    gaussian_kl_to_prior,
    knn_accuracy,
    sample_with_sigma_factor,
)
from vae_tf.recipe import ORIGINAL, Recipe
from vae_tf.training import train_vae

if TYPE_CHECKING:
    from vae_tf.data import MnistData
    from vae_tf.models import VAE

__all__ = ["LOSS_TERM_RUNS", "LossTermsRun", "LossTermsResult", "loss_terms_experiment"]

LOSS_TERM_RUNS = {
    # name: (kl_weight, reconstruction_weight)
    "full": (1.0, 1.0),
    "kl_only": (1.0, 0.0),
    "reconstruction_only": (0.0, 1.0),
}
MAX_SCATTER_CODES = 12_000  # the original study scattered ~12,000 training images


@dataclass
class LossTermsRun:
    """One VAE of :func:`loss_terms_experiment`.

    ``kl`` and ``reconstruction`` are final values on the held-out images, nats per
    image, both measured whatever the weights. ``knn_accuracy`` is the 5-NN accuracy of
    held-out sampled codes z given the training codes (``knn_accuracy_mu`` the same on
    mu). ``latent_mean`` (D,) and ``latent_cov`` (D, D) are the moments of the sampled
    training codes (the aggregate posterior), ``moment_kl`` = KL(N(mean, cov) || N(0, I))
    in nats. ``codes`` (N, D) and ``labels`` (N,) are those training codes for a scatter.
    """

    name: str
    kl_weight: float
    reconstruction_weight: float
    kl: float
    reconstruction: float
    knn_accuracy: float
    knn_accuracy_mu: float
    latent_mean: np.ndarray
    latent_cov: np.ndarray
    moment_kl: float
    codes: np.ndarray
    labels: np.ndarray
    history: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The numbers (no codes), JSON-safe."""
        out = {k: v for k, v in self.__dict__.items() if k not in {"codes", "labels"}}
        out["n_codes"] = len(self.codes)
        return json_safe(out)


@dataclass
class LossTermsResult:
    """The three runs of :func:`loss_terms_experiment`, by name: "full", "kl_only",
    "reconstruction_only"."""

    runs: dict
    chance_accuracy: float
    epochs: int
    latent_dim: int
    seed: int
    source_description: str
    updates: int = 0
    recipe: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "runs": {name: run.to_dict() for name, run in self.runs.items()},
            "chance_accuracy": self.chance_accuracy,
            "epochs": self.epochs,
            "updates": self.updates,
            "latent_dim": self.latent_dim,
            "seed": self.seed,
            "recipe": self.recipe,
            "source_description": self.source_description,
            "unit": "kl and reconstruction in nats per image (held-out); accuracies as fractions",
        }
        return json_safe(out)


def _sampled_codes(model: Any, images: np.ndarray, rng: np.random.Generator):
    mu, log_var = encode_posteriors(model, images)
    eps = rng.standard_normal(mu.shape).astype(np.float32)
    return sample_with_sigma_factor(mu, log_var, 1.0, eps), mu


def loss_terms_experiment(
    data: MnistData,
    recipe: Recipe | None = None,
    *,
    full_run: tuple[VAE, dict[str, list[float]]] | None = None,
    verbose: int = 0,
    progress: bool = True,
) -> LossTermsResult:
    """Experiment 3 of the original study, measured: what each term of -ELBO does alone.

    Trains three fresh VAEs with identical settings (architecture, initial weights,
    batches, noise) except the weights of the loss terms: "full" (1, 1), "kl_only"
    (KL weight 1, reconstruction weight 0) and "reconstruction_only" (0, 1). For each,
    the final KL and reconstruction on the held-out images, the 5-NN accuracy of the
    latent codes and the moments of the aggregate codes. The original found an
    uninformative N(0, I) blob for KL alone (here: KL near 0, kNN near chance, moments
    near 0 and I) and separated clusters without regular structure for reconstruction
    alone (here: high kNN accuracy, a large KL, moments far from the prior).

    Parameters
    ----------
    data : MnistData
    recipe : Recipe, optional
        Default: ``vae_tf.recipe.ORIGINAL.for_run()``.
    full_run : (VAE, history), optional
        A VAE already trained on the full loss by ``train_vae(data, recipe)``: it is the
        "full" run (the same weights a new run would give), so it is not trained twice.
    verbose : int, default 0
        Passed to ``fit``.
    progress : bool, default True
        Print one line per epoch of each run, named by the run (see ``train_vae``).

    Returns
    -------
    LossTermsResult
    """
    from vae_tf.evaluation import evaluate_elbo

    recipe = ORIGINAL.for_run() if recipe is None else recipe
    rng = np.random.default_rng(recipe.seed)
    n_codes = min(MAX_SCATTER_CODES, len(data.x_train))
    code_indices = np.sort(rng.choice(len(data.x_train), size=n_codes, replace=False))
    train_images = np.asarray(data.x_train[code_indices], dtype=np.float32)
    train_labels = np.asarray(data.y_train[code_indices], dtype=np.int64)
    test_images = np.asarray(data.x_test, dtype=np.float32)
    test_labels = np.asarray(data.y_test, dtype=np.int64)

    runs = {}
    for name, (kl_weight, reconstruction_weight) in LOSS_TERM_RUNS.items():
        if name == "full" and full_run is not None:
            model, history = full_run
        else:
            model, history = train_vae(
                data,
                recipe.replace(kl_weight=kl_weight, reconstruction_weight=reconstruction_weight),
                verbose=verbose,
                progress=name if progress else False,
            )
        terms = evaluate_elbo(model, test_images, seed=recipe.seed)
        code_rng = np.random.default_rng(recipe.seed + 1)  # the same eps for the three runs
        codes, train_mu = _sampled_codes(model, train_images, code_rng)
        test_codes, test_mu = _sampled_codes(model, test_images, code_rng)
        mean, cov = aggregate_moments(codes)
        runs[name] = LossTermsRun(
            name=name,
            kl_weight=kl_weight,
            reconstruction_weight=reconstruction_weight,
            kl=float(terms["kl"]),
            reconstruction=float(terms["reconstruction"]),
            knn_accuracy=knn_accuracy(codes, train_labels, test_codes, test_labels),
            knn_accuracy_mu=knn_accuracy(train_mu, train_labels, test_mu, test_labels),
            latent_mean=mean,
            latent_cov=cov,
            moment_kl=gaussian_kl_to_prior(mean, cov),
            codes=codes,
            labels=train_labels,
            history=history,
        )
    return LossTermsResult(
        runs=runs,
        chance_accuracy=CHANCE_ACCURACY,
        epochs=recipe.epochs_for(len(data.x_train)),
        latent_dim=recipe.latent_dim,
        seed=recipe.seed,
        source_description=data.source_description,
        updates=recipe.epochs_for(len(data.x_train)) * recipe.steps_per_epoch(len(data.x_train)),
        recipe=recipe.to_dict(),
    )
