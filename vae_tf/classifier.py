"""A small digit classifier that scores decoded images: "is it still the same digit?".

The experiments of the course ask how often a decoded image still shows the digit of
its original. A person can eyeball ten images; a classifier can read a thousand. It is
trained on the same training images as the VAE (a few seconds on a CPU) with the
epochs and seed of a ``vae_tf.recipe.Recipe`` and checked on the held-out images;
``vae-tf reproduce`` trains one and passes it to every experiment. Its initial weights,
dropout and shuffling are seeded from the recipe (no global random state), so one seed
gives one classifier.

Read every "label kept" rate next to the classifier's own held-out accuracy: a rate
can not be trusted beyond the accuracy of the reader that measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf.recipe import ORIGINAL, Recipe
from vae_tf.validation import float_images, positive_int

if TYPE_CHECKING:
    import keras

    from vae_tf.data import MnistData

__all__ = ["DigitClassifier", "train_digit_classifier"]

BATCH_SIZE = 64
LEARNING_RATE = 2e-3


@dataclass
class DigitClassifier:
    """A trained digit classifier and its accuracy on held-out images.

    Attributes
    ----------
    model : keras.Model
        Images (N, 28, 28, 1) in [0, 1] -> logits over the 10 digits.
    accuracy : float
        Fraction of the held-out images of the training data it labels correctly.
    source_description : str
        The data it was trained and tested on (``MnistData.source_description``).
    epochs, seed : int
        How it was trained (``Recipe.classifier_epochs`` and ``Recipe.seed``).
    """

    model: keras.Model
    accuracy: float
    source_description: str
    epochs: int = ORIGINAL.classifier_epochs
    seed: int = ORIGINAL.seed

    def predict(self, images: Any, *, batch_size: int = 1000) -> np.ndarray:
        """Digit labels (int64, shape (N,)) of images shaped (N, 28, 28, 1) or (N, 28, 28)."""
        images = float_images(images)
        labels = [
            np.argmax(np.asarray(self.model(images[i : i + batch_size], training=False)), -1)
            for i in range(0, len(images), batch_size)
        ]
        if not labels:
            return np.zeros((0,), dtype=np.int64)
        return np.concatenate(labels).astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"DigitClassifier(accuracy={self.accuracy:.3f}, "
            f"source_description={self.source_description!r})"
        )


def build_classifier_model(seed: int | None = None) -> keras.Model:
    """A small convolutional network: two 3x3 convolutions with pooling, then Dense 64.

    About 60,000 weights: about 96 % on the offline sample's held-out digits after five
    epochs on its 4,000 training images, in seconds on a CPU. ``seed`` seeds the initial
    weights and the dropout (None: a fresh draw each time).
    """
    import keras
    from keras import layers

    from vae_tf.models import layer_seed

    def glorot(where: str) -> keras.initializers.Initializer:
        return keras.initializers.GlorotUniform(seed=layer_seed(seed, f"classifier/{where}"))

    inputs = keras.Input(shape=(28, 28, 1), name="image")
    h = layers.Conv2D(16, 3, activation="relu", kernel_initializer=glorot("conv1"))(inputs)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(32, 3, activation="relu", kernel_initializer=glorot("conv2"))(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.25, seed=layer_seed(seed, "classifier/dropout"))(h)
    h = layers.Dense(64, activation="relu", kernel_initializer=glorot("dense"))(h)
    logits = layers.Dense(10, name="logits", kernel_initializer=glorot("logits"))(h)
    return keras.Model(inputs, logits, name="digit_classifier")


def train_digit_classifier(
    data: MnistData,
    recipe: Recipe | None = None,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    verbose: int = 0,
) -> DigitClassifier:
    """Train the digit classifier on ``data.x_train`` and measure it on ``data.x_test``.

    Its epochs and seed come from ``recipe`` (``classifier_epochs`` and ``seed``), the
    same recipe that trains the VAE it scores. Two calls with the same data and settings
    train two classifiers with the same weights; nothing is memoized, so keep the one you
    train (``vae-tf reproduce`` passes its classifier to every experiment).

    Parameters
    ----------
    data : MnistData
        From ``vae_tf.data.load_mnist``. Grey-level or binarized images both work.
    recipe : Recipe, optional
        Default: ``vae_tf.recipe.ORIGINAL`` (5 epochs, seed 0).
    epochs, seed : int, optional
        Override the recipe's ``classifier_epochs`` and ``seed`` (as
        ``recipe.replace(classifier_epochs=epochs, seed=seed)`` would). Batches of 64,
        Adam with learning rate 2e-3.
    verbose : int, default 0
        Passed to ``keras.Model.fit``.

    Returns
    -------
    DigitClassifier
    """
    import keras

    recipe = ORIGINAL if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        raise TypeError(
            f"recipe must be a vae_tf.recipe.Recipe, got {type(recipe).__name__} "
            "(pass epochs= and seed= by keyword)"
        )
    changes: dict[str, int] = {}
    if epochs is not None:
        changes["classifier_epochs"] = positive_int("epochs", epochs)
    if seed is not None:
        changes["seed"] = seed
    recipe = recipe.replace(**changes) if changes else recipe
    model = build_classifier_model(seed=recipe.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # XLA makes these small convolutions slower on a CPU, unlike the dense VAE.
        jit_compile=False,
    )
    import tensorflow as tf

    x_train = float_images(data.x_train)
    y_train = np.asarray(data.y_train, dtype=np.int64)
    # A seeded shuffle (fit's own shuffle would draw from the global random state).
    batches = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=recipe.seed, reshuffle_each_iteration=True)
        .batch(BATCH_SIZE)
    )
    model.fit(batches, epochs=recipe.classifier_epochs, shuffle=False, verbose=verbose)
    classifier = DigitClassifier(
        model=model,
        accuracy=0.0,
        source_description=data.source_description,
        epochs=recipe.classifier_epochs,
        seed=recipe.seed,
    )
    predicted = classifier.predict(data.x_test)
    classifier.accuracy = float(np.mean(predicted == np.asarray(data.y_test)))
    return classifier
