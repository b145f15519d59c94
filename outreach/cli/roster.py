"""`outreach roster ...`: check, import corrections, export, gaps (a shell over outreach.roster)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from outreach.campaigns.audience import select_audience
from outreach.campaigns.calls import wrong_number_reports
from outreach.campaigns.definitions import find_campaign
from outreach.cli.common import (
    _print_json,
    _store,
    clear_errors,
    date_option,
    format_coverage,
    json_option,
)
from outreach.config import Settings
from outreach.roster import corrections
from outreach.roster.coverage import coverage_report
from outreach.roster.gaps import gaps
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
    report = coverage_report(effective, counties)
    if as_json:
        _print_json(report)
    else:
        click.echo(format_coverage(report))
    if report["counties_uncovered"]:
        sys.exit(1)


@roster.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show the changes and errors; change nothing.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@json_option
@clear_errors
def roster_import(file: Path, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Merge corrections and contacts keyed by office_id (with source_url and as_of for every
    changed row); rows with an error are reported by line and column and not applied."""
    settings = Settings.from_env()
    counties = load_counties(settings.data.data_dir / "counties.csv")
    engine = _store()
    current = {row["office_id"]: row
               for row in corrections.effective_rows(settings.data.roster_path, engine)}
    plan = corrections.plan_import(file, current, counties)
    applied = 0
    if not as_json:
        for change in plan.changes:
            click.echo(f"{change.office_id}\t{change.field}\t{change.old!r} -> {change.new!r}"
                       f"\t({change.source_url}, {change.as_of})")
        for error in plan.errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"{len(plan.changes)} changes, {len(plan.errors)} errors, "
                   f"{plan.unchanged_rows} rows already as the file says")
    if plan.changes and not dry_run and (yes or (not as_json and click.confirm(
            "Apply these changes?", default=False))):
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


@roster.command("gaps")
@click.option("--campaign", help="Count only this campaign's audience.")
@click.option("--limit", type=click.IntRange(1), default=25, show_default=True)
@json_option
@clear_errors
def roster_gaps(campaign: str | None, limit: int, as_json: bool) -> None:
    """Offices ranked by the signers they serve that lack a phone, an email or a current
    officeholder, or whose number callers reported wrong: the contacts worth finding first."""
    settings = Settings.from_env()
    engine = _store()
    chosen = find_campaign(settings.campaigns.jobs_dir, campaign) if campaign else None
    today = datetime.now(UTC).date()
    effective = corrections.effective_roster(settings, engine=engine)
    with engine.connect() as connection:
        frame = audience_frame(connection)
    if chosen is not None:
        frame = select_audience(frame, chosen)
    report: dict[str, Any] = gaps(
        frame, effective, corrections.bounced_offices(engine), settings.data.roster_stale_days,
        today, campaign=chosen.name if chosen else None,
        wrong_numbers=wrong_number_reports(engine))
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
        click.echo(f"{office['signers']:>7}  {office['office_id']}: missing "
                   f"{', '.join(office['missing'])}{bounced}")
    if not report["offices"]:
        click.echo("no gaps among the offices that serve your signers")
