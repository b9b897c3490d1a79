"""A catalogue of typical mistakes for the exercises of lessons 06 and 07, as tests.

For every exercise: at least four typical wrong answers, each of which loses at least one
point and whose FIRST failed check names that mistake, and at least two right answers
written differently (NumPy, TensorFlow, keras.ops, SciPy...), which get full points. The
whole catalogue runs through ``run_checks`` (as the self-check cell does); one wrong and
one right variant per exercise also go through the real grading path (the sandbox with the
redacted package, as the grader runs them; marked ``slow``).

``KLWarmup`` runs inside ``fit`` of a real VAE, compiled with ``tf.function`` and with XLA
running 2 updates per call: the checks read the weight that the compiled step really used at
each update from the logged losses. ``SWEEP_RIGHT`` / ``SWEEP_WRONG`` (at the end) hand every
answer to the seed sweep (``tests/test_seed_sweep.py``).
"""

from __future__ import annotations

import inspect
from itertools import pairwise

import numpy as np
import pytest
from catalogue import SEED, assert_full_points, first_failure, graded_in_sandbox

from vae_tf.grading import run_checks

# =========================================================================== lesson 06
# --------------------------------------------------------------------------- aggregate_moments


def moments_reference(codes):
    codes = np.asarray(codes, dtype=np.float64)
    return codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False))


def moments_by_hand(codes):
    codes = np.asarray(codes, dtype=np.float64)
    mean = codes.mean(axis=0)
    centred = codes - mean
    return mean, centred.T @ centred / (len(codes) - 1)


def moments_tensorflow(codes):
    import tensorflow as tf

    codes = tf.convert_to_tensor(codes, dtype=tf.float64)
    mean = tf.reduce_mean(codes, axis=0)
    centred = codes - mean
    count = tf.cast(tf.shape(codes)[0], tf.float64)
    return mean, tf.matmul(centred, centred, transpose_a=True) / (count - 1.0)


MOMENTS_RIGHT = {
    "numpy cov": moments_reference,
    "by hand": moments_by_hand,
    "tensorflow": moments_tensorflow,
}


@pytest.mark.parametrize("right", sorted(MOMENTS_RIGHT))
def test_aggregate_moments_right_answers_get_full_points(right):
    assert_full_points("aggregate_moments", MOMENTS_RIGHT[right])


MOMENTS_MISTAKES = {
    "np.cov without rowvar": (
        lambda c: (c.mean(axis=0), np.cov(c)),
        ["D x D", "each row as a variable"],
    ),
    "divided by N": (
        lambda c: (c.mean(axis=0), np.atleast_2d(np.cov(c, rowvar=False, bias=True))),
        ["divided by N", "N - 1"],
    ),
    "codes not centred": (
        lambda c: (c.mean(axis=0), c.T.astype(np.float64) @ c / (len(c) - 1)),
        ["not centred"],
    ),
    "0-d covariance for D = 1": (
        lambda c: (c.mean(axis=0), np.cov(c, rowvar=False)),
        ["D = 1", "(1, 1)"],
    ),
    "mean over the wrong axis": (
        lambda c: (c.mean(axis=1), np.atleast_2d(np.cov(c, rowvar=False))),
        ["one value per latent dimension"],
    ),
    "only the mean returned": (lambda c: c.mean(axis=0), ["two things"]),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a wrong answer overflows on purpose
@pytest.mark.parametrize("mistake", sorted(MOMENTS_MISTAKES))
def test_aggregate_moments_mistakes_lose_points_and_are_named(mistake):
    wrong, words = MOMENTS_MISTAKES[mistake]
    message = first_failure("aggregate_moments", wrong)
    assert all(word in message for word in words), message


# --------------------------------------------------------------------------- knn_latent_accuracy


def knn_numpy(train_codes, train_labels, test_codes, test_labels, k=5):
    train_codes, test_codes = np.asarray(train_codes), np.asarray(test_codes)
    distances = np.sum((test_codes[:, None, :] - train_codes[None, :, :]) ** 2, axis=-1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    votes = np.asarray(train_labels)[nearest]
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == np.asarray(test_labels)))


