"""The `outreach` command: one subcommand per step, a thin shell around the library.

Each command parses arguments, calls the function of the same name in its module, and prints a
human summary or, with --json, one JSON object. Bad input exits 2 with one line on stderr.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.progress import Progress

from outreach.campaigns.definitions import campaign_to_switch, find_campaign
from outreach.campaigns.planner import StepPlan, launch, plan_campaign
from outreach.campaigns.preview import Prices, preview
from outreach.cli.common import (
    OneLineErrors,
    _fail,
    _print_json,
    _store,
    clear_errors,
    format_coverage,
)
from outreach.cli.roster import roster
from outreach.config import Settings
from outreach.geo.census import CensusGeocoder
from outreach.geo.locate import Lookup, build_geo
from outreach.ops.wiring import (
    build_renderer,
    build_worker,
    check_compliance_settings,
    prepare_launch,
    sms_windows,
)
from outreach.privacy import install_log_masking, mask, private_files
from outreach.roster.offices import coverage_report, load_roster
from outreach.sending import suppressions
from outreach.signers.formats import BY_NAME
from outreach.signers.intake import IntakeLimits, IntakeSummary, intake, parse_mapping
from outreach.signers.match import match
from outreach.store import db
from outreach.store import outbox as box
from outreach.store.reports import outbox_report
from outreach.store.runs import RUN_ACTIONS, set_run_state
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


def _wants_json_logs() -> bool:
    return os.environ.get("OUTREACH_LOG_FORMAT", "").strip().lower() == "json"


@click.group(cls=OneLineErrors)
@click.version_option(package_name="outreach")
def cli() -> None:
    """Reach every local chief prosecutor through their own voters."""


@cli.command()
@click.argument("address")
@click.option("--date", "on", type=click.DateTime(["%Y-%m-%d"]),
              help="The roster as in force on this day (default today).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def lookup(address: str, on: datetime | None, as_json: bool) -> None:
    """The prosecutor office(s) for one U.S. address, ZIP code, or "City, ST"."""
    answer = build_geo(Settings.from_env(), on.date() if on else None).lookup(address)
    if as_json:
        _print_json(answer.to_dict())
    else:
        click.echo(format_lookup(answer))


def format_lookup(answer: Lookup) -> str:
    where = answer.county_name or "several counties"
    lines = [f"{answer.input} -> {where} ({answer.state}); confidence: {answer.confidence}"
             + (f", via {answer.source}" if answer.source != "offline" else "")]
    if answer.geocoder_note:
        lines.append(f"  note: {answer.geocoder_note}")
    if answer.confidence == "ambiguous":
        for candidate in answer.candidates:
            names = "; ".join(o["office_name"] for o in candidate.offices)
            lines.append(f"  candidate {candidate.county_fips} {candidate.county_name}: {names}")
    for office in answer.offices:
        contact = office["phone"] or office["website"] or "no contact on file"
        holder = f", {office['officeholder']}" if office["officeholder"] else ""
        lines.append(f"  {office['office_name']} [{office['handles']}, {office['selection']}]"
                     f"{holder} - {contact}")
    return "\n".join(lines)


@cli.group("db")
def database() -> None:
    """The store (OUTREACH_DATABASE_URL; default: SQLite file outreach.sqlite3 here)."""


@database.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def db_upgrade(as_json: bool) -> None:
    """Migrate the database to the newest schema (other commands do it on first use)."""
    before, after = db.upgrade(db.make_engine(Settings.from_env().database_url))
    if as_json:
        _print_json({"from": before, "to": after})
    else:
        click.echo(f"database at revision {after}" + (f" (was {before})" if before != after
                                                      else " (already current)"))


def reports_dir(settings: Settings, chosen: Path | None = None) -> Path | None:
    """Where intake's rejects and warnings files go: the folder asked for, else
    OUTREACH_REPORTS_DIR, else beside a SQLite store (never into the input's folder, which
    may be a git checkout); for a server database without the setting, beside the input."""
    return chosen or settings.reports_dir or db.store_directory(settings.database_url)


@cli.command("intake")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--source", help="Source label for rows without one (default: the file name).")
@click.option("--map", "maps", multiple=True, metavar='"HEADER=FIELD"',
              help="Read a column as one of our fields, e.g. --map \"Cell Phone=phone\" "
                   "--map \"Joined=signed_at\" (repeatable; wins over the recognized "
                   "spellings).")
@click.option("--rejects-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the rejects and warnings files (default: OUTREACH_REPORTS_DIR, "
                   "else beside the SQLite store).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def intake_command(file: Path, source: str | None, maps: tuple[str, ...],
                   rejects_dir: Path | None, as_json: bool) -> None:
    """Import petition signers from a CSV file: validate, normalize, dedupe, store.

    Exports of Action Network, ActionKit, EveryAction / NGP VAN, Mobilize and Change.org are
    recognized from their headers; every column left unused is listed."""
    settings = Settings.from_env()
    mapping = parse_mapping(maps)
    engine = db.open_store(settings.database_url)
    summary = intake(file, engine, source=source, mapping=mapping,
                     reports_dir=reports_dir(settings, rejects_dir),
                     limits=IntakeLimits.from_settings(settings))
    if as_json:
        _print_json(summary.to_dict())
        return
    click.echo(format_intake(summary))


def format_intake(summary: IntakeSummary) -> str:
    blank = f", {summary.blank_rows} blank rows skipped" if summary.blank_rows else ""
    lines = [f"{summary.rows} rows: {summary.imported} imported, {summary.duplicates} "
             f"duplicates merged, {summary.rejected} rejected{blank} "
             f"({summary.encoding}, delimiter {summary.delimiter!r})"]
    if summary.format != "generic":
        title = BY_NAME[summary.format].title
        lines.append(f"  format: {title} export; columns used: "
                     + ", ".join(f"{header} -> {column}"
                                 for column, header in summary.columns.items()))
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


@cli.command("match")
@click.option("--rematch", is_flag=True, help="Match every signer again, not only new ones.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def match_command(rematch: bool, as_json: bool) -> None:
    """Match signers to their county and prosecutor office(s)."""
    settings = Settings.from_env()
    geo = build_geo(settings)
    geocoder = geo.geocoder if isinstance(geo.geocoder, CensusGeocoder) else None
    summary = match(db.open_store(settings.database_url), geo, rematch_all=rematch,
                    geocoder=geocoder)
    if as_json:
        _print_json(summary.to_dict())
        return
    counts = ", ".join(f"{k} {v}" for k, v in summary.by_confidence.items())
    click.echo(f"{summary.signers} signers: {summary.matched} matched, {summary.ambiguous} "
               f"ambiguous, {summary.unmatched} unmatched ({counts}); "
               f"{summary.with_felony_office} know their felony prosecutor"
               + (f"; {summary.moved} moved to another office" if rematch else ""))
    if summary.geocoder_note:
        click.echo(f"  note: {summary.geocoder_note}")


@cli.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True,
              help="Messages in flight at once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@clear_errors
def worker_command(once: bool, concurrency: int, as_json: bool) -> None:
    """Send due outbox messages (SIGTERM/SIGINT: finish in-flight sends, release the rest)."""
    worker = build_worker(Settings.from_env(), concurrency)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop.set())
    stats: dict[str, object] = dict(worker.run(once=once))
    summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.items())) or "nothing due"
    if once and not stats.get("sent"):  # "nothing due" alone leaves an organizer guessing
        with worker.engine.connect() as connection:
            due, held = box.next_due(connection), box.held_steps(connection)
        stats["next_due"] = due.isoformat() if due else None
        summary += "; " + (_next_due_text(due, datetime.now(UTC)) if due
                           else "nothing else is waiting to be sent")
        if held:
            summary += f"; {held} held step{'s' if held > 1 else ''}: see `outreach report`"
    if as_json:
        _print_json(stats)
    else:
        click.echo(summary)


def _utc_minute(moment: str) -> str:
    return f"{datetime.fromisoformat(moment).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _next_due_text(due: datetime, now: datetime) -> str:
    wait = due - now
    if wait <= timedelta(0):
        return f"the next message was due at {due:%Y-%m-%d %H:%M} UTC"
    minutes = round(wait.total_seconds() / 60)
    return (f"the next message is due at {due:%Y-%m-%d %H:%M} UTC (in "
            + (f"{minutes} min)" if minutes < 120 else f"{minutes / 60:.1f} h)"))


@cli.command("plan")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def plan_command(campaign: str, as_json: bool) -> None:
    """Preview a campaign: messages per step and who is left out, and why. Queues nothing."""
    settings = Settings.from_env()
    chosen = find_campaign(settings.jobs_dir, campaign)
    check_compliance_settings(settings, chosen)
    engine = db.open_store(settings.database_url)
    renderer = build_renderer(settings, engine)
    plans = plan_campaign(engine, chosen, datetime.now(UTC), roster=renderer.roster,
                          windows=sms_windows(settings))
    shown = preview(plans, renderer,
                    Prices(settings.email_price, settings.sms_segment_price))
    if as_json:
        _print_json({"campaign": chosen.name, **shown})
        return
    _show_plans(chosen.name, plans, False)
    for step in shown["steps"]:
        for sample in step["samples"]:
            heading = f"{sample['subject']} | " if "subject" in sample else ""
            click.echo(f"  sample {step['step']} to {sample['to']}: {heading}"
                       f"{' '.join(str(sample['text']).split())[:160]}")
        if step.get("office_contact"):
            click.echo("    office contact in these messages: " + ", ".join(
                f"{level} {count}" for level, count in step["office_contact"].items()))
        if step.get("backfilled"):
            late = step["backfilled"]
            click.echo(f"    back-filled: {late['signers']} signed before they entered the "
                       f"campaign (launch or import); due {late['first_due']} to "
                       f"{late['last_due']}"
                       + (' (start = "signed": delays count from signing, so those past '
                          'go at the launch, spaced by the gate)'
                          if chosen.start == "signed" else ""))
        if step.get("quiet_hours"):
            held = step["quiet_hours"]
            click.echo(f"    {held['deferred']} would wait for texting hours in the address's "
                       "and the area code's time zones" + (f", released {held['first_release']} to "
                                               f"{held['last_release']}"
                                               if held["deferred"] else ""))
        if "sms" in step:
            sms = step["sms"]
            click.echo(f"    {sms['segments']} segments (max {sms['max_segments_per_message']} "
                       f"per message; {sms['ucs2_messages']} UCS-2"
                       + (f" because of {' '.join(sms['ucs2_because_of'])}"
                          if sms["ucs2_because_of"] else "") + ")")
    click.echo(f"  estimated cost: ${shown['estimated_cost_usd']:,.2f}")


def _show_plans(name: str, plans: list[StepPlan], as_json: bool,
                launched: dict | None = None) -> None:
    if as_json:
        steps = [p.summary() | (launched or {}).get(p.step.name, {}) for p in plans]
        _print_json({"campaign": name, "steps": steps})
        return
    click.echo(f"Campaign {name}:")
    for plan in plans:
        skipped = ", ".join(f"{k} {v}" for k, v in plan.skipped.most_common()) or "none"
        line = (f"  {plan.step.name} ({plan.step.channel} to {plan.step.to}): "
                f"{len(plan.messages)} messages; left out: {skipped}")
        if launched:
            done = launched[plan.step.name]
            line += f"; queued now {done['queued_now']}, already queued {done['already_queued']}"
        click.echo(line + (f" [{plan.note}]" if plan.note else ""))


@cli.command("launch")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Queue without asking.")
@click.option("--grace", type=click.IntRange(0, 7 * 24 * 3600), default=600, show_default=True,
              help="Seconds before the first message may go out (at most a week).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def launch_command(campaign: str, yes: bool, grace: int, as_json: bool) -> None:
    """Queue a campaign's messages (again: nothing is queued twice)."""
    settings = Settings.from_env()
    chosen = find_campaign(settings.jobs_dir, campaign)
    engine = db.open_store(settings.database_url)
    now = datetime.now(UTC)
    plans = prepare_launch(settings, engine, chosen, build_renderer(settings, engine), now,
                           timedelta(seconds=grace))
    if not yes:
        _show_plans(chosen.name, plans, False)
        if not sys.stdin.isatty():
            _fail("launch needs --yes when not run from a terminal")
        click.confirm("Queue these messages?", abort=True)
    if sys.stdout.isatty() and not as_json:
        with Progress(transient=True) as bar:
            task = bar.add_task("Queueing", total=sum(len(p.messages) for p in plans))
            launched = launch(engine, plans, now,
                              progress=lambda plan: bar.advance(task, len(plan.messages)))
    else:
        launched = launch(engine, plans, now)
    _show_plans(chosen.name, plans, as_json, launched)


