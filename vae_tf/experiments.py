"""The experiments of the original study, each with numbers instead of eyeballing.

One function per experiment; each returns a result dataclass that holds the images to
show and the numbers to report (``result.to_dict()`` gives the numbers, JSON-safe).
Every model is trained by :func:`train_vae` with a ``vae_tf.recipe.Recipe``.

- :func:`mu_experiment`: decode(mu) versus decode(mu + sigma * eps + u), u ~ U(-1, 1).
- :func:`sigma_experiment`: decode(mu + factor * sigma * eps) for factor 0.1 ... 100.
- :func:`loss_terms_experiment`: three fresh VAEs trained on -ELBO, on the KL term
  alone and on the reconstruction term alone.
- :func:`beta_sweep`: beyond the original; the KL weight beta traded against
  reconstruction, with active units and an IWAE estimate of -log p(x).
- :func:`interpolate`: decodings along the straight line between two codes.

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

Every random draw comes from a NumPy ``Generator`` (or a seeded Keras layer) built from
``seed``, so one seed gives the same numbers on a CPU.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf.evaluation import encode_posteriors
from vae_tf.recipe import BETA_SWEEP, ORIGINAL, Recipe
from vae_tf.validation import positive_int

if TYPE_CHECKING:
    from vae_tf.classifier import DigitClassifier
    from vae_tf.data import MnistData
    from vae_tf.models import VAE

__all__ = [
    "json_safe",
    "pick_one_per_digit",
    "sample_with_sigma_factor",
    "noisy_expectation",
    "sigma_sweep",
    "train_vae",
    "save_training_run",
    "MuResult",
    "mu_experiment",
    "SigmaResult",
    "sigma_experiment",
    "knn_accuracy",
    "aggregate_moments",
    "gaussian_kl_to_prior",
    "LossTermsRun",
    "LossTermsResult",
    "loss_terms_experiment",
    "BetaSweepResult",
    "beta_sweep",
    "interpolate",
]

LOSS_TERM_RUNS = {
    # name: (kl_weight, reconstruction_weight)
    "full": (1.0, 1.0),
    "kl_only": (1.0, 0.0),
    "reconstruction_only": (0.0, 1.0),
}
MAX_SCATTER_CODES = 12_000  # the original study scattered ~12,000 training images
CHANCE_ACCURACY = 0.1
BETAS = (0.25, 1.0, 4.0, 16.0)  # KL weights of the beta sweep


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """Plain Python numbers, lists and dicts from NumPy values, for ``json.dump``.

    NaN and infinity become ``None`` (JSON has no such numbers): a diverged run's
    figures read as missing, and the report says so.
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _check_vae(model: Any, what: str) -> None:
    """Raise a clear error unless ``model.encode`` gives ``(mu, log_var)``."""
    from vae_tf.models import Autoencoder

    if not (
        hasattr(model, "encoder") and hasattr(model, "decode") and hasattr(model, "latent_dim")
    ):
        raise TypeError(
            f"{what} needs a trained vae_tf.models.VAE (with encoder, decode and latent_dim), "
            f"got {type(model).__name__}"
        )
    if isinstance(model, Autoencoder):
        raise TypeError(
            f"{what} needs a VAE: a plain Autoencoder has no sigma (its encode returns one "
            "code, not (mu, log_var))"
        )


