"""Keras callbacks of the course's training path (``vae_tf.training.train_vae``).

- :class:`LinearKLWarmup`: the KL weight rises from 0 to its value over a number of updates;
- :class:`ValidationNegElbo`: logs the -ELBO of the validation images, which early
  stopping watches (``val_loss`` is the weighted loss, which moves during warm-up);
- :class:`EpochProgress`: one line per epoch with its losses, so that a run is seen to run.

``vae_tf.models`` holds the one that stops a diverged run (``TrainingDiverged``).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import keras

from vae_tf.validation import positive_int

__all__ = ["EpochProgress", "LinearKLWarmup", "ValidationNegElbo"]


class LinearKLWarmup(keras.callbacks.Callback):
    """Raise the VAE's KL weight linearly from 0 to ``target`` over ``updates`` updates.

    Set before every call from Python (every ``steps_per_execution`` updates), from the
    optimizer's update count, so it goes on where a previous ``fit`` stopped.
    """

    def __init__(self, updates: int, target: float) -> None:
        super().__init__()
        self.updates = positive_int("kl_warmup_updates", updates)
        self.target = float(target)

    def _set(self) -> None:
        done = int(self.model.optimizer.iterations.numpy())
        self.model.kl_weight = self.target * min(1.0, done / self.updates)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._set()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._set()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["kl_weight"] = float(self.model.kl_weight)


class ValidationNegElbo(keras.callbacks.Callback):
    """Add ``val_neg_elbo`` (reconstruction + KL, both weights 1) to the epoch's logs.

    ``val_loss`` is the *weighted* loss, which moves with the KL weight during warm-up;
    early stopping must watch the -ELBO itself.
    """

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and "val_reconstruction_loss" in logs:
            logs["val_neg_elbo"] = float(logs["val_reconstruction_loss"]) + float(
                logs["val_kl_loss"]
            )


class EpochProgress(keras.callbacks.Callback):
    """Print one line per epoch: its number, the seconds since training began and the
    losses ``fit`` logged.

    Losses are in nats per image, as ``fit`` reports them; ``val_*`` are about the
    validation images. One short line, unlike Keras' ``verbose=1`` bar (which fills a
    saved notebook with control characters) or ``verbose=2`` (two lines per epoch). A
    long run prints every few epochs, at most about :attr:`MAX_LINES` lines, and always
    its first and last epoch.

    Parameters
    ----------
    label : str, optional
        Put before each line, e.g. the run's name when several models train in turn.
    file : text stream, optional
        Where to print; default ``sys.stdout`` at the time of printing (so that a notebook
        or pytest's capture gets it).
    """

    MAX_LINES = 25
    # The history keys worth a column, in this order; any other key follows.
    ORDER = ("loss", "reconstruction_loss", "kl_loss", "kl_weight")

    def __init__(self, label: str = "", file: TextIO | None = None) -> None:
        super().__init__()
        self.label = label
        self.file = file
        self._epochs = 0
        self._every = 1
        self._started = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._epochs = int(self.params.get("epochs") or 0)
        self._every = max(1, -(-self._epochs // self.MAX_LINES))
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        number = epoch + 1
        if not (number == 1 or number % self._every == 0 or number == self._epochs):
            return
        logs = dict(logs or {})
        seconds = time.perf_counter() - self._started
        train = [key for key in self.ORDER if key in logs]
        train += sorted(k for k in logs if k not in train and not k.startswith("val_"))
        valid = [f"val_{key}" for key in self.ORDER if f"val_{key}" in logs]
        valid += sorted(k for k in logs if k.startswith("val_") and k not in valid)
        width = len(str(self._epochs))
        line = f"{self.label}: " if self.label else ""
        line += f"epoch {number:>{width}}/{self._epochs} ({seconds:5.1f} s)"
        line += "".join(f"  {key} {_number(logs[key])}" for key in train + valid)
        print(line, file=self.file or sys.stdout, flush=True)


def _number(value: object) -> str:
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    # Two decimals read as nats per image; a KL near 0 (the KL-only run) keeps its digits.
    return f"{value:.2f}" if value == 0 or abs(value) >= 0.01 else f"{value:.1e}"
