"""How good are generated digits? The course's classifier reads them, and we count.

A VAE's samples are judged in most tutorials by eye. Here the digit classifier of the course
(:mod:`vae_tf.classifier`) reads them, and two numbers summarise what it read:

- :func:`sample_quality`: the mean **confidence** (the mean, over samples, of the largest
  class probability), the mean per-sample **entropy** of the class probabilities (nats; low
  when each sample is clearly one digit), and the **label entropy**, the entropy of the
  histogram of the labels read (nats; ``log 10 = 2.303`` when the ten digits are equally
  frequent, 0 when every sample is the same digit, so it detects a model that draws only a
  few digits);
- :func:`class_probabilities`: the classifier's class probabilities for any images.

Two ways to draw codes to decode, for the "holes" experiment of lesson 08: from the prior
N(0, I) (:func:`vae_tf.generation.prior_codes`), and from the **aggregate posterior**
q(z) = (1/M) sum_i q(z | x_i) of M held-out images (:func:`aggregate_posterior_codes`),
the region the decoder was trained on. And :func:`bernoulli_sample`, a draw
x ~ p(x | z) from the decoder's pixel probabilities, to set beside the mean image.

Examples
--------
>>> p = np.full((4, 10), 0.1)
>>> round(sample_quality(p)["mean_entropy"], 3)  # uniform over 10 classes: log 10 nats
2.303
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf import validation

__all__ = [
    "class_probabilities",
    "sample_quality",
    "bernoulli_sample",
    "aggregate_posterior_codes",
]


def class_probabilities(classifier: Any, images: Any, *, batch_size: int = 1000) -> np.ndarray:
    """The classifier's probabilities of the ten digits, float64 of shape (N, 10).

    Parameters
    ----------
    classifier : vae_tf.classifier.DigitClassifier
        Its ``model`` maps images (N, 28, 28, 1) in [0, 1] to logits over the digits.
    images : array (N, 28, 28) or (N, 28, 28, 1)
        Pixel values in [0, 1] (e.g. decoded pixel probabilities).
    batch_size : int, default 1000

    Returns
    -------
    np.ndarray (N, 10): each row sums to 1 (the softmax of the logits).
    """
    images = validation.float_images(images)
    batch_size = validation.positive_int("batch_size", batch_size)
    rows = []
    for start in range(0, len(images), batch_size):
        logits = np.asarray(classifier.model(images[start : start + batch_size], training=False))
        logits = logits.astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)  # exp cannot overflow
        weights = np.exp(logits)
        rows.append(weights / weights.sum(axis=1, keepdims=True))
    if not rows:
        return np.zeros((0, 10))
    return np.concatenate(rows)


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats along the last axis; 0 log 0 counts as 0."""
    logs = np.log(np.where(p > 0.0, p, 1.0))
    return -np.sum(p * logs, axis=-1)


def sample_quality(probabilities: Any) -> dict[str, float]:
    """Confidence and entropies of a classifier's reading of N images.

    Parameters
    ----------
    probabilities : array (N, K)
        Class probabilities of each image (rows sum to 1), e.g. from
        :func:`class_probabilities`.

    Returns
    -------
    dict with
        ``"confidence"``: mean over images of the largest probability, in [1/K, 1];
        ``"mean_entropy"``: mean over images of -sum_k p_k log p_k, nats, in [0, log K];
        ``"label_entropy"``: entropy of the fractions of images labelled k (the argmax),
        nats, in [0, log K].
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probabilities must have shape (N, K) with N >= 1, got {p.shape}")
    labels = np.argmax(p, axis=1)
    fractions = np.bincount(labels, minlength=p.shape[1]) / len(p)
    return {
        "confidence": float(np.mean(np.max(p, axis=1))),
        "mean_entropy": float(np.mean(_entropy(p))),
        "label_entropy": float(_entropy(fractions)),
    }


def bernoulli_sample(probabilities: Any, rng: np.random.Generator) -> np.ndarray:
    """One binary image x ~ p(x | z) per image of pixel probabilities, pixels independent.

    Parameters
    ----------
    probabilities : array of any shape, values in [0, 1]
        The decoder's pixel probabilities (the mean of p(x | z)).
    rng : np.random.Generator

    Returns
    -------
    np.ndarray of float32 zeros and ones, the shape of ``probabilities``: each pixel is 1
    with its own probability, independently of the others.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    return (rng.random(p.shape) < p).astype(np.float32)


def aggregate_posterior_codes(
    mu: Any, log_var: Any, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` codes drawn from the aggregate posterior q(z) = (1/M) sum_i N(mu_i, exp(log_var_i)).

    Each code picks one of the M images uniformly at random, then draws from its posterior
    by the reparameterization ``mu_i + exp(log_var_i / 2) * eps``, ``eps ~ N(0, I)``.

    Parameters
    ----------
    mu, log_var : arrays (M, latent_dim)
        The posteriors of M images (e.g. from ``vae_tf.evaluation.encode_posteriors``).
    n : int
    rng : np.random.Generator

    Returns
    -------
    np.ndarray, float32 of shape (n, latent_dim).
    """
    mu = np.asarray(mu, dtype=np.float64)
    log_var = np.asarray(log_var, dtype=np.float64)
    if mu.ndim != 2 or mu.shape != log_var.shape:
        raise ValueError(
            f"mu and log_var must both have shape (M, latent_dim), got {mu.shape} and "
            f"{log_var.shape}"
        )
    n = validation.positive_int("n", n)
    which = rng.integers(0, len(mu), size=n)
    eps = rng.standard_normal((n, mu.shape[1]))
    return (mu[which] + np.exp(log_var[which] / 2.0) * eps).astype(np.float32)