def _decode(model: Any, z: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Pixel probabilities (N, 28, 28) of codes (N, latent_dim)."""
    z = np.asarray(z, dtype=np.float32)
    parts = [
        np.asarray(model.decode(z[start : start + batch_size]), dtype=np.float32)
        for start in range(0, len(z), batch_size)
    ]
    return np.concatenate(parts).reshape(len(z), 28, 28)


def _rms_distance(decoded: np.ndarray, originals: np.ndarray) -> np.ndarray:
    """Root-mean-square pixel difference of each image pair, shape (N,)."""
    difference = decoded.reshape(len(decoded), -1) - originals.reshape(len(originals), -1)
    return np.sqrt(np.mean(np.square(difference), axis=1))


def _held_out(data: MnistData, n_images: int, rng: np.random.Generator):
    """Up to ``n_images`` held-out images (N, 28, 28, 1), their labels, and their indices."""
    n_images = positive_int("n_images", n_images)
    total = len(data.x_test)
    if n_images >= total:
        indices = np.arange(total)
    else:
        indices = np.sort(rng.choice(total, size=n_images, replace=False))
    images = np.asarray(data.x_test[indices], dtype=np.float32).reshape(-1, 28, 28, 1)
    return images, np.asarray(data.y_test[indices], dtype=np.int64), indices


def _classifier_for(data: MnistData, classifier: DigitClassifier | None, seed: int):
    if classifier is not None:
        return classifier
    from vae_tf.classifier import train_digit_classifier

    return train_digit_classifier(data, seed=seed)


def _label_kept_per_digit(kept: np.ndarray, labels: np.ndarray) -> list[float | None]:
    return [float(np.mean(kept[labels == d])) if np.any(labels == d) else None for d in range(10)]


def pick_one_per_digit(labels: Any, *, seed: int = 0) -> np.ndarray:
    """Indices of one image of each digit 0-9, drawn at random with ``seed``.

    Parameters
    ----------
    labels : array of int, shape (N,)
    seed : int
        Seeds a NumPy ``Generator``; the same seed picks the same images.

    Returns
    -------
    np.ndarray of int64, shape (10,): ``labels[result] == [0, 1, ..., 9]``.
    """
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    picked = []
    for digit in range(10):
        candidates = np.flatnonzero(labels == digit)
        if len(candidates) == 0:
            raise ValueError(
                f"labels hold no image of digit {digit}; need at least one of each 0-9"
            )
        picked.append(rng.choice(candidates))
    return np.asarray(picked, dtype=np.int64)


def sample_with_sigma_factor(mu: Any, log_var: Any, factor: float, eps: Any) -> Any:
    """``z = mu + factor * exp(log_var / 2) * eps``: a posterior sample with sigma scaled.

    With ``factor=1`` it is the reparameterization trick; with 0 it is ``mu``. Works on
    NumPy arrays (returns NumPy) and on tensors (returns a tensor); shapes broadcast.
    """
    if all(isinstance(t, (np.ndarray, float, int, np.floating)) for t in (mu, log_var, eps)):
        mu, log_var, eps = (np.asarray(t, dtype=np.float32) for t in (mu, log_var, eps))
        return mu + np.float32(factor) * np.exp(log_var / 2) * eps
    from keras import ops

    return mu + factor * ops.exp(log_var / 2) * eps


def noisy_expectation(mu: Any, log_var: Any, rng: np.random.Generator) -> np.ndarray:
    """The original study's shifted code ``mu + sigma * eps + u``, drawn from ``rng``.

    eps ~ N(0, I) and u ~ Uniform(-1, 1) are drawn in that order, one value per image and
    latent dimension (the original drew u in two dimensions only).

    Parameters
    ----------
    mu, log_var : arrays of shape (N, latent_dim)
    rng : np.random.Generator

    Returns
    -------
    np.ndarray of float32, shape (N, latent_dim).
    """
    mu, log_var = (np.asarray(t, dtype=np.float32) for t in (mu, log_var))
    eps = rng.standard_normal(mu.shape).astype(np.float32)
    shift = rng.uniform(-1.0, 1.0, size=mu.shape).astype(np.float32)
    return sample_with_sigma_factor(mu, log_var, 1.0, eps) + shift


def sigma_sweep(model: VAE, images: Any, factors: Sequence[float], eps: Any) -> np.ndarray:
    """Decodings of ``mu + factor * sigma * eps`` for each factor, with the same ``eps``.

    Parameters
    ----------
    model : VAE
    images : array (N, 28, 28) or (N, 28, 28, 1), pixels in [0, 1]
    factors : sequence of float >= 0
        Multipliers of sigma.
    eps : array (N, latent_dim)
        Standard normal noise, shared by all factors so that only the scale changes.

    Returns
    -------
    np.ndarray, shape (len(factors), N, 28, 28): pixel probabilities.
    """
    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
    mu, log_var = encode_posteriors(model, images)
    eps = np.asarray(eps, dtype=np.float32)
    return np.stack(
        [_decode(model, sample_with_sigma_factor(mu, log_var, f, eps)) for f in factors]
    )


# ---------------------------------------------------------------------------
# Training one model with a recipe (vae_tf.recipe), and saving it
# ---------------------------------------------------------------------------


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


def train_vae(
    data: MnistData,
    recipe: Recipe | None = None,
    *,
    kl_weight: float = 1.0,
    reconstruction_weight: float = 1.0,
    verbose: int = 0,
    progress: bool | str = True,
    train_images: np.ndarray | None = None,
    validation_images: np.ndarray | None = None,
    binarize: str | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[VAE, dict[str, list[float]]]:
    """Train a fresh VAE with ``recipe``; return it and its history.

    The one training path of the course: ``vae-tf train``, ``vae-tf reproduce``, the
    experiments and the lessons all call it. Batches of ``recipe.batch_size``, training
    images shuffled every epoch, for ``recipe.epochs_for(n_train)`` epochs (the budget
    ``recipe.updates`` in whole epochs). The pipeline is rebuilt from the arrays for every
    call, so two calls with one recipe see the same batches in the same order and start
    from the same weights.

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
    kl_weight, reconstruction_weight : float >= 0
        Weights of the two loss terms (see ``vae_tf.models.VAE``).
    verbose : int, default 0
        Passed to ``fit``: Keras' own progress output (1 a bar, 2 two lines per epoch).
    progress : bool or str, default True
        Print one line per epoch with its losses (``vae_tf.callbacks.EpochProgress``);
        a string is put before each line (the run's name). ``False`` trains silently,
        as tests do.
    train_images, validation_images : arrays, optional
        Use these instead of ``data.x_train`` and ``data.x_test`` (without early stopping,
        the validation images are only measured, each epoch).
    binarize : {"none", "dynamic"} or None
        How the training pipeline binarizes (default: the recipe's ``binarize``; with
        "none" there, "dynamic" when ``data`` was loaded with dynamic binarization).
    callbacks : sequence of keras callbacks, optional

    Returns
    -------
    (VAE, dict): the trained model and ``history`` (lists per epoch, nats per image,
    with the ``val_*`` values).
    """
    import keras

    from vae_tf.callbacks import EpochProgress, LinearKLWarmup, ValidationNegElbo
    from vae_tf.config import set_seed
    from vae_tf.data import binarize_images, make_dataset
    from vae_tf.models import VAE

    recipe = ORIGINAL.for_run() if recipe is None else recipe
    if binarize is None:
        binarize = recipe.binarize
        if binarize == "none" and data.binarize == "dynamic":
            binarize = "dynamic"
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
    set_seed(recipe.seed)
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
        reconstruction_weight=reconstruction_weight,
        hidden_units=recipe.hidden_units,
        seed=recipe.seed,
        hidden_layers=recipe.hidden_layers,
        decoder_arch=recipe.decoder_arch,
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


# ---------------------------------------------------------------------------
# Experiment 1: the effect of mu
# ---------------------------------------------------------------------------


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
        Default: ``train_digit_classifier(data, seed=seed)`` (memoized).
    n_images : int, default 1000
    seed : int, default 0

    Returns
    -------
    MuResult
    """
    _check_vae(model, "mu_experiment")
    rng = np.random.default_rng(seed)
    classifier = _classifier_for(data, classifier, seed)
    images, labels, indices = _held_out(data, n_images, rng)

    mu, log_var = encode_posteriors(model, images)
    decoded_mu = _decode(model, mu)
    decoded_noisy = _decode(model, noisy_expectation(mu, log_var, rng))

    kept_mu = classifier.predict(decoded_mu) == labels
    kept_noisy = classifier.predict(decoded_noisy) == labels
    shown = pick_one_per_digit(labels, seed=seed)
    return MuResult(
        digits=labels[shown],
        indices=indices[shown],
        originals=images[shown, :, :, 0],
        decoded_mu=decoded_mu[shown],
        decoded_noisy=decoded_noisy[shown],
        distance_mu=float(np.mean(_rms_distance(decoded_mu, images))),
        distance_noisy=float(np.mean(_rms_distance(decoded_noisy, images))),
        label_kept_mu=float(np.mean(kept_mu)),
        label_kept_noisy=float(np.mean(kept_noisy)),
        label_kept_mu_per_digit=_label_kept_per_digit(kept_mu, labels),
        label_kept_noisy_per_digit=_label_kept_per_digit(kept_noisy, labels),
        classifier_accuracy=float(classifier.accuracy),
        n_images=len(images),
        seed=seed,
        source_description=data.source_description,
    )


# ---------------------------------------------------------------------------
# Experiment 2: the effect of sigma
# ---------------------------------------------------------------------------


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
) -> SigmaResult:
    """Experiment 2 of the original study, measured.

    Decode ``mu + factor * sigma * eps`` for every factor, with the **same** eps for all
    factors so that only the scale changes between columns. The original found the digit
    kept at 0.1 and 1 and lost at 10 and 100; here that reads as ``label_kept`` falling
    and ``distance`` growing with the factor.

    Parameters and defaults as in :func:`mu_experiment`; ``factors`` are the multipliers
    of sigma.
    """
    _check_vae(model, "sigma_experiment")
    factors = tuple(float(f) for f in factors)
    if not factors:
        raise ValueError("factors must hold at least one number")
    rng = np.random.default_rng(seed)
    classifier = _classifier_for(data, classifier, seed)
    images, labels, indices = _held_out(data, n_images, rng)

    mu, log_var = encode_posteriors(model, images)
    eps = rng.standard_normal(mu.shape).astype(np.float32)
    shown = pick_one_per_digit(labels, seed=seed)
    distance, label_kept, per_digit, columns = [], [], [], []
    for decoded in sigma_sweep(model, images, factors, eps):
        kept = classifier.predict(decoded) == labels
        distance.append(float(np.mean(_rms_distance(decoded, images))))
        label_kept.append(float(np.mean(kept)))
        per_digit.append(_label_kept_per_digit(kept, labels))
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


# ---------------------------------------------------------------------------
# Experiment 3: the two terms of the loss
# ---------------------------------------------------------------------------


def knn_accuracy(
    train_codes: Any, train_labels: Any, test_codes: Any, test_labels: Any, *, k: int = 5
) -> float:
    """Accuracy (fraction) of a k-nearest-neighbour classifier on the latent codes.

    Fitted on ``train_codes`` (N, D) with ``train_labels``, scored on ``test_codes``.
    Chance is 1 / number of classes (0.1 for ten balanced digits): codes that carry no
    information about the digit score near it.
    """
    from sklearn.neighbors import KNeighborsClassifier

    k = positive_int("k", k)
    train_codes = np.asarray(train_codes, dtype=np.float64)
    test_codes = np.asarray(test_codes, dtype=np.float64)
    if train_codes.ndim == 1:
        train_codes = train_codes[:, None]
    if test_codes.ndim == 1:
        test_codes = test_codes[:, None]
    if len(train_codes) < k:
        raise ValueError(
            f"k={k} neighbours need at least {k} training codes, got {len(train_codes)}"
        )
    neighbours = KNeighborsClassifier(n_neighbors=k).fit(train_codes, np.asarray(train_labels))
    return float(neighbours.score(test_codes, np.asarray(test_labels)))


def aggregate_moments(codes: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of codes (N, D), over the N images.

    The covariance is the unbiased sample covariance (``np.cov``, divisor N - 1). For
    codes drawn from the prior N(0, I) both are close to 0 and the identity.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be an (N, D) array with N >= 2, got shape {codes.shape}")
    return codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False))


