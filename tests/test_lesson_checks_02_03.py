"""The exercise checks of lessons 02 and 03 pass correct code and explain typical mistakes.

Each exercise gets a correct reference implementation (written here, independently of the
solution notebooks) that must pass every check, and a few typical mistakes that must fail
with a message naming what is wrong.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from vae_tf import losses
from vae_tf.grading import run_checks
from vae_tf.models import VAE, as_images

# The checks draw their inputs from a seed, a secret one when grading; a fixed one here keeps
# the catalogue reproducible (set VAE_TF_CHECK_SEED to try others).
SEED = int(os.environ.get("VAE_TF_CHECK_SEED", "2026"))


def failures(name, obj) -> dict[str, str]:
    """Check name -> message of every failed check."""
    outcome = run_checks(name, obj, seed=SEED)
    assert outcome.max_points > 0
    return {result.name: result.message for result in outcome.results if not result.passed}


def assert_passes(name, obj) -> None:
    failed = failures(name, obj)
    assert not failed, failed


def assert_fails_mentioning(name, obj, *words: str) -> None:
    failed = failures(name, obj)
    assert failed, f"every check of {name} passed a wrong implementation"
    text = "\n".join(failed.values()).lower()
    for word in words:
        assert word.lower() in text, f"{word!r} not in:\n{text}"


# --------------------------------------------------------------------------- reconstruction_loss


def correct_reconstruction_loss(x, logits):
    x = ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], -1))
    logits = ops.reshape(logits, (ops.shape(logits)[0], -1))
    return ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=-1)


def test_reconstruction_loss_checks_pass_a_correct_implementation():
    assert_passes("reconstruction_loss", correct_reconstruction_loss)


def test_reconstruction_loss_checks_pass_the_package_loss():
    assert_passes("reconstruction_loss", losses.reconstruction_loss)


def test_reconstruction_loss_checks_catch_a_batch_mean():
    def batch_mean(x, logits):
        return ops.mean(correct_reconstruction_loss(x, logits))

    assert_fails_mentioning("reconstruction_loss", batch_mean, "one number per image", "batch")


def test_reconstruction_loss_checks_catch_a_pixel_mean():
    def pixel_mean(x, logits):
        return correct_reconstruction_loss(x, logits) / 784.0

    assert_fails_mentioning("reconstruction_loss", pixel_mean, "averaged over the pixels", "SUM")


def test_reconstruction_loss_checks_catch_a_sigmoid_on_logits():
    def double_sigmoid(x, logits):
        return correct_reconstruction_loss(x, ops.sigmoid(logits))

    assert_fails_mentioning("reconstruction_loss", double_sigmoid, "already holds logits")


def test_reconstruction_loss_checks_catch_a_naive_log_of_sigmoid():
    def naive(x, logits):
        p = ops.sigmoid(logits)
        per_pixel = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
        return ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=-1)

    assert_fails_mentioning("reconstruction_loss", naive, "not finite")


def test_reconstruction_loss_checks_catch_clipped_probabilities():
    def clipped(x, logits):
        p = ops.clip(ops.sigmoid(logits), 1e-7, 1.0 - 1e-7)
        per_pixel = -(x * ops.log(p) + (1.0 - x) * ops.log(1.0 - p))
        return ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=-1)

    assert_fails_mentioning("reconstruction_loss", clipped, "confidently wrong pixel", "clipped")


def test_reconstruction_loss_checks_explain_a_stub():
    def stub(x, logits):
        raise NotImplementedError("Exercise reconstruction_loss: use from_logits=True")

    assert_fails_mentioning("reconstruction_loss", stub, "not written yet")


# --------------------------------------------------------------------------- build_decoder


def correct_build_decoder(latent_dim):
    inputs = keras.Input(shape=(latent_dim,))
    h = keras.layers.Dense(512, activation="relu")(inputs)
    h = keras.layers.Dense(784)(h)
    return keras.Model(inputs, keras.layers.Reshape((28, 28, 1))(h))


def test_build_decoder_checks_pass_a_correct_implementation():
    assert_passes("build_decoder", correct_build_decoder)


def test_build_decoder_checks_pass_the_package_decoder():
    from vae_tf.models import build_decoder

    assert_passes("build_decoder", build_decoder)


def test_build_decoder_checks_catch_a_sigmoid_output():
    def with_sigmoid(latent_dim):
        inputs = keras.Input(shape=(latent_dim,))
        h = keras.layers.Dense(512, activation="relu")(inputs)
        h = keras.layers.Dense(784, activation="sigmoid")(h)
        return keras.Model(inputs, keras.layers.Reshape((28, 28, 1))(h))

    assert_fails_mentioning("build_decoder", with_sigmoid, "returns logits")


def test_build_decoder_checks_catch_a_missing_relu():
    def linear(latent_dim):
        inputs = keras.Input(shape=(latent_dim,))
        h = keras.layers.Dense(512)(inputs)
        h = keras.layers.Dense(784)(h)
        return keras.Model(inputs, keras.layers.Reshape((28, 28, 1))(h))

    assert_fails_mentioning("build_decoder", linear, "no activation", "relu")


def test_build_decoder_checks_catch_a_flat_output_and_a_hard_coded_latent_dim():
    def flat_and_fixed(latent_dim):
        inputs = keras.Input(shape=(2,))
        h = keras.layers.Dense(512, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(784)(h))

    failed = failures("build_decoder", flat_and_fixed)
    assert ", 28, 28, 1)" in failed["maps (N, latent_dim) codes to (N, 28, 28, 1)"]
    assert "parameters" in failed["has the 2 -> 512 -> 784 layers of the original study"]


# --------------------------------------------------------------------------- Sampling


class CorrectSampling(keras.layers.Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps


def test_sampling_checks_pass_a_correct_implementation():
    assert_passes("sampling", CorrectSampling)


def test_sampling_checks_pass_the_package_layer():
    from vae_tf.models import Sampling

    assert_passes("sampling", Sampling)


def test_sampling_checks_catch_the_variance_used_as_standard_deviation():
    class VarianceSampling(CorrectSampling):
        def call(self, inputs):
            mu, log_var = inputs
            return mu + ops.exp(log_var) * keras.random.normal(
                ops.shape(mu), seed=self.seed_generator
            )

    assert_fails_mentioning("sampling", VarianceSampling, "the variance exp(log_var)")


def test_sampling_checks_catch_a_numpy_draw_that_breaks_the_gradient():
    class NumpySampling(keras.layers.Layer):
        def call(self, inputs):
            mu, log_var = (np.asarray(t) for t in inputs)
            eps = np.random.default_rng().normal(size=mu.shape)
            return tf.constant((mu + np.exp(0.5 * log_var) * eps).astype(np.float32))

    failed = failures("sampling", NumpySampling)
    # The first failure names the gradient; the compiled-graph check fails too (NumPy in a graph).
    assert list(failed)[0] == "lets the gradient flow to mu and log_var"
    assert (
        "no gradient reaches mu and log_var"
        in failed["lets the gradient flow to mu and log_var"].lower()
    )


def test_sampling_checks_catch_a_fixed_noise():
    class FixedNoise(keras.layers.Layer):
        def call(self, inputs):
            mu, log_var = inputs
            return mu + ops.exp(0.5 * log_var) * 0.5

    assert_fails_mentioning("sampling", FixedNoise, "not drawn afresh")


# --------------------------------------------------------------------------- kl_divergence


def correct_kl(mu, log_var):
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)


def test_kl_checks_pass_a_correct_implementation():
    assert_passes("kl_divergence", correct_kl)


def test_kl_checks_pass_the_package_kl():
    assert_passes("kl_divergence", losses.kl_divergence)


def test_kl_checks_catch_an_average_over_latent_dimensions():
    def averaged(mu, log_var):
        return -0.5 * ops.mean(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)

    failed = failures("kl_divergence", averaged)
    assert (
        "averaged over the latent dimensions" in failed["matches the closed form on random input"]
    )
    assert "sums over latent dimensions (does not average)" in failed


def test_kl_checks_catch_a_flipped_sign():
    def flipped(mu, log_var):
        return 0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)

    assert_fails_mentioning("kl_divergence", flipped, "sign is flipped")


def test_kl_checks_catch_a_batch_mean():
    def batch_mean(mu, log_var):
        return ops.mean(correct_kl(mu, log_var))

    assert_fails_mentioning("kl_divergence", batch_mean, "one number per image")


# --------------------------------------------------------------------------- train_step


class CorrectVAE(VAE):
    def train_step(self, data):
        x = as_images(data)
        with tf.GradientTape() as tape:
            mu, log_var = self.encoder(x, training=True)
            z = self.sampling([mu, log_var])
            logits = self.decoder(z, training=True)
            reconstruction = ops.mean(losses.reconstruction_loss(x, logits))
            kl = ops.mean(losses.kl_divergence(mu, log_var))
            loss = self._reconstruction_weight * reconstruction + self._kl_weight * kl
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {metric.name: metric.result() for metric in self.metrics}


@pytest.mark.slow
def test_train_step_checks_pass_a_correct_implementation():
    assert_passes("train_step", CorrectVAE)


@pytest.mark.slow
def test_train_step_checks_pass_the_package_train_step():
    class PackageVAE(VAE):
        pass

    assert_passes("train_step", PackageVAE)


@pytest.mark.slow
def test_train_step_checks_catch_an_unweighted_kl():
    class UnweightedKL(CorrectVAE):
        def train_step(self, data):
            x = as_images(data)
            with tf.GradientTape() as tape:
                mu, log_var = self.encoder(x, training=True)
                logits = self.decoder(self.sampling([mu, log_var]), training=True)
                reconstruction = ops.mean(losses.reconstruction_loss(x, logits))
                kl = ops.mean(losses.kl_divergence(mu, log_var))
                loss = reconstruction + kl
            self.optimizer.apply(
                tape.gradient(loss, self.trainable_weights), self.trainable_weights
            )
            self.loss_tracker.update_state(loss)
            self.reconstruction_loss_tracker.update_state(reconstruction)
            self.kl_loss_tracker.update_state(kl)
            return {metric.name: metric.result() for metric in self.metrics}

    failed = failures("train_step", UnweightedKL)
    assert (
        "weights are ignored"
        in failed["loss is reconstruction_weight * reconstruction + kl_weight * KL"]
    )
    assert (
        "still feels the KL term"
        in failed["kl_weight = 0 trains on reconstruction alone, still reports the KL"]
    )


@pytest.mark.slow
def test_train_step_checks_catch_a_batch_sum_and_raw_values():
    class SummedNoTrackers(CorrectVAE):
        def train_step(self, data):
            x = as_images(data)
            with tf.GradientTape() as tape:
                mu, log_var = self.encoder(x, training=True)
                logits = self.decoder(self.sampling([mu, log_var]), training=True)
                reconstruction = ops.sum(losses.reconstruction_loss(x, logits))
                kl = ops.sum(losses.kl_divergence(mu, log_var))
                loss = self._reconstruction_weight * reconstruction + self._kl_weight * kl
            self.optimizer.apply(
                tape.gradient(loss, self.trainable_weights), self.trainable_weights
            )
            return {"loss": loss, "reconstruction_loss": reconstruction, "kl_loss": kl}

    failed = failures("train_step", SummedNoTrackers)
    assert (
        "summed over the batch" in failed["reports both terms per image, averaged over the batch"]
    )
    # Later checks do not guess another cause for the same mistake.
    assert (
        "fix the earlier check first"
        in failed["updates the weights along the gradient of the loss"]
    )
    assert "not updated" in failed["updates the three metric trackers"]


@pytest.mark.slow
def test_train_step_checks_explain_a_stub_and_a_non_subclass():
    class Stub(VAE):
        def train_step(self, data):
            raise NotImplementedError("Exercise train_step: encode, sample, decode")

    from vae_tf.grading import get_exercise

    failed = failures("train_step", Stub)
    assert set(failed) == {check.name for check in get_exercise("train_step").checks}
    assert all("not written yet" in message for message in failed.values())
    assert_fails_mentioning("train_step", keras.Model, "subclasses vae_tf.models.VAE")


@pytest.mark.slow
def test_train_step_checks_pass_the_weight_properties_used_inside_the_step():
    # self.kl_weight is the variable itself: the compiled step reads it at every batch.
    class PropertyWeights(CorrectVAE):
        def train_step(self, data):
            x = as_images(data)
            with tf.GradientTape() as tape:
                mu, log_var = self.encoder(x, training=True)
                logits = self.decoder(self.sampling([mu, log_var]), training=True)
                reconstruction = ops.mean(losses.reconstruction_loss(x, logits))
                kl = ops.mean(losses.kl_divergence(mu, log_var))
                loss = self.reconstruction_weight * reconstruction + self.kl_weight * kl
            self.optimizer.apply(
                tape.gradient(loss, self.trainable_weights), self.trainable_weights
            )
            self.loss_tracker.update_state(loss)
            self.reconstruction_loss_tracker.update_state(reconstruction)
            self.kl_loss_tracker.update_state(kl)
            return {metric.name: metric.result() for metric in self.metrics}

    assert_passes("train_step", PropertyWeights)


def test_sampling_checks_explain_a_stub_without_keras_wrapping():
    class Stub(keras.layers.Layer):
        def call(self, inputs):
            raise NotImplementedError("Exercise sampling: draw eps")

    from vae_tf.grading import get_exercise

    failed = failures("sampling", Stub)
    assert len(failed) == len(get_exercise("sampling").checks)
    for message in failed.values():
        assert "not written yet" in message
        assert "Exception encountered" not in message
        assert "\x1b[" not in message
