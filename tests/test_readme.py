"""The README's quick start is two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Quick start section must hold exactly one fenced block"
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands_main_job_then_tests():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    assert "vae-tf reproduce" in commands[0]
    assert "pytest" in commands[1]
    for command in commands:
        assert command.startswith("python3.11 -m venv .venv && ")


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in ci if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == quick_start_commands()[1]


def test_readme_has_no_unfilled_placeholders():
    readme = (REPO_ROOT / "README.md").read_text()
    assert not re.search(r"^[A-Z_]{8,}$", readme, flags=re.M), "a placeholder line is left"
