#!/usr/bin/env python3
"""Print README.md's settings tables, generated from outreach.config.VARIABLES.

Usage:
  python scripts/settings_table.py           # print the table
  python scripts/settings_table.py --write   # put it in README.md between the markers
  python scripts/settings_table.py --check   # exit 1 if README.md's table is not this one

The table goes between `<!-- settings:begin -->` and `<!-- settings:end -->` in the README's
"Settings (environment)" section; nothing else in the file changes. It refuses (exit 1, one
line per variable) while a variable the code reads has no description, or a description names
no variable: add or fix its line in VARIABLES (outreach/config.py) or, for a variable read
straight from the environment, in ENVIRONMENT_ONLY (outreach/settings_doc.py), then run it
again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from outreach.settings_doc import README, MarkerError, current_block, problems, table, with_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true",
                        help="replace the table between the markers in README.md")
    action.add_argument("--check", action="store_true",
                        help="exit 1 if README.md's table differs from the generated one")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    wrong = problems()
    if wrong:
        for line in wrong:
            print(f"settings_table: {line}", file=sys.stderr)
        return 1
    if not (args.write or args.check):
        sys.stdout.write(table())
        return 0
    text = args.readme.read_text(encoding="utf-8")
    try:
        updated = with_table(text)
    except MarkerError as error:
        print(f"settings_table: {error}", file=sys.stderr)
        return 1
    if updated == text:
        print(f"{args.readme.name}: the settings table is up to date")
        return 0
    if args.check:
        print(f"{args.readme.name}: the settings table is out of date: run "
              "python scripts/settings_table.py --write", file=sys.stderr)
        return 1
    args.readme.write_text(updated, encoding="utf-8")
    rows = current_block(updated).count("\n| `OUTREACH_")
    print(f"{args.readme.name}: settings table written ({rows} variables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
