"""The project's own style checks run in the test suite, so CI runs them through the
README's test command: ``ruff check`` and ``ruff format --check`` with the configuration
in ``pyproject.toml``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

needs_ruff = pytest.mark.skipif(
    importlib.util.find_spec("ruff") is None,
    reason='ruff is not installed (pip install -e ".[test]" installs it)',
)


def run_ruff(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_ruff
def test_ruff_check_passes_on_the_whole_repository():
    result = run_ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@needs_ruff
def test_ruff_format_check_passes_on_the_whole_repository():
    result = run_ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, (
        "files ruff would reformat (run `ruff format FILE`):\n" + result.stdout[-4000:]
    )


@needs_ruff
def test_ruff_check_finds_a_violation_when_there_is_one(tmp_path):
    # The check above can fail: ruff, with the project's configuration, flags zip()
    # without strict= (B905), the fault the repository once had.
    bad = tmp_path / "bad.py"
    bad.write_text("pairs = list(zip([1], [2]))\n")
    config = REPO_ROOT / "pyproject.toml"
    result = run_ruff("check", "--no-cache", "--config", str(config), str(bad))
    assert result.returncode != 0 and "B905" in result.stdout, result.stdout
