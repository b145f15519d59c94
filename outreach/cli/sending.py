"""`outreach worker`, `report`, `suppress ...`: sending, what was sent, who is never sent to."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection

from outreach.campaigns.calls import calls_report, calls_summary
from outreach.cli.common import _print_json, _store, clear_errors, json_option
from outreach.config import Settings
from outreach.ops.wiring import build_worker
from outreach.privacy import mask
from outreach.sending import suppressions
from outreach.store import db, workers
from outreach.store import outbox as box
from outreach.store import suppressions as suppression_store
from outreach.store.reports import outbox_report


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True,
              help="Messages in flight at once.")
@json_option(help="Print one JSON object at the end.")
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


def worker_report(connection: Connection, settings: Settings) -> list[dict[str, Any]]:
    """The workers not cleanly stopped: live, late (beats missing) and dead (declared, or
    silent past OUTREACH_WORKER_DEAD_SECONDS with no live worker to declare it)."""
    return [{"worker_id": w.worker_id, "host": w.host, "pid": w.pid, "status": w.status,
             "started_at": w.started_at.isoformat(), "beat_at": w.beat_at.isoformat(),
             "silent_seconds": w.silent_seconds, "declared_dead_by": w.declared_dead_by}
            for w in workers.listing(connection,
                                     timedelta(seconds=settings.send.worker_dead_seconds),
                                     datetime.now(UTC))
            if w.status != "stopped"]


def _utc_minute(moment: str) -> str:
    return f"{datetime.fromisoformat(moment).astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _next_due_text(due: datetime, now: datetime) -> str:
    wait = due - now
    if wait <= timedelta(0):
        return f"the next message was due at {due:%Y-%m-%d %H:%M} UTC"
    minutes = round(wait.total_seconds() / 60)
    return (f"the next message is due at {due:%Y-%m-%d %H:%M} UTC (in "
            + (f"{minutes} min)" if minutes < 120 else f"{minutes / 60:.1f} h)"))


@click.group("suppress")
def suppress_group() -> None:
    """The global opt-out list (every campaign, every channel), with its evidence."""


@suppress_group.command("add")
@click.argument("address")
@click.option("--reason", default="", help="Why (kept as evidence).")
@click.option("--source", default="organizer", show_default=True)
@json_option
@clear_errors
def suppress_add(address: str, reason: str, source: str, as_json: bool) -> None:
    """Never message this email address or phone number again."""
    added = suppressions.add(_store(), address, source, reason, datetime.now(UTC))
    _say({"channel": added.channel, "address": mask(added.value), "suppressed": True},
         f"suppressed {added.channel} {mask(added.value)}", as_json)


@suppress_group.command("remove")
@click.argument("address")
@click.option("--reason", required=True, help="Why it is lifted (kept as evidence).")
@json_option
@clear_errors
def suppress_remove(address: str, reason: str, as_json: bool) -> None:
    """Lift a suppression (the entry stays, marked removed, with the reason)."""
    lifted = suppressions.remove(_store(), address, reason, datetime.now(UTC))
    _say({"removed": lifted}, "lifted" if lifted else "was not on the list", as_json)


@suppress_group.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include lifted entries.")
@json_option
@clear_errors
def suppress_list(include_removed: bool, as_json: bool) -> None:
    """The list, addresses masked."""
    with _store().connect() as connection:
        entries = suppression_store.suppression_list(connection, include_removed)
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
@json_option
@clear_errors
def suppress_import(file: Path, reason: str, source: str, as_json: bool) -> None:
    """Suppress every email and phone in a CSV file's email/phone columns."""
    result: dict[str, Any] = suppressions.import_file(_store(), file, source, reason,
                                                      datetime.now(UTC))
    _say(result, f"{result['added']} addresses suppressed; {len(result['problems'])} cells "
                 "could not be read", as_json)


def _say(payload: dict[str, object], text: str, as_json: bool) -> None:
    if as_json:
        _print_json(payload)
    else:
        click.echo(text)


@click.command("report")
@json_option
@clear_errors
def report_command(as_json: bool) -> None:
    """Outbox totals by state, per campaign and channel; unknown and failed rows listed; the
    calls signers logged on their call pages, by outcome, office and campaign."""
    settings = Settings.from_env()
    engine = db.open_store(settings.store.database_url)
    with engine.connect() as connection:
        report: dict[str, Any] = outbox_report(connection)
        report["calls"] = calls_report(connection)  # what signers said after calling
        report["workers"] = worker_report(connection, settings)
    if as_json:
        _print_json(report)
        return
    click.echo("Outbox: " + (", ".join(f"{k} {v}" for k, v in report["states"].items() if v)
                             or "empty"))
    by_status = Counter(w["status"] for w in report["workers"])
    click.echo("Workers: " + (", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
                              or "none running"))
    for worker in report["workers"]:
        if worker["status"] == "dead":
            by = worker["declared_dead_by"]
            click.echo(f"  dead: {worker['worker_id']}, no heartbeat for "
                       f"{worker['silent_seconds']:.0f} s; "
                       + (f"its work taken by {by}" if by else "no live worker took its work"))
    for group in report["by_campaign"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(group["states"].items()))
        run = report["runs"].get(group["campaign"], "")
        click.echo(f"  {group['campaign']}{f' ({run})' if run else ''} / {group['step']} / "
                   f"{group['channel']}: {counts}")
        for state, key in (("skipped", "skipped_by_reason"), ("retry", "retrying_by_reason"),
                           ("failed", "failed_by_reason")):
            for reason, count in group[key].items():
                click.echo(f"      {state} {count}: {reason}")
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
    click.echo(calls_summary(report["calls"]))
    if report["delivery"]:
        click.echo("Delivery (provider reports): " + ", ".join(
            f"{k} {v}" for k, v in sorted(report["delivery"].items())))
    for row in report["attention"]:
        click.echo(f"  {row['state']}: outbox {row['id']} ({row['campaign']}/{row['step']}/"
                   f"{row['channel']}): {row['last_error']}")
