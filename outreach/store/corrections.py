"""The roster_corrections table's statements: organizers' corrections to the shipped roster.

Each function runs one statement on the caller's connection, so the caller decides the
transaction (a bounce's correction commits with its event). What a correction means, and how
the newest one wins, is `outreach.roster.corrections`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, inspect, select

from outreach.store.schema import roster_corrections


def corrections_table_exists(connection: Connection) -> bool:
    """False before the store's first migration: a roster check or a lookup still works then."""
    return inspect(connection).has_table(roster_corrections.name)


def correction_rows(connection: Connection) -> list[Row[Any]]:
    """Every correction, oldest first, so a later one of the same field overrides it."""
    return list(connection.execute(select(roster_corrections).order_by(roster_corrections.c.id)))


def office_corrections(connection: Connection, office_id: str, limit: int) -> list[Row[Any]]:
    """One office's corrections, newest first (the dashboard's history of its contacts)."""
    return list(connection.execute(
        select(roster_corrections).where(roster_corrections.c.office_id == office_id)
        .order_by(roster_corrections.c.id.desc()).limit(limit)))


def insert_corrections(connection: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """Store corrections (one row per office field, with its source) in one executemany."""
    connection.execute(roster_corrections.insert(), list(rows))


def newest_correction_id(connection: Connection) -> int:
    """The newest correction's id (0: none): it changes whenever a correction is stored."""
    return connection.execute(select(func.max(roster_corrections.c.id))).scalar() or 0
