"""A small digit classifier that scores decoded images: "is it still the same digit?".

The experiments of the course ask how often a decoded image still shows the digit of
its original. A person can eyeball ten images; a classifier can read a thousand. It is
trained once on the same training images as the VAE (a few seconds on a CPU), checked
on the held-out images, and memoized in-process, so that every experiment of one run
reuses the same classifier.

Read every "label kept" rate next to the classifier's own held-out accuracy: a rate
can not be trusted beyond the accuracy of the reader that measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_tf.recipe import ORIGINAL
from vae_tf.validation import float_images, positive_int

if TYPE_CHECKING:
    import keras

    from vae_tf.data import MnistData

__all__ = ["DigitClassifier", "train_digit_classifier"]

# Memo of trained classifiers, keyed on what they were trained on and how:
# (source_description, binarize, len(x_train), epochs, seed) -> classifier.
_CACHE: dict[tuple[str, str, int, int, int], DigitClassifier] = {}


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
    """

    model: keras.Model
    accuracy: float
    source_description: str

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


def build_classifier_model() -> keras.Model:
    """A small convolutional network: two 3x3 convolutions with pooling, then Dense 64.

    About 60,000 weights: about 96 % on the offline sample's held-out digits after five
    epochs on its 4,000 training images, in seconds on a CPU.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1), name="image")
    h = layers.Conv2D(16, 3, activation="relu")(inputs)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(32, 3, activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.25)(h)
    h = layers.Dense(64, activation="relu")(h)
    logits = layers.Dense(10, name="logits")(h)
    return keras.Model(inputs, logits, name="digit_classifier")


def train_digit_classifier(
    data: MnistData, *, epochs: int = ORIGINAL.classifier_epochs, seed: int = 0, verbose: int = 0
) -> DigitClassifier:
    """Train the digit classifier on ``data.x_train`` and measure it on ``data.x_test``.

    Memoized in-process per ``(data.source_description, data.binarize, len(data.x_train),
    epochs, seed)``: a second call with the same data and settings returns the same
    classifier at once; data binarized differently gets its own classifier.

    Parameters
    ----------
    data : MnistData
        From ``vae_tf.data.load_mnist``. Grey-level or binarized images both work.
    epochs : int, default ``ORIGINAL.classifier_epochs`` (5)
        Passes over the training images (batch 64, Adam with learning rate 2e-3).
    seed : int, default 0
        Seeds the initial weights and the shuffling.
    verbose : int, default 0
        Passed to ``keras.Model.fit``.

    Returns
    -------
    DigitClassifier
    """
    epochs = positive_int("epochs", epochs)
    key = (data.source_description, data.binarize, len(data.x_train), epochs, int(seed))
    if key in _CACHE:
        return _CACHE[key]

    import keras

    from vae_tf.config import set_seed

    set_seed(seed)
    model = build_classifier_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # XLA makes these small convolutions slower on a CPU, unlike the dense VAE.
        jit_compile=False,
    )
    x_train = float_images(data.x_train)
    y_train = np.asarray(data.y_train, dtype=np.int64)
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, shuffle=True, verbose=verbose)
    classifier = DigitClassifier(
        model=model, accuracy=0.0, source_description=data.source_description
    )
    predicted = classifier.predict(data.x_test)
    classifier.accuracy = float(np.mean(predicted == np.asarray(data.y_test)))
    _CACHE[key] = classifier
    return classifier
