"""Lesson 03's catalogue: typical wrong answers lose points and are named; other right answers pass.

Each wrong answer must lose at least one point, and the FIRST failed check's message must
name the mistake (the words asserted below). Each right answer, written differently from
the solution (TensorFlow instead of keras.ops, another formula, its own noise), gets full
marks. The catalogue runs through ``run_checks`` (in process); one wrong and one right
answer per exercise also go through the real grading path (sandbox, redacted package).
"""

from __future__ import annotations

import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

from vae_tf import losses
from vae_tf.grading.checking import run_checks
from vae_tf.models import VAE

SEEDS = (3, 11)


def first_failure(name: str, obj, seed: int) -> str:
    outcome = run_checks(name, obj, seed=seed)
    assert outcome.points < outcome.max_points, f"{name}: a wrong answer got full marks"
    return outcome.failures()[0].message


def assert_full_marks(name: str, obj, seed: int) -> None:
    outcome = run_checks(name, obj, seed=seed)
    assert outcome.passed, outcome.verdict()


# --------------------------------------------------------------------------- build_encoder


def _encoder(head, *, hidden=None, heads="two", mu_head=None, hidden_activation="relu"):
    """An encoder with one deliberate change from a right one (the defaults are right)."""

    def build_encoder(latent_dim, hidden_units):
        inputs = keras.Input(shape=(28, 28, 1))
        h = layers.Flatten()(inputs)
        h = layers.Dense(hidden or hidden_units, activation=hidden_activation)(h)
        if heads == "chunks_of_2":  # the original study's split
            out = layers.Dense(2 * latent_dim)(h)
            return keras.Model(inputs, [out[:, :2], out[:, 2:]])
        if heads == "one":
            return keras.Model(inputs, layers.Dense(2 * latent_dim)(h))
        mu = layers.Dense(latent_dim, activation=mu_head)(h)
        log_var = layers.Dense(latent_dim, activation=head)(h)
        return keras.Model(inputs, [mu, mu if heads == "same" else log_var])

    return build_encoder


def encoder_split_by_latent_dim(latent_dim, hidden_units):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Dense(hidden_units, activation="relu")(layers.Reshape((784,))(inputs))
    both = layers.Dense(2 * latent_dim)(h)
    mu, log_var = ops.split(both, 2, axis=-1)
    return keras.Model(inputs, [mu, log_var])


class SubclassedEncoder(keras.Model):
    """A subclassed encoder: it has no weights until its first call builds it."""

    def __init__(self, latent_dim, hidden_units):
        super().__init__()
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense(hidden_units, activation="relu")
        self.mu = layers.Dense(latent_dim)
        self.log_var = layers.Dense(latent_dim)

    def call(self, images):
        h = self.hidden(self.flatten(images))
        return [self.mu(h), self.log_var(h)]


def encoder_subclassed(latent_dim, hidden_units):
    return SubclassedEncoder(latent_dim, hidden_units)


def encoder_solution(latent_dim, hidden_units=512):
    # The solution notebook's encoder, as written there.
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    h = layers.Flatten()(inputs)
    h = layers.Dense(hidden_units, activation="relu", name="hidden")(h)
    mu = layers.Dense(latent_dim, name="mu")(h)
    log_var = layers.Dense(latent_dim, name="log_var")(h)
    return keras.Model(inputs, [mu, log_var], name="encoder")


ENCODER_MISTAKES = {
    "split in chunks of 2": (_encoder(None, heads="chunks_of_2"), ["chunks of 2"]),
    "ReLU on log_var": (_encoder("relu"), ["log_var is never negative", "ReLU"]),
    "softplus on log_var": (_encoder("softplus"), ["log_var is never negative", "softplus"]),
    "exp on log_var": (_encoder("exponential"), ["log_var is never negative", "exp"]),
    "tanh on log_var": (_encoder("tanh"), ["log_var is bounded to [-1, 1]", "tanh", "0.61"]),
    "ReLU on mu": (_encoder(None, mu_head="relu"), ["mu is never negative", "ReLU"]),
    "sigmoid on mu": (_encoder(None, mu_head="sigmoid"), ["mu is never negative", "sigmoid"]),
    "tanh on mu": (_encoder(None, mu_head="tanh"), ["mu is bounded to [-1, 1]", "tanh"]),
    "a hidden layer with no activation": (
        _encoder(None, hidden_activation=None),
        ["linear function of the image", "no activation"],
    ),
    "the same head twice": (_encoder(None, heads="same"), ["same numbers"]),
    "hidden units hard-coded to 512": (_encoder(None, hidden=512), ["512 units"]),
    "one output instead of two": (_encoder(None, heads="one"), ["two tensors"]),
}


