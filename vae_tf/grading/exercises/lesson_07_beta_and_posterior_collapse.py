"""Checks for lesson 07 (beta and posterior collapse): active units and KL warm-up.

Three exercises:

- ``active_units(mu_matrix, threshold=0.01)``: the number of latent dimensions u whose
  posterior mean varies across images, ``A_u = Var_x(E_q[z_u]) > threshold``
  (Burda et al. 2016), from a ``(N, D)`` array of posterior means.
- ``kl_warmup_weight(epoch, warmup_epochs, target=1.0)``: a linear ramp from 0 at epoch 0
  to ``target`` at ``warmup_epochs``, flat after; ``warmup_epochs = 0`` means no warm-up.
- ``KLWarmup(schedule)``: a Keras callback that sets ``model.kl_weight = schedule(epoch)``
  at the start of every epoch.

Each check is worth one point and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.registry import CheckFailed, exercise

LESSON = "07_beta_and_posterior_collapse"


def _as_number(value: Any, what: str) -> float:
    try:
        return float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{what} should return one number.",
            got=f"a {type(value).__name__} of shape {np.shape(value)}",
        ) from None


# --------------------------------------------------------------------------- active_units

active_units_exercise = exercise(
    "active_units",
    lesson=LESSON,
    symbol="active_units",
    description="number of latent dimensions whose posterior mean varies across images",
)


def _means_with_spreads(spreads: list[float], count: int = 1000, seed: int = 0) -> np.ndarray:
    """Posterior means whose dimension j has standard deviation spreads[j] across images."""
    rng = np.random.default_rng(seed)
    columns = rng.standard_normal(size=(count, len(spreads)))
    columns = (columns - columns.mean(axis=0)) / columns.std(axis=0)  # exactly mean 0, std 1
    return (columns * np.asarray(spreads) + 0.7).astype(np.float32)


@active_units_exercise.add_check("returns an integer count")
def _active_integer(active_units: Any) -> None:
    mu_matrix = _means_with_spreads([1.0, 0.0])
    value = active_units(mu_matrix)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise CheckFailed(
            "active_units should return a whole number (a Python int).",
            tried="means of shape (1000, 2)",
            expected="an int such as 1",
            got=f"{value!r} (a {type(value).__name__})",
            hint="wrap the count in int(...)",
        )


@active_units_exercise.add_check("counts the dimensions whose mean varies")
def _active_hand_cases(active_units: Any) -> None:
    # Variances 1, 0, 0.25, 0 (a constant dimension at 0.7 counts as collapsed too).
    mu_matrix = _means_with_spreads([1.0, 0.0, 0.5, 0.0])
    got = _as_number(active_units(mu_matrix), "active_units")
    if got == 2:
        return
    what = "Two dimensions vary across images (variances 1 and 0.25); two are constant."
    if got == 4:
        what = (
            "All four dimensions were counted: a dimension whose mean is the same for every "
            "image is inactive even when that mean is not 0."
        )
    raise CheckFailed(
        what,
        tried="1000 means of 4 dimensions with variances (1, 0, 0.25, 0) across images",
        expected="2",
        got=f"{got:g}",
        hint="the variance of each column: mu_matrix.var(axis=0), then count those > threshold",
    )


@active_units_exercise.add_check("measures the variance over images, per dimension")
def _active_axis(active_units: Any) -> None:
    # 3 images x 5 dimensions: only dimension 0 varies across images, but every image's
    # row varies a lot across dimensions.
    mu_matrix = np.array(
        [
            [-1.0, 0.0, 5.0, -5.0, 2.0],
            [0.0, 0.0, 5.0, -5.0, 2.0],
            [1.0, 0.0, 5.0, -5.0, 2.0],
        ],
        dtype=np.float32,
    )
    got = _as_number(active_units(mu_matrix), "active_units")
    if got != 1:
        raise CheckFailed(
            "The variance should be taken over the images (axis 0), one value per latent "
            "dimension, and then the dimensions counted.",
            tried="means of 3 images x 5 dimensions where only dimension 0 changes between images",
            expected="1",
            got=f"{got:g}",
            hint="mu_matrix.var(axis=0) has one entry per latent dimension",
        )


@active_units_exercise.add_check(
    "compares the variance (not the standard deviation) with threshold"
)
def _active_variance_and_threshold(active_units: Any) -> None:
    # Standard deviations 0.05 and 0.2: variances 0.0025 (inactive) and 0.04 (active).
    mu_matrix = _means_with_spreads([0.05, 0.2], seed=1)
    got = _as_number(active_units(mu_matrix), "active_units")
    if got != 1:
        what = "With threshold 0.01, only the dimension with variance 0.04 is active."
        if got == 2:
            what = (
                "The dimension with standard deviation 0.05 (variance 0.0025) was counted: "
                "compare the variance with the threshold, not the standard deviation."
            )
        raise CheckFailed(
            what,
            tried="means with standard deviations (0.05, 0.2) across images, threshold 0.01",
            expected="1",
            got=f"{got:g}",
            hint="use .var(axis=0), not .std(axis=0)",
        )
    strict = _as_number(active_units(mu_matrix, threshold=0.1), "active_units")
    loose = _as_number(active_units(mu_matrix, threshold=0.001), "active_units")
    if strict != 0 or loose != 2:
        raise CheckFailed(
            "The threshold argument should be used.",
            tried="the same means (variances 0.0025 and 0.04) with threshold 0.1, then 0.001",
            expected="0, then 2",
            got=f"{strict:g}, then {loose:g}",
            hint="compare with the threshold argument instead of a fixed 0.01",
        )


# --------------------------------------------------------------------------- kl_warmup_weight

kl_warmup_weight_exercise = exercise(
    "kl_warmup_weight",
    lesson=LESSON,
    symbol="kl_warmup_weight",
    description="linear KL warm-up: 0 at epoch 0, target at warmup_epochs, flat after",
)


@kl_warmup_weight_exercise.add_check("starts at 0 and rises linearly")
def _warmup_ramp(kl_warmup_weight: Any) -> None:
    epochs = [0, 1, 2, 3]
    got = [_as_number(kl_warmup_weight(epoch, 4), "kl_warmup_weight") for epoch in epochs]
    expected = [0.0, 0.25, 0.5, 0.75]
    if not np.allclose(got, expected, atol=1e-6):
        raise CheckFailed(
            "During warm-up the weight should grow linearly from 0 at epoch 0.",
            tried="epochs 0, 1, 2, 3 with warmup_epochs = 4, target 1",
            expected=str(expected),
            got=str([round(value, 4) for value in got]),
            hint="target * epoch / warmup_epochs while epoch < warmup_epochs",
        )


@kl_warmup_weight_exercise.add_check("reaches the target and stays there")
def _warmup_flat(kl_warmup_weight: Any) -> None:
    epochs = [4, 5, 10, 100]
    got = [_as_number(kl_warmup_weight(epoch, 4), "kl_warmup_weight") for epoch in epochs]
    if not np.allclose(got, 1.0, atol=1e-6):
        raise CheckFailed(
            "From epoch warmup_epochs on the weight should be the target, never more.",
            tried="epochs 4, 5, 10, 100 with warmup_epochs = 4, target 1",
            expected="[1.0, 1.0, 1.0, 1.0]",
            got=str([round(value, 4) for value in got]),
            hint="clip the ramp: min(1, epoch / warmup_epochs)",
        )


@kl_warmup_weight_exercise.add_check("scales to the target")
def _warmup_target(kl_warmup_weight: Any) -> None:
    got = [
        _as_number(kl_warmup_weight(epoch, 10, target=4.0), "kl_warmup_weight")
        for epoch in (0, 5, 10, 20)
    ]
    expected = [0.0, 2.0, 4.0, 4.0]
    if not np.allclose(got, expected, atol=1e-6):
        raise CheckFailed(
            "The ramp should end at the target weight (beta), not at 1.",
            tried="epochs 0, 5, 10, 20 with warmup_epochs = 10, target = 4",
            expected=str(expected),
            got=str([round(value, 4) for value in got]),
            hint="multiply the 0-to-1 ramp by target",
        )


@kl_warmup_weight_exercise.add_check("warmup_epochs = 0 means no warm-up")
def _warmup_none(kl_warmup_weight: Any) -> None:
    try:
        got = [
            _as_number(kl_warmup_weight(epoch, 0, target=2.0), "kl_warmup_weight")
            for epoch in (0, 3)
        ]
    except ZeroDivisionError:
        raise CheckFailed(
            "warmup_epochs = 0 divided by zero; it should mean 'no warm-up': the target at once.",
            tried="kl_warmup_weight(0, 0, target=2.0)",
            expected="2.0",
            got="ZeroDivisionError",
            hint="if warmup_epochs <= 0: return target",
        ) from None
    if not np.allclose(got, 2.0, atol=1e-6):
        raise CheckFailed(
            "warmup_epochs = 0 means no warm-up: the weight is the target from epoch 0.",
            tried="epochs 0 and 3 with warmup_epochs = 0, target = 2",
            expected="[2.0, 2.0]",
            got=str([round(value, 4) for value in got]),
            hint="if warmup_epochs <= 0: return target",
        )


# --------------------------------------------------------------------------- KLWarmup

kl_warmup_callback_exercise = exercise(
    "kl_warmup_callback",
    lesson=LESSON,
    symbol="KLWarmup",
    description="a keras.callbacks.Callback setting model.kl_weight = schedule(epoch) each epoch",
)


class _FakeModel:
    """Stands in for a VAE: the callback only needs a settable ``kl_weight``."""

    def __init__(self) -> None:
        self.kl_weight = -1.0


def _run_epochs(callback: Any, epochs: list[int]) -> list[float]:
    model = _FakeModel()
    callback.set_model(model)
    seen = []
    for epoch in epochs:
        callback.on_epoch_begin(epoch, logs={})
        seen.append(float(model.kl_weight))
    return seen


def _check_is_callback(KLWarmup: Any) -> None:
    import keras

    if not (isinstance(KLWarmup, type) and issubclass(KLWarmup, keras.callbacks.Callback)):
        raise CheckFailed(
            "KLWarmup should be a class that subclasses keras.callbacks.Callback.",
            expected="class KLWarmup(keras.callbacks.Callback)",
            got=repr(KLWarmup),
        )


@kl_warmup_callback_exercise.add_check("sets model.kl_weight = schedule(epoch) at each epoch start")
def _callback_sets_weight(KLWarmup: Any) -> None:
    _check_is_callback(KLWarmup)
    callback = KLWarmup(lambda epoch: 0.1 * epoch)
    got = _run_epochs(callback, [0, 1, 2, 7])
    expected = [0.0, 0.1, 0.2, 0.7]
    if not np.allclose(got, expected, atol=1e-6):
        what = "model.kl_weight should be set to schedule(epoch) in on_epoch_begin."
        if np.allclose(got, -1.0):
            what = "model.kl_weight was not changed at the start of an epoch (on_epoch_begin)."
        elif np.allclose(got, [0.1, 0.2, 0.3, 0.8], atol=1e-6):
            what = "The weight is one epoch ahead: use schedule(epoch) for the epoch that begins."
        raise CheckFailed(
            what,
            tried="schedule = lambda epoch: 0.1 * epoch; on_epoch_begin at epochs 0, 1, 2, 7",
            expected=str(expected),
            got=str([round(value, 4) for value in got]),
            hint="def on_epoch_begin(self, epoch, logs=None): self.model.kl_weight = self.schedule(epoch)",
        )


@kl_warmup_callback_exercise.add_check("follows any schedule it is given")
def _callback_any_schedule(KLWarmup: Any) -> None:
    _check_is_callback(KLWarmup)

    def ramp(epoch: int) -> np.float32:
        return np.float32(2.0 * min(1.0, epoch / 3))

    got = _run_epochs(KLWarmup(ramp), [0, 1, 2, 3, 4, 5])
    expected = [float(ramp(epoch)) for epoch in range(6)]
    if not np.allclose(got, expected, atol=1e-6):
        raise CheckFailed(
            "The callback should use the schedule it was built with, whatever it is.",
            tried="a warm-up ramp to 2 over 3 epochs (returning NumPy float32); epochs 0-5",
            expected=str([round(value, 4) for value in expected]),
            got=str([round(value, 4) for value in got]),
            hint="store the schedule in __init__ and call it in on_epoch_begin; no fixed formula",
        )


@kl_warmup_callback_exercise.add_check("changes the weight of a real VAE during fit")
def _callback_in_fit(KLWarmup: Any) -> None:
    import keras

    from vae_tf.models import VAE

    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=2, hidden_units=8, kl_weight=0.0, seed=0)
    model.compile(jit_compile=False)
    images = np.random.default_rng(0).random((32, 28, 28, 1)).astype(np.float32)
    seen: list[float] = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(model.kl_weight)

    model.fit(
        images,
        epochs=3,
        batch_size=32,
        verbose=0,
        callbacks=[KLWarmup(lambda epoch: 0.25 * (epoch + 1)), Record()],
    )
    if not np.allclose(seen, [0.25, 0.5, 0.75], atol=1e-6):
        raise CheckFailed(
            "During model.fit the VAE's kl_weight should follow the schedule.",
            tried="a tiny VAE fitted 3 epochs with schedule = lambda epoch: 0.25 * (epoch + 1)",
            expected="kl_weight 0.25, 0.5, 0.75 in epochs 0, 1, 2",
            got=f"{[round(value, 4) for value in seen]}",
            hint="assign through the property, self.model.kl_weight = ..., which updates "
            "the variable the compiled training step reads",
        )
