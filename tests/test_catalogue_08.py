"""A catalogue of typical mistakes for the exercises of lesson 08, as tests.

For every exercise: at least four typical wrong answers, each of which loses at least one
point and whose FIRST failed check names that mistake, and at least two right answers
written differently, which get full points. The whole catalogue runs through
``run_checks`` (as the self-check cell does); one wrong and one right variant per exercise
also go through the real grading path (the sandbox with the redacted package; ``slow``),
where the package's own networks (``build_encoder`` / ``build_decoder``) are not available.

The networks are also trained for a few steps inside a compiled ``fit`` of a real VAE by
the checks, so every network here is a real Keras model.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from catalogue import SEED, assert_full_points, first_failure, graded_in_sandbox

import vae_tf  # noqa: F401 - first, so that TensorFlow's log lines stay hidden

HEAD = "import keras\nimport numpy as np\nfrom keras import layers, ops\n\n"


def _function(source: str, name: str):
    namespace: dict = {}
    exec(HEAD + source, namespace)
    return namespace[name]


# --------------------------------------------------------------------------- build_conv_encoder

ENCODER_RIGHT = {
    "two Dense heads on strided convolutions": """
def build_conv_encoder(latent_dim):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(256, activation="relu")(h)
    mu = layers.Dense(latent_dim, name="mu")(h)
    log_var = layers.Dense(latent_dim, name="log_var")(h)
    return keras.Model(inputs, [mu, log_var])
""",
    "pooling and one Dense layer split in halves": """
def build_conv_encoder(latent_dim):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    both = layers.Dense(2 * latent_dim)(layers.Flatten()(h))
    mu = layers.Lambda(lambda t: t[:, :latent_dim])(both)
    log_var = layers.Lambda(lambda t: t[:, latent_dim:])(both)
    return keras.Model(inputs, [mu, log_var])
""",
    "a Sequential body and two heads": """
def build_conv_encoder(latent_dim):
    body = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
    ])
    inputs = keras.Input(shape=(28, 28, 1))
    h = body(inputs)
    return keras.Model(inputs, [layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)])
""",
    "the solution's own": """
def build_conv_encoder(latent_dim):
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(256, activation="relu")(h)
    mu = layers.Dense(latent_dim, name="mu")(h)
    log_var = layers.Dense(latent_dim, name="log_var")(h)
    return keras.Model(inputs, [mu, log_var], name="conv_encoder")
""",
    "BatchNormalization after each convolution": """
def build_conv_encoder(latent_dim):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inputs)
    h = layers.Activation("relu")(layers.BatchNormalization()(h))
    h = layers.Conv2D(64, 3, strides=2, padding="same", use_bias=False)(h)
    h = layers.Activation("relu")(layers.BatchNormalization()(h))
    h = layers.Dense(128, activation="relu")(layers.Flatten()(h))
    return keras.Model(inputs, [layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)])
""",
    "a subclassed keras.Model": """
class ConvEncoder(keras.Model):
    def __init__(self, latent_dim):
        super().__init__()
        self.convolutions = [
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        ]
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense(256, activation="relu")
        self.mu = layers.Dense(latent_dim)
        self.log_var = layers.Dense(latent_dim)

    def call(self, images):
        h = images
        for convolution in self.convolutions:
            h = convolution(h)
        h = self.hidden(self.flatten(h))
        return [self.mu(h), self.log_var(h)]


def build_conv_encoder(latent_dim):
    return ConvEncoder(latent_dim)
""",
    "convolutions straight into the heads": """
def build_conv_encoder(latent_dim):
    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    return keras.Model(inputs, [layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)])
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("right", sorted(ENCODER_RIGHT))
def test_build_conv_encoder_right_answers_get_full_points(right):
    assert_full_points("build_conv_encoder", _function(ENCODER_RIGHT[right], "build_conv_encoder"))


def _encoder(body: str, heads: str) -> str:
    return (
        "def build_conv_encoder(latent_dim):\n"
        "    inputs = keras.Input(shape=(28, 28, 1))\n"
        + "".join(f"    {line}\n" for line in body.strip().splitlines())
        + "".join(f"    {line}\n" for line in heads.strip().splitlines())
        + "    return keras.Model(inputs, [mu, log_var])\n"
    )


STRIDED = """
h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Flatten()(h)
h = layers.Dense(64, activation="relu")(h)
"""
LINEAR_HEADS = "mu = layers.Dense(latent_dim)(h)\nlog_var = layers.Dense(latent_dim)(h)"