@pytest.mark.parametrize("mistake", ENCODER_MISTAKES)
def test_encoder_mistakes_lose_points_and_are_named(mistake):
    build_encoder, words = ENCODER_MISTAKES[mistake]
    for seed in SEEDS:
        message = first_failure("build_encoder", build_encoder, seed)
        assert all(word in message for word in words), message
        assert "earlier" not in message, message


ENCODER_RIGHT = {
    "the solution's own": encoder_solution,
    "two_dense_heads": _encoder(None),
    "ops_split": encoder_split_by_latent_dim,
    "a subclassed keras.Model": encoder_subclassed,
    "tanh hidden layer": _encoder(None, hidden_activation="tanh"),
}


@pytest.mark.parametrize("right", ENCODER_RIGHT)
def test_encoder_written_differently_gets_full_marks(right):
    for seed in SEEDS:
        assert_full_marks("build_encoder", ENCODER_RIGHT[right], seed)


# ---- seed sweep: build_encoder (tests/test_seed_sweep.py runs these over many seeds)
SWEEP_RIGHT_ENCODER = {"build_encoder": dict(ENCODER_RIGHT)}
SWEEP_WRONG_ENCODER = {
    "build_encoder": {mistake: obj for mistake, (obj, _) in ENCODER_MISTAKES.items()}
}


# --------------------------------------------------------------------------- Sampling


def _sampling(draw):
    class Sampling(keras.layers.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs):
            mu, log_var = inputs
            return draw(self, mu, log_var)

    return Sampling


def _normal(layer, mu):
    return keras.random.normal(ops.shape(mu), seed=layer.seed_generator)


class CachedNoise(keras.layers.Layer):
    """Draws its noise on the first call and reuses it."""

    def call(self, inputs):
        mu, log_var = inputs
        if not hasattr(self, "eps"):
            self.eps = np.random.standard_normal(tuple(mu.shape)).astype(np.float32)
        return mu + ops.exp(0.5 * log_var) * self.eps[: mu.shape[0], : mu.shape[1]]


SAMPLING_MISTAKES = {
    "NumPy noise (frozen in a graph, unknown batch size)": (
        _sampling(
            lambda self, mu, log_var: (
                mu
                + ops.exp(0.5 * log_var)
                * np.random.standard_normal(tuple(mu.shape)).astype("float32")
            )
        ),
        "compiled function",
    ),
    "uniform noise of the right spread": (
        _sampling(
            lambda self, mu, log_var: (
                mu
                + ops.exp(0.5 * log_var)
                * keras.random.uniform(
                    ops.shape(mu), -np.sqrt(3.0), np.sqrt(3.0), seed=self.seed_generator
                )
            )
        ),
        "uniform",
    ),
    "log_var used as the standard deviation": (
        _sampling(lambda self, mu, log_var: mu + log_var * _normal(self, mu)),
        "log_var is used as the standard deviation",
    ),
    "the variance used as the standard deviation": (
        _sampling(lambda self, mu, log_var: mu + ops.exp(log_var) * _normal(self, mu)),
        "variance",
    ),
    "no noise (z = mu)": (_sampling(lambda self, mu, log_var: mu + 0.0 * log_var), "no noise"),
    "noise drawn once and reused": (CachedNoise, "not drawn afresh"),
    "computed in NumPy (no gradient)": (
        _sampling(
            lambda self, mu, log_var: (
                np.asarray(mu) + np.exp(0.5 * np.asarray(log_var)) * np.asarray(_normal(self, mu))
            )
        ),
        "No gradient",
    ),
}


@pytest.mark.parametrize("mistake", SAMPLING_MISTAKES)
def test_sampling_mistakes_lose_points_and_are_named(mistake):
    Sampling, words = SAMPLING_MISTAKES[mistake]
    for seed in SEEDS:
        assert words in first_failure("sampling", Sampling, seed)


SAMPLING_RIGHT = {
    "tensorflow": _sampling(
        lambda self, mu, log_var: mu + tf.exp(log_var / 2) * tf.random.normal(tf.shape(mu))
    ),
    "sqrt of the variance": _sampling(
        lambda self, mu, log_var: mu + ops.sqrt(ops.exp(log_var)) * _normal(self, mu)
    ),
}


