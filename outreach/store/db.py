"""Connections and migrations: one engine per database URL, migrated before first use.

SQLite is the embedded default (a file in the working directory); PostgreSQL is selected with
OUTREACH_DATABASE_URL=postgresql+psycopg://... Migrations are Alembic's, run from code so that
no alembic.ini has to sit in the working directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # We issue BEGIN ourselves (see _sqlite_begin): the driver must not.
    dbapi_connection.isolation_level = None
    # WAL lets readers (dashboard, report) run beside the one writer; NORMAL is durable at
    # checkpoints, which is what WAL mode is designed for. busy_timeout waits for the writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MiB of page cache (default 2 MiB): the email and phone indexes of a million signers
    # are written in random order, and re-reading their pages dominated bulk imports.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection) -> None:  # type: ignore[no-untyped-def]
    # One writer at a time, decided when the transaction starts (not at its first write), so
    # a transaction that reads then writes (id allocation, claims) cannot be overtaken.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's message must not carry signers' emails and phones.
    engine = create_engine(url, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Migrate to the newest schema; return (revision before, revision after)."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


def open_store(url: str) -> Engine:
    """An engine whose database is at the newest schema (migrated on first use)."""
    engine = make_engine(url)
    if current_revision(engine) != head_revision(engine):
        upgrade(engine)
    return engine


def store_directory(url: str) -> Path | None:
    """The folder of a SQLite store's file (where its -wal and -shm files live too), or None
    for a server database or an in-memory one."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve().parent


def existing_store(url: str) -> Engine | None:
    """An engine for a database that exists already, or None: read-only callers (a lookup,
    a roster check) must not create a SQLite file in whatever directory they run in."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or not Path(database).exists():
            engine.dispose()
            return None
    return engine


def select_in(connection: Connection, query: Select, column: ColumnElement,
              values: Iterable[object], chunk: int = 1000) -> Iterator[Row]:
    """The rows of `query` whose `column` is one of `values`, asked a chunk at a time: a
    statement with a million bound parameters exceeds what SQLite and PostgreSQL accept."""
    values = list(values)
    for start in range(0, len(values), chunk):
        yield from connection.execute(query.where(column.in_(values[start:start + chunk])))


class _OneTransaction:
    """An Engine's connect() and begin() that hand out one connection, already in a
    transaction, without committing: see one_transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self.connection

    begin = connect


def one_transaction(connection: Connection) -> Engine:
    """An engine for the steps written against one (intake, match, planner) whose every
    connect() and begin() is this connection in its current transaction: what the steps
    write commits, or rolls back, with the caller's transaction. So a signing and its queued
    messages are one unit (DESIGN invariant 9) through the same functions the CLI calls.
    The steps must not commit themselves (none does: each leaves it to its `with` block)."""
    return cast(Engine, _OneTransaction(connection))
