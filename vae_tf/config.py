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


# The versions the course is tested with; Colab upgrades TensorFlow/Keras without warning.
SUPPORTED = {"tensorflow": ((2, 16), (2, 22)), "keras": ((3, 3), (4, 0))}


def _version_tuple(version: str) -> tuple[int, int]:
    parts = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in version.split(".")[:2]]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def check_environment(verbose: bool = True) -> dict[str, str]:
    """Check that TensorFlow and Keras are versions this course supports.

    Every lesson calls this in its first code cell. It prints the versions (and whether
    the fast setting is on) and raises a ``RuntimeError`` that says what to install when
    a version is outside the supported range, instead of a confusing error later.

    Returns
    -------
    dict mapping package name to version string.
    """
    import keras
    import tensorflow as tf

    found = {"tensorflow": tf.__version__, "keras": keras.__version__}
    problems = []
    for name, version in found.items():
        low, high = SUPPORTED[name]
        if not low <= _version_tuple(version) < high:
            problems.append(
                f"{name} {version} is not supported: this course needs "
                f"{name}>={low[0]}.{low[1]},<{high[0]}.{high[1]}"
            )
    if problems:
        raise RuntimeError(
            "; ".join(problems)
            + '. Fix: pip install "tensorflow>=2.16,<2.22" "keras>=3.3,<4", then restart the kernel.'
        )
    if verbose:
        mode = "ON (tiny runs, numbers are not meaningful)" if fast_mode() else "off"
        print(f"TensorFlow {found['tensorflow']}, Keras {found['keras']}: supported. Fast setting: {mode}.")
    return found
