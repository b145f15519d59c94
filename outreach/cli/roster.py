"""`outreach roster ...`: check, import corrections, export, gaps, the verification call sheet
(a shell over outreach.roster)."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import pandas as pd
from sqlalchemy import Engine

from outreach.campaigns.audience import select_audience
from outreach.campaigns.calls import wrong_number_reports
from outreach.campaigns.definitions import find_campaign
from outreach.cli.common import (
    _print_json,
    _store,
    apply_options,
    clear_errors,
    confirmed,
    date_option,
    format_coverage,
    json_option,
)
from outreach.config import Settings
from outreach.roster import corrections
from outreach.roster.coverage import coverage_report
from outreach.roster.gaps import gaps, signers_served
from outreach.roster.stances import stances_by_office
from outreach.roster.verify import call_sheet, sheet_csv
from outreach.store.signers import audience_frame
from outreach.us.counties import load_counties


@click.group()
def roster() -> None:
    """The roster of local prosecutor offices (data/prosecutors.csv + your corrections)."""


@roster.command("check")
@date_option(help="As in force on this day (default today).")
@json_option
@clear_errors
def roster_check(on: date | None, as_json: bool) -> None:
    """Validate the roster and report its coverage and gaps."""
    settings = Settings.from_env()
    counties = load_counties(settings.data.data_dir / "counties.csv")
    effective = corrections.effective_roster(settings, counties, on=on)
    report = coverage_report(effective, counties, settings.data.roster_stale_days)
    if as_json:
        _print_json(report)
    else:
        click.echo(format_coverage(report))
    if report["counties_uncovered"]:
        sys.exit(1)


@roster.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@apply_options
@json_option
@clear_errors
def roster_import(file: Path, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Merge corrections and contacts keyed by office_id (with source_url and as_of for every
    changed row), or a call sheet from `roster verify --export` (value, source_url and
    verified_on filled in: an unchanged value becomes verified); rows with an error are
    reported by line and column and not applied. A change dated in the future waits for its
    day."""
    settings = Settings.from_env()
    counties = load_counties(settings.data.data_dir / "counties.csv")
    engine = _store()
    current = {row["office_id"]: row
               for row in corrections.effective_rows(settings.data.roster_path, engine)}
    today = datetime.now(UTC).date()
    plan = corrections.plan_import(file, current, counties, today=today)
    applied = 0
    if not as_json:
        for change in plan.changes:
            what = f"verified {change.new!r}" if change.kind == "verified" else \
                f"{change.old!r} -> {change.new!r}"
            waits = "" if corrections.in_effect(change.as_of, today) else \
                f"; waits for {change.as_of}"
            click.echo(f"{change.office_id}\t{change.field}\t{what}"
                       f"\t({change.source_url}, {change.as_of}{waits})")
        for error in plan.errors:
            click.echo(f"error: {error}", err=True)
        unchecked = f", {plan.unchecked_rows} sheet rows not checked" \
            if plan.unchecked_rows else ""
        click.echo(f"{len(plan.changes)} changes ({plan.verified} verified unchanged), "
                   f"{len(plan.errors)} errors, "
                   f"{plan.unchanged_rows} rows already as the file says{unchecked}")
    if confirmed(bool(plan.changes), dry_run=dry_run, yes=yes, as_json=as_json,
                 question="Apply these changes?"):
        applied = corrections.apply_import(engine, plan.changes, file.name, datetime.now(UTC))
        if not as_json:
            click.echo(f"applied {applied} changes (kept with their sources; "
                       "`outreach match --rematch` moves signers if offices changed)")
    if as_json:
        _print_json({**plan.to_dict(), "applied": applied, "dry_run": dry_run})
    if plan.errors:
        sys.exit(2)


@roster.command("export")
@click.option("--output", type=click.Path(path_type=Path), help="Write here (default stdout).")
@clear_errors
def roster_export(output: Path | None) -> None:
    """The effective roster (shipped file + corrections) as CSV, formula cells escaped."""
    settings = Settings.from_env()
    text = corrections.export_csv(corrections.effective_rows(settings.data.roster_path, _store()))
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _audience(settings: Settings, engine: Engine, campaign: str | None) -> tuple[
        pd.DataFrame, str | None]:
    """The matched signers (of one campaign's audience, if named) and the campaign's name."""
    chosen = find_campaign(settings.campaigns.jobs_dir, campaign) if campaign else None
    with engine.connect() as connection:
        frame = audience_frame(connection)
    if chosen is not None:
        frame = select_audience(frame, chosen, stances_by_office(engine)
                                if chosen.audience.filters_by_stance else None)
    return frame, chosen.name if chosen else None


