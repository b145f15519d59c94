"""The scheduler: fire times, schedule files, exactly-once runs, coalesced misses, the inbox,
and planning of follow-ups at signing time + delay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from outreach.campaigns.planner import plan_active_campaigns
from outreach.campaigns.render import Renderer, Sender
from outreach.config import Settings
from outreach.ops.scheduler import (
    ACTIONS,
    WORKER_RETENTION,
    Context,
    ScheduleEntry,
    SchedulerError,
    build_scheduler,
    claim_run,
    latest_fire_time,
    load_schedule,
    single_scheduler,
)
from outreach.sending.transports.files import FilesTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.inbox import process_inbox
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import workers
from outreach.store.runs import set_run_state
from outreach.store.schema import imports, outbox, scheduler_runs, signer_matches, signers
from tests.heartbeats import age_worker

ROOT = Path(__file__).resolve().parents[2]


def settings_for(tmp_path: Path, database_url: str, **extra: str) -> Settings:
    return Settings.from_env({"OUTREACH_DATABASE_URL": database_url,
                              "OUTREACH_DATA_DIR": str(ROOT / "data"),
                              "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
                              "OUTREACH_JOBS_DIR": str(tmp_path / "jobs"),
                              "OUTREACH_INBOX_DIR": str(tmp_path / "inbox"),
                              "OUTREACH_OUTBOX_DIR": str(tmp_path / "outbox"), **extra})


def test_interval_fire_times_are_the_same_on_every_host():
    entry = ScheduleEntry(name="x", action="match", interval="5m")
    now = datetime(2026, 11, 28, 10, 7, 42, tzinfo=UTC)
    assert latest_fire_time(entry.trigger(), now) == datetime(2026, 11, 28, 10, 5, tzinfo=UTC)
    later = now + timedelta(minutes=2, seconds=17)  # another host, woken a little late
    assert latest_fire_time(entry.trigger(), later) == datetime(2026, 11, 28, 10, 5,
                                                                tzinfo=UTC)


def test_cron_fire_time_in_its_own_time_zone():
    entry = ScheduleEntry(name="x", action="roster_check", cron="0 3 * * *",
                          time_zone="America/Chicago")
    now = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 09:00 in Chicago
    assert latest_fire_time(entry.trigger(), now) == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    weekly = ScheduleEntry(name="w", action="match", cron="30 6 * * mon")
    assert latest_fire_time(weekly.trigger(), now) == datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(("weekdays", "fires_on"), [
    ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]), ("0", ["Sun"]), ("7", ["Sun"]),
    ("0,6", ["Sat", "Sun"]), ("mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
    ("*/2", ["Sun", "Tue", "Thu", "Sat"]), ("1-5/2", ["Mon", "Wed", "Fri"])])
def test_cron_weekdays_are_read_as_crontab_numbers(weekdays, fires_on):
    trigger = ScheduleEntry(name="x", action="plan", cron=f"0 7 * * {weekdays}").trigger()
    fire, days = None, set()
    start = datetime(2026, 11, 28, 12, tzinfo=UTC)  # a Saturday
    for _ in range(7):
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1) if fire else start)
        days.add(fire.strftime("%a"))
    assert sorted(days) == sorted(fires_on)


def test_schedule_file_overrides_builtins_and_reports_mistakes(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "schedule.toml").write_text(
        'time_zone = "America/Denver"\n'
        '[[job]]\nname = "plan"\naction = "plan"\ninterval = "5m"\n'
        '[[job]]\nname = "roster_check"\naction = "roster_check"\nenabled = false\n'
        'cron = "0 3 * * *"\n'
        '[[job]]\nname = "morning_digest"\naction = "plan"\ncampaign = "marijuana_justice"\n'
        'cron = "0 7 * * 1-5"\n')
    entries = {e.name: e for e in load_schedule(settings_for(tmp_path, "sqlite://"))}
    assert set(entries) == {"inbox", "match", "plan", "maintain", "morning_digest"}
    assert entries["plan"].interval == timedelta(minutes=5)
    assert entries["morning_digest"].time_zone == "America/Denver"
    (jobs / "schedule.toml").write_text('[[job]]\nname = "x"\naction = "plan"\n'
                                        'interval = "5 minutes"\n')
    with pytest.raises(SchedulerError, match=r"job\[0\]: .*'5 minutes' is not a duration"):
        load_schedule(settings_for(tmp_path, "sqlite://"))
    (jobs / "schedule.toml").write_text('[[job]]\nname = "x"\naction = "plan"\n')
    with pytest.raises(SchedulerError, match="exactly one of cron and interval"):
        load_schedule(settings_for(tmp_path, "sqlite://"))


def test_a_run_is_claimed_once_per_fire_time(store):
    fire = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    now = datetime.now(UTC)
    assert claim_run(store, "roster_check", fire, "host-a", now) is not None
    assert claim_run(store, "roster_check", fire, "host-b", now) is None
    assert claim_run(store, "roster_check", fire + timedelta(days=1), "host-b", now)


def test_the_maintain_job_forgets_workers_gone_for_a_week_and_keeps_the_rest(
        tmp_path, store, store_url, roster):
    dead_after = timedelta(seconds=30)
    now = datetime.now(UTC)
    for worker_id in ("stopped-long-ago", "dead-long-ago", "stopped-yesterday", "live",
                      "late", "silent-for-weeks"):
        workers.register(store, worker_id, "host", 1, now)
    workers.mark_stopped(store, "stopped-long-ago", now)
    workers.mark_stopped(store, "stopped-yesterday", now)
    age_worker(store, "dead-long-ago", dead_after * 2)
    assert workers.declare_dead(store, "dead-long-ago", "live", dead_after, now)
    for worker_id in ("stopped-long-ago", "dead-long-ago"):
        age_worker(store, worker_id, WORKER_RETENTION + timedelta(hours=1))
    age_worker(store, "stopped-yesterday", timedelta(days=1))
    age_worker(store, "late", dead_after / 2)  # silent for half the limit: late, not dead
    age_worker(store, "silent-for-weeks", timedelta(days=21))  # never declared dead until now
    maintenance = Worker(store, {"email": FilesTransport(tmp_path / "out", "email")},
                         Renderer(store, roster, ROOT / "templates",
                                  Sender("MJ <team@mj-campaign.org>", "+1", "MJ", "PO Box 1")),
                         options=WorkerOptions(worker_id="scheduler", dead_after=dead_after))
    entry = ScheduleEntry(name="maintain", action="maintain", interval="1m")
    context = Context(settings_for(tmp_path, store_url), store, {"maintain": entry},
                      worker=maintenance)
    outcome = ACTIONS["maintain"](context, entry, now)
    assert "workers_pruned 2" in outcome and "dead_workers 1" in outcome
    with store.connect() as connection:
        kept = {w.worker_id: w.status for w in workers.listing(connection, dead_after,
                                                               datetime.now(UTC))}
    assert kept == {"stopped-yesterday": "stopped", "live": "live", "late": "late",
                    "silent-for-weeks": "dead"}  # declared dead now: kept for a week from now
    assert ACTIONS["maintain"](context, entry, now) == "nothing to fix"


def test_a_second_scheduler_on_one_sqlite_file_refuses(tmp_path):
    from outreach.store.db import open_store

    engine = open_store(f"sqlite:///{tmp_path / 'o.sqlite3'}")
    refused = pytest.raises(SchedulerError, match=r"another scheduler .* SQLite allows one")
    with single_scheduler(engine), refused, single_scheduler(engine):
        pass
    with single_scheduler(engine):  # free again once the first has stopped
        pass


def _runs(engine, job: str) -> list[datetime]:
    with engine.connect() as connection:
        return sorted(r.fire_time.replace(tzinfo=UTC) if r.fire_time.tzinfo is None
                      else r.fire_time for r in connection.execute(
                          select(scheduler_runs).where(scheduler_runs.c.job == job)))


def test_missed_runs_are_coalesced_into_one(tmp_path, store_url):
    from outreach.store.db import open_store

    engine = open_store(store_url)
    settings = settings_for(tmp_path, store_url)
    tick = [ScheduleEntry(name="tick", action="maintain", interval="2s")]
    scheduler = build_scheduler(settings, engine, tick)
    deadline = time.monotonic() + 10
    while not _runs(engine, "tick") and time.monotonic() < deadline:
        time.sleep(0.1)
    scheduler.shutdown(wait=True)
    down = datetime.now(UTC)
    time.sleep(7)  # three or four fire times pass while nobody is running
    scheduler = build_scheduler(settings, engine, tick)  # loads the roster, then resumes
    restarted = datetime.now(UTC)
    time.sleep(1.5)
    scheduler.shutdown(wait=True)
    missed = [t for t in _runs(engine, "tick") if down - timedelta(seconds=2) < t < restarted
              and t > _runs(engine, "tick")[0]]
    assert len(missed) == 1  # once for the whole downtime, not once per missed fire time
    engine.dispose()


def _write_signers(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("email,zip\n" + "".join(f"{email},{zip_code}\n" for email, zip_code in rows))


def test_inbox_imports_each_file_once_and_files_it_away(tmp_path, store):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _write_signers(inbox / "a.csv", [("a1@example.org", "19107"), ("a2@example.org", "19107"),
                                     ("not-an-email", "19107")])
    (inbox / "empty.csv").write_text("email,zip\n")
    (inbox / "b.csv.part").write_text("email,zip\n")  # still being uploaded
    results = {r.file: r for r in process_inbox(store, inbox, settle_seconds=0)}
    assert results["a.csv"].outcome == "imported"
    assert results["a.csv"].detail["imported"] == 2
    assert results["empty.csv"].outcome == "failed"
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["a.csv",
                                                                       "a.rejects.csv"]
    assert "no signer rows" in (inbox / "failed" / "empty.csv.error.txt").read_text()
    assert (inbox / "b.csv.part").exists()
    # The same content dropped again (an organizer's double upload) is not imported twice.
    _write_signers(inbox / "a-again.csv", [("a1@example.org", "19107"),
                                           ("a2@example.org", "19107"),
                                           ("not-an-email", "19107")])
    assert [r.outcome for r in process_inbox(store, inbox, settle_seconds=0)] == \
        ["already imported"]
    # A crash mid-import leaves the file in processing/: the next run takes it.
    _write_signers(inbox / "processing" / "c.csv", [("c1@example.org", "19107")])
    assert [r.outcome for r in process_inbox(store, inbox, settle_seconds=0)] == ["imported"]
    with store.connect() as connection:
        assert connection.execute(select(imports.c.file_name)).scalars().all() == \
            ["a.csv", "c.csv"]
        assert len(connection.execute(select(signers.c.id)).all()) == 3


def test_follow_ups_are_planned_for_entry_time_plus_their_delay(tmp_path, store, geo,
                                                                by_zip):
    path = tmp_path / "s.csv"
    path.write_text("email,zip,signed_at\n"
                    "early@example.org,19107,2026-11-20T14:00:00Z\n"
                    "today@example.org,19107,2026-11-28T09:30:00Z\n")
    with time_machine.travel(datetime(2026, 11, 28, 9, 30, tzinfo=UTC)):  # imported then
        intake(path, store)
        match(store, geo, by_zip=by_zip)
    now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # the frozen clock
    set_run_state(store, "marijuana_justice", "active", now - timedelta(days=30))
    first = plan_active_campaigns(store, ROOT / "jobs", geo.roster, now)
    assert first["marijuana_justice"]["welcome_email"]["queued_now"] == 2
    again = plan_active_campaigns(store, ROOT / "jobs", geo.roster, now + timedelta(minutes=1))
    assert sum(s["queued_now"] for s in again["marijuana_justice"].values()) == 0
    with store.connect() as connection:
        due = {(r.recipient_id, r.step): r.not_before.replace(tzinfo=UTC)
               if r.not_before.tzinfo is None else r.not_before
               for r in connection.execute(select(outbox).where(outbox.c.channel == "email",
                                                                outbox.c.recipient_kind
                                                                == "signer"))}
    assert due[("2", "welcome_email")] == now  # signed half an hour ago: now
    assert due[("2", "call_your_da")] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert due[("2", "share")] == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    # Signed a week before it was imported: the signer entered the campaign at the import,
    # so the follow-ups keep their delays (issue 13) instead of all going now.
    assert due[("1", "welcome_email")] == now
    assert due[("1", "call_your_da")] == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    set_run_state(store, "marijuana_justice", "paused", now)
    assert plan_active_campaigns(store, ROOT / "jobs", geo.roster, now) == {}


def test_planning_passes_are_incremental_with_a_daily_full_pass(tmp_path, store, geo, by_zip):
    def sign(name: str) -> None:
        path = tmp_path / f"{name}.csv"
        path.write_text(f"email,zip\n{name}@example.org,19107\n")
        intake(path, store)
        match(store, geo, by_zip=by_zip)

    sign("first")
    sign("second")
    start = datetime.now(UTC)
    set_run_state(store, "marijuana_justice", "active", start)
    planned = plan_active_campaigns(store, ROOT / "jobs", geo.roster, start)
    assert planned["marijuana_justice"]["welcome_email"]["planned"] == 2  # first pass: all
    long_ago = start - timedelta(hours=3)  # the first two signed well before the margin
    with store.begin() as connection:
        connection.execute(signers.update().values(updated_at=long_ago))
        connection.execute(signer_matches.update().values(matched_at=long_ago))
    sign("third")
    later = start + timedelta(minutes=1)
    again = plan_active_campaigns(store, ROOT / "jobs", geo.roster, later)
    welcome = again["marijuana_justice"]["welcome_email"]
    assert (welcome["planned"], welcome["queued_now"]) == (1, 1)  # only the new signer
    plan_active_campaigns(store, ROOT / "jobs", geo.roster, later + timedelta(hours=2))
    quiet = plan_active_campaigns(store, ROOT / "jobs", geo.roster,
                                  later + timedelta(hours=2, minutes=1))
    assert quiet["marijuana_justice"] == {}  # nobody changed within the margin: nothing read
    daily = plan_active_campaigns(store, ROOT / "jobs", geo.roster, start + timedelta(days=1))
    assert daily["marijuana_justice"]["welcome_email"]["planned"] == 3  # the daily full pass
    assert daily["marijuana_justice"]["welcome_email"]["queued_now"] == 0


# An isolated scheduler's passes, in a process of their own: what that process holds after
# them is read from its own sys.modules.
ISOLATED_PASSES = """
import json, os, sys, time
from datetime import UTC, datetime
from outreach.config import Settings
from outreach.ops.scheduler import Context, builtin_entries, perform
from outreach.store.db import open_store

