"""A catalogue of typical mistakes and of right answers for the exercises of lessons 01 and 02.

Each wrong answer must lose at least one point, and the FIRST check it fails must name the
mistake (the words asserted below come from that check's message). Each right answer, written
differently from the solution (TensorFlow instead of ``keras.ops``, an equivalent formula,
another API), must get full points. The catalogue runs through ``run_checks`` (the self-check
cell's path); one wrong and one right answer per exercise also go through the real grading
path (the worker in the sandbox with the redacted package, the judge in this process).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from catalogue import SEED, graded_in_sandbox
from keras import ops

from vae_tf.grading import run_checks
from vae_tf.grading.registry import exercises_of_lesson


def first_failure(name: str, obj) -> tuple[int, int, str]:
    """(points, max points, message of the first failed check) of ``obj`` for exercise ``name``."""
    outcome = run_checks(name, obj, seed=SEED)
    failed = outcome.failures()
    return outcome.points, outcome.max_points, failed[0].message if failed else ""


def assert_wrong(name: str, obj, *words: str) -> None:
    points, max_points, message = first_failure(name, obj)
    assert points < max_points, f"a wrong {name} got full points"
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in the first failure:\n{message}"


def assert_right(name: str, obj) -> None:
    outcome = run_checks(name, obj, seed=SEED)
    assert outcome.passed, outcome.verdict()


# --------------------------------------------------------------------------- scale_pixels


def scale_by_256(images):
    images = np.asarray(images)
    images = images[..., np.newaxis] if images.ndim == 3 else images
    return images.astype(np.float32) / 256.0


def scale_not_divided(images):
    images = np.asarray(images)
    images = images[..., np.newaxis] if images.ndim == 3 else images
    return images.astype(np.float32)


def scale_no_channel_axis(images):
    return np.asarray(images).astype(np.float32) / 255.0


def scale_float64(images):
    images = np.asarray(images)
    return (images[..., np.newaxis] if images.ndim == 3 else images) / 255.0


def scale_always_adds_axis(images):
    return np.asarray(images)[..., np.newaxis].astype(np.float32) / 255.0


def scale_modifies_input(images):
    if images.ndim == 3:
        images.shape = (*images.shape, 1)  # changes the caller's array
    return images.astype(np.float32) / 255.0


def scale_rounds_to_integers(images):
    images = np.asarray(images)
    images = images[..., np.newaxis] if images.ndim == 3 else images
    return (images / 255).astype(np.uint8).astype(np.float32)


SCALE_PIXELS_WRONG = {
    "divided by 256": (scale_by_256, ["divided by 256"]),
    "not divided": (scale_not_divided, ["not scaled"]),
    "no channel axis": (scale_no_channel_axis, ["channel axis is missing"]),
    "float64": (scale_float64, ["float64"]),
    "a second channel axis": (scale_always_adds_axis, ["second channel axis"]),
    "modifies its input": (scale_modifies_input, ["changed the shape of the array it was given"]),
    "rounded to integers": (scale_rounds_to_integers, ["rounded to whole numbers"]),
}


def scale_by_reshape(images):
    images = np.asarray(images)
    return images.reshape(len(images), 28, 28, 1).astype(np.float32) * np.float32(1 / 255)


def scale_with_expand_dims(images):
    images = np.asarray(images)
    if images.shape[-1] != 1:
        images = np.expand_dims(images, axis=-1)
    return np.true_divide(images, 255, dtype=np.float32)


def scale_with_tensorflow(images):
    scaled = tf.cast(tf.reshape(images, (-1, 28, 28, 1)), tf.float32) / 255.0
    return scaled.numpy()


SCALE_PIXELS_RIGHT = [scale_by_reshape, scale_with_expand_dims, scale_with_tensorflow]


@pytest.mark.parametrize("mistake", sorted(SCALE_PIXELS_WRONG))
def test_scale_pixels_catalogue_mistake_loses_a_point_and_is_named(mistake):
    obj, words = SCALE_PIXELS_WRONG[mistake]
    assert_wrong("scale_pixels", obj, *words)


@pytest.mark.parametrize("obj", SCALE_PIXELS_RIGHT, ids=lambda f: f.__name__)
def test_scale_pixels_catalogue_right_answer_gets_full_points(obj):
    assert_right("scale_pixels", obj)


# --------------------------------------------------------------------------- binarize


def binarize_unseeded(images, seed):
    return (np.random.default_rng().random(np.shape(images)) < images).astype(np.float32)


def binarize_global_reseeded(images, seed):
    np.random.seed(seed)
    return (np.random.rand(*np.shape(images)) < images).astype(np.float32)


def binarize_threshold(images, seed):
    return (np.asarray(images) > 0.5).astype(np.float32)


def binarize_reversed(images, seed):
    rng = np.random.default_rng(seed)
    return (rng.random(np.shape(images)) > images).astype(np.float32)


def binarize_fixed_coin(images, seed):
    rng = np.random.default_rng(seed)
    return (rng.random(np.shape(images)) < 0.5).astype(np.float32)


def binarize_booleans(images, seed):
    return np.random.default_rng(seed).random(np.shape(images)) < images


def binarize_float64(images, seed):
    return (np.random.default_rng(seed).random(np.shape(images)) < images).astype(float)


def binarize_all_zeros(images, seed):
    return np.zeros_like(images, dtype=np.float32)


BINARIZE_WRONG = {
    "no draw at all": (binarize_all_zeros, ["every pixel became 0", "nothing is drawn"]),
    "unseeded": (binarize_unseeded, ["same seed gave different images", "unseeded"]),
    "global generator reseeded": (binarize_global_reseeded, ["np.random.seed"]),
    "fixed threshold": (binarize_threshold, ["fixed threshold"]),
    "reversed comparison": (binarize_reversed, ["comparison is reversed"]),
    "coin of fixed bias": (binarize_fixed_coin, ["does not depend on the pixel's intensity"]),
    "booleans": (binarize_booleans, ["booleans"]),
    "float64": (binarize_float64, ["float64"]),
}


def binarize_with_where(images, seed):
    uniform = np.random.default_rng(seed).random(np.shape(images))
    return np.where(uniform < images, 1.0, 0.0).astype(np.float32)


def binarize_with_binomial(images, seed):
    return np.random.default_rng(seed).binomial(1, images).astype(np.float32)


def binarize_greater_equal(images, seed):
    uniform = np.random.default_rng(seed).uniform(size=np.shape(images))
    return np.greater(images, uniform).astype("float32")


BINARIZE_RIGHT = [binarize_with_where, binarize_with_binomial, binarize_greater_equal]


@pytest.mark.parametrize("mistake", sorted(BINARIZE_WRONG))
def test_binarize_catalogue_mistake_loses_a_point_and_is_named(mistake):
    obj, words = BINARIZE_WRONG[mistake]
    assert_wrong("binarize", obj, *words)


@pytest.mark.parametrize("obj", BINARIZE_RIGHT, ids=lambda f: f.__name__)
def test_binarize_catalogue_right_answer_gets_full_points(obj):
    assert_right("binarize", obj)


def test_binarize_reseeding_the_global_generator_passes_every_other_check():
    # The mistake is the generator, not the draws: only that check should fail.
    outcome = run_checks("binarize", binarize_global_reseeded, seed=SEED)
    assert [result.name for result in outcome.failures()] == [
        "draws from np.random.default_rng(seed)"
    ]


# --------------------------------------------------------------------------- reconstruction_loss


def _per_image(per_pixel):
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def loss_probability_space(x, logits):
    # Cross-entropy on probabilities, clipped as Keras clips them (1e-7) to avoid log(0).
    # (keras.ops.binary_crossentropy(x, ops.sigmoid(logits)) would quietly undo the sigmoid.)
    p = ops.clip(ops.sigmoid(logits), 1e-7, 1.0 - 1e-7)
    return -_per_image(x * ops.log(p) + (1 - x) * ops.log(1 - p))


def loss_naive_log(x, logits):
    p = ops.sigmoid(logits)
    return -_per_image(x * ops.log(p) + (1 - x) * ops.log(1 - p))


def loss_pixel_mean(x, logits):
    per_pixel = ops.binary_crossentropy(x, logits, from_logits=True)
    return ops.mean(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=-1)


def loss_batch_sum(x, logits):
    return ops.sum(ops.binary_crossentropy(x, logits, from_logits=True))


def loss_batch_mean(x, logits):
    return ops.mean(_per_image(ops.binary_crossentropy(x, logits, from_logits=True)))


def loss_wrong_sign(x, logits):
    return -_per_image(ops.binary_crossentropy(x, logits, from_logits=True))


def loss_double_sigmoid(x, logits):
    probabilities = tf.sigmoid(logits)
    return _per_image(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=probabilities))


def loss_squeezed(x, logits):
    return ops.squeeze(ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=(1, 2)))


def loss_in_numpy(x, logits):
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    per_pixel = np.logaddexp(0.0, logits) - x * logits
    return per_pixel.reshape(len(x), -1).sum(axis=1)


def loss_gradient_cut(x, logits):
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=tf.stop_gradient(logits))
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


RECONSTRUCTION_LOSS_WRONG = {
    "gradient cut": (loss_gradient_cut, ["no gradient reaches the logits"]),
    "sigmoid then cross-entropy on probabilities": (loss_probability_space, ["clipped", "16 nats"]),
    "naive log of the sigmoid": (loss_naive_log, ["not finite"]),
    "mean over pixels": (loss_pixel_mean, ["averaged over the pixels"]),
    "sum over the batch": (loss_batch_sum, ["summed over the batch"]),
    "mean over the batch": (loss_batch_mean, ["averaged over the batch"]),
    "wrong sign": (loss_wrong_sign, ["sign is flipped"]),
    "sigmoid before a from-logits loss": (loss_double_sigmoid, ["sigmoid was applied"]),
    "squeeze drops a batch of 1": (loss_squeezed, ["batch of 1 image", "squeeze"]),
    "NumPy, no gradient": (loss_in_numpy, ["compiled function", "NumPy"]),
}


def loss_with_tf_nn(x, logits):
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(x, tf.float32), logits=logits
    )
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


def loss_softplus_form(x, logits):
    return _per_image(ops.softplus(logits) - x * logits)


def loss_keras_losses(x, logits):
    # keras.losses averages over the last axis, of length 1 here: the sum over pixels remains.
    per_pixel = keras.losses.binary_crossentropy(x, logits, from_logits=True)
    return ops.sum(per_pixel, axis=(1, 2))


def loss_stable_formula(x, logits):
    per_pixel = ops.maximum(logits, 0.0) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    return _per_image(per_pixel)


RECONSTRUCTION_LOSS_RIGHT = [
    loss_with_tf_nn,
    loss_softplus_form,
    loss_keras_losses,
    loss_stable_formula,
]


@pytest.mark.parametrize("mistake", sorted(RECONSTRUCTION_LOSS_WRONG))
def test_reconstruction_loss_catalogue_mistake_loses_a_point_and_is_named(mistake):
    obj, words = RECONSTRUCTION_LOSS_WRONG[mistake]
    assert_wrong("reconstruction_loss", obj, *words)


@pytest.mark.parametrize("obj", RECONSTRUCTION_LOSS_RIGHT, ids=lambda f: f.__name__)
def test_reconstruction_loss_catalogue_right_answer_gets_full_points(obj):
    assert_right("reconstruction_loss", obj)


# --------------------------------------------------------------------------- build_decoder


def _decoder(latent_dim, *, inputs=None, hidden=512, activation="relu", last=None, shape=True):
    z = keras.Input(shape=(inputs or latent_dim,))
    h = keras.layers.Dense(hidden, activation=activation)(z)
    h = keras.layers.Dense(784, activation=last)(h)
    return keras.Model(z, keras.layers.Reshape((28, 28, 1))(h) if shape else h)


def decoder_sigmoid_output(latent_dim):
    return _decoder(latent_dim, last="sigmoid")


def decoder_flat_output(latent_dim):
    return _decoder(latent_dim, shape=False)


def decoder_hidden_256(latent_dim):
    return _decoder(latent_dim, hidden=256)


def decoder_tanh(latent_dim):
    return _decoder(latent_dim, activation="tanh")


def decoder_no_activation(latent_dim):
    return _decoder(latent_dim, activation=None)


def decoder_ignores_latent_dim(latent_dim):
    return _decoder(latent_dim, inputs=2)


def decoder_frozen_hidden(latent_dim):
    model = _decoder(latent_dim)
    model.layers[1].trainable = False
    return model


class FixedBatchDecoder(keras.Model):
    """Subclassed decoder that reshapes with the batch size read as a Python number."""

    def __init__(self, latent_dim):
        super().__init__()
        self.hidden = keras.layers.Dense(512, activation="relu")
        self.out = keras.layers.Dense(784)

    def call(self, z):
        return ops.reshape(self.out(self.hidden(z)), (int(z.shape[0]), 28, 28, 1))


BUILD_DECODER_WRONG = {
    "sigmoid output": (decoder_sigmoid_output, ["went through a sigmoid", "logits"]),
    "flat output": (decoder_flat_output, ["output is flat"]),
    "hidden width 256": (decoder_hidden_256, ["256 units"]),
    "tanh hidden layer": (decoder_tanh, ["activation is not relu"]),
    "no hidden activation": (decoder_no_activation, ["no activation"]),
    "ignores latent_dim": (decoder_ignores_latent_dim, ["ignores latent_dim"]),
    "frozen hidden layer": (decoder_frozen_hidden, ["frozen"]),
    "batch size fixed when traced": (FixedBatchDecoder, ["inside fit", "batch size"]),
}


def decoder_sequential(latent_dim):
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(28 * 28),
            keras.layers.Reshape((28, 28, 1)),
        ]
    )


class SubclassedDecoder(keras.Model):
    def __init__(self, latent_dim):
        super().__init__()
        self.hidden = keras.layers.Dense(512, activation=tf.nn.relu)
        self.out = keras.layers.Dense(784)

    def call(self, z):
        return ops.reshape(self.out(self.hidden(z)), (-1, 28, 28, 1))


def decoder_relu_layer(latent_dim):
    z = keras.Input(shape=(latent_dim,))
    h = keras.layers.ReLU()(keras.layers.Dense(512)(z))
    return keras.Model(z, keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784)(h)))


BUILD_DECODER_RIGHT = [decoder_sequential, SubclassedDecoder, decoder_relu_layer]


@pytest.mark.parametrize("mistake", sorted(BUILD_DECODER_WRONG))
def test_build_decoder_catalogue_mistake_loses_a_point_and_is_named(mistake):
    obj, words = BUILD_DECODER_WRONG[mistake]
    assert_wrong("build_decoder", obj, *words)


@pytest.mark.parametrize("obj", BUILD_DECODER_RIGHT, ids=lambda f: f.__name__)
def test_build_decoder_catalogue_right_answer_gets_full_points(obj):
    assert_right("build_decoder", obj)


# --------------------------------------------------------------------------- the real grading path

SOURCES = {
    "scale_pixels": {
        "wrong": """
