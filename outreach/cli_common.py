"""What every `outreach` subcommand module shares: one-line errors, JSON output, the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from sqlalchemy import Engine

from outreach import suppressions
from outreach.campaigns import CampaignError
from outreach.census import GeocoderError
from outreach.config import ConfigError, Settings
from outreach.geo import AddressError
from outreach.intake import IntakeError
from outreach.preview import PlanError
from outreach.roster import RosterError
from outreach.scheduler import SchedulerError
from outreach.store import db
from outreach.store.outbox import RunStateError


def _fail(message: str) -> None:
    click.echo(f"outreach: error: {message}", err=True)
    sys.exit(2)


def clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's input errors into one line on stderr and exit code 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (RosterError, AddressError, ConfigError, GeocoderError, IntakeError,
                CampaignError, PlanError, suppressions.SuppressionError,
                SchedulerError, RunStateError) as error:
            _fail(str(error))

    return wrapper


def _print_json(payload: object) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


def _store() -> Engine:
    return db.open_store(Settings.from_env().database_url)


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
        f"Offices per state: {per_state}",
    ]
    return "\n".join(lines)
