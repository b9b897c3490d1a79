"""Training one VAE with a recipe (``vae_tf.recipe.Recipe``), and saving the run.

:func:`train_vae` is the one training path of the course: ``vae-tf train``,
``vae-tf reproduce``, the experiments and the lessons all call it. Every number that says
how the model is trained, the weights of the two loss terms and the binarization
included, comes from the recipe; :func:`save_training_run` writes the run's files.

No global random state is touched: the initial weights, the sampling noise, the
shuffling and the binarization are all drawn from generators seeded with
``recipe.seed``, so two calls with one recipe give the same model.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf._files import json_safe
from vae_tf.recipe import ORIGINAL, Recipe

if TYPE_CHECKING:
    from vae_tf.data import MnistData
    from vae_tf.models import VAE

__all__ = ["split_for_early_stopping", "training_binarization", "train_vae", "save_training_run"]


def split_for_early_stopping(images: np.ndarray, recipe: Recipe) -> tuple[np.ndarray, np.ndarray]:
    """The last ``recipe.held_back(len(images))`` images held back: (train, validation).

    The offline sample's training split is ordered class by class in turn, and MNIST's in
    no particular order, so its tail holds every digit in about equal numbers.
    """
    n_valid = recipe.held_back(len(images))
    if not 0 < n_valid < len(images):
        raise ValueError(
            f"early stopping needs images held back and images to train on: "
            f"validation_fraction {recipe.validation_fraction} of {len(images)} images "
            f"holds back {n_valid}"
        )
    return images[:-n_valid], images[-n_valid:]


def training_binarization(data: MnistData, recipe: Recipe) -> str:
    """How the training pipeline binarizes ``data`` under ``recipe`` (``vae_tf.data.make_dataset``).

    The recipe's ``binarize``, except that data loaded with ``binarize="dynamic"`` is always
    binarized dynamically and data loaded ``"static"`` is 0/1 already (nothing to draw).
    """
    if data.binarize == "static":
        return "none"
    if data.binarize == "dynamic":
        return "dynamic"
    return recipe.binarize


def train_vae(
    data: MnistData,
    recipe: Recipe | None = None,
    *,
    verbose: int = 0,
    progress: bool | str = True,
    train_images: np.ndarray | None = None,
    validation_images: np.ndarray | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[VAE, dict[str, list[float]]]:
    """Train a fresh VAE with ``recipe``; return it and its history.

    The one training path of the course: ``vae-tf train``, ``vae-tf reproduce``, the
    experiments and the lessons all call it. Batches of ``recipe.batch_size``, training
    images shuffled every epoch, for ``recipe.epochs_for(n_train)`` epochs (the budget
    ``recipe.updates`` in whole epochs). The pipeline is rebuilt from the arrays for every
    call, so two calls with one recipe see the same batches in the same order and start
    from the same weights.

    The recipe also gives the weights of the two loss terms (``kl_weight``,
    ``reconstruction_weight``) and the binarization of the training images
    (``binarize``: "none" keeps grey levels, "dynamic" draws new 0/1 images every epoch;
    data loaded with ``binarize="dynamic"`` is binarized dynamically whatever the recipe,
    and data loaded ``"static"`` is 0/1 already, so it is used as it is).

    The recipe's extras: ``lr_schedule``, ``kl_warmup_updates`` and early stopping
    (``early_stopping_patience``): then the last ``validation_fraction`` of the training
    images are held back, the -ELBO on them decides when to stop, the best weights are
    kept, and the ``val_*`` history is about those images, not the held-out test set.

    Parameters
    ----------
    data : MnistData
    recipe : Recipe, optional
        Default: ``vae_tf.recipe.ORIGINAL.for_run()`` (the fast variant when
        ``VAE_TF_FAST=1``). Its ``max_train`` / ``max_test`` are for ``load_mnist``;
        here every image of ``data`` is used.
    verbose : int, default 0
        Passed to ``fit``: Keras' own progress output (1 a bar, 2 two lines per epoch).
    progress : bool or str, default True
        Print one line per epoch with its losses (``vae_tf.callbacks.EpochProgress``);
        a string is put before each line (the run's name). ``False`` trains silently,
        as tests do.
    train_images, validation_images : arrays, optional
        Use these instead of ``data.x_train`` and ``data.x_test`` (without early stopping,
        the validation images are only measured, each epoch).
    callbacks : sequence of keras callbacks, optional

    Returns
    -------
    (VAE, dict): the trained model and ``history`` (lists per epoch, nats per image,
    with the ``val_*`` values).
    """
    import keras

    from vae_tf.callbacks import EpochProgress, LinearKLWarmup, ValidationNegElbo
    from vae_tf.data import binarize_images, make_dataset
    from vae_tf.models import VAE

    recipe = ORIGINAL.for_run() if recipe is None else recipe
    binarize = training_binarization(data, recipe)
    kl_weight = recipe.kl_weight
    x_train = data.x_train if train_images is None else train_images
    x_valid = data.x_test if validation_images is None else validation_images
    callbacks = list(callbacks)
    if recipe.early_stopping_patience:
        x_train, x_valid = split_for_early_stopping(x_train, recipe)
        if binarize != "none":
            x_valid = binarize_images(x_valid, recipe.seed)
        callbacks += [
            ValidationNegElbo(),
            keras.callbacks.EarlyStopping(
                monitor="val_neg_elbo",
                mode="min",
                patience=recipe.early_stopping_patience,
                restore_best_weights=True,
                start_from_epoch=math.ceil(
                    recipe.kl_warmup_updates / recipe.steps_per_epoch(len(x_train))
                ),
            ),
        ]
    if recipe.kl_warmup_updates:
        callbacks.insert(0, LinearKLWarmup(recipe.kl_warmup_updates, kl_weight))
    if progress is not False:
        # Last, so that its line shows what the other callbacks added to the logs.
        callbacks.append(EpochProgress(progress if isinstance(progress, str) else ""))
    train = make_dataset(
        x_train, batch_size=recipe.batch_size, shuffle=True, binarize=binarize, seed=recipe.seed
    )
    validation = make_dataset(
        x_valid, batch_size=recipe.batch_size, shuffle=False, seed=recipe.seed
    )
    model = VAE(
        latent_dim=recipe.latent_dim,
        arch=recipe.arch,
        kl_weight=kl_weight,
        reconstruction_weight=recipe.reconstruction_weight,
        hidden_units=recipe.hidden_units,
        hidden_layers=recipe.hidden_layers,
        decoder_arch=recipe.decoder_arch,
        seed=recipe.seed,
    )
    model.compile(recipe=recipe)
    history = model.fit(
        train,
        epochs=recipe.epochs_for(len(x_train)),
        validation_data=validation,
        callbacks=callbacks,
        verbose=verbose,
    )
    if recipe.kl_warmup_updates:
        model.kl_weight = kl_weight  # the weight the model was asked for, whenever it stopped
    return model, {key: [float(v) for v in values] for key, values in history.history.items()}


def save_training_run(
    out_dir: str | os.PathLike,
    model: VAE,
    history: dict[str, list[float]],
    data: MnistData,
    recipe: Recipe,
    *,
    seconds: float,
    title: str = "Training curves of the VAE",
) -> dict[str, Any]:
    """Write one trained VAE into ``out_dir``: ``model.keras``, ``history.json``, ``loss-curves.png``.

    The one layout of a training run, shared by ``vae-tf train`` and ``vae-tf reproduce``.

    Returns
    -------
    dict: what ``history.json`` holds: ``source``, ``source_description``, ``unit``,
    ``recipe`` (the recipe that ran), ``kl_weight``, ``reconstruction_weight``,
    ``train_images``, ``validation_images_held_back_from_training`` (early stopping),
    ``test_images``, ``epochs``, ``updates``, ``seconds`` and
    ``history`` (lists per epoch, nats per image).
    """
    from vae_tf._files import write_atomically
    from vae_tf.plotting import figure_to_png, loss_curves

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    epochs = len(history.get("loss", []))
    n_validation = recipe.held_back(len(data.x_train))
    n_train = len(data.x_train) - n_validation
    record = json_safe(
        {
            "source": data.source,
            "source_description": data.source_description,
            "unit": "nats per image",
            "recipe": recipe.to_dict(),
            "kl_weight": float(model.kl_weight),
            "reconstruction_weight": float(model.reconstruction_weight),
            "train_images": n_train,
            "validation_images_held_back_from_training": n_validation,
            "test_images": len(data.x_test),
            "epochs": epochs,
            "updates": epochs * recipe.steps_per_epoch(n_train),
            "seconds": round(seconds, 1),
            "history": history,
        }
    )
    write_atomically(out / "history.json", json.dumps(record, indent=2) + "\n")
    figure_to_png(
        loss_curves(
            history,
            title=title,
            source=data.source_description,
            validation=(
                "validation, held back from training"
                if recipe.early_stopping_patience
                else "held-out"
            ),
        ),
        out / "loss-curves.png",
    )
    return record
