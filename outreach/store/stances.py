"""The office_stances table's statements: each prosecutor's stated position on each demand.

One statement per function on the caller's connection (the caller decides the transaction).
Which row is an office's current stance, and what the values mean, is `outreach.roster.stances`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, inspect, select, update

from outreach.store.db import dialect_insert
from outreach.store.schema import office_stances, stance_marks


def stances_table_exists(connection: Connection) -> bool:
    """False before the store's first migration: a lookup or a page still works then."""
    return inspect(connection).has_table(office_stances.name)


def insert_stances(connection: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Store stance statements (one row per office and demand) in one executemany.

    On PostgreSQL the table is locked against other writers first (readers are not held):
    a sequence hands out ids before commit, so without it two recordings at once could
    commit in the other order, and a planner that read the newer id as its mark (the stance
    triggers, stance_marks) would never see the older one. Serialized, ids become visible in
    order. SQLite has one writer at a time already."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE office_stances IN SHARE ROW EXCLUSIVE MODE")
    connection.execute(office_stances.insert(), list(rows))


def stance_rows(connection: Connection,
                office_ids: Collection[str] | None = None) -> list[Row[Any]]:
    """Every statement (of these offices, or of all), oldest stated first, ties by the order
    they were recorded: the last row of an office's demand is its stance."""
    query = select(office_stances).order_by(office_stances.c.stated_on, office_stances.c.id)
    if office_ids is not None:
        query = query.where(office_stances.c.office_id.in_(list(office_ids)))
    return list(connection.execute(query))


def newest_stance_id(connection: Connection) -> int:
    """The newest statement's id (0: none): it changes whenever a stance is recorded, so a
    long-running process knows when to read them again, and a trigger what is new."""
    return connection.execute(select(func.max(office_stances.c.id))).scalar() or 0


def stance_mark(connection: Connection, campaign: str) -> int | None:
    """The newest statement id this campaign's planning has acted on (None: none yet)."""
    value = connection.execute(select(stance_marks.c.stance_id)
                               .where(stance_marks.c.campaign == campaign)).scalar()
    return int(value) if value is not None else None


def start_stance_mark(connection: Connection, campaign: str, stance_id: int,
                      now: datetime) -> None:
    """The campaign's mark, if it has none yet (a relaunch or a second planner keeps the
    first one): statements up to `stance_id` are old news to it."""
    connection.execute(dialect_insert(connection, stance_marks)
                       .values(campaign=campaign, stance_id=stance_id, updated_at=now)
                       .on_conflict_do_nothing(index_elements=["campaign"]))


def advance_stance_mark(connection: Connection, campaign: str, stance_id: int,
                        now: datetime) -> None:
    """Move the campaign's mark forward to `stance_id`, never back (two planners at once)."""
    connection.execute(update(stance_marks)
                       .where(stance_marks.c.campaign == campaign,
                              stance_marks.c.stance_id < stance_id)
                       .values(stance_id=stance_id, updated_at=now))
