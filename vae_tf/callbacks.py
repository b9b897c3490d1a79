"""Keras callbacks of the course's training path (``vae_tf.experiments.train_vae``).

- :class:`LinearKLWarmup`: the KL weight rises from 0 to its value over a number of updates;
- :class:`ValidationNegElbo`: logs the -ELBO of the validation images, which early
  stopping watches (``val_loss`` is the weighted loss, which moves during warm-up).

``vae_tf.models`` holds the one that stops a diverged run (``TrainingDiverged``).
"""

from __future__ import annotations

import keras

from vae_tf.validation import positive_int

__all__ = ["LinearKLWarmup", "ValidationNegElbo"]


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
