"""`outreach scheduler`: APScheduler 3 triggers the engine's steps on a clock; it decides nothing.

Jobs are the built-ins below (inbox intake, match, planning of launched campaigns, outbox
maintenance, the nightly roster check) plus what `jobs/schedule.toml` declares or overrides
(cron or interval, each in a stated time zone). Each job calls the same function as the CLI.

Exactly once, on one host or many:
  * the job store is APScheduler's SQLAlchemyJobStore in the engine's own database, so a
    restarted scheduler knows what it missed; missed runs are coalesced (a scheduler down for an
    hour runs each missed job once, not sixty times) with no misfire limit;
  * every run claims the fire time it serves in `scheduler_runs` (unique per job and time):
    two schedulers on two hosts that wake for the same run insert the same key and only the
    first runs it; interval triggers are anchored to a fixed epoch so every host computes the
    same fire times;
  * on PostgreSQL a run also holds an advisory lock named after its job, so a long run on one
    host never overlaps the next on another; on SQLite a second scheduler refuses to start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from sqlalchemy import Engine

from outreach.campaigns.definitions import SCHEDULE_FILE, parse_duration, read_toml
from outreach.clock import utcnow
from outreach.config import Settings
from outreach.errors import SchedulerError, StoreUnreachable
from outreach.geo.current import CurrentGeo
from outreach.privacy import install_log_masking, mask_text
from outreach.store import schedule, workers
from outreach.store.db import (
    database_problem,
    database_reason,
    hold_schema_lock,
    is_connection_loss,
    open_store,
)

if TYPE_CHECKING:
    from outreach.roster.offices import Roster

log = logging.getLogger("outreach.scheduler")

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)  # interval fire times are counted from here
# A stopped or dead worker's heartbeat row is kept this long after it stopped or was declared
# dead, for `outreach report` and /healthz to show (a weekend and the Monday after it); every
# restart adds a row, so without a limit the table grows for as long as the deployment runs.
WORKER_RETENTION = timedelta(days=7)
Action = Literal["inbox", "match", "plan", "maintain", "roster_check"]
# The actions that work on frames: intake, matching and planning hold pandas (with numpy and
# pyarrow, about 100 MB resident) and the ZIP index (about 40 MB). A long-running scheduler
# (`outreach run`, `outreach scheduler`: Context.isolate) runs each of their passes in a child
# process of its own that exits after it, so between passes the process holds neither: it
# keeps the worker, the roster and the schedule (bench/startup.py; issue 18). The price is a
# child's start per pass, about a second of CPU (imports, the ZIP index from the compiled
# cache).
FRAME_ACTIONS = frozenset({"inbox", "match", "plan"})


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    action: Action
    cron: str | None = None  # "0 3 * * *": minute hour day month weekday
    interval: timedelta | None = None  # "30s", "5m", "1h", "1d"
    time_zone: str = "UTC"
    campaign: str | None = None  # plan: only this campaign (default: every active one)
    enabled: bool = True

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> object:
        return parse_duration(value, "30s, 5m, 1h or 1d")

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleEntry:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron and interval")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("interval must be positive")
        self.trigger()  # a bad cron expression or zone fails here, at load time
        return self

    def trigger(self) -> BaseTrigger:
        if self.cron is not None:
            fields = self.cron.split()
            if len(fields) != 5:
                raise ValueError(f"cron {self.cron!r}: expected 5 fields (minute hour day "
                                 "month weekday)")
            return CronTrigger(minute=fields[0], hour=fields[1], day=fields[2],
                               month=fields[3], day_of_week=crontab_weekdays(fields[4]),
                               timezone=self.time_zone)
        assert self.interval is not None
        return IntervalTrigger(seconds=self.interval.total_seconds(), start_date=ANCHOR,
                               timezone=self.time_zone)


WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_weekdays(field: str) -> str:
    """Crontab weekday numbers (0 or 7 = Sunday, 1 = Monday) as names: APScheduler 3 counts
    0 = Monday, so "1-5" handed over as is would mean Tuesday to Saturday."""
    parts = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        low, _, high = span.partition("-")
        if low == "*" and step:
            low, high = "0", "6"
        if not low.isdigit():
            parts.append(part)  # names and * are read the same way by both
            continue
        if not high and not step:
            parts.append(WEEKDAY_NAMES[int(low) % 8])
            continue
        end = int(high) if high else 7
        days = range(int(low), end + 1, int(step) if step else 1)
        parts.extend(WEEKDAY_NAMES[d % 8] for d in days)
    return ",".join(dict.fromkeys(parts))


def builtin_entries(settings: Settings) -> list[ScheduleEntry]:
    """Welcome messages within about two minutes of a signature, the rest on their delay."""
    return [
        ScheduleEntry(name="inbox", action="inbox", interval=timedelta(minutes=1)),
        ScheduleEntry(name="match", action="match", interval=timedelta(minutes=1)),
        ScheduleEntry(name="plan", action="plan", interval=timedelta(minutes=1)),
        ScheduleEntry(name="maintain", action="maintain", interval=timedelta(minutes=1)),
        ScheduleEntry(name="roster_check", action="roster_check", cron="0 3 * * *",
                      time_zone=settings.ops.time_zone),
    ]


def load_schedule(settings: Settings) -> list[ScheduleEntry]:
    """The built-ins, replaced or extended by `jobs/schedule.toml` ([[job]] tables, by name);
    `enabled = false` turns a built-in off."""
    entries = {e.name: e for e in builtin_entries(settings)}
    path = settings.campaigns.jobs_dir / SCHEDULE_FILE
    if path.is_file():
        try:
            raw = read_toml(path)
        except ValueError as error:
            raise SchedulerError(str(error)) from None
        zone = raw.get("time_zone", "UTC")
        for index, item in enumerate(raw.get("job", [])):
            try:
                entry = ScheduleEntry.model_validate({"time_zone": zone, **item})
            except (ValidationError, ValueError) as error:
                first = error.errors()[0]["msg"] if isinstance(error, ValidationError) \
                    else str(error)
                raise SchedulerError(f"{path}: job[{index}]: "
                                     f"{first.removeprefix('Value error, ')}") from None
            entries[entry.name] = entry
    return [e for e in entries.values() if e.enabled]


def latest_fire_time(trigger: BaseTrigger, now: datetime) -> datetime:
    """The fire time a run starting `now` serves: the trigger's last one at or before now."""
    if isinstance(trigger, IntervalTrigger):
        start: datetime = trigger.start_date  # APScheduler 3 is untyped: its values are Any
        interval: timedelta = trigger.interval
        return start + (now - start) // interval * interval
    for lookback in (timedelta(hours=1), timedelta(days=1), timedelta(days=8),
                     timedelta(days=32), timedelta(days=367)):
        fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        if fire is None or fire > now:
            continue
        while True:
            following: datetime | None = trigger.get_next_fire_time(
                fire, fire + timedelta(microseconds=1))
            if following is None or following > now:
                return fire
            fire = following
    return now  # never fired within a year: this run serves itself


