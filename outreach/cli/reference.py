"""docs/cli.md, the `--help` of every `outreach` command, generated from the commands themselves
(`python scripts/cli_docs.py --write`), so the reference cannot drift from the code: a test fails
while docs/cli.md differs from `reference()` (as sqlite-utils' cog-generated cli-reference.rst).

The text is the same on every machine: click wraps help at a fixed width (what it prints in any
terminal of 80 columns or more) and the program is always called `outreach`.
"""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from outreach.cli import cli
from outreach.config import PACKAGE_ROOT

DOC = PACKAGE_ROOT / "docs" / "cli.md"
WIDTH = 78  # click's width in a terminal of 80 columns or more (it keeps 2 for the margin)
SCRIPT = "python scripts/cli_docs.py --write"

INTRO = f"""# Command reference

<!-- Generated from the commands' own help by `{SCRIPT}`:
     do not edit by hand. -->

The `--help` of every `outreach` command, as `outreach COMMAND --help` prints it. The stable
contract (names, options, `--json` output, exit codes) is in DESIGN.md's "CLI contract"; every
command exits 2 with one line on stderr (`outreach: error: ...`) for input it cannot use.
"""


def commands(group: click.Group = cli,
             path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command's path from the top (`()` is `outreach` itself), groups before their
    subcommands, in the order `--help` lists them."""
    yield path
    context = click.Context(group, info_name="outreach")
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        elif command is not None:
            yield (*path, name)


def help_text(path: tuple[str, ...]) -> str:
    """`outreach PATH --help`, at the fixed width."""
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="outreach",
                                terminal_width=WIDTH, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"outreach {' '.join(path)} --help exited {result.exit_code}")
    return result.output.replace("\b\n", "")  # click's no-rewrap marker


def _anchor(title: str) -> str:
    return title.replace(" ", "-")


def reference() -> str:
    """docs/cli.md as it should read: a contents list, then one section per command."""
    titles = [" ".join(("outreach", *path)) for path in commands()]
    contents = "\n".join(f"- [`{title}`](#{_anchor(title)})" for title in titles)
    sections = [f"## {title}\n\n```text\n{help_text(path).rstrip()}\n```\n"
                for title, path in zip(titles, commands(), strict=True)]
    return f"{INTRO}\n{contents}\n\n" + "\n".join(sections)