@pytest.mark.parametrize("right", SAMPLING_RIGHT)
def test_sampling_written_differently_gets_full_marks(right):
    for seed in SEEDS:
        assert_full_marks("sampling", SAMPLING_RIGHT[right], seed)


# --------------------------------------------------------------------------- kl_divergence


def kl_numpy(mu, log_var):
    mu, log_var = np.asarray(mu), np.asarray(log_var)
    return -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)


KL_MISTAKES = {
    "NumPy (no gradient reaches the encoder)": (kl_numpy, "No gradient"),
    "without the 1/2": (
        lambda mu, log_var: -ops.sum(1 + log_var - mu**2 - ops.exp(log_var), axis=-1),
        "1/2 is missing",
    ),
    "sign flipped": (
        lambda mu, log_var: 0.5 * ops.sum(1 + log_var - mu**2 - ops.exp(log_var), axis=-1),
        "sign is flipped",
    ),
    "averaged over latent dimensions": (
        lambda mu, log_var: -0.5 * ops.mean(1 + log_var - mu**2 - ops.exp(log_var), axis=-1),
        "averaged over the latent dimensions",
    ),
    "no sum (wrong shape)": (
        lambda mu, log_var: -0.5 * (1 + log_var - mu**2 - ops.exp(log_var)),
        "one number per image",
    ),
    "averaged over the batch (wrong shape)": (
        lambda mu, log_var: ops.mean(
            -0.5 * ops.sum(1 + log_var - mu**2 - ops.exp(log_var), axis=-1)
        ),
        "one number per image",
    ),
    "the '1 +' left out": (
        lambda mu, log_var: -0.5 * ops.sum(log_var - mu**2 - ops.exp(log_var), axis=-1),
        "exactly 0",
    ),
}


@pytest.mark.parametrize("mistake", KL_MISTAKES)
def test_kl_mistakes_lose_points_and_are_named(mistake):
    kl_divergence, words = KL_MISTAKES[mistake]
    for seed in SEEDS:
        assert words in first_failure("kl_divergence", kl_divergence, seed)


KL_RIGHT = {
    "tensorflow": lambda mu, log_var: (
        -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mu) - tf.exp(log_var), axis=1)
    ),
    "per-dimension form": lambda mu, log_var: ops.sum(
        0.5 * (ops.square(mu) + ops.exp(log_var) - log_var - 1.0), axis=-1
    ),
}


@pytest.mark.parametrize("right", KL_RIGHT)
def test_kl_written_differently_gets_full_marks(right):
    for seed in SEEDS:
        assert_full_marks("kl_divergence", KL_RIGHT[right], seed)


# --------------------------------------------------------------------------- train_step


def kl_of(mu, log_var):
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)


def _step_class(
    *,
    sample="layer",
    apply=True,
    kl_weighted=True,
    reduce=ops.mean,
    report="trackers",
    weighted_report=False,
    weight="property",
    reported_loss="weighted",
):
    """A train_step with one deliberate change from a right one (the defaults are right)."""

    class MyVAE(VAE):
        def train_step(self, data):
            x = data
            kl_weight = self.kl_weight
            if weight == "float":
                kl_weight = float(self.kl_weight)
            elif weight == "numpy":  # in a graph TensorFlow raises NotImplementedError here
                kl_weight = float(ops.convert_to_numpy(self.kl_weight))
            with tf.GradientTape() as tape:
                mu, log_var = self.encoder(x, training=True)
                if sample == "layer":
                    z = self.sampling([mu, log_var])
                elif sample == "own":  # its own reparameterization, its own noise
                    z = mu + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mu))
                else:
                    z = mu
                logits = self.decoder(z, training=True)
                reconstruction = reduce(losses.reconstruction_loss(x, logits))
                kl = reduce(kl_of(mu, log_var))
                loss = self.reconstruction_weight * reconstruction + (
                    kl_weight * kl if kl_weighted else kl
                )
            if apply:
                gradients = tape.gradient(loss, self.trainable_weights)
                self.optimizer.apply(gradients, self.trainable_weights)
            reported_kl = kl_weight * kl if weighted_report else kl
            if report == "raw":
                return {"loss": loss, "reconstruction_loss": reconstruction, "kl_loss": reported_kl}
            if reported_loss == "unweighted":  # trains on the weighted loss, reports the total
                self.loss_tracker.update_state(reconstruction + kl)
            else:
                self.loss_tracker.update_state(loss)
            self.reconstruction_loss_tracker.update_state(reconstruction)
            self.kl_loss_tracker.update_state(reported_kl)
            if report == "wrong_keys":
                return {"total": self.loss_tracker.result()}
            return {metric.name: metric.result() for metric in self.metrics}

    return MyVAE