@dataclass
class Context:
    """What a job needs, built once per scheduler process: the roster and geography (kept
    current: rebuilt when the day changes or a correction arrives) and a worker to maintain
    the outbox with (the process's own, under `outreach run`)."""

    settings: Settings
    engine: Engine
    entries: dict[str, ScheduleEntry]
    host: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    worker: Any = None
    # FRAME_ACTIONS in a child process per pass (see there); the process itself then loads
    # no geography, only the worker's current roster.
    isolate: bool = False
    current: CurrentGeo = field(init=False)

    def __post_init__(self) -> None:
        self.current = CurrentGeo(self.settings, self.engine)

    @property
    def geo(self) -> Any:
        return self.current.geo()

    @property
    def roster(self) -> Roster:
        """The roster in force today: an isolated scheduler's is its worker's (one copy, kept
        current by the worker's CurrentRoster), another's the geography's."""
        if self.isolate:
            roster: Roster = self.maintenance_worker.renderer.roster
            return roster
        return self.geo.roster  # type: ignore[no-any-return]

    @property
    def maintenance_worker(self) -> Any:
        if self.worker is None:
            from outreach.ops.wiring import build_worker

            self.worker = build_worker(self.settings, concurrency=1, engine=self.engine,
                                       roster=None if self.isolate else self.geo.roster)
        return self.worker

    def warm_up(self) -> None:
        """Load what the scheduled actions need (roster, geography, a worker's transports)
        before the first run: a first run that spends seconds loading would overrun a short
        interval and make the scheduler skip the next fire time. An isolated scheduler's
        frame passes load theirs in their child."""
        actions = {e.action for e in self.entries.values()}
        if self.isolate:
            if actions & {"roster_check", "maintain"}:
                _ = self.roster
        elif actions & {"match", "plan", "roster_check"}:
            _ = self.geo
        if "maintain" in actions:
            _ = self.maintenance_worker