def knn_sklearn(train_codes, train_labels, test_codes, test_labels, k=5):
    from sklearn.neighbors import KNeighborsClassifier

    neighbours = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
    return float(neighbours.score(test_codes, test_labels))


def knn_scipy_cdist(train_codes, train_labels, test_codes, test_labels, k=5):
    from scipy.spatial.distance import cdist
    from scipy.stats import mode

    nearest = np.argpartition(cdist(test_codes, train_codes), k - 1, axis=1)[:, :k]
    predicted = mode(np.asarray(train_labels)[nearest], axis=1, keepdims=False).mode
    return float((predicted == np.asarray(test_labels)).mean())


KNN_RIGHT = {"numpy": knn_numpy, "sklearn": knn_sklearn, "scipy cdist": knn_scipy_cdist}


@pytest.mark.parametrize("right", sorted(KNN_RIGHT))
def test_knn_latent_accuracy_right_answers_get_full_points(right):
    assert_full_points("knn_latent_accuracy", KNN_RIGHT[right])


def _knn_percentage(*args, k=5):
    return 100 * knn_numpy(*args, k=k)


def _knn_count(train_codes, train_labels, test_codes, test_labels, k=5):
    return knn_numpy(train_codes, train_labels, test_codes, test_labels, k=k) * len(test_labels)


def _knn_nearest_only(train_codes, train_labels, test_codes, test_labels, k=5):
    return knn_numpy(train_codes, train_labels, test_codes, test_labels, k=1)


def _knn_neighbours_among_test_codes(train_codes, train_labels, test_codes, test_labels, k=5):
    # Leaks the answer: the neighbours (and their labels) come from the test set.
    return knn_numpy(test_codes, test_labels, test_codes, test_labels, k=k)


def _knn_farthest(train_codes, train_labels, test_codes, test_labels, k=5):
    distances = np.sum((np.asarray(test_codes)[:, None] - np.asarray(train_codes)[None]) ** 2, -1)
    nearest = np.argsort(-distances, axis=1)[:, :k]
    votes = np.asarray(train_labels)[nearest]
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == np.asarray(test_labels)))


def _knn_against_train_labels(train_codes, train_labels, test_codes, test_labels, k=5):
    from sklearn.neighbors import KNeighborsClassifier

    predicted = (
        KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels).predict(test_codes)
    )
    reference = np.asarray(train_labels)[: len(predicted)]
    return float(np.mean(predicted == reference))


