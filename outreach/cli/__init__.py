"""The `outreach` command: one subcommand per step, a thin shell around the library.

Each command parses arguments, calls the function of the same name in its module, and prints a
human summary or, with --json, one JSON object. Bad input exits 2 with one line on stderr.
The commands live by area (geo, signers, campaigns, sending, roster, ops, demo), share their
options and error handling through cli/common.py, and are named on the group here (COMMANDS,
imported on first use), so a command module never imports this one.
"""

from __future__ import annotations

import importlib
import os
from gettext import gettext
from pathlib import Path
from typing import Any

import click

from outreach.cli.common import OneLineErrors
from outreach.config import Settings
from outreach.errors import ConfigError
from outreach.privacy import install_log_masking, private_files
from outreach.us.compiled import compiled

# Every command, by name, and where it is defined: a module is imported when its command runs
# (or its --help is asked for), so `outreach --version` imports click and nothing heavy, and
# `outreach lookup` does not import the campaign planner (pandas) or the web app.
COMMANDS: dict[str, str] = {
    "lookup": "geo:lookup",
    "db": "ops:database",
    "intake": "signers:intake_command",
    "match": "signers:match_command",
    "worker": "sending:worker_command",
    "plan": "campaigns:plan_command",
    "launch": "campaigns:launch_command",
    "cancel": "campaigns:cancel_command",
    "pause": "campaigns:pause_command",
    "resume": "campaigns:resume_command",
    "suppress": "sending:suppress_group",
    "report": "sending:report_command",
    "scheduler": "ops:scheduler_command",
    "run": "ops:run_command",
    "admin": "ops:admin_group",
    "serve": "ops:serve_command",
    "demo": "demo:demo",
    "roster": "roster:roster",
    "stance": "stances:stance",
    "packet": "packets:packet_command",
    "packet-links": "packets:packet_links",
}
# What the group's own --help lists of a command: (help, short_help, hidden, deprecated).
Summary = tuple[str | None, str | None, bool, bool | str]


def _load(name: str) -> click.Command:
    module, _, attribute = COMMANDS[name].partition(":")
    command = getattr(importlib.import_module(f"outreach.cli.{module}"), attribute)
    if not isinstance(command, click.Command) or command.name != name:
        raise RuntimeError(f"outreach.cli.{module}.{attribute} is not the {name!r} command")
    return command


def _summaries() -> dict[str, Summary]:
    """Every command's listing in `outreach --help`, from the compiled cache (keyed by the
    command modules' files, outreach/us/compiled.py) or, the first time, from the commands
    themselves: the list says what each command does without importing all of them."""
    def build() -> dict[str, Summary]:
        return {name: (c.help, c.short_help, c.hidden, c.deprecated)
                for name, c in ((n, _load(n)) for n in COMMANDS)}

    try:
        directory: Path | None = Settings.from_env().data.cache_dir
    except ConfigError:
        directory = None  # --help still works with a setting it cannot read
    here = Path(__file__).resolve().parent
    sources = [*sorted(here.glob("*.py")), here.parent / "config.py"]
    return compiled("cli-help", sources, build, directory=directory)


class LazyCommands(OneLineErrors):
    """The `outreach` group with its commands imported on first use (click's "Lazily Loading
    Subcommands"): a command's module is imported when the command is looked up to run or to
    print its help; the group's --help lists every command from their summaries."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = dict(COMMANDS)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.commands[cmd_name] = _load(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, each line from the command's summary (the command itself when it
        is loaded already): the same text as click prints from the loaded commands."""
        summaries = _summaries() if any(n not in self.commands for n in self.lazy) else {}
        shown: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                help_, short_help, hidden, deprecated = summaries[name]
                command = click.Command(name, help=help_, short_help=short_help,
                                        hidden=hidden, deprecated=deprecated)
            if not command.hidden:
                shown.append((name, command))
        if shown:
            limit = formatter.width - 6 - max(len(name) for name, _ in shown)
            rows = [(name, command.get_short_help_str(limit)) for name, command in shown]
            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)


def _wants_json_logs() -> bool:
    return os.environ.get("OUTREACH_LOG_FORMAT", "").strip().lower() == "json"


@click.group(cls=LazyCommands)
@click.version_option(package_name="outreach")
def cli() -> None:
    """Reach every local chief prosecutor through their own voters."""


def main() -> None:
    private_files()
    install_log_masking(json_lines=_wants_json_logs())
    cli(prog_name="outreach")


if __name__ == "__main__":
    main()
