"""The package as the grading worker sees it: without the lesson's reference answers.

:func:`redacted_package` writes a copy of ``vae_tf`` in which the reference
implementations of a lesson's exercises are unavailable, so that a student's exercise
cell cannot earn points with the package's own answer (by import, ``importlib``,
reading the source or inheriting a method). The sandbox mounts the copy, read-only,
over the real package for the worker.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import vae_tf


def redacted_package(lesson: str, dest: Path) -> Path:
    """Write the package for grading ``lesson`` under ``dest``; return ``dest / "vae_tf"``."""
    source = Path(vae_tf.__file__).resolve().parent
    target = Path(dest) / "vae_tf"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target
