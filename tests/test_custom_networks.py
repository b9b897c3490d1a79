"""``VAE(encoder=..., decoder=...)``: a student's own networks inside the course VAE."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import vae_tf  # noqa: F401
from vae_tf.models import VAE, build_decoder


def conv_encoder(latent_dim: int) -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    h = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    h = layers.Flatten()(h)
    return keras.Model(inputs, [layers.Dense(latent_dim)(h), layers.Dense(latent_dim)(h)])


def test_own_networks_train_save_and_load_with_the_same_outputs(tmp_path):
    model = VAE(latent_dim=3, encoder=conv_encoder(3), decoder=build_decoder(3, "conv"), seed=0)
    model.compile(jit_compile=False)
    images = np.random.default_rng(0).random((64, 28, 28, 1)).astype("float32")
    history = model.fit(images, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "own.keras")
    loaded = keras.models.load_model(tmp_path / "own.keras")
    assert isinstance(loaded, VAE) and loaded.custom_networks
    assert any(isinstance(layer, layers.Conv2D) for layer in loaded.encoder.layers)
    for part in ("encoder", "decoder"):
        for saved, back in zip(
            getattr(model, part).get_weights(), getattr(loaded, part).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(saved, back)
    codes = np.ones((2, 3), dtype="float32")
    np.testing.assert_allclose(model.decode(codes), loaded.decode(codes), rtol=1e-6)


def test_the_default_networks_are_not_saved_twice():
    config = VAE(latent_dim=2).get_config()
    assert "encoder" not in config and "decoder" not in config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"encoder": "conv"}, "encoder must be a keras.Model, got str"),
        ({"decoder": 3}, "decoder must be a keras.Model, got int"),
        ({"encoder": conv_encoder(4)}, r"encoder output mu must have shape \(N, latent_dim\)"),
        ({"decoder": build_decoder(4)}, r"decoder cannot take codes of shape \(2, 3\)"),
    ],
)
def test_networks_that_do_not_fit_are_refused_clearly(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        VAE(latent_dim=3, **kwargs)


def test_an_encoder_with_one_output_is_refused_with_two_heads_named():
    inputs = keras.Input((28, 28, 1))
    one_head = keras.Model(inputs, layers.Dense(6)(layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match=r"two tensors, \[mu, log_var\] \(two heads\)"):
        VAE(latent_dim=3, encoder=one_head)


def test_a_decoder_that_outputs_28_by_28_without_the_channel_is_refused():
    inputs = keras.Input((3,))
    flat = keras.Model(inputs, layers.Reshape((28, 28))(layers.Dense(784)(inputs)))
    with pytest.raises(ValueError, match=r"logits of shape \(2, 28, 28, 1\), got \(2, 28, 28\)"):
        VAE(latent_dim=3, decoder=flat)
