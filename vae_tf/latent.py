"""Latent-space math of the course: decoding codes, sampling with a scaled sigma, the
noisy expectation, sigma sweeps, interpolation, and the numbers that describe codes.

Every function takes NumPy arrays (or a trained VAE) and returns NumPy arrays or floats;
the experiments (``vae_tf.experiments``), generation (``vae_tf.generation``) and the
lessons' reference answers build on them.

- :func:`decode`: pixel probabilities of codes, in batches.
- :func:`sample_with_sigma_factor`, :func:`noisy_expectation`, :func:`sigma_sweep`:
  codes near mu, and their decodings.
- :func:`interpolate`: decodings along the straight line between two codes.
- :func:`knn_accuracy`, :func:`aggregate_moments`, :func:`gaussian_kl_to_prior`: how
  much a set of codes says about the digit, and how far it is from the prior N(0, I).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf.evaluation import encode_posteriors
from vae_tf.validation import positive_int

if TYPE_CHECKING:
    from vae_tf.models import VAE

__all__ = [
    "require_vae",
    "decode",
    "sample_with_sigma_factor",
    "noisy_expectation",
    "sigma_sweep",
    "interpolate",
    "knn_accuracy",
    "aggregate_moments",
    "gaussian_kl_to_prior",
]


def require_vae(model: Any, what: str) -> None:
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


def decode(model: Any, z: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Pixel probabilities (N, 28, 28) of codes (N, latent_dim)."""
    z = np.asarray(z, dtype=np.float32)
    parts = [
        np.asarray(model.decode(z[start : start + batch_size]), dtype=np.float32)
        for start in range(0, len(z), batch_size)
    ]
    return np.concatenate(parts).reshape(len(z), 28, 28)


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
    return np.stack([decode(model, sample_with_sigma_factor(mu, log_var, f, eps)) for f in factors])


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
    require_vae(model, "interpolate")
    steps = positive_int("steps", steps)
    pair = []
    for image in (image_a, image_b):
        image = np.asarray(image, dtype=np.float32)
        if image.size != 28 * 28:
            raise ValueError(f"each image must hold 28 x 28 pixels, got shape {image.shape}")
        pair.append(image.reshape(28, 28, 1))
    mu, _ = encode_posteriors(model, np.stack(pair))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return decode(model, (1.0 - t) * mu[0] + t * mu[1])


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
