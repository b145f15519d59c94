"""`outreach intake` and `outreach match`: signers in, and placed with their prosecutor."""

from __future__ import annotations

from pathlib import Path

import click

from outreach.campaigns.render import plural
from outreach.cli.common import _print_json, clear_errors, json_option
from outreach.config import Settings
from outreach.geo.census import CensusGeocoder
from outreach.geo.current import build_geo
from outreach.geo.locate import zip_codes
from outreach.signers.formats import BY_NAME
from outreach.signers.intake import IntakeLimits, IntakeSummary, intake, parse_mapping
from outreach.signers.match import match
from outreach.store import db


def reports_dir(settings: Settings, chosen: Path | None = None) -> Path | None:
    """Where intake's rejects and warnings files go: the folder asked for, else
    OUTREACH_REPORTS_DIR, else beside a SQLite store (never into the input's folder, which
    may be a git checkout); for a server database without the setting, beside the input."""
    return chosen or settings.intake.reports_dir or db.store_directory(settings.store.database_url)


@click.command("intake")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--source", help="Source label for rows without one (default: the file name).")
@click.option("--map", "maps", multiple=True, metavar='"HEADER=FIELD"',
              help="Read a column as one of our fields, e.g. --map \"Cell Phone=phone\" "
                   "--map \"Joined=signed_at\" (repeatable; wins over the recognized "
                   "spellings).")
@click.option("--rejects-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the rejects and warnings files (default: OUTREACH_REPORTS_DIR, "
                   "else beside the SQLite store).")
@json_option
@clear_errors
def intake_command(file: Path, source: str | None, maps: tuple[str, ...],
                   rejects_dir: Path | None, as_json: bool) -> None:
    """Import petition signers from a CSV file: validate, normalize, dedupe, store.

    Exports of Action Network, ActionKit, EveryAction / NGP VAN, Mobilize and Change.org are
    recognized from their headers; every column left unused is listed."""
    settings = Settings.from_env()
    mapping = parse_mapping(maps)
    engine = db.open_store(settings.store.database_url)
    summary = intake(file, engine, source=source, mapping=mapping,
                     reports_dir=reports_dir(settings, rejects_dir),
                     limits=IntakeLimits.from_settings(settings),
                     zips=zip_codes(settings.data.data_dir))
    if as_json:
        _print_json(summary.to_dict())
        return
    click.echo(format_intake(summary))


def format_intake(summary: IntakeSummary) -> str:
    blank = f", {plural(summary.blank_rows, 'blank row')} skipped" \
        if summary.blank_rows else ""
    lines = [f"{plural(summary.rows, 'row')}: {summary.imported} imported, "
             f"{plural(summary.duplicates, 'duplicate')} merged, {summary.rejected} "
             f"rejected{blank} "
             f"({summary.encoding}, delimiter {summary.delimiter!r})"]
    if summary.format != "generic":
        title = BY_NAME[summary.format].title
        lines.append(f"  format: {title} export; columns used: "
                     + ", ".join(_columns_used(summary)))
    if summary.suppressed:
        lines.append(f"  {summary.suppressed} email addresses unsubscribed, bounced or "
                     "complained of in the export: put on the suppression list")
    if summary.unmapped_columns:
        lines.append(f"  not used ({len(summary.unmapped_columns)}): "
                     + ", ".join(summary.unmapped_columns)
                     + ' (to use one: --map "HEADER=FIELD")')
    if summary.rejects_file:
        lines.append(f"  rejected rows and reasons: {summary.rejects_file}")
    if summary.warnings_file:
        lines.append(f"  {summary.warnings} warnings: {summary.warnings_file}")
    return "\n".join(lines)


def _columns_used(summary: IntakeSummary) -> list[str]:
    """"HEADER -> field" for every header a field took, a field's further headers with the
    cells they fill ("home_phone -> phone where mobile_phone is empty")."""
    used = []
    for column, header in summary.columns.items():
        used.append(f"{header} -> {column}")
        before = [header]
        for more in summary.fallback_columns.get(column, []):
            verb = "is" if len(before) == 1 else "are"
            used.append(f"{more} -> {column} where {', '.join(before)} {verb} empty")
            before.append(more)
    return used


@click.command("match")
@click.option("--rematch", is_flag=True, help="Match every signer again, not only new ones.")
@json_option
@clear_errors
def match_command(rematch: bool, as_json: bool) -> None:
    """Match signers to their county and prosecutor office(s)."""
    settings = Settings.from_env()
    geo = build_geo(settings)
    geocoder = geo.geocoder if isinstance(geo.geocoder, CensusGeocoder) else None
    summary = match(db.open_store(settings.store.database_url), geo, rematch_all=rematch,
                    geocoder=geocoder)
    if as_json:
        _print_json(summary.to_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in summary.by_confidence.items())
    click.echo(f"{plural(summary.signers, 'signer')}: {summary.matched} matched, "
               f"{summary.ambiguous} "
               f"ambiguous, {summary.unmatched} unmatched ({counts}); "
               f"{summary.with_felony_office} know their felony prosecutor"
               + (f"; {summary.moved} moved to another office" if rematch else ""))
    if summary.geocoder_note:
        click.echo(f"  note: {summary.geocoder_note}")
