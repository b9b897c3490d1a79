"""Checks for lesson 07 (beta and posterior collapse): the IWAE bound and KL warm-up.

Three exercises:

- ``iwae_bound(log_weights)``: from the log-weights ``log w_i = log p(x|z_i) + log p(z_i)
  - log q(z_i|x)`` of k samples per image, shape ``(N, k)``, the importance-weighted bound
  ``log (1/k) sum_i w_i`` on log p(x) of each image, shape ``(N,)``, in nats, computed
  without over- or underflow (``logsumexp``).
- ``kl_warmup_weight(epoch, warmup_epochs, target=1.0)``: a linear ramp from 0 at epoch 0
  to ``target`` at ``warmup_epochs``, flat after; ``warmup_epochs = 0`` means no warm-up.
- ``KLWarmup(schedule)``: a Keras callback that sets the VAE's KL weight to
  ``schedule(epoch)`` at the start of every epoch. It is checked inside ``fit`` of a real
  VAE, compiled with ``tf.function`` and with XLA, by reading the weight that the compiled
  step really used from the logged losses (trained on the KL term alone, loss = weight x KL).

Each check's inputs are drawn from the run's seed; its probe calls the student's code,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, number_of, raise_if_raised
from vae_tf.grading.exercises._helpers import call_each, short
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "07_beta_and_posterior_collapse"

FIX_EARLIER = "fix the earlier failed check of this exercise first"


def _probe(function: Any, inputs: Inputs) -> Any:
    return call_each(function, inputs["calls"])


# --------------------------------------------------------------------------- iwae_bound

iwae_bound_exercise = exercise(
    "iwae_bound",
    lesson=LESSON,
    symbol="iwae_bound",
    description="log of the mean of k importance weights per image, from their logs (N, k) -> (N,)",
    references=("vae_tf.evaluation:iwae_bound",),
    hints=(
        "Each row holds the logs of the k weights w_i of one image; the bound is the log of "
        "their average, (1/k) sum_i w_i, one number per image.",
        "exp of a log-weight of -1000 is 0 and of +1000 is infinite, even in float64: stay in "
        "log space from the log-weights to the result.",
        "log(sum_i exp(a_i)) has a stable function of its own (log-sum-exp) in keras.ops, "
        "tf.math and scipy.special; averaging instead of summing changes it by a constant.",
        "Reduce over the k samples of each image (axis 1), not over the images; dividing by k "
        "inside the log is subtracting log k outside it.",
    ),
)


@judge_only
def _log_mean_exp(log_weights: np.ndarray) -> np.ndarray:
    values = np.asarray(log_weights, dtype=np.float64)
    top = values.max(axis=1, keepdims=True)
    return (top + np.log(np.mean(np.exp(values - top), axis=1, keepdims=True)))[:, 0]


def _bound_values(answer: Any, log_weights: np.ndarray, *, finite: bool = True) -> np.ndarray:
    """The student's per-image values, shape (N,), validated."""
    raise_if_raised(answer)
    count, k = log_weights.shape
    if finite:
        values = array_of(answer, "iwae_bound")
    else:
        values = answer.get("array") if isinstance(answer, dict) else None
        if not isinstance(values, np.ndarray):
            values = array_of(answer, "iwae_bound")
    values = np.asarray(values, dtype=np.float64)
    if values.shape == (count,):
        return values
    what = f"iwae_bound should return one value per image, shape ({count},)."
    if values.shape == (k,):
        what = (
            "The result has one value per sample, not per image: the reduction ran over the "
            "images (axis 0) instead of over the k samples of each image (axis 1)."
        )
    elif values.size == 1:
        what = "iwae_bound returned one number for all images; return one per image, shape (N,)."
    elif values.shape == (count, 1):
        what = f"The result has shape ({count}, 1); return a flat array of shape ({count},)."
    raise CheckFailed(
        what,
        tried=f"log-weights of shape ({count}, {k}): {count} images, k = {k} samples each",
        expected=f"shape ({count},)",
        got=f"shape {values.shape}",
    )