_CONTEXT: Context | None = None


# --- the actions: each calls the function the CLI calls ------------------------------------
# What a frame pass with nothing to do answers (its own words, and perform's when it finds
# that out without starting a child).
INBOX_EMPTY = "inbox empty"
NONE_TO_MATCH = "0 signers matched"
NO_CAMPAIGN = "no active campaign"


def _inbox(context: Context, entry: ScheduleEntry, now: datetime) -> str:
    from outreach.geo.locate import zip_codes
    from outreach.signers.inbox import process_inbox
    from outreach.signers.intake import IntakeLimits

    results = process_inbox(context.engine, context.settings.intake.inbox_dir,
                            mapping=context.settings.intake.intake_map,
                            limits=IntakeLimits.from_settings(context.settings),
                            zips=zip_codes(context.settings.data.data_dir))
    return ", ".join(f"{r.file}: {r.outcome}" for r in results) or INBOX_EMPTY


def _match(context: Context, entry: ScheduleEntry, now: datetime) -> str:
    from outreach.signers.match import match

    summary = match(context.engine, context.geo)
    return f"{summary.signers} signers matched"


def _plan(context: Context, entry: ScheduleEntry, now: datetime) -> str:
    """Launched campaigns, then the petition's signings still waiting for their steps (the
    petition campaign is usually not launched: the form queues each signer's steps)."""
    from outreach.campaigns.definitions import find_campaign
    from outreach.campaigns.planner import plan_active_campaigns
    from outreach.ops.signing import queue_pending_signings

    settings = context.settings
    results = plan_active_campaigns(context.engine, settings.campaigns.jobs_dir,
                                    context.geo.roster, now, only=entry.campaign)
    queued = {name: sum(s["queued_now"] for s in steps.values())
              for name, steps in results.items()}
    outcome = ", ".join(f"{name}: {n} queued" for name, n in queued.items()) \
        or NO_CAMPAIGN
    if _plans_petition(context, entry):
        signings = queue_pending_signings(
            context.engine, lambda: find_campaign(settings.campaigns.jobs_dir,
                                                  settings.campaigns.petition_campaign),
            context.geo.roster, now)
        if signings:
            outcome += f"; petition: steps queued for {signings} waiting signings"
    return outcome


def _plans_petition(context: Context, entry: ScheduleEntry) -> bool:
    """Whether this planning job also queues the petition's waiting signings."""
    return entry.campaign in (None, context.settings.campaigns.petition_campaign)


def _idle(context: Context, entry: ScheduleEntry) -> str | None:
    """A frame pass's outcome when it is sure to find nothing to do, found without frames
    (an inbox listing, a one-row query), else None: an idle pass costs a glance, not a
    child's start, every minute."""
    if entry.action == "inbox":
        from outreach.signers.inbox import waiting

        return None if waiting(context.settings.intake.inbox_dir) else INBOX_EMPTY
    from outreach.store import runs
    from outreach.store import signers as store

    with context.engine.connect() as connection:
        if entry.action == "match":
            return None if store.any_to_match(connection) else NONE_TO_MATCH
        if runs.active_campaigns(connection, entry.campaign) or (
                _plans_petition(context, entry) and store.pending_signings(connection, 1)):
            return None
    return NO_CAMPAIGN


def _maintain(context: Context, entry: ScheduleEntry, now: datetime) -> str:
    """The outbox's repairs (Worker.maintain: dead workers' work taken, expired claims freed,
    stale sends reconciled), then the heartbeat rows of workers gone for WORKER_RETENTION.
    Only a row stopped or declared dead that long ago goes: a live or late worker's, and a
    silent one's that the repairs just declared dead, stay. The pruning is judged by the wall
    clock (PostgreSQL's own there), never the scheduler's business clock `now`."""
    done = context.maintenance_worker.maintain() + Counter(  # a sum keeps what is positive
        workers_pruned=workers.prune(context.engine, WORKER_RETENTION, utcnow()))
    return ", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "nothing to fix"


