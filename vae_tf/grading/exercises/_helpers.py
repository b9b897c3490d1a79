"""Small helpers shared by the check modules (this module registers no exercise).

Probes (worker side) call the student's object and describe what it returned with
:func:`vae_tf.grading.answers.describe`; verdicts (judge side) read those descriptions
with :func:`vae_tf.grading.answers.array_of` and friends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_tf.grading.answers import array_of, describe, exception_record
from vae_tf.grading.registry import CheckFailed, judge_only

Call = tuple[tuple[Any, ...], dict[str, Any]]


def tensor(array: Any) -> Any:
    """A float32 TensorFlow constant (TensorFlow is imported only by lessons that need it)."""
    import tensorflow as tf

    return tf.constant(np.asarray(array, dtype=np.float32))


def keras_message(error: BaseException) -> str:
    """The student's own message from inside Keras' "Exception encountered when calling" wrapper."""
    text = str(error)
    if "\x1b[1m" in text and "\x1b[0m" in text:
        return text.split("\x1b[1m", 1)[1].split("\x1b[0m", 1)[0].strip()
    return text


def call_described(function: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``function(*args, **kwargs)`` described as plain data; an exception is recorded.

    The stub's ``NotImplementedError`` passes through, to be reported as "not written yet".
    """
    try:
        value = function(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001 - recorded; the verdict reports it
        return {"raised": exception_record(error)}
    return describe(value)


def call_each(function: Any, calls: list[Call], *, tensors: bool = False) -> list[dict[str, Any]]:
    """Each call of ``calls`` (``(args, kwargs)``) described; arrays become tensors if asked."""

    def convert(value: Any) -> Any:
        return tensor(value) if tensors and isinstance(value, np.ndarray) else value

    return [
        call_described(function, *map(convert, args), **{k: convert(v) for k, v in kwargs.items()})
        for args, kwargs in calls
    ]


def short(array: Any, precision: int = 4) -> str:
    """A few numbers of ``array``, for a message."""
    return np.array2string(np.asarray(array), precision=precision, separator=", ", threshold=12)


# --------------------------------------------------------------------------- controlled networks
#
# A check that asks "can this head take any real value?" or "is this network nonlinear?"
# must give the same answer for every seed. Random weights do not: a random bias can
# dominate an output and hide its sign. So the probes below set every weight of the
# student's network by rule instead (probe side), and the verdicts read only the raw
# outputs (judge side):
#
# - biases, ``beta`` and ``moving_mean`` are 0, ``gamma`` and ``moving_variance`` are 1:
#   with them every layer of a ReLU network is positively homogeneous, f(c x) = c f(x),
#   so scaling the input by c scales every pre-activation by c (BatchNormalization in
#   inference mode becomes a fixed scale, never a division by a negative variance);
# - every kernel is normal with He's scale and *doubly centred* (its sums over the inputs
#   of each unit and over the units fed by each input are 0), so that the common positive
#   mean of ReLU features cancels and every pre-activation is centred at 0 across inputs.


def set_controlled_weights(
    model: Any, sample: Any, seed: int, *, nonnegative_convolutions: bool = False
) -> None:
    """Set every weight of ``model`` by the rules above (after one call that builds it).

    Parameters
    ----------
    model : keras.Model
        The student's network; a subclassed model is built by calling it on ``sample``.
    sample : array
        One batch of valid inputs, e.g. ``(1, 28, 28, 1)`` images or ``(1, latent_dim)`` codes.
    seed : int
        Seed of the kernels' values.
    nonnegative_convolutions : bool
        Convolution kernels (3 axes or more) take ``|w|`` instead of centred values, so that
        on non-negative images every convolution's pre-activation is >= 0 and a ReLU after it
        acts as the identity: the convolutions are then linear, and only the Dense layers'
        activations can bend the network.
    """
    model(tensor(sample))  # builds a subclassed model; a functional one is built already
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if not np.dtype(getattr(variable.dtype, "name", variable.dtype)).kind == "f":
            continue
        name = str(getattr(variable, "name", "")).rsplit("/", 1)[-1]
        shape = tuple(int(size) for size in variable.shape)
        if name in ("bias", "beta", "moving_mean"):
            value = np.zeros(shape)
        elif name in ("gamma", "moving_variance"):
            value = np.ones(shape)
        elif len(shape) >= 2:
            std = np.sqrt(2.0 / max(int(np.prod(shape[:-1])), 1))
            if nonnegative_convolutions and len(shape) >= 3:
                value = np.abs(rng.normal(0.0, std, size=shape))
            else:
                value = _doubly_centred(rng.normal(0.0, 1.0, size=shape)) * std
        else:
            continue  # a weight of another kind (e.g. a PReLU slope) keeps its value
        variable.assign(np.asarray(value, dtype=np.float32))


def _doubly_centred(w: np.ndarray) -> np.ndarray:
    """``w`` with zero sums over every axis but the last and every axis but the one before.

    Dense kernels are (inputs, units); Conv2D kernels (h, w, inputs, filters) and
    Conv2DTranspose kernels (h, w, filters, inputs): centring both ways covers both
    conventions. Rescaled to unit standard deviation; a kernel too small to centre (one
    weight per unit) is left as drawn.
    """
    axes = tuple(range(w.ndim))
    centred = w - w.mean(axis=axes[:-1], keepdims=True)
    centred = centred - centred.mean(axis=axes[:-2] + axes[-1:], keepdims=True)
    spread = centred.std()
    return centred / spread if spread > 1e-3 else w


def outputs_described(model: Any, x: np.ndarray) -> list[dict[str, Any]] | dict[str, Any]:
    """``model(x)`` described: a list for several outputs (at most 4), a dict for one."""
    outputs = model(tensor(x))
    if isinstance(outputs, (list, tuple)):
        return [describe(output) for output in list(outputs)[:4]]
    return describe(outputs)


def kernel_shapes(model: Any) -> list[list[int]]:
    """The shape of every weight of two axes or more (the kernels), at most 200."""
    return [
        [int(size) for size in variable.shape]
        for variable in model.weights
        if len(variable.shape) >= 2
    ][:200]


@judge_only
def affine_residual(f_a: np.ndarray, f_b: np.ndarray, f_ab: np.ndarray, f_0: np.ndarray) -> float:
    """How far f is from affine on (a, b, a + b, 0), relative to the size of its outputs.

    ``f(a) + f(b) - f(a + b) - f(0)`` is 0 for an affine f whatever a and b are (up to
    float32 rounding, about 1e-6 of the outputs); a ReLU that switches between a, b and
    a + b makes it a sizeable fraction of them.
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in (f_a, f_b, f_ab, f_0)]
    scale = max(float(np.max(np.abs(v))) for v in arrays[:3])
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(arrays[0] + arrays[1] - arrays[2] - arrays[3])) / scale)


@judge_only
def finite_values(described: Any) -> np.ndarray:
    """The finite numbers of a described array (an exp head overflows on large inputs)."""
    array = described.get("array") if isinstance(described, dict) else None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        return np.zeros(0)
    values = array.astype(np.float64).ravel()
    return values[np.isfinite(values)]


@judge_only
def activation_named(values_small: np.ndarray, values_all: np.ndarray) -> str | None:
    """The kind of bounded output activation that raw outputs reveal, or None if unbounded.

    ``values_small`` are outputs at the smallest input scale (every one finite), and
    ``values_all`` the finite outputs at every scale, up to 1000 times larger inputs. A
    linear output takes both signs and grows with the input without bound.
    """
    low, high = float(values_small.min()), float(values_small.max())
    biggest = float(np.max(np.abs(values_all)))
    if low >= 0.0:
        if np.all((values_all >= 0.0) & (values_all <= 1.0)):
            return "sigmoid"
        if np.mean(values_small == 0.0) > 0.05:
            return "relu"
        return "positive"
    if high <= 0.0:
        return "nonpositive"
    if biggest <= 1.0 + 1e-6:
        return "tanh"
    return None


@judge_only
def head_activation_message(name: str, kind: str) -> tuple[str, str]:
    """The message and hint for an encoder head (``mu`` or ``log_var``) of a bounding activation.

    ``kind`` is what :func:`activation_named` found.
    """
    linear = f"leave the {name} head linear (a Dense layer with no activation)"
    if kind == "tanh":
        if name == "log_var":
            what = (
                "log_var is bounded to [-1, 1]: its head has a tanh (or another squashing "
                "activation), so sigma = exp(log_var / 2) can only lie between 0.61 and 1.65, "
                "while a trained encoder needs sigmas far below 1 (often near 0.1)."
            )
        else:
            what = (
                "mu is bounded to [-1, 1]: its head has a tanh (or another squashing "
                "activation), while the means of q(z|x) must spread over the prior N(0, I), "
                "beyond +-1."
            )
        return what, linear
    activation = {
        "sigmoid": "a sigmoid",
        "relu": "a ReLU",
        "positive": "softplus, exp or another positive activation",
        "nonpositive": "an activation that is never positive",
    }[kind]
    if kind == "nonpositive":
        what = f"{name} is never positive: its head has {activation}."
    elif name == "log_var":
        what = (
            f"log_var is never negative: its head has {activation} that bounds it. A "
            "log-variance below 0 (sigma < 1) must be possible."
        )
    else:
        what = (
            f"mu is never negative: its head has {activation}. The means of q(z|x) lie on "
            "both sides of 0, like the prior N(0, I) that the KL term pulls them toward."
        )
    if kind == "sigmoid":
        what += " It stays inside [0, 1] however large the input."
    return what, linear


@judge_only
def require_values(
    result: np.ndarray,
    expected: np.ndarray,
    explain: Any,
    *,
    what: str,
    rtol: float = 0.05,
    atol: float = 1e-3,
) -> None:
    """Fail unless ``result`` is close to ``expected``: a form check earns nothing for zeros.

    A check of the form of an answer (its shape, its type) would otherwise give a point to
    ``return zeros`` of the right shape. The tolerance is loose, so that the form check does
    not take over the values check's job; ``explain()`` is that values check, called first so
    that a wrong answer is named the same way whichever check sees it first. If it does not
    raise, ``what`` is the message.
    """
    result = np.asarray(result, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if result.shape == expected.shape and np.allclose(result, expected, rtol=rtol, atol=atol):
        return
    explain()
    raise CheckFailed(what, expected=short(expected), got=short(result))


# --------------------------------------------------------------------------- companion calls
#
# A check whose right answer is one constant (accuracy 1 on separated clusters, KL 0 at the
# prior, the target weight after the warm-up) gives a point to `return` that constant. So
# such checks make one more call, a *companion*, whose right answer is drawn afresh, and
# their verdict ends by checking it: a constant is right on at most one of the two.


def with_companion(inputs_function: Any, companion: Any) -> Any:
    """``inputs_function`` whose ``calls`` end with one more call, ``companion(rng)``.

    The check's own inputs are drawn first, from the same generator as before.
    """

    def inputs(rng: np.random.Generator) -> dict[str, Any]:
        drawn = inputs_function(rng)
        drawn["calls"] = [*drawn["calls"], companion(rng)]
        return drawn

    inputs.__name__ = getattr(inputs_function, "__name__", "inputs")
    return inputs


def then_companion(exercise: Any, companion_verdict: Any) -> None:
    """Every check of ``exercise`` ends with ``companion_verdict(inputs, answer, check_name)``.

    Its verdicts run first, unchanged, so a wrong answer is named as before; the companion
    verdict (judge side) reads the last call's answer.
    """

    def wrap(verdict: Any, name: str) -> Any:
        def verdict_then_companion(inputs: dict[str, Any], answer: Any) -> None:
            verdict(inputs, answer)
            companion_verdict(inputs, answer, name)

        return verdict_then_companion

    for check in exercise.checks:
        check.verdict = wrap(check.verdict, check.name)


# --------------------------------------------------------------------------- parameter counts
#
# model.count_params() is a fact the student's interpreter reports: a model can override it.
# The probe sends it together with the shape of every weight, and the verdict counts the
# parameters itself from those shapes and refuses a count that disagrees with them.


def parameters_described(model: Any) -> dict[str, Any]:
    """``model.count_params()`` and the shape of every weight (at most 200), for the judge."""
    return {
        "count": describe(int(model.count_params())),
        "shapes": [[int(size) for size in variable.shape] for variable in model.weights][:200],
    }


@judge_only
def counted_parameters(answer: Any, what: str) -> int:
    """The number of parameters, counted from the weights' shapes and checked against the
    reported ``count_params()``; a disagreement fails the check."""
    from vae_tf.grading.answers import number_of

    shapes = answer.get("shapes") if isinstance(answer, dict) else None
    if not isinstance(shapes, list) or not all(
        isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)
        for shape in shapes
    ):
        raise CheckFailed(f"The shapes of {what}'s weights could not be read.")
    counted = int(sum(int(np.prod(shape)) for shape in shapes))
    reported = int(number_of(answer["count"], f"{what}.count_params()"))
    if reported != counted:
        raise CheckFailed(
            f"{what}.count_params() does not match its own weights: the count must come from "
            "the model's layers, not be written in.",
            expected=f"{counted:,} (the sum of the sizes of its {len(shapes)} weights)",
            got=f"{reported:,}",
        )
    return counted


@judge_only
def require_correlated(
    result: np.ndarray, expected: np.ndarray, explain: Any, *, what: str, minimum: float = 0.25
) -> None:
    """Fail unless ``result`` follows ``expected`` (Pearson correlation of all values >= minimum).

    For pictures a VAE decodes: a wrong answer that decodes other codes with the same model
    still follows the reference (correlation about 0.5 to 0.9), while zeros, ones, random
    numbers or the input images do not (below 0.06). ``explain()`` names the mistake if it can.
    """
    result = np.asarray(result, dtype=np.float64).reshape(-1)
    expected = np.asarray(expected, dtype=np.float64).reshape(-1)
    if result.shape == expected.shape and result.std() > 0 and expected.std() > 0:
        if float(np.corrcoef(result, expected)[0, 1]) >= minimum:
            return
    explain()
    raise CheckFailed(what, expected=f"values like {short(expected[:4])}", got=short(result[:4]))


def also_probe(exercise: Any, extra_probe: Any, extra_verdict: Any, *, skip: tuple = ()) -> None:
    """Every check of ``exercise`` (but ``skip``) also sends ``extra_probe(obj)`` and ends with
    ``extra_verdict`` on it: e.g. "is convolutional", which a Dense-only network fails, so that
    it earns no other point either. The check's own verdict runs first, on its own answer.
    """

    def wrap_probe(probe: Any) -> Any:
        def probe_and_extra(obj: Any, inputs: dict[str, Any]) -> Any:
            return {"answer": probe(obj, inputs), "extra": extra_probe(obj)}

        return probe_and_extra

    def wrap_verdict(verdict: Any) -> Any:
        def verdict_and_extra(inputs: dict[str, Any], answer: Any) -> None:
            verdict(inputs, answer["answer"])
            extra_verdict(inputs, answer["extra"])

        return verdict_and_extra

    for check in exercise.checks:
        if check.name not in skip:
            check.probe = wrap_probe(check.probe)
            check.verdict = wrap_verdict(check.verdict)


# --------------------------------------------------------------------------- errors, stubs, gradients
#
# A check that runs the student's code where TensorFlow compiles it (tf.function, fit) records
# an error for the verdict to explain, while the lesson's stub still reads "not written yet";
# a check of what can be differentiated sends the gradients, and the verdict names the missing.


@judge_only
def require(condition: Any, what: str) -> None:
    """Fail with ``what`` unless ``condition``: for a mistake that an earlier check names, so
    that the message only says which check to fix first."""
    if not condition:
        raise CheckFailed(what)


def is_stub(error: BaseException) -> bool:
    """The lesson's stub raises NotImplementedError("Exercise ..."); TensorFlow's graph errors don't.

    Inside a compiled function TensorFlow prefixes the message with "in user code: ...".
    """
    text = keras_message(error).strip()
    return text.startswith("Exercise ") or "NotImplementedError: Exercise " in text


def stub_error(error: BaseException) -> NotImplementedError:
    """The stub's own message, without TensorFlow's wrapping."""
    text = keras_message(error).strip()
    if "NotImplementedError: Exercise " in text:
        text = "Exercise " + text.split("NotImplementedError: Exercise ", 1)[1].strip()
    return NotImplementedError(text)


def recorded(function: Any) -> Any:
    """``function()``, or ``{"raised": ...}`` when the student's code raised (not the stub,
    reported as "not written yet")."""
    try:
        return function()
    except NotImplementedError as error:
        if is_stub(error):
            raise stub_error(error) from None
        return {"raised": exception_record(error)}
    except Exception as error:  # noqa: BLE001 - reported by the verdict
        return {"raised": exception_record(error)}


@judge_only
def require_no_error(answer: Any, what: str, limit: int, **details: str) -> None:
    """Fail with ``what`` if the probe recorded an error (its message cut to ``limit``)."""
    if isinstance(answer, dict) and isinstance(answer.get("raised"), dict):
        record = answer["raised"]
        got = f"{str(record.get('type'))[:100]}: {str(record.get('message'))[:limit]}"
        raise CheckFailed(what, got=got, **details)


def gradients_described(function: Any, inputs: dict[str, Any], *, cast: bool = False) -> Any:
    """``function(mu, log_var)`` on variables of ``inputs["mu"]`` and ``inputs["log_var"]``, and
    the gradients of the sum of its values (cast to float32 first if ``cast``), described."""
    import tensorflow as tf

    mu, log_var = tf.Variable(inputs["mu"]), tf.Variable(inputs["log_var"])
    with tf.GradientTape() as tape:
        value = function(mu, log_var)
        total = tf.convert_to_tensor(value)
        total = tf.reduce_sum(tf.cast(total, tf.float32) if cast else total)
    grad_mu, grad_log_var = tape.gradient(total, [mu, log_var])
    return {"value": describe(value), "mu": describe(grad_mu), "log_var": describe(grad_log_var)}


@judge_only
def require_gradients(answer: Any, of: str, what: str, hint: str) -> None:
    """Fail if no gradient of the sum of ``of`` reaches mu or log_var (``what`` says so)."""
    missing = [name for name in ("mu", "log_var") if answer[name].get("type") == "NoneType"]
    if missing:
        raise CheckFailed(
            f"No gradient reaches {' and '.join(missing)}: {what}",
            tried=f"d(sum {of}) / d(mu) and d(sum {of}) / d(log_var) with tf.GradientTape",
            expected="a gradient for both",
            got=f"None for {' and '.join(missing)}",
            hint=hint,
        )


@judge_only
def gradients_of(answer: Any) -> tuple[np.ndarray, ...]:
    """The gradients that :func:`gradients_described` sent, with respect to mu and log_var."""
    return tuple(
        array_of(answer[name], "the gradient").astype(np.float64) for name in ("mu", "log_var")
    )