ENCODER_MISTAKES = {
    "Dense only, no convolution": (
        _encoder(
            "h = layers.Dense(256, activation='relu')(layers.Flatten()(inputs))", LINEAR_HEADS
        ),
        ["no Conv2D", "Dense-only"],
    ),
    "convolutions with strides 1 and no pooling": (
        _encoder(
            "h = layers.Conv2D(8, 3, padding='same', activation='relu')(inputs)\n"
            "h = layers.Flatten()(h)",
            LINEAR_HEADS,
        ),
        ["never downsample"],
    ),
    "no Flatten before the heads": (
        _encoder(
            "h = layers.Conv2D(32, 3, strides=2, padding='same', activation='relu')(inputs)\n"
            "h = layers.Conv2D(64, 3, strides=2, padding='same', activation='relu')(h)",
            LINEAR_HEADS,
        ),
        ["not flattened"],
    ),
    "ReLU on the log_var head": (
        _encoder(
            STRIDED,
            "mu = layers.Dense(latent_dim)(h)\n"
            "log_var = layers.Dense(latent_dim, activation='relu')(h)",
        ),
        ["never negative", "ReLU"],
    ),
    "sigmoid on the mu head": (
        _encoder(
            STRIDED,
            "mu = layers.Dense(latent_dim, activation='sigmoid')(h)\n"
            "log_var = layers.Dense(latent_dim)(h)",
        ),
        ["mu is never negative", "sigmoid"],
    ),
    "one head returned twice": (
        _encoder(STRIDED, "mu = layers.Dense(latent_dim)(h)\nlog_var = mu"),
        ["same numbers", "two different heads"],
    ),
    "a constant log_var (no head)": (
        _encoder(
            STRIDED,
            "mu = layers.Dense(latent_dim)(h)\nlog_var = layers.Lambda(lambda t: 0.0 * t)(mu)",
        ),
        ["same for every image"],
    ),
    "one tensor of 2 * latent_dim": (
        "def build_conv_encoder(latent_dim):\n"
        "    inputs = keras.Input(shape=(28, 28, 1))\n"
        + "".join(f"    {line}\n" for line in STRIDED.strip().splitlines())
        + "    return keras.Model(inputs, layers.Dense(2 * latent_dim)(h))\n",
        ["two tensors"],
    ),
    "heads of a fixed size 2": (
        _encoder(STRIDED, "mu = layers.Dense(2)(h)\nlog_var = layers.Dense(2)(h)"),
        ["latent_dim units"],
    ),
    "tanh on the log_var head": (
        _encoder(
            STRIDED,
            "mu = layers.Dense(latent_dim)(h)\n"
            "log_var = layers.Dense(latent_dim, activation='tanh')(h)",
        ),
        ["log_var is bounded to [-1, 1]", "tanh", "0.61"],
    ),
    "ReLU on the mu head": (
        _encoder(
            STRIDED,
            "mu = layers.Dense(latent_dim, activation='relu')(h)\n"
            "log_var = layers.Dense(latent_dim)(h)",
        ),
        ["mu is never negative", "ReLU"],
    ),
    "the hidden Dense layer without activation": (
        _encoder(STRIDED.replace('Dense(64, activation="relu")', "Dense(64)"), LINEAR_HEADS),
        ["hidden Dense layer has no activation"],
    ),
    "no activation anywhere": (
        _encoder(STRIDED.replace(', activation="relu"', ""), LINEAR_HEADS),
        ["linear function of the image", "no layer has an activation"],
    ),
}


@pytest.mark.parametrize("mistake", sorted(ENCODER_MISTAKES))
def test_build_conv_encoder_mistakes_lose_points_and_are_named(mistake):
    source, words = ENCODER_MISTAKES[mistake]
    message = first_failure("build_conv_encoder", _function(source, "build_conv_encoder"))
    assert all(word in message for word in words), message
    assert "earlier" not in message, message


# --------------------------------------------------------------------------- build_conv_decoder

