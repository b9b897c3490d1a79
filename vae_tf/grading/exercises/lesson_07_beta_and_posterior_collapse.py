"""Checks for lesson 07 (beta and posterior collapse): the IWAE bound and KL warm-up.

Three exercises:

- ``iwae_bound(log_weights)``: from the log-weights ``log w_i = log p(x|z_i) + log p(z_i)
  - log q(z_i|x)`` of k samples per image, shape ``(N, k)``, the importance-weighted bound
  ``log (1/k) sum_i w_i`` on log p(x) of each image, shape ``(N,)``, in nats, computed
  without over- or underflow (``logsumexp``).
- ``kl_warmup_weight(step, warmup_updates, target=1.0)``: a linear ramp over updates, from 0
  at step 0 to ``target`` at ``warmup_updates``, flat after; ``warmup_updates = 0`` means no
  warm-up (the target at once).
- ``KLWarmup(schedule)``: a Keras callback that sets the VAE's KL weight to
  ``schedule(step)`` before every update, ``step`` being the number of updates done so far
  (the optimizer's ``iterations``). It is checked inside ``fit`` of a real VAE, compiled
  with ``tf.function`` and with XLA running 2 updates per call (``steps_per_execution``), by
  reading the weight that the compiled step really used from the logged losses (trained on
  the KL term alone, loss = weight x KL).

Each check's inputs are drawn from the run's seed; its probe calls the student's code,
its verdict compares and explains a failure in plain words.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, number_of, raise_if_raised
from vae_tf.grading.exercises._helpers import call_each, require_values, short, with_companion
from vae_tf.grading.registry import CheckFailed, Inputs, exercise, judge_only

LESSON = "07_beta_and_posterior_collapse"

FIX_EARLIER = "fix the earlier failed check of this exercise first"


def _probe(function: Any, inputs: Inputs) -> Any:
    return call_each(function, inputs["calls"])


# --------------------------------------------------------------------------- iwae_bound

iwae_bound_exercise = exercise(
    "iwae_bound",
    lesson=LESSON,
    points=4,
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


@iwae_bound_exercise.check("returns one value per image", probe=_probe, inputs=_shape_inputs)
def _iwae_shape_verdict(inputs: Inputs, answer: Any) -> None:
    ((log_weights,), _) = inputs["calls"][0]
    got = _bound_values(answer[0], log_weights)
    # One value per image, and the right values: zeros of shape (N,) earn nothing.
    require_values(
        got,
        _log_mean_exp(log_weights),
        lambda: _iwae_value_verdict(inputs, answer),
        what="One value per image, but not the IWAE bound of each image.",
        rtol=1e-3,
        atol=1e-2,
    )


def _moderate_inputs(rng: np.random.Generator) -> Inputs:
    count, k = int(rng.integers(4, 8)), int(rng.integers(5, 11))
    log_weights = rng.normal(0.0, 1.5, size=(count, k)).astype(np.float32)
    return {"calls": [((log_weights,), {})]}


@iwae_bound_exercise.check(
    "is the log of the mean of the weights (moderate log-weights)",
    probe=_probe,
    inputs=_moderate_inputs,
)
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


@iwae_bound_exercise.check(
    "stays finite for log-weights near -1000 and +1000",
    probe=_probe,
    inputs=_large_inputs,
)
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


@iwae_bound_exercise.check(
    "k equal weights give that weight's log (the 1/k of the mean)",
    probe=_probe,
    inputs=with_companion(_equal_inputs, lambda rng: _moderate_inputs(rng)["calls"][0]),
)
def _iwae_equal_verdict(inputs: Inputs, answer: Any) -> None:
    ((log_weights,), _) = inputs["calls"][0]
    count, k = log_weights.shape
    try:
        got = _bound_values(answer[0], log_weights)
    except CheckFailed as failure:
        raise CheckFailed(f"{failure.what} ({FIX_EARLIER})", got=failure.got) from None
    expected = log_weights[:, 0].astype(np.float64)
    if np.allclose(got, expected, atol=1e-3):
        # Any one of k equal log-weights is right here; unequal ones tell them apart.
        ((other,), _) = inputs["calls"][-1]
        require_values(
            _bound_values(answer[-1], other),
            _log_mean_exp(other),
            lambda: None,
            what="Right for equal weights, but not for unequal ones (one log-weight of each "
            f"row is not the bound): {FIX_EARLIER}.",
            rtol=1e-4,
            atol=1e-4,
        )
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
# --------------------------------------------------------------------------- kl_warmup_weight

kl_warmup_weight_exercise = exercise(
    "kl_warmup_weight",
    lesson=LESSON,
    points=4,
    symbol="kl_warmup_weight",
    description="linear KL warm-up over updates: 0 at step 0, target at warmup_updates, flat after",
    hints=(
        "Write down the values for warmup_updates = 4 and target 1 by hand: steps 0, 1, 2, 3, "
        "4, 5 give 0, 0.25, 0.5, 0.75, 1, 1.",
        "The fraction of the warm-up done at `step` is step / warmup_updates; it must not "
        "exceed 1.",
        "target scales the whole ramp: the weight is target times that fraction, so with "
        "target 4 it rises by 4 / warmup_updates per update, not by 1 / warmup_updates.",
        "warmup_updates = 0 is a case of its own (no warm-up: the target, whatever it is), "
        "decided before any division.",
    ),
)

# Targets of the checks: never 1, so that a ramp that ignores the target (or returns 1
# where the target belongs) fails on every seed.
_TARGETS = (0.5, 1.5, 2.0, 2.5, 3.0, 4.0)


def _weights(answer: list) -> list[float]:
    return [number_of(item, "kl_warmup_weight") for item in answer]


def _rounded(values: Any) -> str:
    return str([round(float(value), 4) for value in values])


def _ramp_inputs(rng: np.random.Generator) -> Inputs:
    warmup = int(rng.integers(3, 9))
    return {"calls": [((step, warmup), {}) for step in range(warmup)], "warmup": warmup}


@judge_only
def _off_by_one(got: list[float], warmup: int, steps: list[int], target: float) -> str | None:
    """Name an off-by-one ramp, or None."""
    ramps = {
        "The ramp is one update ahead: step 0 (the first update) must give 0, step 1 "
        "gives target / warmup_updates.": [min(1.0, (s + 1) / warmup) for s in steps],
        "The ramp is one update late: it should reach the target at step == warmup_updates, "
        "not one update after.": [min(1.0, s / (warmup + 1)) for s in steps],
        "The ramp reaches the target one update early (at warmup_updates - 1): the fraction "
        "done at `step` is step / warmup_updates.": [
            min(1.0, s / max(warmup - 1, 1)) for s in steps
        ],
    }
    for what, ramp in ramps.items():
        if np.allclose(got, np.asarray(ramp) * target, atol=1e-6):
            return what
    return None


@kl_warmup_weight_exercise.check(
    "starts at 0 and rises linearly", probe=_probe, inputs=_ramp_inputs
)
def _warmup_ramp_verdict(inputs: Inputs, answer: Any) -> None:
    warmup = inputs["warmup"]
    steps = list(range(warmup))
    got = _weights(answer)
    expected = [step / warmup for step in steps]
    if not np.allclose(got, expected, atol=1e-6):
        what = _off_by_one(got, warmup, steps, 1.0) or (
            "During warm-up the weight should grow linearly from 0 at step 0 to the target at "
            "step warmup_updates."
        )
        raise CheckFailed(
            what,
            tried=f"steps 0 to {warmup - 1} with warmup_updates = {warmup}, target 1",
            expected=_rounded(expected),
            got=_rounded(got),
        )


def _mid_ramp_call(rng: np.random.Generator) -> Any:
    """A call partway up a ramp to the default target 1: step / warmup_updates, never 0 or 1,
    so that returning the target (or 1, or 0) whatever the step is wrong here."""
    warmup = int(rng.integers(4, 9))
    return ((int(rng.integers(1, warmup)), warmup), {})


@judge_only
def _mid_ramp_verdict(inputs: Inputs, answer: Any, check: str) -> None:
    (step, warmup), _ = inputs["calls"][-1]
    expected = step / warmup
    got = _weights(answer[-1:])[0]
    if abs(got - expected) > 1e-6:
        raise CheckFailed(
            f"Right for '{check}', but the weight is the same during the warm-up (a constant "
            f"is right here only): {FIX_EARLIER}.",
            tried=f"kl_warmup_weight({step}, {warmup}) (target 1)",
            expected=f"{expected:.4g}",
            got=f"{got:.4g}",
        )


def _flat_inputs(rng: np.random.Generator) -> Inputs:
    warmup = int(rng.integers(3, 9))
    steps = [warmup, warmup + 1, warmup + int(rng.integers(3, 10)), 100_000]
    return {"calls": [((step, warmup), {}) for step in steps], "warmup": warmup}


@kl_warmup_weight_exercise.check(
    "reaches the target and stays there",
    probe=_probe,
    inputs=with_companion(_flat_inputs, _mid_ramp_call),
)
def _warmup_flat_verdict(inputs: Inputs, answer: Any) -> None:
    got = _weights(answer[:-1])  # the last call is the companion, checked below
    if not np.allclose(got, 1.0, atol=1e-6):
        steps = [args[0] for args, _ in inputs["calls"][:-1]]
        what = "From step warmup_updates on the weight should be the target."
        if all(value > 1.0 + 1e-6 for value in got[1:]):
            what = (
                "The weight keeps growing after the warm-up: from step warmup_updates on it "
                "should be the target, never more."
            )
        elif np.allclose(got[1:], 1.0, atol=1e-6):
            what = "The weight at step == warmup_updates should already be the target."
        raise CheckFailed(
            what,
            tried=f"steps {steps} with warmup_updates = {inputs['warmup']}, target 1",
            expected=_rounded([1.0] * len(got)),
            got=_rounded(got),
        )

    _mid_ramp_verdict(inputs, answer, "reaches the target and stays there")


def _target_inputs(rng: np.random.Generator) -> Inputs:
    warmup = 2 * int(rng.integers(2, 6))
    target = float(rng.choice(_TARGETS))
    steps = [0, warmup // 2, warmup, 2 * warmup]
    return {
        "calls": [((step, warmup), {"target": target}) for step in steps],
        "warmup": warmup,
        "target": target,
    }


@kl_warmup_weight_exercise.check("scales to the target", probe=_probe, inputs=_target_inputs)
def _warmup_target_verdict(inputs: Inputs, answer: Any) -> None:
    warmup, target = inputs["warmup"], inputs["target"]
    got = _weights(answer)
    steps = [args[0] for args, _ in inputs["calls"]]
    ramp = [min(1.0, step / warmup) for step in steps]
    expected = [target * value for value in ramp]
    if np.allclose(got, expected, atol=1e-6):
        return
    capped = [min(target, step / warmup) for step in steps]
    if np.allclose(got, ramp, atol=1e-6):
        what = "The ramp should end at the target weight (beta), not at 1."
    elif np.allclose(got, capped, atol=1e-6):
        what = (
            "The weight is capped at the target but rises by 1 / warmup_updates per update "
            "whatever the target (min(target, step / warmup_updates)): it should be target "
            "x min(1, step / warmup_updates), so that it reaches the target exactly at "
            "step warmup_updates."
        )
    elif np.allclose(got[1:3], [target / 2.0, target], atol=1e-6):
        what = (
            "The ramp is right up to the target but not after it: from step warmup_updates "
            "on the weight should stay at the target."
        )
    else:
        what = (
            "The shape of the ramp is wrong, not only its height; "
            f"{FIX_EARLIER} (starts at 0 / reaches the target)."
        )
    raise CheckFailed(
        what,
        tried=f"steps {steps} with warmup_updates = {warmup}, target = {target:g}",
        expected=_rounded(expected),
        got=_rounded(got),
    )


def _none_inputs(rng: np.random.Generator) -> Inputs:
    target = float(rng.choice(_TARGETS))
    steps = (0, int(rng.integers(1, 1000)))
    return {
        "calls": [((step, 0), {"target": target}) for step in steps],
        "steps": steps,
        "target": target,
    }


@kl_warmup_weight_exercise.check(
    "warmup_updates = 0 means no warm-up",
    probe=_probe,
    inputs=with_companion(_none_inputs, _mid_ramp_call),
)
def _warmup_none_verdict(inputs: Inputs, answer: Any) -> None:
    target = inputs["target"]
    raised = answer[0].get("raised") if isinstance(answer[0], dict) else None
    if isinstance(raised, dict) and raised.get("type") == "ZeroDivisionError":
        raise CheckFailed(
            "warmup_updates = 0 divided by zero; it should mean 'no warm-up': the target at once.",
            tried=f"kl_warmup_weight(0, 0, target={target:g})",
            expected=f"{target:g}",
            got="ZeroDivisionError",
        )
    got = _weights(answer[:-1])  # the last call is the companion
    if np.allclose(got, target, atol=1e-6):
        _mid_ramp_verdict(inputs, answer, "warmup_updates = 0 means no warm-up")
        return
    what = "warmup_updates = 0 means no warm-up: the weight is the target from step 0."
    if np.allclose(got, 1.0, atol=1e-6):
        what = (
            "warmup_updates = 0 returned 1, not the target: with no warm-up the weight is "
            "target (beta) from the first update, whatever target is."
        )
    raise CheckFailed(
        what,
        tried=f"steps {list(inputs['steps'])} with warmup_updates = 0, target = {target:g}",
        expected=_rounded([target, target]),
        got=_rounded(got),
    )


# --------------------------------------------------------------------------- KLWarmup

kl_warmup_callback_exercise = exercise(
    "kl_warmup_callback",
    lesson=LESSON,
    points=8,
    symbol="KLWarmup",
    description="a keras.callbacks.Callback setting the VAE's KL weight to schedule(step) "
    "before every update, step = the updates done so far",
    hints=(
        "Keras calls a callback's hooks around each epoch and around each batch, with the "
        "model being trained in self.model; pick the hook that runs BEFORE an update.",
        "The step to ask the schedule about is the number of updates done since training "
        "began: the optimizer counts them (self.model.optimizer.iterations, a variable; int() "
        "reads it). The batch number Keras passes to the hook starts again at 0 every epoch.",
        "With steps_per_execution > 1 Keras runs several updates per call from Python and "
        "calls the batch hooks once per call: a counter of your own counts calls, the "
        "optimizer counts updates.",
        "The compiled training step reads the KL weight from a variable: change the value "
        "of that variable (the VAE's kl_weight property does it), never replace it.",
    ),
)

FIT_EPOCHS = 2


def _check_is_callback(KLWarmup: Any) -> None:
    import keras

    if not (isinstance(KLWarmup, type) and issubclass(KLWarmup, keras.callbacks.Callback)):
        raise CheckFailed(
            "KLWarmup should be a class that subclasses keras.callbacks.Callback.",
            expected="class KLWarmup(keras.callbacks.Callback)",
            got=repr(KLWarmup)[:80],
        )


def _fit_with(
    KLWarmup: Any,
    schedule: Any,
    batch: np.ndarray,
    *,
    batches_per_epoch: int,
    steps_per_execution: int,
    jit_compile: bool,
) -> Any:
    """Fit a small real VAE on the KL term alone with the student's callback.

    Every batch of every epoch holds the images of ``batch``, and the learning rate is 0:
    the KL of every update is the same number, so the loss of each update, ``kl_weight *
    KL``, gives the weight used to float32 precision (a model that learned would drive its
    KL toward 0 within an update or two, and the weight would drown in rounding).
    After every call of the compiled step, a recorder logs
    the epoch, the optimizer's update count and Keras' running means of ``loss`` and
    ``kl_loss`` over the epoch (and ``float(model.kl_weight)``); the verdict recovers from
    them the weight the compiled step really used in each call. Returns the rows
    ``[epoch, updates, mean loss, mean KL, model.kl_weight]``.
    """
    import keras

    from vae_tf.models import VAE

    _check_is_callback(KLWarmup)
    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=2, hidden_units=8, kl_weight=0.0, reconstruction_weight=0.0, seed=0)
    model.compile(
        keras.optimizers.SGD(learning_rate=0.0),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    rows: list[list[float]] = []

    class Record(keras.callbacks.Callback):
        epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            logs = logs or {}
            rows.append(
                [
                    float(self.epoch),
                    float(int(model.optimizer.iterations.numpy())),
                    float(logs.get("loss", np.nan)),
                    float(logs.get("kl_loss", np.nan)),
                    float(model.kl_weight),
                ]
            )

    model.fit(
        np.tile(batch, (batches_per_epoch, 1, 1, 1)),
        epochs=FIT_EPOCHS,
        batch_size=len(batch),
        shuffle=False,
        verbose=0,
        callbacks=[KLWarmup(schedule), Record()],
    )
    return describe(np.asarray(rows, dtype=np.float64))


@judge_only
def _used_weights(answer: Any, calls: int, per_call: int) -> tuple[np.ndarray, np.ndarray]:
    """The weight each call of the compiled step used, and ``model.kl_weight`` after it.

    Keras logs running means over the epoch; ``mean x updates so far`` is a running sum,
    and the difference of two running sums is the loss (or KL) of the updates between them.
    """
    raise_if_raised(answer)
    rows = array_of(answer, "the logged losses").astype(np.float64)
    if rows.ndim != 2 or rows.shape != (calls, 5):
        raise CheckFailed(
            f"fit did not run {FIT_EPOCHS} epochs of {calls // FIT_EPOCHS} calls with the "
            "callback.",
            got=f"{len(rows)} calls logged",
        )
    epoch, updates, loss, kl, attribute = rows.T
    if not np.array_equal(updates, per_call * np.arange(1, calls + 1)):
        raise CheckFailed(
            "fit did not make one update per batch: the callback changed the training itself.",
            got=f"update counts {updates.tolist()}",
        )
    used = np.empty(calls)
    epoch_start = loss_before = kl_before = 0.0
    for call in range(calls):
        if call == 0 or epoch[call] != epoch[call - 1]:
            epoch_start, loss_before, kl_before = updates[call] - per_call, 0.0, 0.0
        done = updates[call] - epoch_start  # updates of this epoch so far
        loss_sum, kl_sum = loss[call] * done, kl[call] * done
        used[call] = (loss_sum - loss_before) / max(kl_sum - kl_before, 1e-30)
        loss_before, kl_before = loss_sum, kl_sum
    return used, attribute


@judge_only
def _diagnose_fit(
    used: np.ndarray, attribute: np.ndarray, schedule: Any, per_call: int, per_epoch: int
) -> str:
    calls = len(used)
    steps = per_call * np.arange(calls)  # updates done before each call
    expected = np.asarray([schedule(step) for step in steps], dtype=np.float64)

    def same(values: Any) -> bool:
        return bool(np.allclose(used, np.asarray(values, dtype=np.float64), atol=1e-4))

    if np.allclose(attribute, expected, atol=1e-4) and np.allclose(used, used[0], atol=1e-4):
        return (
            "model.kl_weight reports the schedule, but the compiled training step kept using "
            f"the weight of the first update ({used[0]:.4g}): the weight was stored where the "
            "compiled step does not read it (a Python number replacing the variable is frozen "
            "into the compiled step). Change the variable's value, e.g. through the "
            "model.kl_weight property."
        )
    if np.allclose(used, 0.0, atol=1e-6):
        return "The compiled step used weight 0 at every update: the KL weight was never changed."
    if same([schedule(i) for i in range(calls)]) and per_call > 1:
        return (
            "The step given to the schedule counts calls of the hook, not updates: with "
            f"steps_per_execution = {per_call} Keras runs {per_call} updates per call and calls "
            "the batch hooks once per call. Ask the optimizer how many updates were done "
            "(self.model.optimizer.iterations)."
        )
    calls_per_epoch = per_epoch // per_call
    epochs = np.arange(calls) // calls_per_epoch
    if same([schedule(per_call * (i % calls_per_epoch)) for i in range(calls)]) or same(
        [schedule(i % calls_per_epoch) for i in range(calls)]
    ):
        return (
            "The step starts again at 0 every epoch: the batch number Keras passes to the hook "
            "counts the batches of the epoch. The step is the number of updates since training "
            "began (self.model.optimizer.iterations)."
        )
    if same([schedule(e) for e in epochs]) or same([schedule(per_epoch * e) for e in epochs]):
        return (
            "The weight changes once per epoch, not before every update: set it in the hook "
            "that runs before each batch, with the number of updates done so far."
        )
    if same(np.r_[0.0, expected[:-1]]):
        return (
            "The weight is one update late: update t trained with schedule(t - 1). Set it in "
            "the hook that runs before the update, with the number of updates done so far."
        )
    if same([schedule(step + per_call) for step in steps]) or same(
        [schedule(step + 1) for step in steps]
    ):
        return (
            "The weight is one update ahead: update t trained with schedule(t + 1). The first "
            "update is step 0: use the number of updates done before it."
        )
    if np.allclose(used, used[0], atol=1e-4):
        return "The weight did not change between updates: it should be schedule(step) at each."
    if np.allclose(used, attribute, atol=1e-4):
        return (
            "The weight reaches the training step, but it is not schedule(step): the callback "
            "should use the schedule it was built with, whatever it is, not a formula of its own."
        )
    return "The weight used by the training step at each update should be schedule(step)."


def _fit_inputs(rng: np.random.Generator) -> Inputs:
    return {
        # Below 0.45: never a round number a fixed formula of the student's could match.
        "slope": round(float(rng.uniform(0.2, 0.45)), 3),
        "batch": rng.random((4, 28, 28, 1)).astype(np.float32),
    }


def _rising(slope: float) -> Any:
    def schedule(step: int) -> float:
        return slope * (int(step) + 1)

    return schedule


_FIT_UPDATES_PER_EPOCH = 3  # 6 updates in all, one per call from Python


def _callback_fit_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    return _fit_with(
        KLWarmup,
        _rising(inputs["slope"]),
        inputs["batch"],
        batches_per_epoch=_FIT_UPDATES_PER_EPOCH,
        steps_per_execution=1,
        jit_compile=False,
    )


@kl_warmup_callback_exercise.check(
    "the compiled step of fit uses schedule(step) at every update",
    probe=_callback_fit_probe,
    inputs=_fit_inputs,
)
def _callback_fit_verdict(inputs: Inputs, answer: Any) -> None:
    slope = inputs["slope"]
    per_epoch = _FIT_UPDATES_PER_EPOCH
    calls = FIT_EPOCHS * per_epoch
    schedule = _rising(slope)
    expected = [schedule(step) for step in range(calls)]
    used, attribute = _used_weights(answer, calls, 1)
    if np.allclose(used, expected, atol=1e-4):
        return
    raise CheckFailed(
        _diagnose_fit(used, attribute, schedule, 1, per_epoch),
        tried=f"a small VAE fitted {FIT_EPOCHS} epochs of {per_epoch} updates (tf.function) "
        f"with schedule = lambda step: {slope:g} * (step + 1); the weight used is read from "
        "the logged loss = weight x KL",
        expected=f"weights used {_rounded(expected)}",
        got=f"weights used {_rounded(used)}; model.kl_weight after each update "
        f"{_rounded(attribute)}",
    )


def _xla_inputs(rng: np.random.Generator) -> Inputs:
    return {
        "start": float(rng.integers(4, 9)) / 2.0,
        "batch": rng.random((2, 28, 28, 1)).astype(np.float32),
    }


def _decreasing(start: float) -> Any:
    def schedule(step: int) -> np.float32:
        return np.float32(start / (int(step) + 1))

    return schedule


_XLA_UPDATES_PER_EPOCH, _XLA_PER_CALL = 8, 2  # 4 calls from Python per epoch


def _callback_xla_probe(KLWarmup: Any, inputs: Inputs) -> Any:
    return _fit_with(
        KLWarmup,
        _decreasing(inputs["start"]),
        inputs["batch"],
        batches_per_epoch=_XLA_UPDATES_PER_EPOCH,
        steps_per_execution=_XLA_PER_CALL,
        jit_compile=True,
    )


@kl_warmup_callback_exercise.check(
    "follows any schedule, per update, in an XLA step running 2 updates per call",
    probe=_callback_xla_probe,
    inputs=_xla_inputs,
)
def _callback_xla_verdict(inputs: Inputs, answer: Any) -> None:
    start = inputs["start"]
    per_epoch = _XLA_UPDATES_PER_EPOCH
    calls = FIT_EPOCHS * per_epoch // _XLA_PER_CALL
    schedule = _decreasing(start)
    expected = [float(schedule(_XLA_PER_CALL * call)) for call in range(calls)]
    used, attribute = _used_weights(answer, calls, _XLA_PER_CALL)
    if np.allclose(used, expected, atol=1e-4):
        return
    raise CheckFailed(
        _diagnose_fit(used, attribute, schedule, _XLA_PER_CALL, per_epoch),
        tried=f"a small VAE fitted {FIT_EPOCHS} epochs of {per_epoch} updates with XLA "
        f"(jit_compile=True) and steps_per_execution = {_XLA_PER_CALL} (the batch hooks run "
        f"before updates 0, 2, 4, ...), schedule = lambda step: np.float32({start:g} / "
        "(step + 1))",
        expected=f"weights used per call {_rounded(expected)}",
        got=f"weights used per call {_rounded(used)}; model.kl_weight after each call "
        f"{_rounded(attribute)}",
    )
