"""What every `outreach` command shares (cli/common.py): one `--json`, one `--date`, and one
place where every deliberate error becomes a one-line exit 2."""

from __future__ import annotations

from datetime import date

import click
import pytest
from click.testing import CliRunner

from outreach import errors
from outreach.cli import cli
from outreach.cli.common import OneLineErrors, date_option, json_option


def _group_with(command: click.Command) -> click.Group:
    group = OneLineErrors("outreach")
    group.add_command(command)
    return group


@pytest.mark.parametrize("error", [errors.OutreachError, errors.InputError, errors.ServiceError,
                                   errors.RenderError, errors.StoreError])
def test_any_deliberate_error_is_one_line_and_exit_2(error: type[errors.OutreachError]):
    """A new error class under the root needs no change in the CLI to print as one line."""

    @click.command("boom")
    def boom() -> None:
        raise error("the campaign file says so: fix it")

    result = CliRunner().invoke(_group_with(boom), ["boom"])
    assert result.exit_code == 2
    assert result.output == "outreach: error: the campaign file says so: fix it\n"


def test_json_and_date_options_parse_once_for_every_command():
    seen: dict[str, object] = {}

    @click.command("show")
    @date_option(help="As in force on this day.")
    @json_option
    def show(on: date | None, as_json: bool) -> None:
        seen.update(on=on, as_json=as_json)

    group = _group_with(show)
    assert CliRunner().invoke(group, ["show", "--date", "2027-01-02", "--json"]).exit_code == 0
    assert seen == {"on": date(2027, 1, 2), "as_json": True}
    assert CliRunner().invoke(group, ["show"]).exit_code == 0
    assert seen == {"on": None, "as_json": False}
    bad = CliRunner().invoke(group, ["show", "--date", "02/01/2027"])
    assert bad.exit_code == 2 and "'02/01/2027' does not match the format '%Y-%m-%d'" in bad.output


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    """Every command under `group`, through click's own lookup (`group.commands` of the lazy
    `outreach` group holds only what some earlier test happened to load)."""
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        found.append((" ".join((*path, name)), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


def test_every_json_flag_is_the_shared_one():
    """Every report's --json is the same flag, as DESIGN's CLI contract promises (`--json`
    prints one JSON object), whichever module the command lives in."""
    flags = {name: next((p for p in command.params if "--json" in p.opts), None)
             for name, command in _commands(cli) if not isinstance(command, click.Group)}
    with_json = {name: flag for name, flag in flags.items() if flag is not None}
    assert len(with_json) >= 16
    for name, flag in with_json.items():
        assert flag.name == "as_json" and flag.is_flag, name
        assert flag.help in ("Print one JSON object.", "Print one JSON object at the end."), name