DECODER_RIGHT = {
    "the Keras example's layout (64, 32, then 1 filter at stride 1)": """
def build_conv_decoder(latent_dim):
    inputs = keras.Input(shape=(latent_dim,))
    h = layers.Dense(256, activation="relu")(inputs)
    h = layers.Dense(7 * 7 * 64, activation="relu")(h)
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding="same")(h))
""",
    "a Sequential with UpSampling2D and Conv2D": """
def build_conv_decoder(latent_dim):
    return keras.Sequential([
        keras.Input(shape=(latent_dim,)),
        layers.Dense(7 * 7 * 32, activation="relu"),
        layers.Reshape((7, 7, 32)),
        layers.UpSampling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.UpSampling2D(),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.Conv2D(1, 3, padding="same"),
    ])
""",
    "the solution's own": """
def build_conv_decoder(latent_dim):
    inputs = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(256, activation="relu")(inputs)
    h = layers.Dense(7 * 7 * 64, activation="relu")(h)
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    logits = layers.Conv2DTranspose(1, 3, strides=2, padding="same", name="logits")(h)
    return keras.Model(inputs, logits, name="conv_decoder")
""",
    "a final Conv2D after the transposed convolutions": """
def build_conv_decoder(latent_dim):
    inputs = keras.Input(shape=(latent_dim,))
    h = layers.Dense(7 * 7 * 64, activation="relu")(inputs)
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(h))
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("right", sorted(DECODER_RIGHT))
def test_build_conv_decoder_right_answers_get_full_points(right):
    assert_full_points("build_conv_decoder", _function(DECODER_RIGHT[right], "build_conv_decoder"))


def _decoder(start: str, middle: str, end: str) -> str:
    lines = ["def build_conv_decoder(latent_dim):", f"    inputs = keras.Input(shape={start})"]
    lines += [f"    {line}" for line in middle.strip().splitlines()]
    lines += [f"    {line}" for line in end.strip().splitlines()]
    return "\n".join(lines) + "\n"


UP = """
h = layers.Dense(7 * 7 * 32, activation="relu")(inputs)
h = layers.Reshape((7, 7, 32))(h)
h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
h = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(h)
"""

DECODER_MISTAKES = {
    "sigmoid on the last layer": (
        _decoder(
            "(latent_dim,)",
            UP,
            "return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding='same', "
            "activation='sigmoid')(h))",
        ),
        ["sigmoid", "logits"],
    ),
    "ReLU on the last layer": (
        _decoder(
            "(latent_dim,)",
            UP,
            "return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding='same', "
            "activation='relu')(h))",
        ),
        ["ReLU", "negative"],
    ),
    "4 x 4 doubled three times (32 x 32)": (
        _decoder(
            "(latent_dim,)",
            "h = layers.Dense(4 * 4 * 16, activation='relu')(inputs)\n"
            "h = layers.Reshape((4, 4, 16))(h)\n"
            "for _ in range(3):\n"
            "    h = layers.Conv2DTranspose(16, 3, strides=2, padding='same', activation='relu')(h)",
            "return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding='same')(h))",
        ),
        ["32 x 32", "28 x 28"],
    ),
    "no channel axis": (
        _decoder(
            "(latent_dim,)",
            UP,
            "h = layers.Conv2DTranspose(1, 3, padding='same')(h)\n"
            "return keras.Model(inputs, layers.Reshape((28, 28))(h))",
        ),
        ["no channel axis"],
    ),
    "16 filters in the last layer": (
        _decoder("(latent_dim,)", UP, "return keras.Model(inputs, h)"),
        ["16 channels", "1 filter"],
    ),
    "Dense only, reshaped to an image": (
        _decoder(
            "(latent_dim,)",
            "h = layers.Dense(256, activation='relu')(inputs)\nh = layers.Dense(784)(h)",
            "return keras.Model(inputs, layers.Reshape((28, 28, 1))(h))",
        ),
        ["no Conv2DTranspose", "Dense-only"],
    ),
    "an input of fixed size 2": (
        _decoder(
            "(2,)",
            UP,
            "return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding='same')(h))",
        ),
        ["raised", "(latent_dim,)"],
    ),
    "tanh on the last layer": (
        _decoder(
            "(latent_dim,)",
            UP,
            "return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding='same', "
            "activation='tanh')(h))",
        ),
        ["bounded to [-1, 1]", "tanh", "logit"],
    ),
    "no activation anywhere": (
        _decoder(
            "(latent_dim,)",
            UP.replace(', activation="relu"', ""),
            "return keras.Model(inputs, layers.Conv2DTranspose(1, 3, padding='same')(h))",
        ),
        ["linear function of the code", "no layer has an activation"],
    ),
}


@pytest.mark.parametrize("mistake", sorted(DECODER_MISTAKES))
def test_build_conv_decoder_mistakes_lose_points_and_are_named(mistake):
    source, words = DECODER_MISTAKES[mistake]
    message = first_failure("build_conv_decoder", _function(source, "build_conv_decoder"))
    assert all(word in message for word in words), message
    assert "earlier" not in message, message


# ---- seed sweep: build_conv_encoder / build_conv_decoder (tests/test_seed_sweep.py)
SWEEP_RIGHT_NETWORKS = {
    "build_conv_encoder": {
        name: _function(source, "build_conv_encoder") for name, source in ENCODER_RIGHT.items()
    },
    "build_conv_decoder": {
        name: _function(source, "build_conv_decoder") for name, source in DECODER_RIGHT.items()
    },
}
SWEEP_WRONG_NETWORKS = {
    "build_conv_encoder": {
        name: _function(source, "build_conv_encoder")
        for name, (source, _) in ENCODER_MISTAKES.items()
    },
    "build_conv_decoder": {
        name: _function(source, "build_conv_decoder")
        for name, (source, _) in DECODER_MISTAKES.items()
    },
}


# --------------------------------------------------------------------------- sample_prior


def sample_prior_numpy(decoder, n, rng):
    from keras import ops

    z = rng.standard_normal((n, decoder.input_shape[-1])).astype("float32")
    return ops.sigmoid(decoder(z))


def sample_prior_tensorflow(decoder, n, rng):
    import tensorflow as tf

    seed = rng.integers(0, 2**31 - 1, size=2)
    z = tf.random.stateless_normal((n, decoder.input_shape[-1]), seed=seed)
    return tf.sigmoid(decoder(z))


def sample_prior_scipy(decoder, n, rng):
    from scipy.special import expit

    latent_dim = decoder.inputs[0].shape[-1]
    z = rng.normal(0.0, 1.0, size=(n, latent_dim)).astype(np.float32)
    return expit(np.asarray(decoder(z)))


@pytest.mark.parametrize("right", [sample_prior_numpy, sample_prior_tensorflow, sample_prior_scipy])
def test_sample_prior_right_answers_get_full_points(right):
    assert_full_points("sample_prior", right)


def _sampler(draw: str, decode: str = "ops.sigmoid(decoder(z))") -> object:
    source = (
        "def sample_prior(decoder, n, rng):\n"
        "    latent_dim = decoder.input_shape[-1]\n"
        f"    z = np.asarray({draw}, dtype='float32')\n"
        f"    return {decode}\n"
    )
    return _function(source, "sample_prior")


SAMPLER_MISTAKES = {
    "uniform noise": ("rng.uniform(-1, 1, size=(n, latent_dim))", None, ["uniform"]),
    "standard deviation 0.5": (
        "rng.normal(0.0, 0.5, size=(n, latent_dim))",
        None,
        ["standard deviation", "not 1"],
    ),
    "variance 2 passed as the scale": (
        "rng.normal(0.0, 2.0, size=(n, latent_dim))",
        None,
        ["standard deviation"],
    ),
    "zeros (the prior's mean)": ("np.zeros((n, latent_dim))", None, ["not zeros"]),
    "forgot the sigmoid (logits)": (
        "rng.standard_normal((n, latent_dim))",
        "decoder(z)",
        ["logits", "sigmoid"],
    ),
    "latent size fixed at 16": ("rng.standard_normal((n, 16))", None, ["latent size"]),
    "np.random instead of rng": (
        "np.random.standard_normal((n, latent_dim))",
        None,
        ["same seed gave different images"],
    ),
    "a fixed seed of its own": (
        "np.random.default_rng(0).standard_normal((n, latent_dim))",
        None,
        ["fixed seed of your own"],
    ),
    "one code repeated n times": (
        "np.repeat(rng.standard_normal((1, latent_dim)), n, axis=0)",
        None,
        ["same code"],
    ),
}


@pytest.mark.parametrize("mistake", sorted(SAMPLER_MISTAKES))
def test_sample_prior_mistakes_lose_points_and_are_named(mistake):
    draw, decode, words = SAMPLER_MISTAKES[mistake]
    sampler = _sampler(draw) if decode is None else _sampler(draw, decode)
    message = first_failure("sample_prior", sampler)
    assert all(word in message for word in words), message


def test_sample_prior_from_a_rescaled_uniform_is_not_normal():
    sampler = _sampler("rng.uniform(-np.sqrt(3), np.sqrt(3), size=(n, latent_dim))")
    message = first_failure("sample_prior", sampler)
    assert "not normal" in message, message


# --------------------------------------------------------------------------- the real grading path


@pytest.mark.slow
def test_lesson_08_catalogue_through_the_sandbox_with_the_redacted_package():
    right = graded_in_sandbox(
        "08_convolutional_vae",
        {
            "build_conv_encoder": HEAD + ENCODER_RIGHT["two Dense heads on strided convolutions"],
            "build_conv_decoder": HEAD + DECODER_RIGHT["a Sequential with UpSampling2D and Conv2D"],
            "sample_prior": HEAD
            + inspect.getsource(sample_prior_numpy).replace(
                "def sample_prior_numpy(", "def sample_prior(", 1
            ),
        },
        seed=SEED,
        timeout=600,
    )
    # The new exercises of lesson 08 have their own sandbox test below; here, these three.
    for name in ("build_conv_encoder", "build_conv_decoder", "sample_prior"):
        assert right[name].passed, (name, right[name].verdict())
    wrong = graded_in_sandbox(
        "08_convolutional_vae",
        {
            "build_conv_encoder": HEAD + ENCODER_MISTAKES["ReLU on the log_var head"][0],
            "build_conv_decoder": HEAD + DECODER_MISTAKES["sigmoid on the last layer"][0],
            "sample_prior": HEAD + "def sample_prior(decoder, n, rng):\n"
            "    z = np.random.standard_normal((n, decoder.input_shape[-1]))\n"
            "    return ops.sigmoid(decoder(z.astype('float32')))\n",
        },
        seed=SEED,
        timeout=600,
    )
    expected_words = {
        "build_conv_encoder": "never negative",
        "build_conv_decoder": "sigmoid",
        "sample_prior": "same seed gave different images",
    }
    for name, word in expected_words.items():
        outcome = wrong[name]
        assert outcome.points < outcome.max_points, outcome.verdict()
        assert word in outcome.failures()[0].message, outcome.verdict()


@pytest.mark.slow
def test_the_package_networks_earn_no_points_while_grading():
    # The package's own conv networks are the expected architecture; while grading they
    # are redacted, so calling them is not an answer.
    cells = {
        "build_conv_encoder": "from vae_tf.models import build_encoder\n\n"
        "def build_conv_encoder(latent_dim):\n"
        "    return build_encoder(latent_dim, arch='conv')\n",
        "build_conv_decoder": "from vae_tf.models import build_decoder\n\n"
        "def build_conv_decoder(latent_dim):\n"
        "    return build_decoder(latent_dim, arch='conv')\n",
        "sample_prior": "from vae_tf.generation import prior_codes\nfrom keras import ops\n\n"
        "def sample_prior(decoder, n, rng):\n"
        "    z = prior_codes(n, decoder.input_shape[-1], seed=int(rng.integers(2**31)))\n"
        "    return ops.sigmoid(decoder(z))\n",
    }
    graded = graded_in_sandbox("08_convolutional_vae", cells, seed=SEED, timeout=600)
    for name in cells:
        outcome = graded[name]
        assert outcome.points == 0, (name, outcome.verdict())
        assert "not available while grading" in outcome.failures()[0].message, outcome.verdict()


def test_the_judge_of_lesson_08_needs_neither_tensorflow_nor_the_students_code():
    # The verdicts and the inputs are NumPy: judging never loads TensorFlow.
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        "from vae_tf.grading.judge import judge\n"
        "from vae_tf.grading.notebook_code import ExerciseCode\n"
        "judge(ExerciseCode('x', '08_convolutional_vae'), 1, json.dumps({'exercises': {}}).encode())\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- bernoulli_sample

BERNOULLI_RIGHT = {
    "uniform below p": """
def bernoulli_sample(probabilities, rng):
    p = np.asarray(probabilities)
    return (rng.random(p.shape) < p).astype("float32")
""",
    "binomial with one trial": """
def bernoulli_sample(probabilities, rng):
    return rng.binomial(1, np.asarray(probabilities, dtype="float64")).astype(np.float32)
""",
    "uniform above 1 - p, through keras ops": """
def bernoulli_sample(probabilities, rng):
    p = ops.convert_to_numpy(probabilities)
    u = rng.uniform(0.0, 1.0, size=p.shape)
    return np.where(u > 1.0 - p, 1.0, 0.0)
""",
}

BERNOULLI_MISTAKES = {
    "returns the probabilities (the mean image)": (
        "def bernoulli_sample(probabilities, rng):\n    return np.asarray(probabilities)\n",
        ["not binary", "mean image"],
    ),
    "rounds at 0.5": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    return (np.asarray(probabilities) > 0.5).astype('float32')\n",
        ["rounded at 0.5", "not a sample"],
    ),
    "comparison the wrong way round": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    p = np.asarray(probabilities)\n"
        "    return (rng.random(p.shape) > p).astype('float32')\n",
        ["1 - p", "wrong way"],
    ),
    "ignores p (fair coins)": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    p = np.asarray(probabilities)\n"
        "    return rng.integers(0, 2, size=p.shape).astype('float32')\n",
        ["half of the time"],
    ),
    "one uniform per image": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    p = np.asarray(probabilities)\n"
        "    u = rng.random((len(p),) + (1,) * (p.ndim - 1))\n"
        "    return (u < p).astype('float32')\n",
        ["not drawn independently", "one uniform per pixel"],
    ),
    "one draw for all images": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    p = np.asarray(probabilities)\n"
        "    return (rng.random(p.shape[1:]) < p).astype('float32')\n",
        ["same draw"],
    ),
    "np.random instead of rng": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    p = np.asarray(probabilities)\n"
        "    return (np.random.random(p.shape) < p).astype('float32')\n",
        ["same seed gave different images"],
    ),
    "a fixed seed of its own": (
        "def bernoulli_sample(probabilities, rng):\n"
        "    p = np.asarray(probabilities)\n"
        "    return (np.random.default_rng(0).random(p.shape) < p).astype('float32')\n",
        ["fixed seed of your own"],
    ),
}


@pytest.mark.parametrize("right", sorted(BERNOULLI_RIGHT))
def test_bernoulli_sample_right_answers_get_full_points(right):
    assert_full_points("bernoulli_sample", _function(BERNOULLI_RIGHT[right], "bernoulli_sample"))


@pytest.mark.parametrize("mistake", sorted(BERNOULLI_MISTAKES))
def test_bernoulli_sample_mistakes_lose_points_and_are_named(mistake):
    source, words = BERNOULLI_MISTAKES[mistake]
    message = first_failure("bernoulli_sample", _function(source, "bernoulli_sample"))
    assert all(word in message for word in words), message


# --------------------------------------------------------------------------- sample_quality

QUALITY_RIGHT = {
    "bincount and masked logs": """
def sample_quality(probabilities):
    p = np.asarray(probabilities, dtype=np.float64)
    fractions = np.bincount(p.argmax(axis=1), minlength=p.shape[1]) / len(p)
    def entropy(q):
        return -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0), axis=-1)
    return {
        "confidence": float(p.max(axis=1).mean()),
        "mean_entropy": float(entropy(p).mean()),
        "label_entropy": float(entropy(fractions)),
    }