settings = Settings.from_env()
entries = {e.name: e for e in builtin_entries(settings)}
context = Context(settings, open_store(settings.store.database_url), entries, isolate=True)
outcomes = {}
for name in ("first", "work", "idle"):
    if name == "work":
        arrival = settings.intake.inbox_dir / "a.csv"
        arrival.write_text("email,zip\\na1@example.org,19107\\na2@example.org,19107\\n")
        os.utime(arrival, (time.time() - 60, time.time() - 60))
    outcomes[name] = [perform(context, entries[job], datetime.now(UTC))
                      for job in ("inbox", "match", "plan")]
print(json.dumps({"outcomes": outcomes, "geography": context.current._geo is not None,
                  "frames": sorted({"pandas", "numpy", "pyarrow"} & set(sys.modules))}))
"""


def test_an_isolated_scheduler_runs_frame_passes_in_children_and_holds_no_frames(
        tmp_path, store_url, store):
    """`outreach run`'s scheduler imports, matches and plans in a child process per pass, so
    between passes it holds no pandas (about 100 MB) and no ZIP index; a pass with nothing to
    do starts no child and answers as the pass itself would."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "OUTREACH_DATABASE_URL": store_url,
           "OUTREACH_DATA_DIR": str(ROOT / "data"), "OUTREACH_JOBS_DIR": str(tmp_path / "jobs"),
           "OUTREACH_INBOX_DIR": str(tmp_path / "inbox"),
           "OUTREACH_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", ISOLATED_PASSES], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["outcomes"] == {
        "first": ["inbox empty", "0 signers matched", "no active campaign"],
        "work": ["a.csv: imported", "2 signers matched", "no active campaign"],
        "idle": ["inbox empty", "0 signers matched", "no active campaign"]}
    assert found["frames"] == [] and not found["geography"]
    with store.connect() as connection:
        matched = connection.execute(select(signer_matches.c.felony_office_id)).scalars().all()
    assert matched == ["pa-philadelphia", "pa-philadelphia"]
    assert (tmp_path / "inbox" / "processed" / "a.csv").exists()
