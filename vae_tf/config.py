"""Run-wide settings: the fast setting used by CI, and seeding."""

from __future__ import annotations

import os
import random

import numpy as np

FAST_ENV = "VAE_TF_FAST"


def fast_mode() -> bool:
    """True when ``VAE_TF_FAST`` is set to 1/true/yes: fewer epochs and images, for CI.

    Notebooks and the CLI read it to shrink their work; numbers printed in fast mode
    say so, because they come from tiny runs.
    """
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (through Keras) so that a run can be repeated."""
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