def _roster_check(context: Context, entry: ScheduleEntry, now: datetime) -> str:
    from outreach.roster.coverage import stale_officeholders

    roster = context.roster
    days = context.settings.data.roster_stale_days
    stale = stale_officeholders(roster, now.date(), days)
    dated = [o for o in stale if o.officeholder_as_of]
    if stale:
        log.warning("roster: %d of %d offices have officeholder data older than %d days or "
                    "undated (%d dated but old, e.g. %s); verify them before messages name "
                    "the wrong prosecutor", len(stale), len(roster), days, len(dated),
                    ", ".join(o.office_id for o in dated[:5]) or "none")
    return f"{len(stale)} offices with stale or undated officeholder data"


ACTIONS: dict[str, Callable[[Context, ScheduleEntry, datetime], str]] = {
    "inbox": _inbox, "match": _match, "plan": _plan, "maintain": _maintain,
    "roster_check": _roster_check,
}


def perform(context: Context, entry: ScheduleEntry, now: datetime) -> str:
    """Run one job's action: here, or, for an isolated scheduler's FRAME_ACTIONS, in a child
    process started for it (spawned: a fork would copy this process's threads' state) that
    exits when it is done, unless the pass would find nothing to do (_idle). Its exception,
    if any, is raised here, as the action's own."""
    if not (context.isolate and entry.action in FRAME_ACTIONS):
        return ACTIONS[entry.action](context, entry, now)
    idle = _idle(context, entry)
    if idle is not None:
        return idle
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_child_start,
                             initargs=(logging.getLogger().getEffectiveLevel(),
                                       context.settings.ops.log_format == "json")) as pool:
        return pool.submit(_child_action, context.settings, entry, now).result()


def _child_start(level: int, json_lines: bool) -> None:
    """A frame pass's child: logs as its parent does (masked, to the same stderr), and lets
    a stop signal reach only the parent, which lets a running job finish (runner.py): a
    SIGTERM to the whole process group (systemd, Ctrl-C) does not cut the pass short."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    install_log_masking(level, json_lines)


def _child_action(settings: Settings, entry: ScheduleEntry, now: datetime) -> str:
    """One frame pass in the child, with a store connection and geography of its own."""
    engine = open_store(settings.store.database_url)
    try:
        return ACTIONS[entry.action](Context(settings, engine, {entry.name: entry}), entry,
                                     now)
    except Exception as error:
        if not is_connection_loss(error):
            raise  # a bug: its traceback comes back with it, for the parent's log
        # The parent skips the run in one line, as for its own lost connection (run_job); the
        # driver's exception need not survive pickling.
        raise StoreUnreachable(database_problem(settings.store.database_url, error)) from None
    finally:
        engine.dispose()


# --- running one job exactly once ------------------------------------------------------------
@contextmanager
def job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """PostgreSQL: a session advisory lock for the job, held for the run (False: another host
    runs it now). SQLite: always True (one scheduler per database, see `single_scheduler`)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as connection:
        got = schedule.try_job_lock(connection, name)
        connection.commit()
        try:
            yield got
        finally:
            if got:
                schedule.unlock_job(connection, name)
                connection.commit()


def claim_run(engine: Engine, job: str, fire_time: datetime, host: str,
              now: datetime) -> int | None:
    """Claim this job's run for `fire_time`, in a transaction of its own; None if a
    scheduler claimed it already."""
    with engine.begin() as connection:
        return schedule.claim_run(connection, job, fire_time, host, now)


def run_job(name: str) -> None:
    """What APScheduler stores and calls (by reference, so any host can run it). A database
    that does not answer skips this run with one log line; the next fire time tries again."""
    context = _CONTEXT
    if context is None:
        raise SchedulerError("the scheduler context is not set up")
    try:
        _run_job(context, name)
    except Exception as error:
        if not is_connection_loss(error):
            raise
        log.warning("job %s skipped: database unreachable: %s; the next run tries again",
                    name, database_reason(error))


def _run_job(context: Context, name: str) -> None:
    entry = context.entries.get(name)
    if entry is None:
        log.warning("job %s is no longer scheduled; ignored", name)
        return
    now = context.clock()
    fire_time = latest_fire_time(entry.trigger(), now)
    with job_lock(context.engine, name) as locked:
        if not locked:
            log.info("job %s is running on another host; this run is skipped", name)
            return
        run_id = claim_run(context.engine, name, fire_time, context.host, now)
        if run_id is None:
            log.info("job %s for %s already ran elsewhere", name, fire_time.isoformat())
            return
        try:
            outcome = perform(context, entry, now)
            log.info("job %s: %s", name, outcome)
        except Exception as error:  # the scheduler must outlive one job's failure
            if is_connection_loss(error):
                raise  # nothing can be recorded either: run_job says it in one line
            log.exception("job %s failed", name)
            # Kept in scheduler_runs: masked like the log, whatever the error quoted.
            outcome = mask_text(f"error: {type(error).__name__}: {error}")[:500]
        with context.engine.begin() as connection:
            schedule.finish_run(connection, run_id, context.clock(), outcome)