TRAIN_STEP_MISTAKES = {
    "no gradient applied": (_step_class(apply=False), "no gradient step was applied"),
    "KL weight ignored": (_step_class(kl_weighted=False), "kl_weight is not applied"),
    "metrics not updated (raw values returned)": (_step_class(report="raw"), "not updated"),
    "wrong return dict": (_step_class(report="wrong_keys"), "three metrics"),
    "loss summed over the batch": (_step_class(reduce=ops.sum), "summed over the batch"),
    "z = mu, not sampled": (_step_class(sample="none"), "not sampled"),
    "weighted KL reported": (_step_class(weighted_report=True), "weighted term"),
    "unweighted total reported as the loss": (
        _step_class(reported_loss="unweighted"),
        "the unweighted total",
    ),
    "kl_weight read as a float (frozen in the graph)": (_step_class(weight="float"), "compiled"),
    "kl_weight converted to NumPy in the step": (_step_class(weight="numpy"), "compiled"),
}


@pytest.mark.slow
@pytest.mark.parametrize("mistake", TRAIN_STEP_MISTAKES)
def test_train_step_mistakes_lose_points_and_are_named(mistake):
    MyVAE, words = TRAIN_STEP_MISTAKES[mistake]
    message = first_failure("train_step", MyVAE, SEEDS[0])
    assert words in message
    assert "not written yet" not in message


TRAIN_STEP_RIGHT = {
    "its own reparameterization": _step_class(sample="own"),
    "the package's sampling layer and the weight properties": _step_class(),
}


@pytest.mark.slow
@pytest.mark.parametrize("right", TRAIN_STEP_RIGHT)
def test_train_step_written_differently_gets_full_marks(right):
    assert_full_marks("train_step", TRAIN_STEP_RIGHT[right], SEEDS[0])


# A right train_step, as the lesson asks for it: it calls the student's own kl_divergence
# (exercise 3) by name. It is judged on its own: the checks put the judge's stand-ins in
# place of the names kl_divergence and Sampling while they run the step.
STEP_WITH_THE_STUDENTS_PARTS = """
class MyVAE(VAE):
    def train_step(self, data):
        x = as_images(data)
        with tf.GradientTape() as tape:
            mu, log_var = self.encoder(x, training=True)
            z = self.sampling([mu, log_var]) if SAMPLE_WITH_LAYER else Sampling()([mu, log_var])
            logits = self.decoder(z, training=True)
            reconstruction = ops.mean(losses.reconstruction_loss(x, logits))
            kl = ops.mean(kl_divergence(mu, log_var))
            loss = self.reconstruction_weight * reconstruction + self.kl_weight * kl
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}
"""


def step_with_parts(kl_divergence, Sampling, *, sample_with_layer=True):
    """MyVAE defined in a namespace (a notebook's) that holds these answers of exercises 2-3."""
    from vae_tf.models import as_images

    namespace = {
        "VAE": VAE,
        "as_images": as_images,
        "tf": tf,
        "ops": ops,
        "losses": losses,
        "kl_divergence": kl_divergence,
        "Sampling": Sampling,
        "SAMPLE_WITH_LAYER": sample_with_layer,
    }
    exec(STEP_WITH_THE_STUDENTS_PARTS, namespace)
    return namespace["MyVAE"], namespace


def _stub_kl(mu, log_var):
    raise NotImplementedError("Exercise kl_divergence: write the closed form")


OTHER_PARTS_WRONG = {
    "kl_divergence with a flipped sign": (KL_MISTAKES["sign flipped"][0], "variance"),
    "kl_divergence in NumPy, Sampling without noise": (kl_numpy, "no noise"),
    "kl_divergence still the stub": (_stub_kl, "variance"),
}


