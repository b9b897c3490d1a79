"""Shared pytest setup: the ``--notebook PATH`` option of ``tests/test_exercises.py``.

pytest tests/test_exercises.py                               # every solutions/*.ipynb
pytest tests/test_exercises.py --notebook path/to/nb.ipynb   # any notebook, repeatable
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--notebook",
        action="append",
        default=[],
        metavar="PATH",
        help="run the exercise checks of tests/test_exercises.py against this notebook "
        "instead of every solutions/*.ipynb (repeatable)",
    )


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
