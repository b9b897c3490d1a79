"""Checks for lesson 07 (beta and posterior collapse): active units and KL warm-up.

Three exercises:

- ``active_units(mu_matrix, threshold=0.01)``: the number of latent dimensions u whose
  posterior mean varies across images, ``A_u = Var_x(E_q[z_u]) > threshold``
  (Burda et al. 2016), from a ``(N, D)`` array of posterior means.
- ``kl_warmup_weight(epoch, warmup_epochs, target=1.0)``: a linear ramp from 0 at epoch 0
  to ``target`` at ``warmup_epochs``, flat after; ``warmup_epochs = 0`` means no warm-up.
- ``KLWarmup(schedule)``: a Keras callback that sets ``model.kl_weight = schedule(epoch)``
  at the start of every epoch.

Each check's inputs are drawn from the run's seed; its probe calls the student's code,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, number_of, type_name
from vae_tf.grading.exercises._helpers import call_each, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise

LESSON = "07_beta_and_posterior_collapse"


def _probe(function: Any, inputs: Inputs) -> Any:
    return call_each(function, inputs["calls"])


# --------------------------------------------------------------------------- active_units

active_units_exercise = exercise(
    "active_units",
    lesson=LESSON,
    symbol="active_units",
    description="number of latent dimensions whose posterior mean varies across images",
    references=("vae_tf.evaluation:active_units",),
)


def _means_with_spreads(
    rng: np.random.Generator, spreads: list[float], count: int = 1000
) -> np.ndarray:
    """Posterior means whose dimension j has standard deviation spreads[j] across images."""
    columns = rng.standard_normal(size=(count, len(spreads)))
    columns = (columns - columns.mean(axis=0)) / columns.std(axis=0)  # exactly mean 0, std 1
    offset = rng.uniform(-1.0, 1.0, size=len(spreads))
    return (columns * np.asarray(spreads) + offset).astype(np.float32)


def _count(answer: Any) -> float:
    return number_of(answer, "active_units")


def _integer_inputs(rng: np.random.Generator) -> Inputs:
    spreads = list(rng.permutation([1.0, 0.0, float(rng.uniform(0.3, 2.0))]))
    return {"calls": [((_means_with_spreads(rng, spreads),), {})]}


@active_units_exercise.probe("returns an integer count", inputs=_integer_inputs)
def _active_integer_probe(active_units: Any, inputs: Inputs) -> Any:
    return _probe(active_units, inputs)


def _is_integer_type(name: str) -> bool:
    if name == "int":
        return True
    try:
        return name != "bool" and np.dtype(name).kind in "iu"
    except TypeError:
        return False


@active_units_exercise.verdict("returns an integer count")
def _active_integer_verdict(inputs: Inputs, answer: Any) -> None:
    ((mu_matrix,), _) = inputs["calls"][0]
    array = array_of(answer[0], "active_units")
    name = type_name(answer[0])
    if not _is_integer_type(name) or array.size != 1 or float(array.reshape(-1)[0]) != 2:
        got = f"{float(array.reshape(-1)[0]):g}" if array.size == 1 else f"shape {array.shape}"
        raise CheckFailed(
            "active_units should return a whole number (a Python int): the count of active "
            "dimensions.",
            tried=f"means of shape {mu_matrix.shape}, two dimensions varying across images",
            expected="the int 2",
            got=f"{got} (a {name})",
            hint="wrap the count in int(...)",
        )


def _hand_inputs(rng: np.random.Generator) -> Inputs:
    spreads = [1.0, 0.0, 0.5, 0.0, float(rng.uniform(0.3, 1.5))][: int(rng.integers(4, 6))]
    spreads = list(rng.permutation(spreads))
    return {"calls": [((_means_with_spreads(rng, spreads),), {})], "spreads": spreads}


@active_units_exercise.probe("counts the dimensions whose mean varies", inputs=_hand_inputs)
def _active_hand_probe(active_units: Any, inputs: Inputs) -> Any:
    return _probe(active_units, inputs)


@active_units_exercise.verdict("counts the dimensions whose mean varies")
def _active_hand_verdict(inputs: Inputs, answer: Any) -> None:
    variances = np.square(np.asarray(inputs["spreads"], dtype=np.float64))
    expected = int(np.sum(variances > 0.01))
    got = _count(answer[0])
    if got == expected:
        return
    what = f"{expected} dimensions vary across images; {len(variances) - expected} are constant."
    if got == len(variances):
        what = (
            "All dimensions were counted: a dimension whose mean is the same for every "
            "image is inactive even when that mean is not 0."
        )
    raise CheckFailed(
        what,
        tried=f"1000 means of {len(variances)} dimensions with variances "
        f"{short(variances, 2)} across images",
        expected=str(expected),
        got=f"{got:g}",
        hint="the variance of each column: mu_matrix.var(axis=0), then count those > threshold",
    )


def _axis_inputs(rng: np.random.Generator) -> Inputs:
    # 3 images x 5 dimensions: only one dimension varies across images, but every image's
    # row varies a lot across dimensions.
    row = np.round(rng.uniform(-5.0, 5.0, size=5), 1)
    mu_matrix = np.tile(row, (3, 1))
    moving = int(rng.integers(0, 5))
    mu_matrix[:, moving] += np.array([-1.0, 0.0, 1.0])
    return {"calls": [((mu_matrix.astype(np.float32),), {})]}


@active_units_exercise.probe(
    "measures the variance over images, per dimension", inputs=_axis_inputs
)
def _active_axis_probe(active_units: Any, inputs: Inputs) -> Any:
    return _probe(active_units, inputs)


@active_units_exercise.verdict("measures the variance over images, per dimension")
def _active_axis_verdict(inputs: Inputs, answer: Any) -> None:
    got = _count(answer[0])
    if got != 1:
        raise CheckFailed(
            "The variance should be taken over the images (axis 0), one value per latent "
            "dimension, and then the dimensions counted.",
            tried="means of 3 images x 5 dimensions where only one dimension changes between images",
            expected="1",
            got=f"{got:g}",
            hint="mu_matrix.var(axis=0) has one entry per latent dimension",
        )


def _threshold_inputs(rng: np.random.Generator) -> Inputs:
    # Standard deviations 0.05 and 0.2: variances 0.0025 (inactive) and 0.04 (active).
    mu_matrix = _means_with_spreads(rng, [0.05, 0.2])
    return {
        "calls": [
            ((mu_matrix,), {}),
            ((mu_matrix,), {"threshold": 0.1}),
            ((mu_matrix,), {"threshold": 0.001}),
        ]
    }


@active_units_exercise.probe(
    "compares the variance (not the standard deviation) with threshold", inputs=_threshold_inputs
)
def _active_threshold_probe(active_units: Any, inputs: Inputs) -> Any:
    return _probe(active_units, inputs)


@active_units_exercise.verdict("compares the variance (not the standard deviation) with threshold")
def _active_threshold_verdict(inputs: Inputs, answer: Any) -> None:
    got = _count(answer[0])
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
    strict, loose = _count(answer[1]), _count(answer[2])
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


def _weights(answer: list) -> list[float]:
    return [number_of(item, "kl_warmup_weight") for item in answer]


def _rounded(values: list[float]) -> str:
    return str([round(float(value), 4) for value in values])


def _ramp_inputs(rng: np.random.Generator) -> Inputs:
    warmup = int(rng.integers(3, 9))
    return {"calls": [((epoch, warmup), {}) for epoch in range(warmup)], "warmup": warmup}


@kl_warmup_weight_exercise.probe("starts at 0 and rises linearly", inputs=_ramp_inputs)
def _warmup_ramp_probe(kl_warmup_weight: Any, inputs: Inputs) -> Any:
    return _probe(kl_warmup_weight, inputs)


@kl_warmup_weight_exercise.verdict("starts at 0 and rises linearly")
def _warmup_ramp_verdict(inputs: Inputs, answer: Any) -> None:
    warmup = inputs["warmup"]
    got = _weights(answer)
    expected = [epoch / warmup for epoch in range(warmup)]
    if not np.allclose(got, expected, atol=1e-6):
        raise CheckFailed(
            "During warm-up the weight should grow linearly from 0 at epoch 0.",
            tried=f"epochs 0 to {warmup - 1} with warmup_epochs = {warmup}, target 1",
            expected=_rounded(expected),
            got=_rounded(got),
            hint="target * epoch / warmup_epochs while epoch < warmup_epochs",
        )


def _flat_inputs(rng: np.random.Generator) -> Inputs:
    warmup = int(rng.integers(3, 9))
    epochs = [warmup, warmup + 1, warmup + int(rng.integers(3, 10)), 100]
    return {"calls": [((epoch, warmup), {}) for epoch in epochs], "warmup": warmup}


@kl_warmup_weight_exercise.probe("reaches the target and stays there", inputs=_flat_inputs)
def _warmup_flat_probe(kl_warmup_weight: Any, inputs: Inputs) -> Any:
    return _probe(kl_warmup_weight, inputs)


@kl_warmup_weight_exercise.verdict("reaches the target and stays there")
def _warmup_flat_verdict(inputs: Inputs, answer: Any) -> None:
    got = _weights(answer)
    if not np.allclose(got, 1.0, atol=1e-6):
        epochs = [args[0] for args, _ in inputs["calls"]]
        raise CheckFailed(
            "From epoch warmup_epochs on the weight should be the target, never more.",
            tried=f"epochs {epochs} with warmup_epochs = {inputs['warmup']}, target 1",
            expected=_rounded([1.0] * len(got)),
            got=_rounded(got),
            hint="clip the ramp: min(1, epoch / warmup_epochs)",
        )


def _target_inputs(rng: np.random.Generator) -> Inputs:
    warmup = 2 * int(rng.integers(2, 6))
    target = float(rng.integers(2, 9)) / 2.0
    epochs = [0, warmup // 2, warmup, 2 * warmup]
    return {
        "calls": [((epoch, warmup), {"target": target}) for epoch in epochs],
        "warmup": warmup,
        "target": target,
    }


@kl_warmup_weight_exercise.probe("scales to the target", inputs=_target_inputs)
def _warmup_target_probe(kl_warmup_weight: Any, inputs: Inputs) -> Any:
    return _probe(kl_warmup_weight, inputs)


@kl_warmup_weight_exercise.verdict("scales to the target")
def _warmup_target_verdict(inputs: Inputs, answer: Any) -> None:
    warmup, target = inputs["warmup"], inputs["target"]
    got = _weights(answer)
    epochs = [args[0] for args, _ in inputs["calls"]]
    expected = [target * min(1.0, epoch / warmup) for epoch in epochs]
    if not np.allclose(got, expected, atol=1e-6):
        raise CheckFailed(
            "The ramp should end at the target weight (beta), not at 1.",
            tried=f"epochs {epochs} with warmup_epochs = {warmup}, target = {target:g}",
            expected=_rounded(expected),
            got=_rounded(got),
            hint="multiply the 0-to-1 ramp by target",
        )


def _none_inputs(rng: np.random.Generator) -> Inputs:
    target = float(rng.integers(2, 9)) / 2.0
    return {"calls": [((epoch, 0), {"target": target}) for epoch in (0, 3)], "target": target}


@kl_warmup_weight_exercise.probe("warmup_epochs = 0 means no warm-up", inputs=_none_inputs)
def _warmup_none_probe(kl_warmup_weight: Any, inputs: Inputs) -> Any:
    return _probe(kl_warmup_weight, inputs)


@kl_warmup_weight_exercise.verdict("warmup_epochs = 0 means no warm-up")
def _warmup_none_verdict(inputs: Inputs, answer: Any) -> None:
    target = inputs["target"]
    raised = answer[0].get("raised") if isinstance(answer[0], dict) else None
    if isinstance(raised, dict) and raised.get("type") == "ZeroDivisionError":
        raise CheckFailed(
            "warmup_epochs = 0 divided by zero; it should mean 'no warm-up': the target at once.",
            tried=f"kl_warmup_weight(0, 0, target={target:g})",
            expected=f"{target:g}",
            got="ZeroDivisionError",
            hint="if warmup_epochs <= 0: return target",
        )
    got = _weights(answer)
    if not np.allclose(got, target, atol=1e-6):
        raise CheckFailed(
            "warmup_epochs = 0 means no warm-up: the weight is the target from epoch 0.",
            tried=f"epochs 0 and 3 with warmup_epochs = 0, target = {target:g}",
            expected=_rounded([target, target]),
            got=_rounded(got),
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


def _run_epochs(callback: Any, epochs: list[int]) -> list[dict[str, Any]]:
    model = _FakeModel()
    callback.set_model(model)
    seen = []
    for epoch in epochs:
        callback.on_epoch_begin(epoch, logs={})
        seen.append(describe(model.kl_weight))
    return seen


def _check_is_callback(KLWarmup: Any) -> None:
    import keras

    if not (isinstance(KLWarmup, type) and issubclass(KLWarmup, keras.callbacks.Callback)):
        raise CheckFailed(
            "KLWarmup should be a class that subclasses keras.callbacks.Callback.",
            expected="class KLWarmup(keras.callbacks.Callback)",
            got=repr(KLWarmup)[:80],
        )


def _seen(answer: Any) -> list[float]:
    return [number_of(item, "model.kl_weight") for item in answer]


def _linear_schedule_inputs(rng: np.random.Generator) -> Inputs:
    slope = round(float(rng.uniform(0.05, 0.3)), 3)
    return {"slope": slope, "epochs": [0, 1, 2, int(rng.integers(4, 10))]}


@kl_warmup_callback_exercise.probe(
    "sets model.kl_weight = schedule(epoch) at each epoch start", inputs=_linear_schedule_inputs
)
def _callback_sets_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    _check_is_callback(KLWarmup)
    slope = inputs["slope"]
    return _run_epochs(KLWarmup(lambda epoch: slope * epoch), inputs["epochs"])


@kl_warmup_callback_exercise.verdict("sets model.kl_weight = schedule(epoch) at each epoch start")
def _callback_sets_verdict(inputs: Inputs, answer: Any) -> None:
    slope, epochs = inputs["slope"], inputs["epochs"]
    got = _seen(answer)
    expected = [slope * epoch for epoch in epochs]
    if not np.allclose(got, expected, atol=1e-6):
        what = "model.kl_weight should be set to schedule(epoch) in on_epoch_begin."
        if np.allclose(got, -1.0):
            what = "model.kl_weight was not changed at the start of an epoch (on_epoch_begin)."
        elif np.allclose(got, [slope * (epoch + 1) for epoch in epochs], atol=1e-6):
            what = "The weight is one epoch ahead: use schedule(epoch) for the epoch that begins."
        raise CheckFailed(
            what,
            tried=f"schedule = lambda epoch: {slope:g} * epoch; on_epoch_begin at epochs {epochs}",
            expected=_rounded(expected),
            got=_rounded(got),
            hint="store the schedule in __init__ and call it in on_epoch_begin",
        )


def _ramp_schedule_inputs(rng: np.random.Generator) -> Inputs:
    return {"target": float(rng.integers(2, 7)) / 2.0, "warmup": int(rng.integers(2, 5))}


def _ramp(target: float, warmup: int) -> Any:
    def ramp(epoch: int) -> np.float32:
        return np.float32(target * min(1.0, epoch / warmup))

    return ramp


@kl_warmup_callback_exercise.probe("follows any schedule it is given", inputs=_ramp_schedule_inputs)
def _callback_any_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    _check_is_callback(KLWarmup)
    return _run_epochs(KLWarmup(_ramp(inputs["target"], inputs["warmup"])), list(range(6)))


@kl_warmup_callback_exercise.verdict("follows any schedule it is given")
def _callback_any_verdict(inputs: Inputs, answer: Any) -> None:
    target, warmup = inputs["target"], inputs["warmup"]
    got = _seen(answer)
    expected = [float(np.float32(target * min(1.0, epoch / warmup))) for epoch in range(6)]
    if not np.allclose(got, expected, atol=1e-6):
        raise CheckFailed(
            "The callback should use the schedule it was built with, whatever it is.",
            tried=f"a warm-up ramp to {target:g} over {warmup} epochs (returning NumPy "
            "float32); epochs 0-5",
            expected=_rounded(expected),
            got=_rounded(got),
            hint="store the schedule in __init__ and call it in on_epoch_begin; no fixed formula",
        )


def _fit_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "slope": round(float(rng.uniform(0.1, 0.3)), 3),
        "images": rng.random((32, 28, 28, 1)).astype(np.float32),
    }


@kl_warmup_callback_exercise.probe(
    "changes the weight of a real VAE during fit", inputs=_fit_inputs
)
def _callback_fit_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    import keras

    from vae_tf.models import VAE

    _check_is_callback(KLWarmup)
    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=2, hidden_units=8, kl_weight=0.0, seed=0)
    model.compile(jit_compile=False)
    slope = inputs["slope"]
    seen: list[float] = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(float(model.kl_weight))

    model.fit(
        inputs["images"],
        epochs=3,
        batch_size=32,
        verbose=0,
        callbacks=[KLWarmup(lambda epoch: slope * (epoch + 1)), Record()],
    )
    return describe(seen)


@kl_warmup_callback_exercise.verdict("changes the weight of a real VAE during fit")
def _callback_fit_verdict(inputs: Inputs, answer: Any) -> None:
    slope = inputs["slope"]
    expected = [slope * (epoch + 1) for epoch in range(3)]
    seen = array_of(answer, "model.kl_weight").astype(np.float64).reshape(-1)
    if seen.shape != (3,) or not np.allclose(seen, expected, atol=1e-6):
        raise CheckFailed(
            "During model.fit the VAE's kl_weight should follow the schedule.",
            tried=f"a tiny VAE fitted 3 epochs with schedule = lambda epoch: {slope:g} * (epoch + 1)",
            expected=f"kl_weight {_rounded(expected)} in epochs 0, 1, 2",
            got=_rounded(list(seen)),
            hint="assign through the property, self.model.kl_weight = ..., which updates "
            "the variable the compiled training step reads",
        )
