"""Connections and migrations: one engine per database URL, migrated before first use.

SQLite is the embedded default (a file in the working directory); PostgreSQL is selected with
OUTREACH_DATABASE_URL=postgresql+psycopg://... Migrations are Alembic's, run from code so that
no alembic.ini has to sit in the working directory.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Row,
    Select,
    Table,
    bindparam,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from outreach.errors import StoreError, StoreUnreachable
from outreach.privacy import mask_text


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; everything we store is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
URL_EXAMPLES = "sqlite:///outreach.sqlite3 or postgresql+psycopg://user@host:5432/outreach"


def shown_url(url: str | URL) -> str:
    """The URL as it may be printed: its password hidden (SQLAlchemy's own rendering); a URL
    too broken to parse has everything between its scheme and the last "@" hidden instead
    (`postgresql:/user:secret@host` has no "://" but still a password)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"^([A-Za-z0-9+.-]*:/*)?[^@]*@", r"\1***@", str(url))


def is_connection_loss(error: BaseException) -> bool:
    """Is this the database going away or not answering (a server down, restarted, a
    connection terminated, a network cut; SQLite's "unable to open", "database is locked")
    rather than a mistake in a statement? Such errors pass: wait and try again."""
    if isinstance(error, StoreUnreachable):  # said so already (answering, a child's pass)
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, (OperationalError,
                                                                    InterfaceError))
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


def database_reason(error: BaseException) -> str:
    """The driver's own words, in one masked line: 'connection refused', 'database "x" does
    not exist', 'unable to open database file' (not SQLAlchemy's multi-line wrapping)."""
    text = str(getattr(error, "orig", None) or error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = next((line for line in lines if "failed: " in line), lines[0] if lines else "")
    reason = line.rsplit("failed: ", 1)[-1]
    reason = re.sub(r"^(FATAL|ERROR):\s*", "", reason)
    reason = " ".join(reason.split()) or type(error).__name__
    return mask_text(reason[:1].lower() + reason[1:])[:300]


def database_problem(url: str | URL, error: BaseException) -> str:
    """One line for an operator: which database (password hidden), what the driver said, and
    what to do."""
    where = shown_url(url)
    if isinstance(error, DBAPIError) and _not_a_database(error):
        return (f"OUTREACH_DATABASE_URL {where} names a file that is not a SQLite database: "
                "fix OUTREACH_DATABASE_URL (the file was not changed)")
    if str(url).startswith("sqlite"):
        return (f"cannot use the SQLite database at {where} ({database_reason(error)}): check "
                "that its folder exists, is writable and has free space, or fix "
                "OUTREACH_DATABASE_URL")
    if is_connection_loss(error):
        reason = database_reason(error)
        todo = "create it" if "does not exist" in reason else "start it"
        return (f"cannot reach the database at {where} ({reason}): {todo} or fix "
                "OUTREACH_DATABASE_URL")
    return f"the database at {where} failed: {database_reason(error)}"


def _url_problem(url: str, error: Exception) -> str:
    if not url.strip():
        return f"OUTREACH_DATABASE_URL is empty: set it to {URL_EXAMPLES}"
    shown = shown_url(url)
    kind = url.partition("://")[0]
    if kind.startswith("sqlite"):  # sqlite://file: the path read as a host name
        return (f"OUTREACH_DATABASE_URL {shown}: a SQLite URL is sqlite:/// and the file's "
                "path (three slashes; four before an absolute path: sqlite:////var/lib/x.db)")
    if isinstance(error, ArgumentError) and "://" in url and kind:
        return (f"OUTREACH_DATABASE_URL {shown}: {kind!r} is not a database this engine "
                f"knows: use {URL_EXAMPLES}")
    if isinstance(error, ImportError):
        return (f"OUTREACH_DATABASE_URL {shown}: its driver is not installed "
                f"({error.name or error}): use {URL_EXAMPLES}")
    return f"OUTREACH_DATABASE_URL {shown} is not a database URL ({error}): use {URL_EXAMPLES}"


@contextmanager
def answering(url: str | URL) -> Iterator[None]:
    """Turn "the database does not answer" into a StoreError naming it (one line)."""
    try:
        yield
    except DBAPIError as error:
        if _not_a_database(error):
            raise StoreError(database_problem(url, error)) from None
        if not is_connection_loss(error):
            raise
        raise StoreUnreachable(database_problem(url, error)) from None


def _not_a_database(error: DBAPIError) -> bool:
    """SQLITE_NOTADB: OUTREACH_DATABASE_URL names a file that is not a SQLite database (a
    CSV, a PostgreSQL dump): the setting to fix, not a bug."""
    return isinstance(error.orig, sqlite3.DatabaseError) and \
        "file is not a database" in str(error.orig)

# How long a command, the worker or the scheduler waits for the store's write lock.
LOCK_TIMEOUT = 30.0
# How long a web request waits for it. Both providers retry a webhook answered 503, and a
# person at the petition form is better served by "try again" in seconds than by a page that
# hangs for half a minute and then fails (audit F14).
WEB_LOCK_TIMEOUT = 5.0
# How often a writer waiting for SQLite's lock asks again. SQLite's own busy handler sleeps up
# to 100 ms between tries, so a writer that commits in chunks (a large webhook batch) and begins
# again at once would win every time and starve the others for the whole batch.
_SQLITE_POLL = 0.001
_SQLITE_BUSY_MS = int(LOCK_TIMEOUT * 1000)
# PostgreSQL SQLSTATEs that mean "could not get a lock in time", not "this request is wrong":
# lock_not_available (lock_timeout) and deadlock_detected.
_POSTGRES_LOCK_STATES = {"55P03", "40P01"}


def is_lock_timeout(error: BaseException) -> bool:
    """True when a database error means the store was busy (a retry will do), not broken."""
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    if isinstance(original, sqlite3.OperationalError):
        return "locked" in str(original) or "busy" in str(original)
    return getattr(original, "sqlstate", None) in _POSTGRES_LOCK_STATES


def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # We issue BEGIN ourselves (see _sqlite_begin): the driver must not.
    dbapi_connection.isolation_level = None
    # WAL lets readers (dashboard, report) run beside the one writer; NORMAL is durable at
    # checkpoints, which is what WAL mode is designed for. busy_timeout waits for the writer
    # outside our BEGIN (which waits on its own terms, see _sqlite_begin).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
    # 64 MiB of page cache (default 2 MiB): the email and phone indexes of a million signers
    # are written in random order, and re-reading their pages dominated bulk imports.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(lock_timeout: float):  # type: ignore[no-untyped-def]
    """One writer at a time, decided when the transaction starts (not at its first write), so
    a transaction that reads then writes (id allocation, claims) cannot be overtaken. The wait
    for the lock polls every millisecond (SQLite's busy handler backs off to 100 ms), so a
    writer that commits and begins again leaves a gap the others can see."""

    def begin(connection) -> None:  # type: ignore[no-untyped-def]
        driver = connection.connection.driver_connection
        deadline = time.monotonic() + lock_timeout
        driver.execute("PRAGMA busy_timeout=0")
        try:
            while time.monotonic() < deadline:
                try:
                    driver.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) and "busy" not in str(error):
                        break
                time.sleep(_SQLITE_POLL)
            # The last try through SQLAlchemy, so a failure is its usual wrapped error.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            driver.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")

    return begin


