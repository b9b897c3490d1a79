"""vae_tf.validation: the one set of argument checks, with errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from vae_tf import validation


@pytest.mark.parametrize("value", [3, np.int64(3)])
def test_integer_accepts_python_and_numpy_integers(value):
    assert validation.integer("seed", value) == 3
    assert type(validation.integer("seed", value)) is int


@pytest.mark.parametrize("value", [True, 2.0, "2", None])
def test_integer_rejects_bools_floats_and_strings_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"^seed must be an integer, got "):
        validation.integer("seed", value)


@pytest.mark.parametrize("value", [0, -1])
def test_positive_int_rejects_zero_and_negatives(value):
    with pytest.raises(ValueError, match=f"epochs must be a positive integer, got {value}"):
        validation.positive_int("epochs", value)
    assert validation.positive_int("epochs", 1) == 1


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf"), "much", None])
def test_non_negative_float_rejects_negatives_nan_infinity_and_text(value):
    with pytest.raises(ValueError, match="kl_weight must be a"):
        validation.non_negative_float("kl_weight", value)
    assert validation.non_negative_float("kl_weight", 0) == 0.0


def test_positive_float_rejects_zero():
    with pytest.raises(ValueError, match="learning_rate must be a number > 0"):
        validation.positive_float("learning_rate", 0.0)
    assert validation.positive_float("learning_rate", "1e-3") == pytest.approx(1e-3)


def test_one_of_lists_the_choices():
    with pytest.raises(ValueError, match="arch must be one of 'mlp', 'conv', got 'cnn'"):
        validation.one_of("arch", "cnn", ("mlp", "conv"))
    assert validation.one_of("arch", "conv", ("mlp", "conv")) == "conv"


def test_float_images_adds_the_channel_axis_and_casts_to_float32():
    images = np.full((2, 28, 28), 0.5, np.float64)
    array = validation.float_images(images)
    assert array.shape == (2, 28, 28, 1) and array.dtype == np.float32
    np.testing.assert_array_equal(array[..., 0], images.astype(np.float32))


@pytest.mark.parametrize("shape", [(2, 784), (2, 28, 28, 3), (2, 32, 32, 1), (28, 28)])
def test_float_images_rejects_other_shapes_naming_the_shape(shape):
    with pytest.raises(
        ValueError, match=r"x_test must be MNIST images shaped .* \(" + str(shape[0])
    ):
        validation.float_images(np.zeros(shape), "x_test")


def test_float_images_rejects_empty_arrays_and_values_outside_0_1():
    with pytest.raises(ValueError, match="images is empty"):
        validation.float_images(np.zeros((0, 28, 28)))
    with pytest.raises(
        ValueError, match=r"got values in \[255, 255\] \(divide uint8 pixels by 255\)"
    ):
        validation.float_images(np.full((1, 28, 28), 255, np.uint8))
    with pytest.raises(ValueError, match="grey levels in"):
        validation.float_images(np.full((1, 28, 28), np.nan))
    # Without the range check, values outside [0, 1] pass through.
    assert validation.float_images(np.full((1, 28, 28), 7.0), check_range=False).max() == 7.0


def test_grey_levels_accepts_any_shape_and_rejects_out_of_range_values():
    assert validation.grey_levels(np.array([0.0, 0.25, 1.0])).dtype == np.float32
    assert validation.grey_levels(np.zeros((0,))).size == 0
    with pytest.raises(
        ValueError, match=r"pixels must be grey levels in \[0, 1\], got values in \[-1"
    ):
        validation.grey_levels(np.array([-1.0, 0.5]), "pixels")
    with pytest.raises(ValueError, match="grey levels"):
        validation.grey_levels(np.array([0.5, np.inf]))
    with pytest.raises(ValueError, match="got 784 NaN or infinite values"):
        validation.float_images(np.full((1, 28, 28), np.nan))