""",
    "scipy entropy of counts, np.unique": """
def sample_quality(probabilities):
    from scipy.stats import entropy
    p = np.asarray(probabilities)
    _, counts = np.unique(np.argmax(p, axis=1), return_counts=True)
    return dict(
        label_entropy=entropy(counts),
        confidence=np.mean(np.max(p, axis=1)),
        mean_entropy=np.mean(entropy(p, axis=1)),
    )
""",
    "keras ops and a tiny constant in the log": """
def sample_quality(probabilities):
    p = ops.convert_to_tensor(probabilities, dtype="float32")
    per_image = -ops.sum(p * ops.log(p + 1e-12), axis=1)
    labels = ops.convert_to_numpy(ops.argmax(p, axis=1))
    fractions = np.array([np.mean(labels == k) for k in range(10)])
    return {
        "confidence": ops.mean(ops.max(p, axis=1)),
        "mean_entropy": ops.mean(per_image),
        "label_entropy": -np.sum(fractions * np.log(fractions + 1e-12)),
    }
""",
}


def _quality(confidence: str, mean_entropy: str, label_entropy: str) -> str:
    return (
        "def sample_quality(probabilities):\n"
        "    p = np.asarray(probabilities, dtype=np.float64)\n"
        "    fractions = np.bincount(p.argmax(axis=1), minlength=10) / len(p)\n"
        "    counts = np.bincount(p.argmax(axis=1), minlength=10)\n"
        "    def entropy(q):\n"
        "        return -np.sum(q * np.log(np.where(q > 0, q, 1.0)), axis=-1)\n"
        f"    return {{'confidence': {confidence}, 'mean_entropy': {mean_entropy},\n"
        f"            'label_entropy': {label_entropy}}}\n"
    )


CONFIDENCE = "p.max(axis=1).mean()"
MEAN_ENTROPY = "entropy(p).mean()"
LABEL_ENTROPY = "entropy(fractions)"

QUALITY_MISTAKES = {
    "a tuple, not a dict": (
        "def sample_quality(probabilities):\n"
        "    p = np.asarray(probabilities)\n"
        "    return p.max(axis=1).mean(), 0.0, 0.0\n",
        ["should return a dict"],
    ),
    "largest mean probability as confidence": (
        _quality("p.mean(axis=0).max()", MEAN_ENTROPY, LABEL_ENTROPY),
        ["largest of the mean class probabilities"],
    ),
    "mean of all probabilities as confidence": (
        _quality("p.mean()", MEAN_ENTROPY, LABEL_ENTROPY),
        ["always 1/10"],
    ),
    "entropies in bits": (
        _quality(
            CONFIDENCE,
            "(-np.sum(p * np.log2(p), axis=1)).mean()",
            "-np.sum(fractions[fractions > 0] * np.log2(fractions[fractions > 0]))",
        ),
        ["bits", "nats"],
    ),
    "no minus sign": (
        _quality(CONFIDENCE, "np.sum(p * np.log(p), axis=1).mean()", LABEL_ENTROPY),
        ["negative", "MINUS"],
    ),
    "entropy of the mean probabilities as mean_entropy": (
        _quality(CONFIDENCE, "entropy(p.mean(axis=0))", LABEL_ENTROPY),
        ["entropy of the mean probabilities", "each image's entropy first"],
    ),
    "sum of the images' entropies": (
        _quality(CONFIDENCE, "entropy(p).sum()", LABEL_ENTROPY),
        ["sum of the images' entropies"],
    ),
    "0 log 0 in the label histogram gives NaN": (
        _quality(CONFIDENCE, MEAN_ENTROPY, "-np.sum(fractions * np.log(fractions))"),
        ["NaN", "0 * log 0"],
    ),
    "entropy of the mean probabilities as label_entropy": (
        _quality(CONFIDENCE, MEAN_ENTROPY, "entropy(p.mean(axis=0))"),
        ["entropy of the mean probabilities", "histogram of labels"],
    ),
    "counts not divided by the number of images": (
        _quality(CONFIDENCE, MEAN_ENTROPY, "entropy(counts.astype(float))"),
        ["counts", "divide"],
    ),
    "mean entropy reported as label entropy": (
        _quality(CONFIDENCE, MEAN_ENTROPY, MEAN_ENTROPY),
        ["mean per-image entropy"],
    ),
}


@pytest.mark.parametrize("right", sorted(QUALITY_RIGHT))
def test_sample_quality_right_answers_get_full_points(right):
    assert_full_points("sample_quality", _function(QUALITY_RIGHT[right], "sample_quality"))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a wrong answer overflows on purpose
@pytest.mark.parametrize("mistake", sorted(QUALITY_MISTAKES))
def test_sample_quality_mistakes_lose_points_and_are_named(mistake):
    source, words = QUALITY_MISTAKES[mistake]
    message = first_failure("sample_quality", _function(source, "sample_quality"))
    assert all(word in message for word in words), message


# --------------------------------------------------------------------------- aggregate_posterior_codes

AGGREGATE_RIGHT = {
    "an index, then the reparameterization": """