def _shape_inputs(rng: np.random.Generator) -> Inputs:
    count, k = int(rng.integers(3, 7)), int(rng.integers(8, 13))
    log_weights = rng.normal(-90.0, 2.0, size=(count, k)).astype(np.float32)
    return {"calls": [((log_weights,), {})]}


@iwae_bound_exercise.probe("returns one value per image", inputs=_shape_inputs)
def _iwae_shape_probe(iwae_bound: Any, inputs: Inputs) -> Any:
    return _probe(iwae_bound, inputs)


@iwae_bound_exercise.verdict("returns one value per image")
def _iwae_shape_verdict(inputs: Inputs, answer: Any) -> None:
    ((log_weights,), _) = inputs["calls"][0]
    _bound_values(answer[0], log_weights)


def _moderate_inputs(rng: np.random.Generator) -> Inputs:
    count, k = int(rng.integers(4, 8)), int(rng.integers(5, 11))
    log_weights = rng.normal(0.0, 1.5, size=(count, k)).astype(np.float32)
    return {"calls": [((log_weights,), {})]}


@iwae_bound_exercise.probe(
    "is the log of the mean of the weights (moderate log-weights)", inputs=_moderate_inputs
)
def _iwae_value_probe(iwae_bound: Any, inputs: Inputs) -> Any:
    return _probe(iwae_bound, inputs)


@iwae_bound_exercise.verdict("is the log of the mean of the weights (moderate log-weights)")
def _iwae_value_verdict(inputs: Inputs, answer: Any) -> None:
    ((log_weights,), _) = inputs["calls"][0]
    count, k = log_weights.shape
    try:
        got = _bound_values(answer[0], log_weights)
    except CheckFailed as failure:
        if "shape" in str(failure.got):
            raise CheckFailed(f"{failure.what} ({FIX_EARLIER})", got=failure.got) from None
        raise
    expected = _log_mean_exp(log_weights)
    if np.allclose(got, expected, rtol=1e-4, atol=1e-4):
        return
    values = log_weights.astype(np.float64)
    what = "The bound is wrong: it should be log((1/k) sum_i exp(log w_i)) for each image."
    if np.allclose(got, expected + math.log(k), atol=1e-3):
        what = (
            "This is the log of the SUM of the weights: the average divides by k, so "
            "log k must be subtracted (-log k is missing)."
        )
    elif np.allclose(got, values.mean(axis=1), atol=1e-3):
        what = (
            "This is the mean of the log-weights, the ELBO's estimate: the IWAE bound "
            "averages the weights inside the log, the log of the mean, not the mean of the logs."
        )
    elif np.allclose(got, -expected, atol=1e-3):
        what = (
            "The sign is flipped: return the bound on log p(x) (negate it only when you "
            "report -log p(x))."
        )
    elif np.allclose(got, values.max(axis=1), atol=1e-3):
        what = (
            "This is the largest log-weight of each image: every weight counts in the average, "
            "not only the largest."
        )
    raise CheckFailed(
        what,
        tried=f"log-weights of shape ({count}, {k}) drawn from N(0, 1.5^2); first row "
        f"{short(values[0][:4], 3)}...",
        expected=f"first values {short(expected[:3])}",
        got=f"first values {short(got[:3])}",
    )


def _large_inputs(rng: np.random.Generator) -> Inputs:
    # Realistic log-weights of a poor model are around -1000 nats; exp(-1000) is 0 in
    # float64, exp(+1000) infinite. One row of each sign.
    k = int(rng.integers(5, 11))
    low = rng.normal(-1000.0, 3.0, size=(2, k))
    high = rng.normal(1000.0, 3.0, size=(1, k))
    return {"calls": [((np.concatenate([low, high]).astype(np.float32),), {})]}


