"""The whole study in one call: train, run every experiment, write numbers, figures, report.

- :func:`run_experiment` runs one experiment of the registry
  (``vae_tf.experiments.registry.EXPERIMENTS``: ``mu``, ``sigma``, ``loss-terms``,
  ``beta-sweep``) and writes its figures and ``<name>.json``.
- :func:`reproduce` loads the data, trains the VAE with the recipe, walks the registry
  (every experiment in turn) and writes ``results.json`` and ``report.md`` (plus ``model.keras``,
  ``history.json`` and the PNG figures) into one folder.

The recipe (``vae_tf.recipe``) says how every model is trained; the report's text
comes from ``vae_tf.report``; the command line is in ``vae_tf.cli``. TensorFlow is
imported inside the functions, so that importing this module stays quick.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vae_tf._files import json_safe
from vae_tf.experiments.registry import EXPERIMENTS, ExperimentRun
from vae_tf.recipe import BETA_SWEEP, ORIGINAL, ORIGINAL_UPDATES, Recipe
from vae_tf.report import write_report
from vae_tf.validation import one_of

if TYPE_CHECKING:
    from vae_tf.classifier import DigitClassifier
    from vae_tf.data import MnistData
    from vae_tf.models import VAE

__all__ = ["run_experiment", "reproduce"]


class _Progress:
    """Prints ``[  12.3s] message`` lines when verbose."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        if self.verbose:
            print(f"[{self.elapsed():7.1f}s] {message}", flush=True)