def gaussian_kl_to_prior(mean: Any, cov: Any) -> float:
    """KL(N(mean, cov) || N(0, I)) in nats: one number for "how far are these moments
    from the prior's". 0 exactly when mean = 0 and cov = I.

    ``KL = 1/2 * (trace(cov) + |mean|^2 - D - log det(cov))``.
    """
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    sign, log_det = np.linalg.slogdet(cov)
    if sign <= 0:
        return math.inf
    return float(0.5 * (np.trace(cov) + mean @ mean - len(mean) - log_det))


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
                recipe,
                kl_weight=kl_weight,
                reconstruction_weight=reconstruction_weight,
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


# ---------------------------------------------------------------------------
# Beyond the original: the beta sweep
# ---------------------------------------------------------------------------


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

    For each beta, a fresh VAE (``kl_weight=beta``) is trained with ``recipe`` on
    dynamically binarized training images (the usual protocol for likelihoods on MNIST)
    and scored by ``vae_tf.evaluation.evaluate`` on the held-out images binarized once
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
    binarize = "none" if data.binarize == "static" else "dynamic"

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
            recipe,
            kl_weight=beta,
            verbose=verbose,
            progress=f"beta {beta:g}" if progress else False,
            validation_images=test_images,
            binarize=binarize,
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


# ---------------------------------------------------------------------------
# Latent interpolation
# ---------------------------------------------------------------------------


def interpolate(model: VAE, image_a: Any, image_b: Any, *, steps: int = 8) -> np.ndarray:
    """Decodings along the straight line from mu(image_a) to mu(image_b).

    Parameters
    ----------
    model : VAE
    image_a, image_b : arrays (28, 28), (28, 28, 1) or a batch of one
    steps : int, default 8
        Number of points, both ends included.

    Returns
    -------
    np.ndarray, shape (steps, 28, 28): pixel probabilities; the first row decodes
    mu(image_a), the last mu(image_b).
    """
    _check_vae(model, "interpolate")
    steps = positive_int("steps", steps)
    pair = []
    for image in (image_a, image_b):
        image = np.asarray(image, dtype=np.float32)
        if image.size != 28 * 28:
            raise ValueError(f"each image must hold 28 x 28 pixels, got shape {image.shape}")
        pair.append(image.reshape(28, 28, 1))
    mu, _ = encode_posteriors(model, np.stack(pair))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return _decode(model, (1.0 - t) * mu[0] + t * mu[1])