@iwae_bound_exercise.probe(
    "stays finite for log-weights near -1000 and +1000", inputs=_large_inputs
)
def _iwae_large_probe(iwae_bound: Any, inputs: Inputs) -> Any:
    return _probe(iwae_bound, inputs)


@iwae_bound_exercise.verdict("stays finite for log-weights near -1000 and +1000")
def _iwae_large_verdict(inputs: Inputs, answer: Any) -> None:
    ((log_weights,), _) = inputs["calls"][0]
    count, k = log_weights.shape
    try:
        got = _bound_values(answer[0], log_weights, finite=False)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure.what} ({FIX_EARLIER})", got=failure.got) from None
    expected = _log_mean_exp(log_weights)
    tried = f"log-weights of shape ({count}, {k}): two images near -1000 nats and one near +1000"
    if not np.all(np.isfinite(got)):
        raise CheckFailed(
            "The result is infinite or NaN: exp of a log-weight near -1000 underflows to 0 "
            "(log 0 = -inf) and near +1000 overflows to inf, so log(mean(exp(...))) fails. "
            "Compute it in log space (log-sum-exp).",
            tried=tried,
            expected=f"finite values {short(expected, 1)}",
            got=short(got, 1),
        )
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-2):
        raise CheckFailed(
            "The values are finite but wrong on large log-weights; if the check on moderate "
            f"log-weights failed too, {FIX_EARLIER}.",
            tried=tried,
            expected=short(expected, 2),
            got=short(got, 2),
        )


def _equal_inputs(rng: np.random.Generator) -> Inputs:
    count, k = int(rng.integers(3, 6)), int(rng.integers(4, 21))
    levels = np.round(rng.uniform(-150.0, -60.0, size=(count, 1)), 1)
    return {"calls": [((np.tile(levels, (1, k)).astype(np.float32),), {})]}


@iwae_bound_exercise.probe(
    "k equal weights give that weight's log (the 1/k of the mean)", inputs=_equal_inputs
)
def _iwae_equal_probe(iwae_bound: Any, inputs: Inputs) -> Any:
    return _probe(iwae_bound, inputs)


@iwae_bound_exercise.verdict("k equal weights give that weight's log (the 1/k of the mean)")
def _iwae_equal_verdict(inputs: Inputs, answer: Any) -> None:
    ((log_weights,), _) = inputs["calls"][0]
    count, k = log_weights.shape
    try:
        got = _bound_values(answer[0], log_weights)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure.what} ({FIX_EARLIER})", got=failure.got) from None
    expected = log_weights[:, 0].astype(np.float64)
    if np.allclose(got, expected, atol=1e-3):
        return
    what = "The average of k equal weights is that weight, so the bound is its log."
    if np.allclose(got, expected + math.log(k), atol=1e-3):
        what = (
            f"Each value is log k = {math.log(k):.3f} too high: this is the log of the sum; "
            "the mean divides by k (subtract log k)."
        )
    raise CheckFailed(
        what,
        tried=f"{count} images, each with k = {k} equal log-weights {short(expected, 1)}",
        expected=short(expected, 2),
        got=short(got, 2),
    )


# --------------------------------------------------------------------------- kl_warmup_weight

kl_warmup_weight_exercise = exercise(
    "kl_warmup_weight",
    lesson=LESSON,
    symbol="kl_warmup_weight",
    description="linear KL warm-up: 0 at epoch 0, target at warmup_epochs, flat after",
    hints=(
        "Write down the values for warmup_epochs = 4 and target 1 by hand: epochs 0, 1, 2, 3, "
        "4, 5 give 0, 0.25, 0.5, 0.75, 1, 1.",
        "The fraction of the warm-up done at `epoch` is epoch / warmup_epochs; it must not "
        "exceed 1.",
        "target scales the whole ramp; warmup_epochs = 0 is a case of its own (no warm-up), "
        "decided before any division.",
    ),
)


def _weights(answer: list) -> list[float]:
    return [number_of(item, "kl_warmup_weight") for item in answer]


