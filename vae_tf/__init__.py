"""vae_tf: the package behind the Keras 3 / TensorFlow course on Variational Autoencoders.

Import what you need from the modules (``vae_tf.data``, ``vae_tf.models``, ...), or the
main names from here. Heavy modules (TensorFlow) load only when first used, so that
``vae-tf --help`` and the grader start quickly.

Importing the package also hides TensorFlow's C++ log lines (CUDA, oneDNN) unless the
environment variable ``VAE_TF_VERBOSE=1`` is set; see ``vae_tf.config``.
"""

from __future__ import annotations

import importlib
from typing import Any

from vae_tf.config import install_quiet_tensorflow

install_quiet_tensorflow()

__version__ = "0.1.0"

_LAZY = {
    "load_mnist": "vae_tf.data",
    "MnistData": "vae_tf.data",
    "DataError": "vae_tf.data",
    "VAE": "vae_tf.models",
    "Autoencoder": "vae_tf.models",
    "Sampling": "vae_tf.models",
    "check": "vae_tf.grading",
    "fast_mode": "vae_tf.config",
    "set_seed": "vae_tf.config",
    "TrainingDiverged": "vae_tf.models",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vae_tf' has no attribute {name!r}")