@pytest.mark.slow
@pytest.mark.parametrize("parts", OTHER_PARTS_WRONG)
@pytest.mark.parametrize("sample_with_layer", [True, False], ids=["self.sampling", "Sampling()"])
def test_a_right_train_step_gets_full_marks_whatever_the_other_exercises_got(
    parts, sample_with_layer
):
    kl_divergence, sampling_mistake = OTHER_PARTS_WRONG[parts]
    Sampling = next(obj for key, (obj, _) in SAMPLING_MISTAKES.items() if sampling_mistake in key)
    MyVAE, namespace = step_with_parts(kl_divergence, Sampling, sample_with_layer=sample_with_layer)
    assert_full_marks("train_step", MyVAE, SEEDS[0])
    # The student's names are theirs again after the checks.
    assert namespace["kl_divergence"] is kl_divergence and namespace["Sampling"] is Sampling


# --------------------------------------------------------------------------- item 6: the weights


def test_kl_weight_is_a_variable_that_a_callback_changes_inside_a_compiled_fit():
    # The documented way: model.kl_weight = value from outside, self.kl_weight in the step.
    model = VAE(latent_dim=2, hidden_units=8, kl_weight=1.0, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=False, steps_per_execution=1)
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")

    class Halve(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.kl_weight = 1.0 if epoch == 0 else 0.25

    history = model.fit(x, batch_size=32, epochs=2, verbose=0, shuffle=False, callbacks=[Halve()])
    loss, reconstruction, kl = (
        np.array(history.history[k]) for k in ("loss", "reconstruction_loss", "kl_loss")
    )
    # The learning rate is 0, so only the weight changed between the epochs (the noise too).
    np.testing.assert_allclose(loss, reconstruction + np.array([1.0, 0.25]) * kl, rtol=1e-5)
    assert float(model.kl_weight) == pytest.approx(0.25)


# --------------------------------------------------------------------------- the grading path

GRADED_CELLS = {
    "build_encoder": (
        """
        import keras
        from keras import layers

        def build_encoder(latent_dim, hidden_units):
            inputs = keras.Input(shape=(28, 28, 1))
            h = layers.Dense(hidden_units, activation="relu")(layers.Flatten()(inputs))
            mu = layers.Dense(latent_dim)(h)
            log_var = layers.Dense(latent_dim, activation={head!r})(h)
            return keras.Model(inputs, [mu, log_var])
        """,
        {"head": "relu"},
        {"head": None},
    ),
    "sampling": (
        """
        import keras
        import numpy as np
        import tensorflow as tf

        class Sampling(keras.layers.Layer):
            def call(self, inputs):
                mu, log_var = inputs
                eps = {noise}
                return mu + tf.exp(0.5 * log_var) * eps
        """,
        {"noise": "np.random.standard_normal(tuple(mu.shape)).astype('float32')"},
        {"noise": "tf.random.normal(tf.shape(mu))"},
    ),
    "kl_divergence": (
        """
        import numpy as np
        import tensorflow as tf

        def kl_divergence(mu, log_var):
            return -0.5 * {module}.sum(1 + log_var - mu**2 - {module}.exp(log_var), axis=-1)
        """,
        {"module": "np"},
        {"module": "tf.experimental.numpy"},
    ),
    "train_step": (
        """
        import tensorflow as tf
        from vae_tf import losses
        from vae_tf.models import VAE

        def kl_term(mu, log_var):
            return -0.5 * tf.reduce_sum(1 + log_var - mu**2 - tf.exp(log_var), axis=-1)

        class MyVAE(VAE):
            def train_step(self, data):
                x = data
                with tf.GradientTape() as tape:
                    mu, log_var = self.encoder(x, training=True)
                    z = mu + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mu))
                    reconstruction = tf.reduce_mean(
                        losses.reconstruction_loss(x, self.decoder(z, training=True))
                    )
                    kl = tf.reduce_mean(kl_term(mu, log_var))
                    loss = self.reconstruction_weight * reconstruction + {kl_term}
                gradients = tape.gradient(loss, self.trainable_weights)
                self.optimizer.apply(gradients, self.trainable_weights)
                for tracker, value in zip(self.metrics, (loss, reconstruction, kl)):
                    tracker.update_state(value)
                return {{m.name: m.result() for m in self.metrics}}
        """,
        {"kl_term": "kl"},
        {"kl_term": "self.kl_weight * kl"},
    ),
}


@pytest.mark.slow
def test_one_wrong_and_one_right_answer_per_exercise_through_the_sandbox(tmp_path):
    # The real grading path: the worker in the sandbox with the redacted package.
    from vae_tf.grading.notebook_code import ExerciseCode
    from vae_tf.grading.redact import redacted_package
    from vae_tf.grading.sandbox import run_sandbox

    names = list(GRADED_CELLS)
    package = redacted_package("03_vae", tmp_path)

    def graded(variant: int):
        cells = [
            (name, textwrap.dedent(GRADED_CELLS[name][0]).format(**GRADED_CELLS[name][variant]))
            for name in names
        ]
        code = ExerciseCode(path=f"v{variant}.ipynb", lesson="03_vae", exercises=names, cells=cells)
        return run_sandbox(code, timeout=300, memory_mb=3000, seed=5, package=package)

    wrong, right = graded(1), graded(2)
    assert right.status == "ok" and wrong.status == "ok", (right.message, wrong.message)
    for name in names:
        assert right.exercises[name].passed, right.exercises[name].verdict()
        assert wrong.exercises[name].points < wrong.exercises[name].max_points, name


@pytest.mark.slow
def test_a_right_train_step_passes_in_the_sandbox_next_to_a_wrong_kl_and_sampling():
    # Issue 16: one mistake costs points in one exercise. The step calls the student's
    # kl_divergence (NumPy, sign flipped) and Sampling (NumPy noise) by name; while grading,
    # the package's own answers are redacted, and the checks judge the step with stand-ins.
    from catalogue import graded_in_sandbox

    cells = {
        "sampling": """
            import keras
            import numpy as np
            import tensorflow as tf

            class Sampling(keras.layers.Layer):
                def call(self, inputs):
                    mu, log_var = inputs
                    eps = np.random.standard_normal(tuple(mu.shape)).astype("float32")
                    return mu + tf.exp(0.5 * log_var) * eps
        """,
        "kl_divergence": """
            import numpy as np

            def kl_divergence(mu, log_var):
                mu, log_var = np.asarray(mu), np.asarray(log_var)
                return 0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=-1)
        """,
        "train_step": "import tensorflow as tf\nfrom keras import ops\nfrom vae_tf import losses\n"
        "from vae_tf.models import VAE, as_images\nSAMPLE_WITH_LAYER = False\n"
        + STEP_WITH_THE_STUDENTS_PARTS,
    }
    exercises = graded_in_sandbox("03_vae", cells, seed=7)
    assert exercises["train_step"].passed, exercises["train_step"].verdict()
    for name in ("sampling", "kl_divergence"):
        assert exercises[name].points < exercises[name].max_points, name


def test_the_stand_ins_the_train_step_checks_use_earn_no_points_as_answers():
    # The sandbox holds the stand-ins (the worker runs the probes), so a student can import
    # them: they must be no answer to exercises 2 and 3.
    from vae_tf.grading.exercises import lesson_03_vae

    stand_in_kl = lesson_03_vae._stand_in_kl({"kl_divergence": False})
    eps = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    for seed in SEEDS:
        assert "closed-form" in first_failure("kl_divergence", stand_in_kl, seed)
        assert not run_checks("sampling", lesson_03_vae._fixed_sampling(eps), seed=seed).passed


# --------------------------------------------------------------------------- the seed sweep
# (tests/test_seed_sweep.py) of sampling, kl_divergence and train_step: every right answer
# gets full points, every wrong one loses a point, on every seed.

SWEEP_RIGHT_PARTS = {
    "sampling": {
        "keras.random with the seed generator": _sampling(
            lambda self, mu, log_var: mu + ops.exp(0.5 * log_var) * _normal(self, mu)
        ),
        **SAMPLING_RIGHT,
    },
    "kl_divergence": {
        "keras.ops, the lesson's form": kl_of,
        **KL_RIGHT,
    },
    "train_step": {
        **TRAIN_STEP_RIGHT,
        **{
            f"calls the student's parts ({parts})": step_with_parts(
                OTHER_PARTS_WRONG[parts][0],
                SAMPLING_MISTAKES["no noise (z = mu)"][0],
                sample_with_layer=False,
            )[0]
            for parts in OTHER_PARTS_WRONG
        },
    },
}
SWEEP_WRONG_PARTS = {
    "sampling": {mistake: obj for mistake, (obj, _) in SAMPLING_MISTAKES.items()},
    "kl_divergence": {mistake: obj for mistake, (obj, _) in KL_MISTAKES.items()},
    "train_step": {mistake: obj for mistake, (obj, _) in TRAIN_STEP_MISTAKES.items()},
}

SWEEP_RIGHT = {**SWEEP_RIGHT_ENCODER, **SWEEP_RIGHT_PARTS}
SWEEP_WRONG = {**SWEEP_WRONG_ENCODER, **SWEEP_WRONG_PARTS}