def _knn_mean_label(train_codes, train_labels, test_codes, test_labels, k=5):
    distances = np.sum((np.asarray(test_codes)[:, None] - np.asarray(train_codes)[None]) ** 2, -1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
    predicted = np.rint(np.asarray(train_labels)[nearest].mean(axis=1))
    return float(np.mean(predicted == np.asarray(test_labels)))


def _knn_skips_the_nearest(train_codes, train_labels, test_codes, test_labels, k=5):
    # The leave-one-out habit: drops the nearest code, as if it were the test code itself.
    distances = np.sum((np.asarray(test_codes)[:, None] - np.asarray(train_codes)[None]) ** 2, -1)
    nearest = np.argsort(distances, axis=1, kind="stable")[:, 1 : k + 1]
    votes = np.asarray(train_labels)[nearest]
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float(np.mean(predicted == np.asarray(test_labels)))


KNN_MISTAKES = {
    "vote by mean label": (_knn_mean_label, ["averaged", "majority vote"]),
    "nearest neighbour skipped": (_knn_skips_the_nearest, ["nearest training code was skipped"]),
    "a percentage": (_knn_percentage, ["percentage"]),
    "a count": (_knn_count, ["number of right answers"]),
    "k ignored (nearest only)": (_knn_nearest_only, ["k argument", "neighbours vote"]),
    "neighbours among the test codes": (_knn_neighbours_among_test_codes, ["test_labels"]),
    "farthest neighbours": (_knn_farthest, ["k nearest", "smallest distances"]),
    "scored against the training labels": (_knn_against_train_labels, ["test_labels"]),
}


@pytest.mark.parametrize("mistake", sorted(KNN_MISTAKES))
def test_knn_latent_accuracy_mistakes_lose_points_and_are_named(mistake):
    wrong, words = KNN_MISTAKES[mistake]
    message = first_failure("knn_latent_accuracy", wrong)
    assert all(word in message for word in words), message


# =========================================================================== lesson 07
# --------------------------------------------------------------------------- iwae_bound


def iwae_keras(log_weights):
    from keras import ops

    log_weights = ops.convert_to_tensor(log_weights)
    return ops.logsumexp(log_weights, axis=1) - np.log(log_weights.shape[1])


def iwae_tensorflow(log_weights):
    import tensorflow as tf

    log_weights = tf.convert_to_tensor(log_weights)
    k = tf.cast(tf.shape(log_weights)[1], log_weights.dtype)
    return tf.reduce_logsumexp(log_weights, axis=1) - tf.math.log(k)


def iwae_scipy(log_weights):
    from scipy.special import logsumexp

    log_weights = np.asarray(log_weights, dtype=np.float64)
    return logsumexp(log_weights, axis=1, b=1.0 / log_weights.shape[1])


def iwae_shifted_numpy(log_weights):
    log_weights = np.asarray(log_weights, dtype=np.float64)
    top = log_weights.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.mean(np.exp(log_weights - top), axis=1))


IWAE_RIGHT = {
    "keras ops": iwae_keras,
    "tensorflow": iwae_tensorflow,
    "scipy": iwae_scipy,
    "shifted numpy": iwae_shifted_numpy,
}


@pytest.mark.parametrize("right", sorted(IWAE_RIGHT))
def test_iwae_bound_right_answers_get_full_points(right):
    assert_full_points("iwae_bound", IWAE_RIGHT[right])


def _iwae_naive(log_weights):
    return np.log(np.mean(np.exp(np.asarray(log_weights)), axis=1))


def _iwae_mean_of_logs(log_weights):
    return np.mean(np.asarray(log_weights), axis=1)


def _iwae_no_log_k(log_weights):
    import tensorflow as tf

    return tf.reduce_logsumexp(log_weights, axis=1)


def _iwae_wrong_axis(log_weights):
    from scipy.special import logsumexp

    return logsumexp(log_weights, axis=0) - np.log(np.shape(log_weights)[0])


def _iwae_negated(log_weights):
    return -iwae_scipy(log_weights)


def _iwae_one_number(log_weights):
    return float(np.mean(iwae_scipy(log_weights)))