def _rounded(values: Any) -> str:
    return str([round(float(value), 4) for value in values])


def _ramp_inputs(rng: np.random.Generator) -> Inputs:
    warmup = int(rng.integers(3, 9))
    return {"calls": [((epoch, warmup), {}) for epoch in range(warmup)], "warmup": warmup}


@kl_warmup_weight_exercise.probe("starts at 0 and rises linearly", inputs=_ramp_inputs)
def _warmup_ramp_probe(kl_warmup_weight: Any, inputs: Inputs) -> Any:
    return _probe(kl_warmup_weight, inputs)


@judge_only
def _off_by_one(got: list[float], warmup: int, epochs: list[int], target: float) -> str | None:
    """Name an off-by-one ramp, or None."""
    ramps = {
        "The ramp is one epoch ahead: epoch 0 (the first epoch) must give 0, epoch 1 "
        "gives target / warmup_epochs.": [min(1.0, (e + 1) / warmup) for e in epochs],
        "The ramp is one epoch late: it should reach the target at epoch == warmup_epochs, "
        "not one epoch after.": [min(1.0, e / (warmup + 1)) for e in epochs],
        "The ramp reaches the target one epoch early (at warmup_epochs - 1): the fraction "
        "done at `epoch` is epoch / warmup_epochs.": [
            min(1.0, e / max(warmup - 1, 1)) for e in epochs
        ],
    }
    for what, ramp in ramps.items():
        if np.allclose(got, np.asarray(ramp) * target, atol=1e-6):
            return what
    return None


