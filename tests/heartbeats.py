"""Heartbeat rows made old, for the tests of what judges them (store/workers.py, the
scheduler's pruning, /healthz)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update

from outreach.store.schema import workers

TIMES = ("started_at", "beat_at", "stopped_at", "declared_dead_at")


def age_worker(engine: Engine, worker_id: str, by: timedelta) -> None:
    """As if everything the worker's row records (its start, last beat, stop, declared
    death) happened `by` earlier, by whichever clock wrote it (PostgreSQL's own there). Read
    first and written back: SQLite stores the times as text, with no date arithmetic."""
    mine = workers.c.worker_id == worker_id
    with engine.begin() as connection:
        row = connection.execute(select(workers).where(mine)).one()
        connection.execute(update(workers).where(mine).values(
            {c: getattr(row, c) - by for c in TIMES if getattr(row, c) is not None}))