IWAE_MISTAKES = {
    "log(mean(exp(.))) overflows and underflows": (_iwae_naive, ["underflows", "overflows"]),
    "mean of the log-weights instead of logsumexp - log k": (
        _iwae_mean_of_logs,
        ["mean of the log-weights", "log of the mean"],
    ),
    "log k forgotten": (_iwae_no_log_k, ["SUM", "log k"]),
    "wrong axis": (_iwae_wrong_axis, ["axis 1", "over the images"]),
    "sign flipped (-log p(x))": (_iwae_negated, ["sign is flipped"]),
    "one number for all images": (_iwae_one_number, ["one number for all images"]),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a wrong answer overflows on purpose
@pytest.mark.parametrize("mistake", sorted(IWAE_MISTAKES))
def test_iwae_bound_mistakes_lose_points_and_are_named(mistake):
    wrong, words = IWAE_MISTAKES[mistake]
    message = first_failure("iwae_bound", wrong)
    assert all(word in message for word in words), message


def test_iwae_bound_of_the_package_tightens_with_k_and_stays_below_minus_elbo():
    # The property the lesson shows: -IWAE_k <= -ELBO (k = 1 is the ELBO), and on average
    # the bound tightens as k grows; here on log-weights of a known spread.
    from vae_tf.evaluation import iwae_bound

    rng = np.random.default_rng(0)
    log_weights = rng.normal(-100.0, 3.0, size=(200, 64))
    bounds = [float(np.mean(iwae_bound(log_weights[:, :k]))) for k in (1, 4, 16, 64)]
    assert bounds[0] == pytest.approx(np.mean(log_weights[:, 0]), abs=1e-6)
    assert all(later > earlier for earlier, later in pairwise(bounds))
    assert bounds[-1] >= np.mean(log_weights) - 1e-9


# --------------------------------------------------------------------------- kl_warmup_weight


def warmup_reference(step, warmup_updates, target=1.0):
    if warmup_updates <= 0:
        return float(target)
    return float(target) * min(1.0, step / warmup_updates)


def warmup_numpy_clip(step, warmup_updates, target=1.0):
    progress = 1.0 if warmup_updates == 0 else np.clip(step / warmup_updates, 0.0, 1.0)
    return target * progress


def warmup_branches(step, warmup_updates, target=1.0):
    if step >= warmup_updates:
        return target
    return target * step / warmup_updates


WARMUP_RIGHT = {
    "reference": warmup_reference,
    "numpy clip": warmup_numpy_clip,
    "branches": warmup_branches,
}


@pytest.mark.parametrize("right", sorted(WARMUP_RIGHT))
def test_kl_warmup_weight_right_answers_get_full_points(right):
    assert_full_points("kl_warmup_weight", WARMUP_RIGHT[right])


WARMUP_MISTAKES = {
    "one update ahead": (
        lambda s, w, target=1.0: target if w <= 0 else target * min(1.0, (s + 1) / w),
        ["one update ahead"],
    ),
    "target reached one update early": (
        lambda s, w, target=1.0: target if w <= 1 else target * min(1.0, s / (w - 1)),
        ["one update early"],
    ),
    "one update late": (
        lambda s, w, target=1.0: target if w <= 0 else target * min(1.0, s / (w + 1)),
        ["one update late"],
    ),
    "division by zero": (lambda s, w, target=1.0: target * min(1.0, s / w), ["divided by zero"]),
    "not clipped": (
        lambda s, w, target=1.0: target if w <= 0 else target * s / w,
        ["never more"],
    ),
    "target ignored": (
        lambda s, w, target=1.0: warmup_reference(s, w),
        ["target weight (beta), not at 1"],
    ),
    "min(target, step / warmup_updates)": (
        lambda s, w, target=1.0: target if w <= 0 else min(target, s / w),
        ["capped at the target", "target x min(1, step / warmup_updates)"],
    ),
    "warmup_updates = 0 gives 1, not the target": (
        lambda s, w, target=1.0: 1.0 if w <= 0 else target * min(1.0, s / w),
        ["returned 1, not the target"],
    ),
}


@pytest.mark.parametrize("mistake", sorted(WARMUP_MISTAKES))
def test_kl_warmup_weight_mistakes_lose_points_and_are_named(mistake):
    wrong, words = WARMUP_MISTAKES[mistake]
    message = first_failure("kl_warmup_weight", wrong)
    assert all(word in message for word in words), message


def test_kl_warmup_weight_off_by_one_is_not_called_a_wrong_target():
    # Off by one update AND scaled to the target: the target check must not blame the target.
    outcome = run_checks("kl_warmup_weight", WARMUP_MISTAKES["one update ahead"][0], seed=SEED)
    messages = "\n".join(result.message for result in outcome.failures())
    assert "not at 1" not in messages, messages


# --------------------------------------------------------------------------- KLWarmup
# Each class below is checked inside fit of a real VAE (tf.function, then XLA with 2
# updates per call from Python): slow.

CALLBACK_HEAD = """
import keras
import numpy as np


class KLWarmup(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
"""

CALLBACK_RIGHT_BODIES = {
    "the kl_weight property from the optimizer's count": """
    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.model.kl_weight = float(self.schedule(step))
""",
    "assign on the variable": """
    def on_train_batch_begin(self, batch, logs=None):
        self.model._kl_weight.assign(self.schedule(int(self.model.optimizer.iterations)))
""",
}

CALLBACK_WRONG_BODIES = {
    "a Python number replacing the variable": """
    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.model._kl_weight = float(self.schedule(step))
""",
    "once per epoch (on_epoch_begin)": """
    def on_epoch_begin(self, epoch, logs=None):
        self.model.kl_weight = float(self.schedule(epoch))
""",
    "the batch number as the step": """
    def on_train_batch_begin(self, batch, logs=None):
        self.model.kl_weight = float(self.schedule(batch))
""",
    "a counter of hook calls": """
    def on_train_begin(self, logs=None):
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.kl_weight = float(self.schedule(self.step))
        self.step += 1
""",
    "counter raised before use (one update ahead)": """
    def on_train_begin(self, logs=None):
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.step += 1
        self.model.kl_weight = float(self.schedule(self.step))
""",
    "set after the update (one update late)": """
    def on_train_begin(self, logs=None):
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.model.kl_weight = float(self.schedule(self.step))
        self.step += 1
""",
    "the callback's own attribute": """
    def on_train_batch_begin(self, batch, logs=None):
        self.kl_weight = float(self.schedule(int(self.model.optimizer.iterations)))
""",
    "a fixed formula instead of the schedule": """
    def on_train_batch_begin(self, batch, logs=None):
        self.model.kl_weight = 0.5 * (int(self.model.optimizer.iterations) + 1)
""",
}

CALLBACK_MISTAKES = {
    "a Python number replacing the variable": ["kept using the weight of the first update"],
    "once per epoch (on_epoch_begin)": ["once per epoch"],
    "the batch number as the step": ["starts again at 0 every epoch", "iterations"],
    "a counter of hook calls": ["counts calls of the hook, not updates", "iterations"],
    "counter raised before use (one update ahead)": ["one update ahead"],
    "set after the update (one update late)": ["one update late"],
    "the callback's own attribute": ["never changed"],
    "a fixed formula instead of the schedule": ["the schedule it was built with"],
}


def callback_class(body: str) -> type:
    namespace: dict = {}
    exec(CALLBACK_HEAD + body, namespace)
    return namespace["KLWarmup"]


@pytest.mark.slow
@pytest.mark.parametrize("right", sorted(CALLBACK_RIGHT_BODIES))
def test_kl_warmup_callback_right_answers_get_full_points(right):
    assert_full_points("kl_warmup_callback", callback_class(CALLBACK_RIGHT_BODIES[right]))


@pytest.mark.slow
@pytest.mark.parametrize("mistake", sorted(CALLBACK_MISTAKES))
def test_kl_warmup_callback_mistakes_lose_points_and_are_named(mistake):
    message = first_failure("kl_warmup_callback", callback_class(CALLBACK_WRONG_BODIES[mistake]))
    assert all(word in message for word in CALLBACK_MISTAKES[mistake]), message


def test_kl_warmup_callback_plain_class_is_named():
    class NotACallback:
        def __init__(self, schedule):
            self.schedule = schedule

    message = first_failure("kl_warmup_callback", NotACallback)
    assert "keras.callbacks.Callback" in message


# --------------------------------------------------------------------------- the seed sweep
# ``tests/test_seed_sweep.py`` runs every answer below over many seeds.

SWEEP_RIGHT = {
    "aggregate_moments": MOMENTS_RIGHT,
    "knn_latent_accuracy": KNN_RIGHT,
    "iwae_bound": IWAE_RIGHT,
    "kl_warmup_weight": WARMUP_RIGHT,
    "kl_warmup_callback": {
        name: callback_class(body) for name, body in CALLBACK_RIGHT_BODIES.items()
    },
}
SWEEP_WRONG = {
    "aggregate_moments": {name: wrong for name, (wrong, _) in MOMENTS_MISTAKES.items()},
    "knn_latent_accuracy": {name: wrong for name, (wrong, _) in KNN_MISTAKES.items()},
    "iwae_bound": {name: wrong for name, (wrong, _) in IWAE_MISTAKES.items()},
    "kl_warmup_weight": {name: wrong for name, (wrong, _) in WARMUP_MISTAKES.items()},
    "kl_warmup_callback": {
        name: callback_class(body) for name, body in CALLBACK_WRONG_BODIES.items()
    },
}


# --------------------------------------------------------------------------- the real grading path


def _cell(function) -> str:
    """The source of a module-level function of this file, renamed to the exercise's symbol."""
    return inspect.getsource(function)


def _renamed(function, name: str) -> str:
    return "import numpy as np\n\n" + _cell(function).replace(
        f"def {function.__name__}(", f"def {name}(", 1
    )


@pytest.mark.slow
def test_lesson_06_catalogue_through_the_sandbox_with_the_redacted_package():
    right = graded_in_sandbox(
        "06_loss_terms",
        {
            "aggregate_moments": _renamed(moments_by_hand, "aggregate_moments"),
            "knn_latent_accuracy": _renamed(knn_numpy, "knn_latent_accuracy"),
        },
        seed=SEED,
    )
    for name, outcome in right.items():
        assert outcome.passed, (name, outcome.verdict())
    wrong = graded_in_sandbox(
        "06_loss_terms",
        {
            "aggregate_moments": "import numpy as np\n\n\ndef aggregate_moments(codes):\n"
            "    return codes.mean(axis=0), np.atleast_2d(np.cov(codes, rowvar=False, bias=True))\n",
            "knn_latent_accuracy": "import numpy as np\n\n"
            + _cell(knn_numpy)
            + "\n\ndef knn_latent_accuracy(a, b, c, d, k=5):\n"
            "    return 100 * knn_numpy(a, b, c, d, k=k)\n",
        },
        seed=SEED,
    )
    moments, knn = wrong["aggregate_moments"], wrong["knn_latent_accuracy"]
    assert moments.points < moments.max_points and "divided by N" in moments.failures()[0].message
    assert knn.points < knn.max_points and "percentage" in knn.failures()[0].message


@pytest.mark.slow
def test_lesson_07_catalogue_through_the_sandbox_with_the_redacted_package():
    lesson = "07_beta_and_posterior_collapse"
    right = graded_in_sandbox(
        lesson,
        {
            "iwae_bound": _renamed(iwae_tensorflow, "iwae_bound"),
            "kl_warmup_weight": _renamed(warmup_numpy_clip, "kl_warmup_weight"),
            "kl_warmup_callback": CALLBACK_HEAD + CALLBACK_RIGHT_BODIES["assign on the variable"],
        },
        seed=SEED,
    )
    for name, outcome in right.items():
        assert outcome.passed, (name, outcome.verdict())
    wrong = graded_in_sandbox(
        lesson,
        {
            "iwae_bound": _renamed(_iwae_naive, "iwae_bound"),
            "kl_warmup_weight": "def kl_warmup_weight(step, warmup_updates, target=1.0):\n"
            "    return target * min(1.0, (step + 1) / max(warmup_updates, 1))\n",
            "kl_warmup_callback": CALLBACK_HEAD
            + CALLBACK_WRONG_BODIES["a Python number replacing the variable"],
        },
        seed=SEED,
    )
    expected_words = {
        "iwae_bound": "overflows",
        "kl_warmup_weight": "one update ahead",
        "kl_warmup_callback": "kept using the weight of the first update",
    }
    for name, word in expected_words.items():
        outcome = wrong[name]
        assert outcome.points < outcome.max_points, outcome.verdict()
        assert word in outcome.failures()[0].message, outcome.verdict()