# --- the scheduler ---------------------------------------------------------------------------
JOBSTORE_RETRY_SECONDS = 5.0  # after an outage, the schedule resumes within this


# APScheduler 3 ships no type information, so its job store is Any to mypy.
class PatientJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """APScheduler's job store in our database, through an outage: a failed read of the due
    jobs is one line in the log (APScheduler logs the error's text and retries), and a failed
    write of a job's next run time or read of the next wake-up is one line too instead of an
    exception that ends APScheduler's thread (the scheduler would stay up doing nothing)."""

    def start(self, scheduler: Any, alias: str) -> None:
        """SQLAlchemyJobStore.start, whose CREATE TABLE runs under the schema lock: two
        schedulers starting together on a fresh PostgreSQL database both created the job
        table, and one exited with UniqueViolation."""
        BaseJobStore.start(self, scheduler, alias)  # all of the parent's start but its create
        with self.engine.begin() as connection:
            hold_schema_lock(connection)
            self.jobs_t.create(connection, checkfirst=True)

    def get_due_jobs(self, now: datetime) -> list[Any]:
        if self._scheduler is not None and self._scheduler.state == STATE_STOPPED:
            # APScheduler's loop makes one more pass after shutdown() has stopped its
            # executors: jobs still due then (overdue after an outage) would each log a
            # traceback ("cannot schedule new futures after shutdown").
            return []
        try:
            jobs: list[Any] = super().get_due_jobs(now)
            return jobs
        except Exception as error:
            if not is_connection_loss(error):
                raise
            raise StoreUnreachable(database_problem(self.engine.url, error)) from None

    def get_next_run_time(self) -> datetime | None:
        try:
            next_run: datetime | None = super().get_next_run_time()
            return next_run
        except Exception as error:
            if not is_connection_loss(error):
                raise
            return datetime.now(UTC) + timedelta(seconds=JOBSTORE_RETRY_SECONDS)

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except Exception as error:
            if not is_connection_loss(error):
                raise
            # The stored next run time stays the old one: the job is due again when the
            # database answers, and claim_run keeps it to one run per fire time.
            log.warning("could not store job %s's next run time: database unreachable: %s",
                        job.id, database_reason(error))


@contextmanager
def single_scheduler(engine: Engine) -> Iterator[None]:
    """On SQLite, one scheduler per database file: a second one refuses to start."""
    if engine.dialect.name != "sqlite" or not engine.url.database \
            or engine.url.database == ":memory:":
        yield
        return
    path = Path(f"{engine.url.database}.scheduler.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SchedulerError(
            f"another scheduler ({holder}) is running on {engine.url.database}; SQLite "
            "allows one: stop it, or move to PostgreSQL to run schedulers on several "
            "hosts") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def build_scheduler(settings: Settings, engine: Engine,
                    entries: list[ScheduleEntry] | None = None,
                    worker: Any = None, isolate: bool = False) -> BackgroundScheduler:
    """A started scheduler whose persistent jobs match the schedule (missed runs kept); with
    `worker`, its outbox maintenance uses that worker instead of building another; with
    `isolate`, its frame passes run in child processes (FRAME_ACTIONS)."""
    global _CONTEXT
    entries = entries if entries is not None else load_schedule(settings)
    _CONTEXT = Context(settings, engine, {e.name: e for e in entries}, worker=worker,
                       isolate=isolate)
    scheduler = BackgroundScheduler(
        jobstores={"default": PatientJobStore(engine=engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC, jobstore_retry_interval=JOBSTORE_RETRY_SECONDS)
    _CONTEXT.warm_up()
    scheduler.start(paused=True)
    wanted = {e.name: e for e in entries}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            job.remove()
    for entry in entries:
        trigger = entry.trigger()
        existing = scheduler.get_job(entry.name)
        if existing is not None and repr(existing.trigger) == repr(trigger):
            continue  # keep its stored next run time: a missed run still runs (once)
        scheduler.add_job(run_job, trigger, args=[entry.name], id=entry.name, name=entry.name,
                          replace_existing=True)
    scheduler.resume()
    return scheduler
