"""The office_stances table's statements: each prosecutor's stated position on each demand.

One statement per function on the caller's connection (the caller decides the transaction).
Which row is an office's current stance, and what the values mean, is `outreach.roster.stances`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, inspect, select

from outreach.store.schema import office_stances


def stances_table_exists(connection: Connection) -> bool:
    """False before the store's first migration: a lookup or a page still works then."""
    return inspect(connection).has_table(office_stances.name)


def insert_stances(connection: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Store stance statements (one row per office and demand) in one executemany."""
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