@kl_warmup_weight_exercise.verdict("starts at 0 and rises linearly")
def _warmup_ramp_verdict(inputs: Inputs, answer: Any) -> None:
    warmup = inputs["warmup"]
    epochs = list(range(warmup))
    got = _weights(answer)
    expected = [epoch / warmup for epoch in epochs]
    if not np.allclose(got, expected, atol=1e-6):
        what = _off_by_one(got, warmup, epochs, 1.0) or (
            "During warm-up the weight should grow linearly from 0 at epoch 0 to the target at "
            "epoch warmup_epochs."
        )
        raise CheckFailed(
            what,
            tried=f"epochs 0 to {warmup - 1} with warmup_epochs = {warmup}, target 1",
            expected=_rounded(expected),
            got=_rounded(got),
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
        what = "From epoch warmup_epochs on the weight should be the target."
        if all(value > 1.0 + 1e-6 for value in got[1:]):
            what = (
                "The weight keeps growing after the warm-up: from epoch warmup_epochs on it "
                "should be the target, never more."
            )
        elif np.allclose(got[1:], 1.0, atol=1e-6):
            what = "The weight at epoch == warmup_epochs should already be the target."
        raise CheckFailed(
            what,
            tried=f"epochs {epochs} with warmup_epochs = {inputs['warmup']}, target 1",
            expected=_rounded([1.0] * len(got)),
            got=_rounded(got),
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
    ramp = [min(1.0, epoch / warmup) for epoch in epochs]
    expected = [target * value for value in ramp]
    if np.allclose(got, expected, atol=1e-6):
        return
    if np.allclose(got, ramp, atol=1e-6):
        what = "The ramp should end at the target weight (beta), not at 1."
    elif not np.allclose(np.asarray(got) / target, np.asarray(got[2]) / target * np.asarray(ramp)):
        what = (
            "The shape of the ramp is wrong, not only its height; "
            f"{FIX_EARLIER} (starts at 0 / reaches the target)."
        )
    else:
        what = f"The ramp should end at target = {target:g}."
    raise CheckFailed(
        what,
        tried=f"epochs {epochs} with warmup_epochs = {warmup}, target = {target:g}",
        expected=_rounded(expected),
        got=_rounded(got),
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
        )
    got = _weights(answer)
    if not np.allclose(got, target, atol=1e-6):
        raise CheckFailed(
            "warmup_epochs = 0 means no warm-up: the weight is the target from epoch 0.",
            tried=f"epochs 0 and 3 with warmup_epochs = 0, target = {target:g}",
            expected=_rounded([target, target]),
            got=_rounded(got),
        )


# --------------------------------------------------------------------------- KLWarmup

kl_warmup_callback_exercise = exercise(
    "kl_warmup_callback",
    lesson=LESSON,
    symbol="KLWarmup",
    description="a keras.callbacks.Callback setting the VAE's KL weight to schedule(epoch) "
    "at the start of every epoch",
    hints=(
        "Keras calls a callback's hooks around each epoch, with the model being trained "
        "in self.model; pick the hook that runs BEFORE the epoch's first batch.",
        "The schedule is given to the constructor; the epoch number Keras passes to the "
        "hook is the one to ask the schedule about (0 for the first epoch).",
        "The compiled training step reads the KL weight from a variable: change the value "
        "of that variable (the VAE's kl_weight property does it), never replace it.",
    ),
)

FIT_EPOCHS = 3


def _check_is_callback(KLWarmup: Any) -> None:
    import keras

    if not (isinstance(KLWarmup, type) and issubclass(KLWarmup, keras.callbacks.Callback)):
        raise CheckFailed(
            "KLWarmup should be a class that subclasses keras.callbacks.Callback.",
            expected="class KLWarmup(keras.callbacks.Callback)",
            got=repr(KLWarmup)[:80],
        )


def _fit_with(KLWarmup: Any, schedule: Any, images: np.ndarray, *, jit_compile: bool) -> Any:
    """Fit a small real VAE on the KL term alone with the student's callback.

    One batch per epoch, so each epoch's logged loss is that batch's ``kl_weight * KL``:
    ``loss / kl_loss`` is the weight the compiled step really used. Returns, per epoch,
    ``[loss, kl_loss, float(model.kl_weight) after the epoch]``.
    """
    import keras

    from vae_tf.models import VAE

    _check_is_callback(KLWarmup)
    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=2, hidden_units=8, kl_weight=0.0, reconstruction_weight=0.0, seed=0)
    model.compile(jit_compile=jit_compile, steps_per_execution=1)
    rows: list[list[float]] = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            rows.append(
                [
                    float(logs.get("loss", np.nan)),
                    float(logs.get("kl_loss", np.nan)),
                    float(model.kl_weight),
                ]
            )

    model.fit(
        images,
        epochs=FIT_EPOCHS,
        batch_size=len(images),
        shuffle=False,
        verbose=0,
        callbacks=[KLWarmup(schedule), Record()],
    )
    return describe(np.asarray(rows, dtype=np.float64))


def _used_weights(answer: Any) -> tuple[np.ndarray, np.ndarray]:
    """The weight each epoch's compiled step used (loss / KL) and the property after it."""
    rows = array_of(answer, "the logged losses").astype(np.float64)
    if rows.shape != (FIT_EPOCHS, 3):
        raise CheckFailed(
            f"fit did not run {FIT_EPOCHS} epochs with the callback.",
            got=f"{len(rows)} epochs logged",
        )
    loss, kl, attribute = rows[:, 0], rows[:, 1], rows[:, 2]
    return loss / np.maximum(kl, 1e-30), attribute


@judge_only
def _diagnose_fit(used: np.ndarray, attribute: np.ndarray, schedule: list[float]) -> str:
    expected = np.asarray(schedule)
    if np.allclose(attribute, expected, atol=1e-4) and np.allclose(used, used[0], atol=1e-4):
        return (
            "model.kl_weight reports the schedule, but the compiled training step kept using "
            f"the weight of the first epoch ({used[0]:.4g}): the weight was stored where the "
            "compiled step does not read it (a Python number replacing the variable is frozen "
            "into the compiled step). Change the variable's value, e.g. through the "
            "model.kl_weight property."
        )
    if np.allclose(used, 0.0, atol=1e-6):
        return "The compiled step used weight 0 in every epoch: the KL weight was never changed."
    if np.allclose(used[1:], expected[:-1], atol=1e-4):
        return (
            "The weight is one epoch late: epoch e trained with schedule(e - 1). Set it in "
            "the hook that runs before the epoch, with the epoch that begins."
        )
    if np.allclose(used[:-1], expected[1:], atol=1e-4):
        return (
            "The weight is one epoch ahead: epoch e trained with schedule(e + 1). Use "
            "schedule(epoch) for the epoch that begins."
        )
    if np.allclose(used, used[0], atol=1e-4):
        return "The weight did not change between epochs: it should be schedule(epoch) in each."
    if np.allclose(used, attribute, atol=1e-4):
        return (
            "The weight reaches the training step, but it is not schedule(epoch): the callback "
            "should use the schedule it was built with, whatever it is, not a formula of its own."
        )
    return "The weight used by the training step in each epoch should be schedule(epoch)."


def _fit_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "slope": round(float(rng.uniform(0.2, 0.6)), 3),
        "images": rng.random((16, 28, 28, 1)).astype(np.float32),
    }


