"""The scheduler's statements: one claimed run per job and fire time (`scheduler_runs`), and
PostgreSQL advisory locks named after a job, so a long run on one host never overlaps the next
on another (ops/scheduler.py decides when to take them, and on which connection)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text, update

from outreach.store.db import advisory_key, dialect_insert
from outreach.store.schema import scheduler_runs


def try_job_lock(connection: Connection, job: str) -> bool:
    """PostgreSQL: take the job's session advisory lock on this connection without waiting
    (False: another session holds it). A session lock outlives the transaction: it is held
    until unlock_job on the same connection, or until the connection closes."""
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": advisory_key(job)}).scalar())


def unlock_job(connection: Connection, job: str) -> None:
    """PostgreSQL: give back the job's advisory lock taken on this connection."""
    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(job)})


def claim_run(connection: Connection, job: str, fire_time: datetime, host: str,
              now: datetime) -> int | None:
    """Claim this job's run for `fire_time`; None if a scheduler claimed it already."""
    statement = dialect_insert(connection, scheduler_runs).values(
        job=job, fire_time=fire_time, host=host, started_at=now,
    ).on_conflict_do_nothing(index_elements=["job", "fire_time"]).returning(scheduler_runs.c.id)
    return connection.execute(statement).scalar()


def finish_run(connection: Connection, run_id: int, finished_at: datetime,
               outcome: str) -> None:
    """Record how a claimed run ended (its outcome line, or its masked error)."""
    connection.execute(update(scheduler_runs).where(scheduler_runs.c.id == run_id)
                       .values(finished_at=finished_at, outcome=outcome))
