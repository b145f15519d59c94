"""`outreach demo`: the main job end to end on the embedded default data."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from outreach.campaigns.definitions import find_campaign
from outreach.campaigns.planner import launch, plan_campaign
from outreach.campaigns.render import plural
from outreach.cli.common import clear_errors, format_coverage
from outreach.cli.geo import format_lookup
from outreach.config import Settings
from outreach.geo.current import build_geo
from outreach.ops.wiring import build_worker
from outreach.roster.coverage import coverage_report
from outreach.roster.offices import load_roster
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import db
from outreach.store.reports import outbox_report
from outreach.us.counties import load_counties

DEMO_ADDRESSES = (
    "1421 Arch Street, Philadelphia, PA 19102",
    "Athens, GA",
    "Richmond, VA 23219",
    "350 Jay St, Brooklyn, NY 11201",
    "1000 Congress Ave, Austin, TX 78701",
    "632 W 4th Ave, Anchorage, AK 99501",
    "30517",
)


@click.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("outreach-demo"),
              show_default=True, help="Where the demo keeps its database and files.")
@clear_errors
def demo(folder: Path) -> None:
    """The main job on the embedded default: roster, lookups, intake and match of a sample."""
    settings = Settings.from_env()
    counties = load_counties(settings.data.data_dir / "counties.csv")
    report = coverage_report(load_roster(settings.data.roster_path, counties), counties)
    click.echo(format_coverage(report))
    geo = build_geo(settings)
    click.echo("\nWho prosecutes where:")
    for address in DEMO_ADDRESSES:
        click.echo(format_lookup(geo.lookup(address)))

    folder.mkdir(parents=True, exist_ok=True)
    sample = folder / "sample_signers.csv"
    shutil.copyfile(settings.data.data_dir / "sample_signers.csv", sample)
    engine = db.open_store(f"sqlite:///{folder / 'outreach.sqlite3'}")
    summary = intake(sample, engine)
    click.echo(f"\nIntake of {sample}: {plural(summary.rows, 'row')}, {summary.imported} "
               f"imported, {plural(summary.duplicates, 'duplicate')} merged, "
               f"{summary.rejected} rejected"
               + (f" (reasons in {summary.rejects_file})" if summary.rejects_file else ""))
    matched = match(engine, geo)
    click.echo(f"Match: {plural(matched.signers, 'signer')} matched now: {matched.matched} placed, "
               f"{matched.ambiguous} ambiguous, {matched.unmatched} unplaceable; "
               f"{matched.with_felony_office} know their felony prosecutor")

    # The sample campaign, launched with no grace period, sent with the files transport.
    campaign = find_campaign(settings.campaigns.jobs_dir, "marijuana_justice")
    now = datetime.now(UTC)
    plans = plan_campaign(engine, campaign, now, timedelta(0), roster=geo.roster)
    launched = launch(engine, plans, now)
    queued = sum(step["queued_now"] for step in launched.values())
    demo_settings = settings.with_values(database_url=f"sqlite:///{folder / 'outreach.sqlite3'}",
                                         email_transport="files", sms_transport="files",
                                         outbox_dir=folder / "outbox")
    stats = build_worker(demo_settings, concurrency=4).run(once=True)
    later = sorted(m.not_before for p in plans for m in p.messages if m.not_before > now)
    click.echo(f"Campaign {campaign.name}: {plural(queued, 'message')} queued now; worker sent "
               f"{stats['sent']} into {folder / 'outbox'} (email/*.eml, sms.jsonl); "
               f"{stats['deferred']} texts wait for 8 a.m. in their recipients' time zones"
               + (f"; {len(later)} follow-ups wait for their delays, counted from the launch "
                  f"for signers who signed before it (first due {later[0]:%Y-%m-%d %H:%M} UTC)"
                  if later else ""))
    with engine.connect() as connection:
        sent: dict[str, Any] = outbox_report(connection)
    per_channel: dict[str, int] = {}
    for group in sent["by_campaign"]:
        per_channel[group["channel"]] = per_channel.get(group["channel"], 0) + \
            group["states"].get("sent", 0)
    click.echo("Sent so far: " + ", ".join(f"{n} {channel}" for channel, n in
                                           sorted(per_channel.items())))