import numpy as np


def scale_pixels(images):
    images = np.asarray(images)
    images = images[..., np.newaxis] if images.ndim == 3 else images
    return images.astype(np.float32) / 256.0
""",
        "right": """
import numpy as np


def scale_pixels(images):
    images = np.asarray(images)
    if images.shape[-1] != 1:
        images = np.expand_dims(images, axis=-1)
    return np.true_divide(images, 255, dtype=np.float32)
""",
    },
    "binarize": {
        "wrong": """
import numpy as np


def binarize(images, seed):
    np.random.seed(seed)
    return (np.random.rand(*np.shape(images)) < images).astype(np.float32)
""",
        "right": """
import numpy as np


def binarize(images, seed):
    uniform = np.random.default_rng(seed).random(np.shape(images))
    return np.where(uniform < images, 1.0, 0.0).astype(np.float32)
""",
    },
    "reconstruction_loss": {
        "wrong": """
import numpy as np


def reconstruction_loss(x, logits):
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    return (np.logaddexp(0.0, logits) - x * logits).reshape(len(x), -1).sum(axis=1)
""",
        "right": """
import tensorflow as tf


def reconstruction_loss(x, logits):
    per_pixel = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(x, tf.float32), logits=logits)
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])
""",
    },
    "build_decoder": {
        "wrong": """
