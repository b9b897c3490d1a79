"""The experiments ``vae-tf experiment NAME`` runs and ``vae-tf reproduce`` walks, in order.

Each entry of :data:`EXPERIMENTS` says how to run one experiment and draw its figures;
``vae_tf.reproduce.run_experiment`` looks the name up, and ``vae_tf.reproduce.reproduce``
runs every entry in turn. A new experiment is one module in ``vae_tf/experiments/`` and
one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vae_tf.experiments.posterior_collapse import BETAS

if TYPE_CHECKING:
    from vae_tf.classifier import DigitClassifier
    from vae_tf.data import MnistData
    from vae_tf.models import VAE
    from vae_tf.recipe import Recipe

__all__ = ["Experiment", "ExperimentRun", "EXPERIMENTS", "N_IMAGES"]

N_IMAGES = 1000  # held-out images scored by the mu and sigma experiments


@dataclass
class ExperimentRun:
    """What one experiment is given: the data, its recipe and what was trained already.

    ``save(figure, file_name)`` writes a figure into the run's folder and lists it.
    ``settings`` collects what the experiment chose (written to ``<name>.json``).
    """

    data: MnistData
    recipe: Recipe
    save: Callable[[Any, str], None]
    model: VAE | None = None
    full_run: tuple[VAE, dict[str, list[float]]] | None = None
    classifier: DigitClassifier | None = None
    verbose: int = 0
    progress: bool = True
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the study.

    Attributes
    ----------
    name : str
        Its name on the command line and the file names (``<name>.json``, ``<name>.png``).
    summary : str
        What it does, in a few words, for progress lines.
    recipe : {"vae", "beta"}
        Which of ``reproduce``'s recipes it uses: the VAE's or the beta sweep's.
    studies_model : bool
        True when it studies one trained VAE (and a classifier) instead of training its own.
    run : callable
        ``run(ExperimentRun) -> result``: runs it, saves its figures, returns the result
        (an object with ``to_dict()``).
    """

    name: str
    summary: str
    recipe: str
    studies_model: bool
    run: Callable[[ExperimentRun], Any]

    @property
    def key(self) -> str:
        """Its key in ``results.json`` (``loss-terms`` -> ``loss_terms``)."""
        return self.name.replace("-", "_")


def _run_mu_or_sigma(name: str, run: ExperimentRun) -> Any:
    from vae_tf import plotting
    from vae_tf.experiments.effect_of_mu import mu_experiment
    from vae_tf.experiments.effect_of_sigma import sigma_experiment

    run.settings["n_images"] = min(N_IMAGES, len(run.data.x_test))
    experiment = mu_experiment if name == "mu" else sigma_experiment
    result = experiment(
        run.model,
        run.data,
        classifier=run.classifier,
        n_images=run.settings["n_images"],
        seed=run.recipe.seed,
        recipe=run.recipe,
    )
    run.save((plotting.mu_plot if name == "mu" else plotting.sigma_plot)(result), f"{name}.png")
    return result


def _run_loss_terms(run: ExperimentRun) -> Any:
    from vae_tf import plotting
    from vae_tf.experiments.loss_terms import loss_terms_experiment

    result = loss_terms_experiment(
        run.data, run.recipe, full_run=run.full_run, verbose=run.verbose, progress=run.progress
    )
    run.save(plotting.loss_terms_plot(result), "loss-terms.png")
    for run_name, one in result.runs.items():
        if run_name == "full" and run.full_run is not None:
            continue  # its curves are the main model's loss-curves.png
        title = (
            f"Training curves of the {run_name} run (KL weight {one.kl_weight:g}, "
            f"reconstruction weight {one.reconstruction_weight:g})"
        )
        run.save(
            plotting.loss_curves(one.history, title=title, source=run.data.source_description),
            f"loss-terms-{run_name}-curves.png",
        )
    return result


def _run_beta_sweep(run: ExperimentRun) -> Any:
    from vae_tf import plotting
    from vae_tf.experiments.posterior_collapse import beta_sweep

    run.settings["betas"] = list(BETAS)
    result = beta_sweep(
        run.data, run.recipe, betas=BETAS, verbose=run.verbose, progress=run.progress
    )
    run.save(plotting.beta_sweep_plot(result), "beta-sweep.png")
    return result


EXPERIMENTS: dict[str, Experiment] = {
    spec.name: spec
    for spec in (
        Experiment(
            "mu",
            "decode mu vs mu + sigma*eps + u",
            "vae",
            True,
            lambda run: _run_mu_or_sigma("mu", run),
        ),
        Experiment(
            "sigma",
            "factors 0.1, 1, 10, 100",
            "vae",
            True,
            lambda run: _run_mu_or_sigma("sigma", run),
        ),
        Experiment("loss-terms", "KL only, reconstruction only", "vae", False, _run_loss_terms),
        Experiment("beta-sweep", "the KL weight beta", "beta", False, _run_beta_sweep),
    )
}
