#!/usr/bin/env python3
"""Print docs/cli.md, the `--help` of every `outreach` command, generated from the commands.

Usage:
  python scripts/cli_docs.py           # print the reference
  python scripts/cli_docs.py --write   # write it to docs/cli.md
  python scripts/cli_docs.py --check   # exit 1 if docs/cli.md is not this text

Run --write after changing a command, an option or a help text, and commit docs/cli.md;
tests/integration/test_cli_docs.py fails until then. The whole file is generated
(outreach/cli/reference.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from outreach.cli.reference import DOC, SCRIPT, reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write docs/cli.md")
    action.add_argument("--check", action="store_true",
                        help="exit 1 if docs/cli.md differs from the generated text")
    parser.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    text = reference()
    if not (args.write or args.check):
        sys.stdout.write(text)
        return 0
    current = args.doc.read_text(encoding="utf-8") if args.doc.exists() else None
    if current == text:
        print(f"{args.doc.name}: the command reference is up to date")
        return 0
    if args.check:
        print(f"{args.doc.name}: the command reference is out of date: run {SCRIPT}",
              file=sys.stderr)
        return 1
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text, encoding="utf-8")
    print(f"{args.doc.name}: command reference written ({text.count(chr(10) + '## ')} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
