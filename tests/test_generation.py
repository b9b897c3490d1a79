"""vae_tf.generation: prior codes and samples, the recorder callback, the animated GIF."""

from __future__ import annotations

import numpy as np
import pytest

import vae_tf  # noqa: F401 - first, so that TensorFlow's log lines stay hidden
from vae_tf.generation import (
    PriorSampleRecorder,
    prior_codes,
    prior_samples,
    sample_grid,
    save_animation,
)


def _tiny_vae():
    import keras

    from vae_tf.models import VAE

    keras.utils.set_random_seed(0)
    model = VAE(latent_dim=3, hidden_units=8, seed=0)
    model.compile(jit_compile=False, steps_per_execution=1)
    return model


def _images(count: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((count, 28, 28, 1)) < 0.3).astype(np.float32)


# --------------------------------------------------------------------------- codes and samples


def test_prior_codes_are_seeded_standard_normal_of_the_asked_shape():
    codes = prior_codes(4000, 5, seed=3)
    assert codes.shape == (4000, 5) and codes.dtype == np.float32
    np.testing.assert_array_equal(codes, prior_codes(4000, 5, seed=3))
    assert not np.array_equal(codes, prior_codes(4000, 5, seed=4))
    # 20,000 draws: standard errors 0.007 (mean) and 0.005 (standard deviation).
    assert abs(codes.mean()) < 0.04 and abs(codes.std() - 1.0) < 0.03


def test_prior_samples_are_probabilities_of_the_decoded_codes():
    from keras import ops

    model = _tiny_vae()
    samples = prior_samples(model, 6, seed=1)
    assert samples.shape == (6, 28, 28)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    expected = ops.convert_to_numpy(ops.sigmoid(model.decoder(prior_codes(6, 3, seed=1))))
    np.testing.assert_allclose(samples, expected.reshape(6, 28, 28), atol=1e-6)


def test_sample_grid_pads_the_last_row_with_blank_images():
    grid = sample_grid(np.ones((7, 28, 28)), columns=3)
    assert grid.shape == (3, 3, 28, 28)
    assert grid[2, 0].min() == 1.0 and grid[2, 1].max() == 0.0 and grid[2, 2].max() == 0.0


# --------------------------------------------------------------------------- the recorder


def test_recorder_counts_epochs_across_two_fit_calls_and_records_before_training():
    model = _tiny_vae()
    recorder = PriorSampleRecorder(n=4, seed=2)
    images = _images()
    model.fit(images, epochs=2, batch_size=8, verbose=0, callbacks=[recorder])
    model.fit(images, epochs=3, batch_size=8, verbose=0, callbacks=[recorder])
    assert recorder.epochs == [0, 1, 2, 3, 4, 5]
    assert len(recorder.frames) == 6
    assert all(frame.shape == (4, 28, 28) for frame in recorder.frames)


def test_recorder_every_k_epochs_keeps_the_last_epoch():
    model = _tiny_vae()
    recorder = PriorSampleRecorder(n=2, every=2)
    model.fit(_images(), epochs=5, batch_size=8, verbose=0, callbacks=[recorder])
    assert recorder.epochs == [0, 2, 4, 5]


def test_recorder_decodes_the_same_prior_codes_in_every_frame():
    model = _tiny_vae()
    before = prior_samples(model, 5, seed=7)
    recorder = PriorSampleRecorder(n=5, seed=7)
    model.fit(_images(), epochs=2, batch_size=8, verbose=0, callbacks=[recorder])
    # The first frame is the untrained model's decoding of the seed's codes, the last the
    # trained model's decoding of the very same codes.
    np.testing.assert_allclose(recorder.frames[0], before, atol=1e-6)
    np.testing.assert_allclose(recorder.frames[-1], prior_samples(model, 5, seed=7), atol=1e-6)
    assert not np.allclose(recorder.frames[0], recorder.frames[-1])


# --------------------------------------------------------------------------- the GIF


def test_save_animation_writes_one_gif_frame_per_recorded_epoch(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [rng.random((6, 28, 28)) for _ in range(4)]
    labels = [f"epoch {epoch}" for epoch in range(4)]
    path = save_animation(frames, tmp_path / "runs" / "prior.gif", labels=labels, source="test")
    assert path.exists() and path.parent.name == "runs"
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 4


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"path": "prior.png"}, "must end in .gif"),
        ({"frames": []}, "frames is empty"),
        ({"labels": ["epoch 0"]}, "labels needs 2 captions"),
        ({"fps": 0}, "fps"),
    ],
)
def test_save_animation_refuses_bad_input_with_a_clear_error(tmp_path, kwargs, words):
    arguments = {"frames": [np.zeros((2, 28, 28))] * 2, "path": "prior.gif", **kwargs}
    arguments["path"] = tmp_path / arguments["path"]
    with pytest.raises(ValueError, match=words):
        save_animation(arguments.pop("frames"), arguments.pop("path"), **arguments)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: prior_codes(0, 2), "n"),
        (lambda: prior_codes(3, -1), "latent_dim"),
        (lambda: PriorSampleRecorder(n=0), "n"),
        (lambda: PriorSampleRecorder(every=0), "every"),
        (lambda: sample_grid(np.zeros((2, 28, 28)), columns=0), "columns"),
    ],
)
def test_bad_sizes_raise_a_value_error_naming_the_argument(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_prior_samples_refuses_a_model_that_is_not_a_vae():
    with pytest.raises(TypeError, match="vae_tf VAE"):
        prior_samples(object(), 2)
