"""The scheduler's statements: one claimed run per job and fire time (`scheduler_runs`), and
PostgreSQL advisory locks named after a job, so a long run on one host never overlaps the next
on another (ops/scheduler.py decides when to take them)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Engine

from outreach.store.db import dialect_insert
from outreach.store.schema import scheduler_runs


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"outreach:{name}".encode()).digest()[:8], "big",
                          signed=True)


def claim_run(engine: Engine, job: str, fire_time: datetime, host: str,
              now: datetime) -> int | None:
    """Claim this job's run for `fire_time`; None if a scheduler claimed it already."""
    statement = dialect_insert(engine, scheduler_runs).values(
        job=job, fire_time=fire_time, host=host, started_at=now,
    ).on_conflict_do_nothing(index_elements=["job", "fire_time"]).returning(scheduler_runs.c.id)
    with engine.begin() as connection:
        return connection.execute(statement).scalar()