def _write_json(path: Path, payload: dict) -> Path:
    from vae_tf._files import write_atomically

    write_atomically(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return path


def _train(
    data: MnistData, recipe: Recipe, verbose: int, progress: bool
) -> tuple[VAE, dict[str, list[float]], float]:
    from vae_tf.training import train_vae

    started = time.perf_counter()
    model, history = train_vae(data, recipe, verbose=verbose, progress=progress)
    return model, history, time.perf_counter() - started


def run_experiment(
    name: str,
    data: MnistData,
    *,
    out_dir: str | os.PathLike,
    recipe: Recipe | None = None,
    model: VAE | None = None,
    full_run: tuple[VAE, dict[str, list[float]]] | None = None,
    classifier: DigitClassifier | None = None,
    verbose: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run one experiment, write its figures and ``<name>.json`` into ``out_dir``.

    Parameters
    ----------
    name : str
        A name of ``vae_tf.experiments.registry.EXPERIMENTS``: "mu", "sigma",
        "loss-terms" or "beta-sweep".
    data : MnistData
    out_dir : path
        Created if missing.
    recipe : Recipe, optional
        How every model this call trains is trained. Default:
        ``vae_tf.recipe.ORIGINAL.for_run()``, or ``BETA_SWEEP.for_run()`` for the sweep.
    model : VAE, optional
        For ``mu`` and ``sigma``: the trained VAE to study. Without one, a VAE is trained
        with ``recipe`` first. The other experiments train their own models, so passing
        one there is an error.
    full_run : (VAE, history), optional
        For ``loss-terms``: a VAE trained with ``recipe`` on the full loss, reused as the
        "full" run instead of training it again.
    classifier : DigitClassifier, optional
        For ``mu`` and ``sigma``; default: trained on ``data`` with ``recipe``.
    verbose : int, default 0
        Passed to ``fit``.
    progress : bool, default True
        Print one line per epoch of every model it trains (see ``train_vae``).

    Returns
    -------
    dict: what ``<name>.json`` holds: ``experiment``, ``source``, ``source_description``,
    ``recipe`` (the recipe that ran), ``settings``, ``results`` (the numbers) and
    ``figures`` (file names in ``out_dir``).
    """
    from vae_tf import plotting

    one_of("name", name, tuple(EXPERIMENTS))
    spec = EXPERIMENTS[name]
    if model is not None and not spec.studies_model:
        raise ValueError(
            f"the {name} experiment trains its own models; pass model only to "
            + " or ".join(repr(n) for n, s in EXPERIMENTS.items() if s.studies_model)
        )
    if recipe is None:
        recipe = (BETA_SWEEP if spec.recipe == "beta" else ORIGINAL).for_run()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[str] = []

    def save(fig: Any, file_name: str) -> None:
        plotting.figure_to_png(fig, out_dir / file_name)
        figures.append(file_name)

    run = ExperimentRun(
        data=data,
        recipe=recipe,
        save=save,
        full_run=full_run,
        classifier=classifier,
        verbose=verbose,
        progress=progress,
    )
    if spec.studies_model:
        if model is None:
            model, history, _ = _train(data, recipe, verbose, progress)
            run.settings["model"] = "trained with the recipe by run_experiment"
            title = f"Training curves of the VAE ({recipe.updates:,} updates)"
            save(
                plotting.loss_curves(history, title=title, source=data.source_description),
                f"{name}-loss-curves.png",
            )
        else:
            # Trained elsewhere (reproduce's own VAE, or --model): the recipe here trains
            # only the classifier and seeds the draws.
            run.settings["model"] = f"given: {type(model).__name__}, latent_dim {model.latent_dim}"
        if classifier is None:
            from vae_tf.classifier import train_digit_classifier

            run.classifier = train_digit_classifier(data, recipe)
        run.model = model
    result = spec.run(run)
    settings = run.settings

    payload = json_safe(
        {
            "experiment": name,
            "source": data.source,
            "source_description": data.source_description,
            "recipe": recipe.to_dict(),
            "settings": settings,
            "results": result.to_dict(),
            "figures": figures,
        }
    )
    _write_json(out_dir / f"{name}.json", payload)
    return payload


# ---------------------------------------------------------------------------
# The whole study
# ---------------------------------------------------------------------------


def reproduce(
    data_source: str | os.PathLike = "auto",
    out_dir: str | os.PathLike = "runs/reproduce",
    *,
    recipe: Recipe | None = None,
    beta_recipe: Recipe | None = None,
    data_dir: str | os.PathLike | None = None,
    verbose: int = 1,
) -> dict[str, Any]:
    """Re-run the original study end to end and write its numbers, figures and report.

    Steps: load the data (the source is printed); train the VAE with ``recipe`` and
    save ``model.keras``, ``history.json`` and ``loss-curves.png``; train the digit
    classifier; walk the registry (``vae_tf.experiments.registry.EXPERIMENTS``): the mu,
    sigma, loss-terms (reusing the VAE as its "full" run) and beta-sweep experiments
    (figures and ``<name>.json`` each); write ``results.json``
    and ``report.md``. Measured with the offline sample on 2 CPU cores: 4.1 minutes, 4.9
    minutes of CPU time (README).

    Parameters
    ----------
    data_source : str or path, default "auto"
        As for ``vae_tf.data.load_mnist``: "auto", "tfds", "sample" or a folder.
    out_dir : path, default "runs/reproduce"
    recipe : Recipe, optional
        The VAE's recipe (also the loss-terms runs'). Default: ``ORIGINAL.for_run()``.
    beta_recipe : Recipe, optional
        The beta sweep's recipe. Default: ``BETA_SWEEP.for_run()`` with ``recipe``'s seed.
    data_dir : path, optional
        tensorflow-datasets data directory (default: ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
    verbose : int, default 1
        0: silent; 1: one progress line per step and the epoch lines of every model
        trained (``vae_tf.callbacks.EpochProgress``); 2: also Keras' own epoch lines.

    Returns
    -------
    dict: the content of ``results.json``; ``results["recipe"]`` is the recipe that ran.
    """
    from vae_tf.classifier import train_digit_classifier
    from vae_tf.data import load_mnist
    from vae_tf.evaluation import evaluate_elbo
    from vae_tf.training import save_training_run

    recipe = ORIGINAL.for_run() if recipe is None else recipe
    if beta_recipe is None:
        beta_recipe = BETA_SWEEP.for_run().replace(seed=recipe.seed)
    progress = _Progress(verbose)
    fit_verbose = 2 if verbose >= 2 else 0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    cpu_started = time.process_time()  # every thread of this process: honest on a busy machine

    def lap(key: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[key] = round(now - clock, 1)
        clock = now

    steps = 3 + len(EXPERIMENTS)
    progress(f"step 1/{steps}: loading data (source {str(data_source)!r})")
    data = load_mnist(
        data_source,
        batch_size=recipe.batch_size,
        seed=recipe.seed,
        max_train=recipe.max_train,
        max_test=recipe.max_test,
        data_dir=None if data_dir is None else str(data_dir),
        verbose=bool(verbose),
    )
    n_train = len(data.x_train)
    lap("data")  # load_mnist printed its "Data: ..." line already

    progress(f"step 2/{steps}: training the VAE: {recipe.describe(n_train)}")
    model, history, seconds = _train(data, recipe, fit_verbose, bool(verbose))
    save_training_run(
        out_dir,
        model,
        history,
        data,
        recipe,
        seconds=seconds,
        title="Training curves of the VAE (the full loss)",
    )
    model_terms = json_safe(evaluate_elbo(model, data.x_test, seed=recipe.seed))
    lap("train")
    if model_terms["neg_elbo"] is None:
        progress("VAE trained, but its held-out -ELBO is not a number: the run diverged")
    else:
        progress(f"VAE trained: held-out -ELBO {model_terms['neg_elbo']:.1f} nats per image")

    progress(f"step 3/{steps}: training the digit classifier")
    classifier = train_digit_classifier(data, recipe)
    lap("classifier")
    progress(f"classifier: held-out accuracy {classifier.accuracy:.3f}")

    outputs: dict[str, dict] = {}
    for step, (name, spec) in enumerate(EXPERIMENTS.items(), start=4):
        run_recipe = beta_recipe if spec.recipe == "beta" else recipe
        detail = spec.summary
        if run_recipe is not recipe:
            detail += f"; {run_recipe.describe(n_train)}"
        progress(f"step {step}/{steps}: {name} experiment ({detail})")
        outputs[name] = run_experiment(
            name,
            data,
            out_dir=out_dir,
            recipe=run_recipe,
            model=model if spec.studies_model else None,
            full_run=(model, history) if name == "loss-terms" else None,
            classifier=classifier,
            verbose=fit_verbose,
            progress=bool(verbose),
        )
        lap(name)

    import keras
    import tensorflow as tf

    loss_terms = outputs["loss-terms"]["results"]
    for run in loss_terms["runs"].values():
        run.pop("history", None)  # per-epoch curves are in the figures and history.json
    epochs = recipe.epochs_for(n_train)
    results = json_safe(
        {
            "source": data.source,
            "source_description": data.source_description,
            "recipe": recipe.to_dict(),
            "settings": {
                "n_train": n_train,
                "n_test": len(data.x_test),
                "epochs": epochs,
                "updates": epochs * recipe.steps_per_epoch(n_train),
                "updates_in_original": ORIGINAL_UPDATES,
                "mu_sigma_n_images": outputs["mu"]["settings"]["n_images"],
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            "model": {**model_terms, "unit": "nats per image on the held-out images"},
            "classifier_accuracy": classifier.accuracy,
            # loss_terms: its results without the per-epoch histories (popped above)
            **{EXPERIMENTS[name].key: out["results"] for name, out in outputs.items()},
            "figures": {
                "loss_curves": "loss-curves.png",
                **{EXPERIMENTS[name].key: out["figures"] for name, out in outputs.items()},
            },
            "timings_seconds": timings,
            "elapsed_seconds": round(progress.elapsed(), 1),
            "cpu_seconds": round(time.process_time() - cpu_started, 1),
        }
    )
    _write_json(out_dir / "results.json", results)
    from vae_tf._files import write_atomically

    write_atomically(out_dir / "report.md", write_report(results))
    progress(f"done: {out_dir / 'results.json'} and {out_dir / 'report.md'}")
    return results