def aggregate_posterior_codes(mu, log_var, n, rng):
    mu, log_var = np.asarray(mu), np.asarray(log_var)
    which = rng.integers(0, len(mu), size=n)
    eps = rng.standard_normal((n, mu.shape[1]))
    return (mu[which] + np.exp(log_var[which] / 2) * eps).astype("float32")
""",
    "rng.choice and rng.normal with a scale": """
def aggregate_posterior_codes(mu, log_var, n, rng):
    which = rng.choice(np.shape(mu)[0], size=n, replace=True)
    sigma = np.sqrt(np.exp(np.asarray(log_var)))
    return rng.normal(np.asarray(mu)[which], sigma[which])
""",
    "cycling through the images (a stratified draw), keras ops": """
def aggregate_posterior_codes(mu, log_var, n, rng):
    which = np.arange(n) % len(mu)
    eps = rng.normal(size=(n, np.shape(mu)[1])).astype("float32")
    z = ops.take(mu, which, axis=0) + ops.exp(0.5 * ops.take(log_var, which, axis=0)) * eps
    return ops.convert_to_numpy(z)
""",
}


def _aggregate(which: str, draw: str) -> str:
    return (
        "def aggregate_posterior_codes(mu, log_var, n, rng):\n"
        "    mu, log_var = np.asarray(mu, dtype=np.float64), np.asarray(log_var, dtype=np.float64)\n"
        "    d = mu.shape[1]\n"
        f"    which = {which}\n"
        f"    return {draw}\n"
    )


PICK = "rng.integers(0, len(mu), size=n)"
REPARAMETERIZED = "mu[which] + np.exp(log_var[which] / 2) * rng.standard_normal((n, d))"

AGGREGATE_MISTAKES = {
    "the first n images, one each": (
        _aggregate("np.arange(n)", REPARAMETERIZED),
        ["n is not M"],
    ),
    "no noise (the means only)": (
        _aggregate(PICK, "mu[which]"),
        ["Every code is the same", "add noise"],
    ),
    "the variance as the scale": (
        _aggregate(PICK, "mu[which] + np.exp(log_var[which]) * rng.standard_normal((n, d))"),
        ["exp(log_var), the variance"],
    ),
    "log_var as the scale": (
        _aggregate(PICK, "mu[which] + log_var[which] * rng.standard_normal((n, d))"),
        ["|log_var|", "log of the variance"],
    ),
    "unscaled noise": (
        _aggregate(PICK, "mu[which] + rng.standard_normal((n, d))"),
        ["standard deviation 1", "scale eps"],
    ),
    "one eps per code for all dimensions": (
        _aggregate(PICK, "mu[which] + np.exp(log_var[which] / 2) * rng.standard_normal((n, 1))"),
        ["move together", "per dimension"],
    ),
    "one Gaussian fitted to all the images": (
        _aggregate(PICK, "mu.mean(0) + mu.std(0) * rng.standard_normal((n, d))"),
        ["far from every image's mean", "ONE image's posterior"],
    ),
    "the prior instead of q(z)": (
        _aggregate(PICK, "rng.standard_normal((n, d))"),
        ["prior N(0, I)"],
    ),
    "always the first image": (
        _aggregate("np.zeros(n, dtype=int)", REPARAMETERIZED),
        ["Only 1 of the", "uniformly"],
    ),
    "only the first five images (a debugging leftover)": (
        _aggregate("rng.integers(0, min(len(mu), 5), size=n)", REPARAMETERIZED),
        ["Only 5 of the", "all M rows"],
    ),
    "mu of one image, sigma of another": (
        _aggregate(
            PICK,
            "mu[which] + np.exp(log_var[rng.integers(0, len(mu), size=n)] / 2)"
            " * rng.standard_normal((n, d))",
        ),
        ["SAME image"],
    ),
    "np.random instead of rng": (
        _aggregate(
            "np.random.randint(0, len(mu), size=n)",
            "mu[which] + np.exp(log_var[which] / 2) * np.random.standard_normal((n, d))",
        ),
        ["same seed gave different codes"],
    ),
}


@pytest.mark.parametrize("right", sorted(AGGREGATE_RIGHT))
def test_aggregate_posterior_codes_right_answers_get_full_points(right):
    function = _function(AGGREGATE_RIGHT[right], "aggregate_posterior_codes")
    assert_full_points("aggregate_posterior_codes", function)


@pytest.mark.parametrize("mistake", sorted(AGGREGATE_MISTAKES))
def test_aggregate_posterior_codes_mistakes_lose_points_and_are_named(mistake):
    source, words = AGGREGATE_MISTAKES[mistake]
    message = first_failure(
        "aggregate_posterior_codes", _function(source, "aggregate_posterior_codes")
    )
    assert all(word in message for word in words), message


# --------------------------------------------------------------------------- the new exercises through the sandbox


@pytest.mark.slow
def test_lesson_08_sampling_and_quality_exercises_through_the_sandbox():
    right = graded_in_sandbox(
        "08_convolutional_vae",
        {
            "bernoulli_sample": HEAD + BERNOULLI_RIGHT["uniform below p"],
            "sample_quality": HEAD + QUALITY_RIGHT["bincount and masked logs"],
            "aggregate_posterior_codes": HEAD
            + AGGREGATE_RIGHT["an index, then the reparameterization"],
        },
        seed=SEED,
    )
    for name in ("bernoulli_sample", "sample_quality", "aggregate_posterior_codes"):
        assert right[name].passed, (name, right[name].verdict())
    wrong = graded_in_sandbox(
        "08_convolutional_vae",
        {
            "bernoulli_sample": HEAD + BERNOULLI_MISTAKES["rounds at 0.5"][0],
            "sample_quality": HEAD + QUALITY_MISTAKES["entropies in bits"][0],
            "aggregate_posterior_codes": HEAD + AGGREGATE_MISTAKES["the variance as the scale"][0],
        },
        seed=SEED,
    )
    expected_words = {
        "bernoulli_sample": "rounded at 0.5",
        "sample_quality": "bits",
        "aggregate_posterior_codes": "the variance",
    }
    for name, word in expected_words.items():
        outcome = wrong[name]
        assert outcome.points < outcome.max_points, outcome.verdict()
        assert word in outcome.failures()[0].message, outcome.verdict()


@pytest.mark.slow
def test_the_package_sample_quality_functions_earn_no_points_while_grading():
    cells = {
        "bernoulli_sample": "from vae_tf.sample_quality import bernoulli_sample\n",
        "sample_quality": "from vae_tf.sample_quality import sample_quality\n",
        "aggregate_posterior_codes": "from vae_tf.sample_quality import aggregate_posterior_codes\n",
    }
    graded = graded_in_sandbox("08_convolutional_vae", cells, seed=SEED)
    for name in cells:
        outcome = graded[name]
        assert outcome.points == 0, (name, outcome.verdict())
        assert "not available while grading" in outcome.failures()[0].message, outcome.verdict()


# --------------------------------------------------------------------------- the seed sweep

SWEEP_RIGHT_NEW = {
    "sample_prior": {
        "numpy": sample_prior_numpy,
        "tensorflow": sample_prior_tensorflow,
        "scipy": sample_prior_scipy,
    },
    "bernoulli_sample": {
        name: _function(source, "bernoulli_sample") for name, source in BERNOULLI_RIGHT.items()
    },
    "sample_quality": {
        name: _function(source, "sample_quality") for name, source in QUALITY_RIGHT.items()
    },
    "aggregate_posterior_codes": {
        name: _function(source, "aggregate_posterior_codes")
        for name, source in AGGREGATE_RIGHT.items()
    },
}
SWEEP_WRONG_NEW = {
    "sample_prior": {
        **{
            name: _sampler(draw) if decode is None else _sampler(draw, decode)
            for name, (draw, decode, _) in SAMPLER_MISTAKES.items()
        },
        "a rescaled uniform": _sampler(
            "rng.uniform(-np.sqrt(3), np.sqrt(3), size=(n, latent_dim))"
        ),
    },
    "bernoulli_sample": {
        name: _function(source, "bernoulli_sample")
        for name, (source, _) in BERNOULLI_MISTAKES.items()
    },
    "sample_quality": {
        name: _function(source, "sample_quality") for name, (source, _) in QUALITY_MISTAKES.items()
    },
    "aggregate_posterior_codes": {
        name: _function(source, "aggregate_posterior_codes")
        for name, (source, _) in AGGREGATE_MISTAKES.items()
    },
}

SWEEP_RIGHT = {**SWEEP_RIGHT_NETWORKS, **SWEEP_RIGHT_NEW}
SWEEP_WRONG = {**SWEEP_WRONG_NETWORKS, **SWEEP_WRONG_NEW}
