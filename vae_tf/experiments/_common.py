"""What the experiments share: held-out images, the digit classifier, distances, picks.

Private to ``vae_tf.experiments``; :func:`pick_one_per_digit` is re-exported there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf.validation import positive_int

if TYPE_CHECKING:
    from vae_tf.classifier import DigitClassifier
    from vae_tf.data import MnistData
    from vae_tf.recipe import Recipe

CHANCE_ACCURACY = 0.1


def rms_distance(decoded: np.ndarray, originals: np.ndarray) -> np.ndarray:
    """Root-mean-square pixel difference of each image pair, shape (N,)."""
    difference = decoded.reshape(len(decoded), -1) - originals.reshape(len(originals), -1)
    return np.sqrt(np.mean(np.square(difference), axis=1))


def held_out(data: MnistData, n_images: int, rng: np.random.Generator):
    """Up to ``n_images`` held-out images (N, 28, 28, 1), their labels, and their indices."""
    n_images = positive_int("n_images", n_images)
    total = len(data.x_test)
    if n_images >= total:
        indices = np.arange(total)
    else:
        indices = np.sort(rng.choice(total, size=n_images, replace=False))
    images = np.asarray(data.x_test[indices], dtype=np.float32).reshape(-1, 28, 28, 1)
    return images, np.asarray(data.y_test[indices], dtype=np.int64), indices


def classifier_for(
    data: MnistData, classifier: DigitClassifier | None, recipe: Recipe | None, seed: int
) -> DigitClassifier:
    """``classifier``, or one trained on ``data`` with ``recipe`` (its epochs) and ``seed``."""
    if classifier is not None:
        return classifier
    from vae_tf.classifier import train_digit_classifier
    from vae_tf.recipe import ORIGINAL

    recipe = ORIGINAL if recipe is None else recipe
    return train_digit_classifier(data, recipe.replace(seed=seed))


def label_kept_per_digit(kept: np.ndarray, labels: np.ndarray) -> list[float | None]:
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