def advisory_key(name: str) -> int:
    """The PostgreSQL advisory lock key (a signed 64-bit integer) named `name`."""
    return int.from_bytes(hashlib.sha256(f"outreach:{name}".encode()).digest()[:8], "big",
                          signed=True)


# The schema lock's key, in PostgreSQL's two-int advisory key space, which never meets the
# one-bigint keys of advisory_key (a job may be named anything, "schema" included).
_SCHEMA_LOCK = (0x6F757472, 1)  # "outr", 1


def hold_schema_lock(connection: Connection) -> None:
    """Make this transaction the only one, of those that take this lock, to create tables
    until it ends: hosts that start together on one fresh database each create the same
    tables, and two PostgreSQL sessions creating one table at once do not both succeed (the
    second fails with UniqueViolation on pg_type_typname_nsp_index, or DuplicateTable). A
    transaction-level advisory lock, given back at commit or rollback; whoever waited for it
    then finds the tables made. It waits however long another host's migration takes: the
    web's engine has a 5 s lock_timeout (WEB_LOCK_TIMEOUT), which would end the start with
    LockNotAvailable. On SQLite every transaction begins IMMEDIATE (_sqlite_begin): one
    writer already."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
        connection.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"),
                           {"a": _SCHEMA_LOCK[0], "b": _SCHEMA_LOCK[1]})


def make_engine(url: str, *, lock_timeout: float | None = None) -> Engine:
    """An engine for `url` (nothing is connected yet) whose transactions wait `lock_timeout`
    seconds for a lock, then fail with an error `is_lock_timeout` recognizes. None: SQLite
    waits LOCK_TIMEOUT, PostgreSQL for ever (its default: a worker's claim or a migration
    should wait, not fail). A malformed URL is a StoreError."""
    options = {}
    # hide_parameters: a failed statement's message must not carry signers' emails and phones.
    try:
        if lock_timeout is not None and make_url(url).get_backend_name() == "postgresql":
            options["connect_args"] = {"options": f"-c lock_timeout={int(lock_timeout * 1000)}"}
        engine = create_engine(url, hide_parameters=True, **options)
    except (ArgumentError, ValueError, ImportError) as error:
        raise StoreError(_url_problem(url, error)) from None
    if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
        # What `sqlite:///$DB` gives with DB unset: SQLite opens a database in memory, the
        # command reports its rows stored, and they are gone when it exits.
        raise StoreError(f"OUTREACH_DATABASE_URL {shown_url(url)} names no file: SQLite would "
                         "keep the store in memory and lose it at exit; use "
                         "sqlite:///outreach.sqlite3 or another file's path")
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin(lock_timeout or LOCK_TIMEOUT))
    return engine


# Alembic is imported by the functions that migrate or read the revision, not with the store:
# a lookup or a roster check opens the store without migrating it (0.3 s of imports).
def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Migrate to the newest schema; return (revision before, revision after)."""
    from alembic import command

    with answering(engine.url):
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), "head")
        return before, current_revision(engine)


