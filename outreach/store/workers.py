"""Worker heartbeats: who is sending, who stopped, who died (issue 18.3).

Every worker process keeps a row here and beats it every few seconds from a thread of its own.
A worker whose beat is older than OUTREACH_WORKER_DEAD_SECONDS is declared dead by another, once
(a guarded UPDATE: two survivors never both take it, and a beat and a declaration of the same
row are serialized by the database, so either the beat landed first and the worker is alive or
the declaration did and the worker finds out at its next beat). The declaration gives the dead
worker's unstarted claims back to the queue in the same transaction and returns its `sending`
rows for the survivor to reconcile; the claim lease stays as the last resort (a worker that
never registered, a survivor that died mid-recovery).

Which clock says "older": on PostgreSQL the server's (`now()`, the start of the statement's
short transaction) writes every beat and judges every declaration, so hosts whose clocks
disagree by minutes cannot make a live worker look dead. SQLite is one host: the caller's
wall clock (outreach.clock.utcnow, never a test's or a replay's business clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Connection, Engine, delete, func, or_, select, update

from outreach.store import outbox
from outreach.store.db import as_utc, dialect_insert
from outreach.store.outbox import OutboxRow
from outreach.store.schema import workers

WorkerStatus = Literal["live", "late", "dead", "stopped"]


def _clock(bind: Connection | Engine, now: datetime) -> ColumnElement[datetime] | datetime:
    """The time a beat or a declaration is judged by: the server's on PostgreSQL, `now` on
    SQLite (one host)."""
    return func.now() if bind.dialect.name == "postgresql" else now


def register(engine: Engine, worker_id: str, host: str, pid: int, now: datetime) -> None:
    """A worker starts (or the same worker object runs again): live, beating from now."""
    clock = _clock(engine, now)
    values = {"host": host[:255], "pid": pid, "started_at": clock, "beat_at": clock,
              "stopped_at": None, "declared_dead_at": None, "declared_dead_by": None}
    statement = dialect_insert(engine, workers).values(worker_id=worker_id, **values)
    with engine.begin() as connection:
        connection.execute(statement.on_conflict_do_update(index_elements=["worker_id"],
                                                           set_=values))


def beat(engine: Engine, worker_id: str, host: str, pid: int, now: datetime) -> bool:
    """One heartbeat. False: another worker declared this one dead (its claims are no longer
    its own: it must not call a provider for them). A missing row is registered (the start's
    registration met a database outage)."""
    clock = _clock(engine, now)
    statement = dialect_insert(engine, workers).values(
        worker_id=worker_id, host=host[:255], pid=pid, started_at=clock, beat_at=clock)
    statement = statement.on_conflict_do_update(
        index_elements=["worker_id"], set_={"beat_at": clock, "stopped_at": None},
        where=workers.c.declared_dead_at.is_(None))
    with engine.begin() as connection:
        return connection.execute(statement.returning(workers.c.worker_id)).first() is not None


def mark_stopped(engine: Engine, worker_id: str, now: datetime) -> bool:
    """A clean stop: nothing of this worker's is in flight any more."""
    with engine.begin() as connection:
        return connection.execute(
            update(workers).where(workers.c.worker_id == worker_id,
                                  workers.c.declared_dead_at.is_(None))
            .values(stopped_at=_clock(connection, now))).rowcount == 1


def _silent(bind: Connection, dead_after: timedelta, now: datetime) -> ColumnElement[bool]:
    return workers.c.beat_at < _clock(bind, now) - dead_after


def dead(connection: Connection, dead_after: timedelta, now: datetime) -> list[str]:
    """Workers silent for longer than `dead_after`, neither stopped nor declared dead yet: one
    query on a table of a few rows, cheap to ask every few seconds."""
    return list(connection.execute(
        select(workers.c.worker_id).where(workers.c.stopped_at.is_(None),
                                          workers.c.declared_dead_at.is_(None),
                                          _silent(connection, dead_after, now))
        .order_by(workers.c.worker_id)).scalars())


@dataclass(frozen=True)
class Recovery:
    """What declaring a worker dead took from it."""

    worker_id: str
    released: int  # unstarted claims back in the queue
    sending: list[OutboxRow]  # its interrupted sends, to reconcile (never re-send blindly)


def declare_dead(engine: Engine, worker_id: str, by: str, dead_after: timedelta,
                 now: datetime) -> Recovery | None:
    """Declare a silent worker dead and take its work, in one transaction; None if it beat
    meanwhile or another worker declared it first. Its `sending` rows are read in the same
    transaction, so a worker object that runs again under the same id afterwards (a new
    registration) cannot have its new sends mistaken for the dead one's."""
    with engine.begin() as connection:
        declared = connection.execute(
            update(workers).where(workers.c.worker_id == worker_id,
                                  workers.c.stopped_at.is_(None),
                                  workers.c.declared_dead_at.is_(None),
                                  _silent(connection, dead_after, now))
            .values(declared_dead_at=_clock(connection, now), declared_dead_by=by[:100])
        ).rowcount == 1
        if not declared:
            return None
        released = outbox.release_claims(connection, worker_id, now)
        return Recovery(worker_id, released, outbox.sending_of(connection, worker_id))


def prune(engine: Engine, older_than: timedelta, now: datetime) -> int:
    """Forget workers stopped or declared dead longer ago than `older_than` (a restart makes a
    new row each time)."""
    cutoff = _clock(engine, now) - older_than
    with engine.begin() as connection:
        return connection.execute(delete(workers).where(or_(
            workers.c.stopped_at < cutoff, workers.c.declared_dead_at < cutoff))).rowcount


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None
    declared_dead_at: datetime | None
    declared_dead_by: str | None
    silent_seconds: float  # since its last beat, by the judging clock
    status: WorkerStatus  # late: silent longer than a third of the limit, not yet dead


def listing(connection: Connection, dead_after: timedelta, now: datetime) -> list[WorkerRecord]:
    """Every known worker and its status, newest first: for `outreach report` and health."""
    clock = connection.execute(select(func.now())).scalar_one() \
        if connection.dialect.name == "postgresql" else now
    records = []
    for row in connection.execute(select(workers).order_by(workers.c.started_at.desc())):
        beat_at = as_utc(row.beat_at)
        silent = max(0.0, (as_utc(clock) - beat_at).total_seconds())
        status: WorkerStatus = "stopped" if row.stopped_at is not None else \
            "dead" if row.declared_dead_at is not None or silent > dead_after.total_seconds() \
            else "late" if silent > dead_after.total_seconds() / 3 else "live"
        records.append(WorkerRecord(
            row.worker_id, row.host, row.pid, as_utc(row.started_at), beat_at,
            as_utc(row.stopped_at) if row.stopped_at is not None else None,
            as_utc(row.declared_dead_at) if row.declared_dead_at is not None else None,
            row.declared_dead_by, round(silent, 1), status))
    return records


def status_counts(connection: Connection, dead_after: timedelta,
                  now: datetime) -> dict[str, int]:
    """How many workers are live, late and dead (stopped ones are not counted: they left
    nothing behind), every key present: /healthz, the dashboard and `outreach run`'s health
    line say the same as `outreach report`, without a host name or worker id."""
    counts = dict.fromkeys(("live", "late", "dead"), 0)
    for record in listing(connection, dead_after, now):
        if record.status != "stopped":
            counts[record.status] += 1
    return counts
