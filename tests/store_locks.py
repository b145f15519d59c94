"""Another connection in the way of a write, as a long migration or a stuck session would be."""

from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url


def hold_table(url: str, table: str):  # type: ignore[no-untyped-def]
    """SQLite's one write lock (the whole store), or PostgreSQL's exclusive lock on `table`.
    The caller closes what it returns to release it."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(make_url(url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        return holder
    holder = create_engine(url).connect()
    holder.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return holder
