"""docs/cli.md is the `--help` of every command and cannot drift from the code (issue 15; the
model is sqlite-utils' tests/test_docs.py with its cog-generated docs/cli-reference.rst)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from outreach.cli import cli
from outreach.cli.reference import DOC, SCRIPT, commands, help_text, reference

ROOT = Path(__file__).resolve().parents[2]


def test_docs_cli_md_is_the_generated_reference():
    assert DOC.read_text(encoding="utf-8") == reference(), \
        f"docs/cli.md is out of date: run `{SCRIPT}` and commit docs/cli.md"


def test_every_command_is_in_the_reference_with_its_help():
    paths = list(commands())
    assert ("lookup",) in paths and ("db", "upgrade") in paths and ("roster", "gaps") in paths
    assert len(paths) == len(set(paths)) >= 29
    text = DOC.read_text(encoding="utf-8")
    for path in paths:
        assert f"\n## {' '.join(('outreach', *path))}\n" in text


@pytest.mark.parametrize("path", [p for p in commands() if p])
def test_every_command_says_what_it_does(path: tuple[str, ...]):
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert (command.help or "").strip(), f"outreach {' '.join(path)} has no help text"


def test_the_help_is_the_same_whatever_the_terminal(monkeypatch):
    wide = help_text(("intake",))
    monkeypatch.setenv("COLUMNS", "40")
    assert help_text(("intake",)) == wide
    assert wide.startswith("Usage: outreach intake [OPTIONS] FILE\n")
    assert max(len(line) for line in wide.splitlines()) <= 78


def test_the_script_checks_and_writes_the_reference(tmp_path: Path):
    doc = tmp_path / "cli.md"
    doc.write_text("# stale\n", encoding="utf-8")
    script = [sys.executable, str(ROOT / "scripts" / "cli_docs.py"), "--doc", str(doc)]

    checked = subprocess.run([*script, "--check"], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 1
    assert f"run {SCRIPT}" in checked.stderr
    written = subprocess.run([*script, "--write"], capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    assert doc.read_text(encoding="utf-8") == reference()
    again = subprocess.run([*script, "--check"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
