"""New digits from a trained VAE: prior samples, their progress during training, GIFs.

A VAE generates by decoding codes drawn from the prior, ``z ~ N(0, I)``. Three tools:

- :func:`prior_samples` decodes ``n`` codes drawn with a seed;
- :class:`PriorSampleRecorder`, a Keras callback, decodes the *same* codes after every
  epoch, so that the frames show one set of digits taking shape as the model learns;
- :func:`save_animation` writes such frames as an animated GIF (matplotlib's
  ``PillowWriter``); show it in a notebook with ``IPython.display.Image(filename=path)``.

``vae-tf sample`` (see ``vae_tf.cli``) uses them to draw a grid from any saved model.

Examples
--------
>>> from vae_tf.generation import sample_grid
>>> sample_grid(np.zeros((6, 28, 28)), columns=3).shape
(2, 3, 28, 28)
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vae_tf import validation
from vae_tf.latent import decode as decode_in_batches

__all__ = [
    "prior_codes",
    "prior_samples",
    "sample_grid",
    "PriorSampleRecorder",
    "save_animation",
]


def prior_codes(n: int, latent_dim: int, *, seed: int = 0) -> np.ndarray:
    """``n`` codes drawn from the prior N(0, I), float32 of shape (n, latent_dim), seeded."""
    n = validation.positive_int("n", n)
    latent_dim = validation.positive_int("latent_dim", latent_dim)
    rng = np.random.default_rng(validation.integer("seed", seed))
    return rng.standard_normal((n, latent_dim)).astype(np.float32)


def _check_model(model: Any) -> None:
    if not (hasattr(model, "decode") and hasattr(model, "latent_dim")):
        raise TypeError(
            f"model must be a vae_tf VAE (with .decode and .latent_dim), got {type(model).__name__}"
        )


def _decode(model: Any, codes: np.ndarray) -> np.ndarray:
    _check_model(model)
    return decode_in_batches(model, codes)


def prior_samples(model: Any, n: int = 64, *, seed: int = 0) -> np.ndarray:
    """Decode ``n`` codes drawn from the prior: new digits, none of them seen in training.

    Parameters
    ----------
    model : vae_tf.models.VAE
    n : int, default 64
    seed : int, default 0
        Seeds the codes: one seed, one set of digits.

    Returns
    -------
    np.ndarray, shape (n, 28, 28): pixel probabilities (the decoder's Bernoulli means).
    """
    _check_model(model)  # before reading model.latent_dim
    return _decode(model, prior_codes(n, model.latent_dim, seed=seed))


def sample_grid(images: Any, *, columns: int = 8) -> np.ndarray:
    """Arrange (n, 28, 28) images as (rows, columns, 28, 28) for ``plotting.image_grid``.

    A last row that is not full is padded with blank (zero) images.
    """
    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
    columns = validation.positive_int("columns", columns)
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    padded = np.zeros((rows * columns, 28, 28), dtype=np.float32)
    padded[: len(images)] = images
    return padded.reshape(rows, columns, 28, 28)


class PriorSampleRecorder(keras.callbacks.Callback):
    """Decode the same prior codes before training and after every ``every`` epochs.

    Parameters
    ----------
    n : int, default 64
        Digits per frame.
    seed : int, default 0
        Seeds the codes, drawn once: every frame decodes the same codes.
    every : int, default 1
        Record after every ``every``-th epoch (and always after the last one).

    Attributes
    ----------
    frames : list of np.ndarray (n, 28, 28)
        Pixel probabilities; ``frames[0]`` is the untrained model.
    epochs : list of int
        The epoch after which each frame was recorded (0: before training).
    """

    def __init__(self, n: int = 64, *, seed: int = 0, every: int = 1) -> None:
        super().__init__()
        self.n = validation.positive_int("n", n)
        self.seed = validation.integer("seed", seed)
        self.every = validation.positive_int("every", every)
        self.frames: list[np.ndarray] = []
        self.epochs: list[int] = []
        self._codes: np.ndarray | None = None
        self._epochs_seen = 0

    def _record(self, epoch: int) -> None:
        if self._codes is None:
            _check_model(self.model)
            self._codes = prior_codes(self.n, self.model.latent_dim, seed=self.seed)
        self.frames.append(_decode(self.model, self._codes))
        self.epochs.append(epoch)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.frames:
            self._record(0)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        # Counted here, not from ``epoch``: a second ``fit`` call goes on from where the
        # first one stopped.
        self._epochs_seen += 1
        if self._epochs_seen % self.every == 0:
            self._record(self._epochs_seen)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.epochs[-1] != self._epochs_seen:
            self._record(self._epochs_seen)


def save_animation(
    frames: Sequence[Any],
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    columns: int = 8,
    fps: float = 2.0,
    title: str = "Digits drawn from the prior",
    source: str | None = None,
) -> Path:
    """Write ``frames`` (each (n, 28, 28) pixel probabilities) as an animated GIF.

    Parameters
    ----------
    frames : sequence of arrays (n, 28, 28)
        E.g. ``PriorSampleRecorder.frames``.
    path : str or Path
        Where to write (parent folders created); the name should end in ``.gif``.
    labels : sequence of str, optional
        One caption per frame, e.g. ``["epoch 0", "epoch 1", ...]``.
    columns : int, default 8
    fps : float, default 2
        Frames per second.
    title, source : str
        Title, and the data source on a second line (see ``vae_tf.plotting``).

    Returns
    -------
    Path: the file written. In a notebook: ``IPython.display.Image(filename=path)``.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"path must end in .gif (an animated GIF), got {str(path)!r}")
    if len(frames) == 0:
        raise ValueError("frames is empty: record at least one frame")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"labels needs {len(frames)} captions, one per frame, got {len(labels)}")
    fps = validation.positive_float("fps", fps)
    grids = [_mosaic(sample_grid(frame, columns=columns)) for frame in frames]
    height, width = grids[0].shape
    fig = Figure(figsize=(width / 40 + 0.4, height / 40 + 1.0), layout="constrained")
    ax = fig.subplots()
    picture = ax.imshow(grids[0], cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    caption = ax.set_xlabel(labels[0] if labels else "")
    # Wrapped to the figure's width (about 5.4 points per character at 9 points), so that a
    # long data-source line is not cut off at the sides of a narrow grid.
    characters = max(20, int(fig.get_figwidth() * 72 / 5.4))
    lines = [title] + ([f"Data: {source}"] if source else [])
    heading = "\n".join(textwrap.fill(line, characters) for line in lines)
    fig.suptitle(heading, fontsize=9)

    def show(index: int) -> tuple:
        picture.set_data(grids[index])
        caption.set_text(labels[index] if labels else "")
        return picture, caption

    path.parent.mkdir(parents=True, exist_ok=True)
    animation = FuncAnimation(fig, show, frames=len(grids), blit=False)
    animation.save(path, writer=PillowWriter(fps=fps))
    return path


def _mosaic(grid: np.ndarray) -> np.ndarray:
    """(rows, columns, 28, 28) -> one image, with a 2-pixel grey gap between digits."""
    rows, columns = grid.shape[:2]
    gap = 2
    out = np.full((rows * (28 + gap) - gap, columns * (28 + gap) - gap), 0.5, dtype=np.float32)
    for r in range(rows):
        for c in range(columns):
            out[r * (28 + gap) : r * (28 + gap) + 28, c * (28 + gap) : c * (28 + gap) + 28] = grid[
                r, c
            ]
    return out