import keras


def build_decoder(latent_dim):
    z = keras.Input(shape=(latent_dim,))
    h = keras.layers.Dense(512, activation="relu")(z)
    h = keras.layers.Dense(784, activation="sigmoid")(h)
    return keras.Model(z, keras.layers.Reshape((28, 28, 1))(h))
""",
        "right": """
import keras


def build_decoder(latent_dim):
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(28 * 28),
            keras.layers.Reshape((28, 28, 1)),
        ]
    )
""",
    },
}

GRADED = [
    # (lesson, the exercise answered wrongly, the other answered rightly, words of its failure)
    ("01_data", "scale_pixels", "binarize", "divided by 256"),
    ("01_data", "binarize", "scale_pixels", "np.random.seed"),
    ("02_autoencoder", "reconstruction_loss", "build_decoder", "compiled function"),
    ("02_autoencoder", "build_decoder", "reconstruction_loss", "went through a sigmoid"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("lesson", "wrong", "right", "words"), GRADED, ids=lambda v: str(v))
def test_catalogue_answers_graded_through_the_sandbox_and_the_judge(lesson, wrong, right, words):
    order = [exercise.name for exercise in exercises_of_lesson(lesson)]
    cells = {name: SOURCES[name]["wrong" if name == wrong else "right"] for name in order}
    exercises = graded_in_sandbox(lesson, cells, seed=SEED)
    wrong_outcome, right_outcome = exercises[wrong], exercises[right]
    assert right_outcome.passed, right_outcome.verdict()
    assert wrong_outcome.points < wrong_outcome.max_points
    assert words in wrong_outcome.failures()[0].message


# --------------------------------------------------------------------------- hints and stubs

EXERCISES = ["scale_pixels", "binarize", "reconstruction_loss", "build_decoder"]
LESSON_FILES = {"01_data": "01_data.ipynb", "02_autoencoder": "02_autoencoder.ipynb"}


def _solution_lines(source: str) -> list[str]:
    lines = source.splitlines()
    start = next(i for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines) if "### END SOLUTION" in line)
    return [
        line.strip()
        for line in lines[start + 1 : end]
        if line.strip() and not line.strip().startswith("#")
    ]


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_has_a_ladder_of_two_to_four_hints_none_holding_a_solution_line(name):
    import nbformat

    from vae_tf.grading.registry import get_exercise

    exercise = get_exercise(name)
    assert 2 <= len(exercise.hints) <= 4
    root = Path(__file__).resolve().parents[1]
    notebook = nbformat.read(root / "solutions" / LESSON_FILES[exercise.lesson], as_version=4)
    (cell,) = [
        cell
        for cell in notebook.cells
        if cell.metadata.get("vae_course", {}).get("exercise") == name
    ]
    solution = [line for line in _solution_lines(cell.source) if len(line) > 12]
    assert solution
    for text in exercise.hints:
        for line in solution:
            assert line not in text, f"hint {text!r} gives the solution line {line!r}"


@pytest.mark.parametrize("name", EXERCISES)
def test_lesson_stub_says_what_to_write_without_a_solution_line(name):
    import nbformat

    from vae_tf.grading.registry import get_exercise

    root = Path(__file__).resolve().parents[1]
    lesson = get_exercise(name).lesson
    solution_cell, stub_cell = (
        next(
            cell
            for cell in nbformat.read(root / folder / LESSON_FILES[lesson], as_version=4).cells
            if cell.metadata.get("vae_course", {}).get("exercise") == name
        )
        for folder in ("solutions", "lessons")
    )
    (stub,) = [line for line in stub_cell.source.splitlines() if "NotImplementedError" in line]
    assert "return" in stub  # it says what the function returns
    for line in _solution_lines(solution_cell.source):
        assert line not in stub_cell.source, f"the lesson holds the solution line {line!r}"


# --------------------------------------------------------------------------- the seed sweep
# Every answer above, for tests/test_seed_sweep.py: the same verdict on every seed.

SWEEP_RIGHT = {
    "scale_pixels": {f.__name__: f for f in SCALE_PIXELS_RIGHT},
    "binarize": {f.__name__: f for f in BINARIZE_RIGHT},
    "reconstruction_loss": {f.__name__: f for f in RECONSTRUCTION_LOSS_RIGHT},
    "build_decoder": {f.__name__: f for f in BUILD_DECODER_RIGHT},
}
SWEEP_WRONG = {
    name: {mistake: obj for mistake, (obj, _words) in wrong.items()}
    for name, wrong in (
        ("scale_pixels", SCALE_PIXELS_WRONG),
        ("binarize", BINARIZE_WRONG),
        ("reconstruction_loss", RECONSTRUCTION_LOSS_WRONG),
        ("build_decoder", BUILD_DECODER_WRONG),
    )
}
