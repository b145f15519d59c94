"""`outreach stance ...`: record and list where each prosecutor stands (outreach.roster.stances)."""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from outreach.cli.common import (
    _print_json,
    _store,
    apply_options,
    clear_errors,
    confirmed,
    json_option,
)
from outreach.config import Settings
from outreach.roster import stances
from outreach.roster.corrections import effective_roster
from outreach.roster.stances import DEMANDS, STANCES, StancePlan

_CHOICE = click.Choice(STANCES, case_sensitive=False)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container: still say it was the CLI
        return "unknown"


def _echo_plan(plan: StancePlan) -> None:
    for change in plan.changes:
        click.echo(f"{change.office_id}\t{change.demand}\t{change.old} -> {change.new}"
                   f"\t({change.source_url}, {change.stated_on.isoformat()})")
    for error in plan.errors:
        click.echo(f"error: {error}", err=True)


@click.group("stance")
def stance() -> None:
    """Where each prosecutor stands on the three demands (expunge, drop, divert)."""


@stance.command("set")
@click.argument("office_id")
@click.option("--expunge", type=_CHOICE, help="Expunge past marijuana convictions.")
@click.option("--drop", type=_CHOICE, help="Drop pending low-level marijuana cases.")
@click.option("--divert", type=_CHOICE, help="Treatment and diversion instead of jail.")
@click.option("--source", "source_url", required=True,
              help="The http(s) page where the office states its position.")
@click.option("--on", "stated_on", help="The day the source dates it from (default today).")
@click.option("--note", default="", help="What the source says, in a line.")
@json_option
@clear_errors
def stance_set(office_id: str, expunge: str | None, drop: str | None, divert: str | None,
               source_url: str, stated_on: str | None, note: str, as_json: bool) -> None:
    """Record an office's stance on one or more demands, with its source."""
    settings = Settings.from_env()
    engine = _store()
    today = datetime.now(UTC).date()
    office_ids = {o.office_id for o in effective_roster(settings, engine=engine).all_offices}
    with engine.begin() as connection:
        plan = stances.plan_changes(
            office_id, {"expunge": expunge or "", "drop": drop or "", "divert": divert or ""},
            source_url, stated_on or today.isoformat(), note,
            current=stances.current_stances(connection, [office_id]), office_ids=office_ids,
            today=today)
        recorded = 0 if plan.errors else stances.record(connection, plan.changes,
                                                        f"cli:{_who()}", datetime.now(UTC))
    if as_json:
        _print_json({**plan.to_dict(), "recorded": recorded})
    else:
        _echo_plan(plan)
        if not plan.errors:
            click.echo(f"recorded {recorded} stance(s)" if recorded else
                       "nothing to record: the office already stands so")
    if plan.errors:
        sys.exit(2)


@stance.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@apply_options
@json_option
@clear_errors
def stance_import(file: Path, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Record stances from a CSV (office_id, expunge, drop, divert, source_url, on, note);
    rows with an error are reported by line and column and not applied."""
    settings = Settings.from_env()
    engine = _store()
    today = datetime.now(UTC).date()
    office_ids = {o.office_id for o in effective_roster(settings, engine=engine).all_offices}
    with engine.connect() as connection:
        current = stances.current_stances(connection)
    plan = stances.plan_import(file, current, office_ids, today)
    recorded = 0
    if not as_json:
        _echo_plan(plan)
        click.echo(f"{len(plan.changes)} changes, {len(plan.errors)} errors, "
                   f"{plan.unchanged_rows} rows already as the file says")
    if confirmed(bool(plan.changes), dry_run=dry_run, yes=yes, as_json=as_json,
                 question="Record these stances?"):
        with engine.begin() as connection:
            recorded = stances.record(connection, plan.changes, f"import:{file.name}",
                                      datetime.now(UTC))
        if not as_json:
            click.echo(f"recorded {recorded} stance(s)")
    if as_json:
        _print_json({**plan.to_dict(), "recorded": recorded, "dry_run": dry_run})
    if plan.errors:
        sys.exit(2)


@stance.command("list")
@click.option("--state", help="Only this state's offices (USPS code).")
@click.option("--all", "every", is_flag=True, help="Every office, unknown ones too.")
@click.option("--history", "with_history", is_flag=True,
              help="Every statement recorded, oldest first.")
@json_option
@clear_errors
def stance_list(state: str | None, every: bool, with_history: bool, as_json: bool) -> None:
    """Each office's stance on each demand, with its source."""
    settings = Settings.from_env()
    engine = _store()
    roster = effective_roster(settings, engine=engine)
    offices = [o for o in roster.offices if not state or o.state == state.upper()]
    with engine.connect() as connection:
        current = stances.current_stances(connection)
        past = stances.history(connection, [o.office_id for o in offices]) \
            if with_history else []
    rows = []
    for office in offices:
        found = current.get(office.office_id)
        if found is None and not every:
            continue
        rows.append({"state": office.state, "office_name": office.office_name,
                     **(found or stances.OfficeStance(office.office_id)).to_dict()})
    if as_json:
        _print_json({"offices": rows, **({"history": [s.to_dict() for s in past]}
                                         if with_history else {})})
        return
    for row in rows:
        parts = "  ".join(f"{d} {row[d]['stance']}" for d in DEMANDS)  # type: ignore[index]
        click.echo(f"{row['office_id']}\t{row['summary']}\t{parts}")
    for statement in past:
        click.echo(f"{statement.stated_on.isoformat()}  {statement.office_id}  "
                   f"{statement.demand} {statement.stance}  {statement.source_url}  "
                   f"({statement.set_by})")
    if not rows:
        click.echo("no stances recorded" + (f" in {state.upper()}" if state else "")
                   + " (outreach stance set OFFICE_ID --expunge yes --source URL)")

