"""What every `outreach` subcommand module shares: one-line errors, JSON output, the store."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from outreach.config import Settings
from outreach.errors import ConfigError, OutreachError
from outreach.privacy import mask_text

if TYPE_CHECKING:
    from sqlalchemy import Engine

DEBUG_VARIABLE = "OUTREACH_DEBUG"  # =1: an unexpected error prints its (masked) traceback
JSON_HELP = "Print one JSON object."
DATE = click.DateTime(["%Y-%m-%d"])
Command = TypeVar("Command", bound=Callable[..., Any])


@overload
def json_option(command: Command, /) -> Command: ...
@overload
def json_option(*, help: str = JSON_HELP) -> Callable[[Command], Command]: ...
def json_option(command: Command | None = None, /, *,
                help: str = JSON_HELP) -> Command | Callable[[Command], Command]:
    """`--json` (as the `as_json` flag): every command that reports takes it (DESIGN "CLI
    contract"), so it is spelled once. Bare (`@json_option`) or with its own help
    (`@json_option(help=...)`), as sqlite-utils' `output_options`."""
    decorator = click.option("--json", "as_json", is_flag=True, help=help)
    return decorator if command is None else decorator(command)


def apply_options(command: Command) -> Command:
    """`--dry-run` and `--yes`, spelled once for every command that plans changes from a file
    and then applies them (roster import, stance import): the diff first, a question unless
    --yes, and nothing applied on --dry-run."""
    command = click.option("--yes", is_flag=True, help="Apply without asking.")(command)
    return click.option("--dry-run", is_flag=True,
                        help="Show the changes and errors; change nothing.")(command)


def confirmed(has_changes: bool, *, dry_run: bool, yes: bool, as_json: bool,
              question: str) -> bool:
    """Whether to apply a plan: there is something to apply, it is not a dry run, and the
    organizer said yes (--yes, or at the prompt; a --json run never prompts)."""
    return has_changes and not dry_run and (
        yes or (not as_json and click.confirm(question, default=False)))


def _to_date(_: click.Context, __: click.Parameter, value: datetime | None) -> date | None:
    return value.date() if value else None


def date_option(help: str) -> Callable[[Command], Command]:
    """`--date YYYY-MM-DD` (as `on`: a `date`, or None for today): the day whose roster a
    command uses, parsed in one place."""
    return click.option("--date", "on", type=DATE, callback=_to_date, help=help)


def _fail(message: str, code: int = 2) -> None:
    """Print the error (one line; a campaign file's several problems one line each) and exit."""
    for line in message.splitlines() or [""]:
        click.echo(f"outreach: error: {line}", err=True)
    sys.exit(code)


def _configured_database() -> str:
    try:
        return Settings.from_env().store.database_url
    except ConfigError:
        return os.environ.get("OUTREACH_DATABASE_URL", "")


def _unexpected(error: Exception) -> str:
    """A bug's one line: what it was, masked (it may quote a signer's row), and how to see
    the traceback."""
    text = " ".join(str(error).split())[:300]
    return (f"unexpected {type(error).__name__}{': ' + text if text else ''} (a bug; run with "
            f"{DEBUG_VARIABLE}=1 for the traceback)")


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Every error a command can meet, as one line on stderr, never a traceback: anything
    outreach raises on purpose (an `OutreachError`, outreach/errors.py: bad input, a service
    that does not answer) and a database that is unreachable or misnamed exit 2 (fix the
    input or the setting); anything else is a bug and exits 1 with its type and a masked
    message (OUTREACH_DEBUG=1 prints the masked traceback too)."""
    try:
        yield
    except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
        raise  # usage errors and --help: click prints its own
    except OutreachError as error:  # every deliberate error, whichever layer raised it
        _fail(str(error))
    except BrokenPipeError:
        _reader_left()
    except KeyboardInterrupt:  # Ctrl-C: what was committed stays; no traceback, no "a bug"
        click.echo("outreach: interrupted", err=True)
        sys.exit(128 + signal.SIGINT)
    except Exception as error:
        if _is_database_error(error):
            from outreach.store import db

            if not db.is_connection_loss(error):
                _report_bug(error)
            _fail(db.database_problem(_configured_database(), error))
        _report_bug(error)


def _reader_left() -> None:
    """stdout's reader closed the pipe (`outreach report | head -1`, a pager quit): not a bug
    and nothing to say. Python's own recipe (the signal module's "Note on SIGPIPE"): point
    stdout at /dev/null so the flush at exit cannot fail again, and exit as a process that
    SIGPIPE ended would (128 + 13), so a pipeline under `set -o pipefail` still sees it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(128 + signal.SIGPIPE)


def _is_database_error(error: Exception) -> bool:
    """A DBAPIError, told without importing SQLAlchemy: a command that never loaded it (the
    lookup, --help) cannot have raised one."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.DBAPIError)


def _report_bug(error: Exception) -> None:
    if os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        click.echo(mask_text(traceback.format_exc()).rstrip(), err=True)
    _fail(mask_text(_unexpected(error)), code=1)


def clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """One command's errors as one line (see one_line_errors); the `outreach` group applies
    the same to every command, so this only matters for a command invoked on its own."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_line_errors():
            return command(*args, **kwargs)

    return wrapper


class OneLineErrors(click.Group):
    """The `outreach` group: whatever command runs, its errors come out as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)


def _print_json(payload: object) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def _store() -> Engine:
    from outreach.store import db

    return db.open_store(Settings.from_env().store.database_url)


def format_coverage(report: dict[str, Any]) -> str:
    per_state = ", ".join(f"{s} {n}" for s, n in report["offices_per_state"].items())
    uncovered = report["counties_uncovered"]
    lines = [
        f"Roster: {report['offices']} offices in {report['states']} states (DC counted) "
        f"({report['felony_offices']} prosecute felonies, "
        f"{report['misdemeanor_only_offices']} misdemeanors only, "
        f"{report['appointed_offices']} appointed)",
        f"Counties: {report['counties_total']}; without a felony prosecutor: "
        + (", ".join(uncovered) if uncovered else "none"),
        f"Counties without a misdemeanor office: "
        f"{len(report['counties_without_misdemeanor_office'])} "
        "(New Jersey: municipal prosecutors, not in the roster)",
        f"Counties split by town between offices: {', '.join(report['counties_split_by_place'])}",
        "Gaps: "
        f"{report['offices_without_email']} offices without email, "
        f"{report['offices_without_phone']} without phone, "
        f"{report['offices_without_website']} without website, "
        f"{report['offices_without_officeholder']} without a named officeholder; "
        f"{report['offices_without_any_contact']} with no contact at all; "
        f"{report['offices_to_verify']} rows marked 'verify'",
    ]
    population = report.get("coverage", {}).get("population")
    if population:
        shares = ", ".join(f"{name.replace('_', ' ')} {share:.1%}"
                           for name, share in population.items())
        lines.append(f"People served (2020 Census) whose felony office has: {shares}; "
                     f"{report['offices_with_stale_officeholder']} officeholder names not "
                     "confirmed within OUTREACH_ROSTER_STALE_DAYS (messages use the title)")
    lines.append(f"Offices per state: {per_state}")
    return "\n".join(lines)