def _switch(campaign: str, state: str, as_json: bool, yes: bool = True) -> None:
    settings = Settings.from_env()
    name = campaign_to_switch(settings.jobs_dir, campaign, state)
    if not yes:
        question = (f"Cancel {name}? Its queued messages are withdrawn for good: this "
                    "cannot be undone (`pause` only stops sending for a while).")
        if not sys.stdin.isatty():
            _fail(f"cancel needs --yes when not run from a terminal; it cannot be undone "
                  f"(`outreach pause {name}` can)")
        click.confirm(question, abort=True)
    withdrawn = set_run_state(db.open_store(settings.database_url), name, state,
                              datetime.now(UTC))
    if as_json:
        _print_json({"campaign": name, "state": state, "withdrawn": withdrawn})
    else:
        click.echo(f"{name}: {state}" + (f"; {withdrawn} queued messages withdrawn "
                                                 "(this cannot be undone)"
                                                 if state == "cancelled" else ""))


def _switch_command(name: str, help_text: str) -> None:
    """Register `outreach NAME CAMPAIGN [--json]`, which sets the campaign's run state."""

    @cli.command(name, help=help_text)
    @click.argument("campaign")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    @clear_errors
    def command(campaign: str, as_json: bool) -> None:
        _switch(campaign, RUN_ACTIONS[name], as_json)