@roster.command("gaps")
@click.option("--campaign", help="Count only this campaign's audience.")
@click.option("--limit", type=click.IntRange(1), default=25, show_default=True)
@json_option
@clear_errors
def roster_gaps(campaign: str | None, limit: int, as_json: bool) -> None:
    """Offices ranked by the signers they serve, then by the people they serve, that lack a
    phone, an email or a current officeholder ("officeholder missing": no name; "officeholder
    stale": a name not confirmed within OUTREACH_ROSTER_STALE_DAYS), or whose number callers
    reported wrong: the contacts worth finding first."""
    settings = Settings.from_env()
    engine = _store()
    today = datetime.now(UTC).date()
    counties = load_counties(settings.data.data_dir / "counties.csv")
    effective = corrections.effective_roster(settings, counties, engine=engine)
    frame, name = _audience(settings, engine, campaign)
    report: dict[str, Any] = gaps(
        frame, effective, corrections.bounced_offices(engine), settings.data.roster_stale_days,
        today, counties=counties, campaign=name, wrong_numbers=wrong_number_reports(engine))
    if as_json:
        _print_json(report)
        return
    shares = ", ".join(f"{k} {v:.0%}" for k, v in report["share_covered"].items())
    click.echo(f"{report['signers_matched']} signers with a known prosecutor; their offices "
               f"have: {shares}")
    for office in report["offices"][:limit]:
        bounced = " (email bounced)" if office["email_bounced"] else ""
        wrong = office["number_reported_wrong"]
        if wrong:
            bounced += f" ({wrong} caller{'s' if wrong != 1 else ''} since the phone was set)"
        click.echo(f"{office['signers']:>7}  {office['office_id']} "
                   f"({office['people_served']:,} people): missing "
                   f"{', '.join(office['missing'])}{bounced}")
    if not report["offices"]:
        click.echo("no gaps: every office has a phone, an email and a current officeholder")


@roster.command("verify")
@click.option("--export", "export", type=click.Path(path_type=Path), required=True,
              help="Write the call sheet (CSV) here.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="How many offices (those with something to check).")
@click.option("--state", help="Only offices of this state (USPS code, e.g. TX).")
@click.option("--campaign", help="Count signers of this campaign's audience only.")
@json_option
@clear_errors
def roster_verify(export: Path, limit: int, state: str | None, campaign: str | None,
                  as_json: bool) -> None:
    """Write a call sheet for volunteers: every lead, unsourced, missing or stale contact
    value of the offices that matter most (most signers, then most people served), with the
    office's phone, website and county; fill in value, source_url and verified_on and read it
    back with `outreach roster import FILE`."""
    settings = Settings.from_env()
    engine = _store()
    counties = load_counties(settings.data.data_dir / "counties.csv")
    wanted = state.strip().upper() if state else None
    if wanted and wanted not in counties.states:
        raise click.BadParameter(f"{state!r} is not a U.S. state or DC", param_hint="--state")
    effective = corrections.effective_roster(settings, counties, engine=engine)
    frame, name = _audience(settings, engine, campaign)
    rows = call_sheet(effective, counties, signers_served(frame),
                      settings.data.roster_stale_days, limit=limit, state=wanted)
    export.write_text(sheet_csv(rows), encoding="utf-8")
    offices = len({row.office.office_id for row in rows})
    if as_json:
        _print_json({"file": str(export), "rows": len(rows), "offices": offices,
                     "campaign": name, "state": wanted,
                     "by_status": dict(Counter(row.status for row in rows))})
    else:
        click.echo(f"wrote {len(rows)} values to check at {offices} offices to {export}; "
                   f"fill in value, source_url and verified_on, then `outreach roster import "
                   f"{export.name} --dry-run`")