@kl_warmup_callback_exercise.probe(
    "the compiled step of fit uses schedule(epoch) in every epoch", inputs=_fit_inputs
)
def _callback_fit_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    slope = inputs["slope"]
    return _fit_with(
        KLWarmup, lambda epoch: slope * (epoch + 1), inputs["images"], jit_compile=False
    )


@kl_warmup_callback_exercise.verdict("the compiled step of fit uses schedule(epoch) in every epoch")
def _callback_fit_verdict(inputs: Inputs, answer: Any) -> None:
    slope = inputs["slope"]
    expected = [slope * (epoch + 1) for epoch in range(FIT_EPOCHS)]
    used, attribute = _used_weights(answer)
    if np.allclose(used, expected, atol=1e-4):
        return
    raise CheckFailed(
        _diagnose_fit(used, attribute, expected),
        tried=f"a small VAE fitted {FIT_EPOCHS} epochs (one batch each, tf.function) with "
        f"schedule = lambda epoch: {slope:g} * (epoch + 1); the weight used is read from the "
        "logged loss = weight x KL",
        expected=f"weights used {_rounded(expected)}",
        got=f"weights used {_rounded(used)}; model.kl_weight after each epoch "
        f"{_rounded(attribute)}",
    )


def _xla_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "start": float(rng.integers(4, 9)) / 2.0,
        "images": rng.random((16, 28, 28, 1)).astype(np.float32),
    }


def _decreasing(start: float) -> Any:
    def schedule(epoch: int) -> np.float32:
        return np.float32(start / (epoch + 1))

    return schedule


@kl_warmup_callback_exercise.probe(
    "follows any schedule it is given, in an XLA-compiled step", inputs=_xla_inputs
)
def _callback_xla_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    return _fit_with(KLWarmup, _decreasing(inputs["start"]), inputs["images"], jit_compile=True)


@kl_warmup_callback_exercise.verdict("follows any schedule it is given, in an XLA-compiled step")
def _callback_xla_verdict(inputs: Inputs, answer: Any) -> None:
    start = inputs["start"]
    expected = [float(np.float32(start / (epoch + 1))) for epoch in range(FIT_EPOCHS)]
    used, attribute = _used_weights(answer)
    if np.allclose(used, expected, atol=1e-4):
        return
    what = _diagnose_fit(used, attribute, expected)
    raise CheckFailed(
        what,
        tried=f"a small VAE fitted {FIT_EPOCHS} epochs with XLA (jit_compile=True) and "
        f"schedule = lambda epoch: np.float32({start:g} / (epoch + 1))",
        expected=f"weights used {_rounded(expected)}",
        got=f"weights used {_rounded(used)}; model.kl_weight after each epoch "
        f"{_rounded(attribute)}",
    )