def open_store(url: str, *, lock_timeout: float | None = None) -> Engine:
    """An engine whose database is at the newest schema (migrated on first use)."""
    engine = make_engine(url, lock_timeout=lock_timeout)
    with answering(engine.url):
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


def ping(connection: Connection) -> None:
    """Ask the database for nothing (SELECT 1): it raises when the database does not answer
    (a health check)."""
    connection.execute(text("SELECT 1"))


# Values per IN list, for every statement that asks about a set of rows a chunk at a time: a
# statement with a million bound parameters exceeds what SQLite (32,766) and PostgreSQL
# (65,535) accept, and a thousand is as fast as any larger chunk.
IN_CHUNK = 1000

_T = TypeVar("_T")


def chunks(values: Iterable[_T], size: int = IN_CHUNK) -> Iterator[list[_T]]:
    """`values` in consecutive lists of at most `size` (in their order: sorted values give
    chunks in ascending order, each ascending)."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def select_in(connection: Connection, query: Select[Any], column: ColumnElement[Any],
              values: Iterable[object], chunk: int = IN_CHUNK) -> Iterator[Row[Any]]:
    """The rows of `query` whose `column` is one of `values`, asked a chunk at a time."""
    for part in chunks(values, chunk):
        yield from connection.execute(query.where(column.in_(part)))


def rows_in(connection: Connection, statement: Executable, values: Iterable[object], *,
            param: str = "ids", params: Mapping[str, Any] | None = None) -> Iterator[Row[Any]]:
    """The rows of `statement`, built once with `bindparam(param, expanding=True)`, for all of
    `values`, a chunk at a time: select_in for a hot path, whose statement is not built (and
    keyed for SQLAlchemy's compiled cache) anew for every call."""
    for part in chunks(values):
        yield from connection.execute(statement, {**(params or {}), param: part})


_LOCKS: dict[tuple[str, str], Select[Any]] = {}


def lock_in_order(connection: Connection, column: ColumnElement[Any],
                  values: Iterable[Any]) -> None:
    """On PostgreSQL, lock the rows whose `column` (a unique key) is one of `values`, in
    ascending order (SELECT ... ORDER BY ... FOR UPDATE: the rows are locked as the sort hands
    them out), before a transaction updates them in whatever order its statements take:
    two transactions that lock their rows this way wait for each other instead of
    deadlocking (PostgreSQL error 40P01, deadlock_detected), whatever rows they share. On
    SQLite nothing: its one write lock, taken at BEGIN, already serializes writers."""
    if connection.dialect.name != "postgresql":
        return
    key = (cast(Any, column).table.name, cast(Any, column).name)
    if key not in _LOCKS:
        _LOCKS[key] = select(column).where(column.in_(bindparam("ids", expanding=True))
                                           ).order_by(column).with_for_update()
    for _ in rows_in(connection, _LOCKS[key], sorted(set(values))):
        pass


_S = TypeVar("_S")


def per_dialect(build: Callable[[Connection], _S]) -> Callable[[Connection], _S]:
    """`build` (a statement for the connection's dialect, such as an upsert) run once per
    dialect, its statement kept: a statement object built anew for every call costs more to
    key for SQLAlchemy's compiled cache (about a millisecond for an upsert) than a one-event
    webhook's SQL costs to run."""
    built: dict[str, _S] = {}

    @wraps(build)
    def statement(connection: Connection) -> _S:
        name = connection.dialect.name
        if name not in built:
            built[name] = build(connection)
        return built[name]

    return statement


def dialect_insert(bind: Connection | Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ON CONFLICT, in the dialect of the database at hand (SQLAlchemy's
    generic insert() has no on_conflict_do_nothing/do_update): every upsert of the store."""
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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