@cli.command("cancel")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Cancel without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def cancel_command(campaign: str, yes: bool, as_json: bool) -> None:
    """Withdraw a launched campaign's queued messages for good (those already sent stay
    sent). It cannot be undone: the campaign cannot be resumed or launched again."""
    _switch(campaign, "cancelled", as_json, yes)


_switch_command("pause", "Stop sending a campaign; its queued messages wait.")
_switch_command("resume", "Send a paused campaign again.")


@cli.group("suppress")
def suppress_group() -> None:
    """The global opt-out list (every campaign, every channel), with its evidence."""


@suppress_group.command("add")
@click.argument("address")
@click.option("--reason", default="", help="Why (kept as evidence).")
@click.option("--source", default="organizer", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def suppress_add(address: str, reason: str, source: str, as_json: bool) -> None:
    """Never message this email address or phone number again."""
    added = suppressions.add(_store(), address, source, reason, datetime.now(UTC))
    _say({"channel": added.channel, "address": mask(added.value), "suppressed": True},
         f"suppressed {added.channel} {mask(added.value)}", as_json)


@suppress_group.command("remove")
@click.argument("address")
@click.option("--reason", required=True, help="Why it is lifted (kept as evidence).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def suppress_remove(address: str, reason: str, as_json: bool) -> None:
    """Lift a suppression (the entry stays, marked removed, with the reason)."""
    lifted = suppressions.remove(_store(), address, reason, datetime.now(UTC))
    _say({"removed": lifted}, "lifted" if lifted else "was not on the list", as_json)


@suppress_group.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include lifted entries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def suppress_list(include_removed: bool, as_json: bool) -> None:
    """The list, addresses masked."""
    with _store().connect() as connection:
        entries = box.suppression_list(connection, include_removed)
    shown = [{"channel": e["channel"], "address": mask(e["address"]), "source": e["source"],
              "reason": e["reason"], "since": e["created_at"].isoformat(),
              "removed": e["removed_at"].isoformat() if e["removed_at"] else None}
             for e in entries]
    if as_json:
        _print_json({"suppressions": shown})
        return
    for entry in shown:
        removed = f" (lifted {entry['removed']})" if entry["removed"] else ""
        click.echo(f"{entry['channel']}\t{entry['address']}\t{entry['source']}\t"
                   f"{entry['reason'] or ''}{removed}")


@suppress_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--reason", default="imported opt-out list")
@click.option("--source", default="import", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def suppress_import(file: Path, reason: str, source: str, as_json: bool) -> None:
    """Suppress every email and phone in a CSV file's email/phone columns."""
    result = suppressions.import_file(_store(), file, source, reason, datetime.now(UTC))
    _say(result, f"{result['added']} addresses suppressed; {len(result['problems'])} cells "
                 "could not be read", as_json)


def _say(payload: dict, text: str, as_json: bool) -> None:
    if as_json:
        _print_json(payload)
    else:
        click.echo(text)


@cli.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@clear_errors
def report_command(as_json: bool) -> None:
    """Outbox totals by state, per campaign and channel; unknown and failed rows listed."""
    engine = db.open_store(Settings.from_env().database_url)
    with engine.connect() as connection:
        report = outbox_report(connection)
    if as_json:
        _print_json(report)
        return
    click.echo("Outbox: " + ", ".join(f"{k} {v}" for k, v in report["states"].items() if v))
    for group in report["by_campaign"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(group["states"].items()))
        run = report["runs"].get(group["campaign"], "")
        click.echo(f"  {group['campaign']}{f' ({run})' if run else ''} / {group['step']} / "
                   f"{group['channel']}: {counts}")
        for reason, count in group["skipped_by_reason"].items():
            click.echo(f"      skipped {count}: {reason}")
        for reason, held in group["waiting_by_reason"].items():
            first, last = (_utc_minute(held[k]) for k in ("first_release", "last_release"))
            click.echo(f"      waiting {held['count']}: {reason}; released "
                       + (f"at {first}" if first == last else f"from {first} to {last}"))
    opt_outs = ", ".join(f"{k} {v}" for k, v in report["opt_outs_by_source"].items())
    click.echo(f"Opt-outs: {opt_outs or 'none'}; signers who came through a referral: "
               f"{report['referrals']}")
    for held in report["holds"]:
        click.echo(f"HELD {held['campaign']}/{held['step']}/{held['channel']} since "
                   f"{held['since']}: {held['reason']} (`outreach resume "
                   f"{held['campaign']}` lifts it)")
    if report["delivery"]:
        click.echo("Delivery (provider reports): " + ", ".join(
            f"{k} {v}" for k, v in sorted(report["delivery"].items())))
    for row in report["attention"]:
        click.echo(f"  {row['state']}: outbox {row['id']} ({row['campaign']}/{row['step']}/"
                   f"{row['channel']}): {row['last_error']}")


@cli.command("scheduler")
@clear_errors
def scheduler_command() -> None:
    """Run the schedules (built-ins and jobs/schedule.toml) until SIGTERM/SIGINT."""
    from outreach.ops.runner import run_scheduler

    settings = Settings.from_env()
    _long_running_logs(settings)
    run_scheduler(settings)


METRICS_PORT = click.option(
    "--metrics-port", type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics (this process's and the store's) on 127.0.0.1:PORT.")


@cli.command("run")
@click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True,
              help="Messages in flight at once.")
@click.option("--health-every", type=click.FloatRange(0.1), default=60.0, show_default=True,
              help="Seconds between health lines in the log.")
@METRICS_PORT
@clear_errors
def run_command(concurrency: int, health_every: float, metrics_port: int | None) -> None:
    """Scheduler and worker in one process (one machine); SIGTERM: finish, release, exit 0."""
    from outreach.ops.runner import run_all

    settings = Settings.from_env()
    _long_running_logs(settings)
    if metrics_port:
        from outreach.ops.metrics import serve_metrics
        from outreach.store.db import open_store

        serve_metrics(metrics_port, open_store(settings.database_url))
    run_all(settings, concurrency, health_every)


def _long_running_logs(settings: Settings) -> None:
    install_log_masking(logging.INFO, json_lines=settings.log_format == "json")


@cli.group("admin")
def admin_group() -> None:
    """The organizer dashboard's login."""


@admin_group.command("hash-password")
@click.password_option("--password", help="Asked for (twice, hidden) when not given.")
def admin_hash_password(password: str) -> None:
    """Print an Argon2id hash for OUTREACH_ADMIN_PASSWORD_HASH (the password is not stored)."""
    from outreach.web.security import hash_password

    if len(password) < 12:
        _fail("use at least 12 characters")
    click.echo(hash_password(password))


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@METRICS_PORT
@clear_errors
def serve_command(host: str, port: int, metrics_port: int | None) -> None:
    """The web app: petition page, webhooks, unsubscribe links, dashboard, /healthz; /metrics
    for logged-in organizers only (Prometheus scrapes --metrics-port)."""
    import uvicorn

    from outreach.web import create_app

    settings = Settings.from_env()
    if not settings.public_url:
        click.echo("outreach: warning: OUTREACH_PUBLIC_URL is not set: webhooks will be "
                   "refused (their signatures cover the public URL) and supporter email "
                   "through SendGrid or SMTP is held (no working unsubscribe link)", err=True)
    # Requests wait at most WEB_LOCK_TIMEOUT for the store, then answer 503 + Retry-After.
    app = create_app(settings, engine=db.open_store(settings.database_url,
                                                    lock_timeout=db.WEB_LOCK_TIMEOUT))
    state = app.state.outreach
    _ = state.geo, state.by_zip  # load the roster and ZIP answers now, not on a first signer
    if metrics_port:
        from outreach.ops.metrics import serve_metrics

        serve_metrics(metrics_port, state.engine)
    # No access log: request paths carry unsubscribe tokens, which are credentials.
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1")


@cli.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("outreach-demo"),
              show_default=True, help="Where the demo keeps its database and files.")
@clear_errors
def demo(folder: Path) -> None:
    """The main job on the embedded default: roster, lookups, intake and match of a sample."""
    settings = Settings.from_env()
    counties = load_counties(settings.data_dir / "counties.csv")
    report = coverage_report(load_roster(settings.roster_path, counties), counties)
    click.echo(format_coverage(report))
    geo = build_geo(settings)
    click.echo("\nWho prosecutes where:")
    for address in DEMO_ADDRESSES:
        click.echo(format_lookup(geo.lookup(address)))

    folder.mkdir(parents=True, exist_ok=True)
    sample = folder / "sample_signers.csv"
    shutil.copyfile(settings.data_dir / "sample_signers.csv", sample)
    engine = db.open_store(f"sqlite:///{folder / 'outreach.sqlite3'}")
    summary = intake(sample, engine)
    click.echo(f"\nIntake of {sample}: {summary.rows} rows, {summary.imported} imported, "
               f"{summary.duplicates} duplicates merged, {summary.rejected} rejected"
               + (f" (reasons in {summary.rejects_file})" if summary.rejects_file else ""))
    matched = match(engine, geo)
    click.echo(f"Match: {matched.signers} signers matched now: {matched.matched} placed, "
               f"{matched.ambiguous} ambiguous, {matched.unmatched} unplaceable; "
               f"{matched.with_felony_office} know their felony prosecutor")

    # The sample campaign, launched with no grace period, sent with the files transport.
    campaign = find_campaign(settings.jobs_dir, "marijuana_justice")
    now = datetime.now(UTC)
    plans = plan_campaign(engine, campaign, now, timedelta(0), roster=geo.roster)
    launched = launch(engine, plans, now)
    queued = sum(step["queued_now"] for step in launched.values())
    demo_settings = replace(settings, database_url=f"sqlite:///{folder / 'outreach.sqlite3'}",
                            email_transport="files", sms_transport="files",
                            outbox_dir=folder / "outbox")
    stats = build_worker(demo_settings, concurrency=4).run(once=True)
    later = sorted(m.not_before for p in plans for m in p.messages if m.not_before > now)
    click.echo(f"Campaign {campaign.name}: {queued} messages queued now; worker sent "
               f"{stats['sent']} into {folder / 'outbox'} (email/*.eml, sms.jsonl); "
               f"{stats['deferred']} texts wait for 8 a.m. in their recipients' time zones"
               + (f"; {len(later)} follow-ups wait for their delays, counted from the launch "
                  f"for signers who signed before it (first due {later[0]:%Y-%m-%d %H:%M} UTC)"
                  if later else ""))
    with engine.connect() as connection:
        report = outbox_report(connection)
    per_channel: dict[str, int] = {}
    for group in report["by_campaign"]:
        per_channel[group["channel"]] = per_channel.get(group["channel"], 0) + \
            group["states"].get("sent", 0)
    click.echo("Sent so far: " + ", ".join(f"{n} {channel}" for channel, n in
                                           sorted(per_channel.items())))


cli.add_command(roster)


def main() -> None:
    private_files()
    install_log_masking(json_lines=_wants_json_logs())
    cli(prog_name="outreach")


if __name__ == "__main__":
    main()
