"""Shared fixtures: the real shipped data, loaded once per test session."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, inspect
from sqlalchemy.exc import DBAPIError, OperationalError

from outreach.geo.locate import Geo, GeoData
from outreach.roster.offices import ROSTER_COLUMNS, Roster, load_roster
from outreach.store.db import current_revision, open_store
from outreach.store.rates import RedisLedger
from outreach.testing.census import RunningStandIn
from outreach.us.counties import Counties, load_counties

DATA = Path(__file__).resolve().parent.parent / "data"


def _contents(*files: Path) -> tuple[str, ...]:
    """What the files hold (a digest each): a key that a rewrite within the file system's
    timestamp granularity, or to the same size, cannot fool."""
    return tuple(hashlib.blake2b(f.read_bytes(), digest_size=16).hexdigest() for f in files)


@pytest.fixture(scope="session", autouse=True)
def geography_once() -> Iterator[None]:
    """The roster file's rows, the offline ZIP tables and the per-ZIP match answers, worked
    out once per session for each input instead of once per web app, worker or planner a test
    builds (3 to 4 seconds each: most of a web test's time). All three are pure functions of
    their inputs: the rows and the tables of the files' contents, the answers of the tables
    and the roster's offices (compared by value, so a correction makes a new roster, worked out
    anew). Every caller gets its own copy of what it may change (rows, the answers' frame);
    the tables are read-only. Subprocesses (the CLI, `outreach serve`) still load everything
    themselves, and the first build of each input runs the real code."""
    import outreach.roster.corrections as corrections_module
    import outreach.roster.offices as offices_module
    import outreach.signers.match as match_module

    read_rows = offices_module.read_rows
    load_tables = GeoData.load.__func__  # type: ignore[attr-defined]
    answer_zips = match_module.zip_answers
    rows: dict[tuple, list[dict[str, str]]] = {}
    tables: dict[tuple, GeoData] = {}
    answers: list[tuple[GeoData, tuple, dict, pd.DataFrame]] = []

    def roster_rows(path: Path) -> list[dict[str, str]]:
        if not Path(path).is_file():
            return read_rows(path)  # its own error
        key = (Path(path).resolve(), *_contents(Path(path)))
        if key not in rows:
            rows[key] = read_rows(path)
        return [dict(row) for row in rows[key]]

    def load(cls: type[GeoData], data_dir: Path) -> GeoData:
        files = [Path(data_dir) / n for n in ("zip_county.csv", "zip_shares.csv", "ct_towns.csv",
                                              "counties.csv")]
        if not all(f.is_file() for f in files):
            return load_tables(cls, data_dir)  # its own error
        key = (cls, *_contents(*files))
        if key not in tables:
            tables[key] = load_tables(cls, data_dir)
        return tables[key]

    def zip_answers(geo: Geo) -> pd.DataFrame:
        for data, offices, by_county, frame in answers:
            if geo.data is data and geo.roster.offices == offices and \
                    geo.roster.by_county == by_county:
                return frame.copy()
        frame = answer_zips(geo)
        answers.insert(0, (geo.data, geo.roster.offices, geo.roster.by_county, frame))
        del answers[8:]
        return frame.copy()

    with pytest.MonkeyPatch.context() as patch, \
            tempfile.TemporaryDirectory(prefix="outreach-cache-") as cache:
        # The compiled data (outreach/us/compiled.py) of this session's processes and
        # subprocesses in a folder of its own, not in the user's cache.
        patch.setenv("XDG_CACHE_HOME", cache)
        patch.delenv("OUTREACH_CACHE_DIR", raising=False)
        patch.setattr(offices_module, "read_rows", roster_rows)
        patch.setattr(corrections_module, "read_rows", roster_rows)
        patch.setattr(GeoData, "load", classmethod(load))
        patch.setattr(match_module, "zip_answers", zip_answers)
        yield


@pytest.fixture(scope="session")
def counties() -> Counties:
    return load_counties(DATA / "counties.csv")


@pytest.fixture(scope="session")
def roster(counties: Counties) -> Roster:
    return load_roster(DATA / "prosecutors.csv", counties)


@pytest.fixture(scope="session")
def geo_data() -> GeoData:
    return GeoData.load(DATA)


@pytest.fixture(scope="session")
def geo(roster: Roster, geo_data: GeoData) -> Geo:
    return Geo(roster, geo_data)


@pytest.fixture(scope="session")
def by_zip(geo: Geo) -> pd.DataFrame:
    """The per-ZIP match answers, worked out once for the whole session."""
    from outreach.signers.match import zip_answers  # the memoized one (geography_once)

    return zip_answers(geo)


@pytest.fixture
def census() -> Iterator[RunningStandIn]:
    server = RunningStandIn()
    yield server
    server.close()


def shipped_rows() -> list[dict[str, str]]:
    with (DATA / "prosecutors.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_roster(path: Path, rows: list[dict[str, str]],
                 columns: list[str] | None = None) -> Path:
    columns = columns or ROSTER_COLUMNS
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- stores: every test that touches the store runs on SQLite and on PostgreSQL -------------

POSTGRES_ADMIN_URL = os.environ.get("OUTREACH_TEST_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# The send-budget tests' Redis (shared with other test runs: each test keys under a prefix of
# its own); a test skips when none answers.
REDIS_URL = "redis://127.0.0.1:6379/0"


@contextmanager
def redis_ledger_whose_key_holds_a_string(key: str) -> Iterator[RedisLedger]:
    """A Redis ledger under a fresh key prefix where `key` holds a plain string, so a budget's
    script meets WRONGTYPE at every call (a prefix shared with something else); the key is
    deleted after. A skip without Redis."""
    import redis

    prefix = f"test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.set(prefix + key, "not a budget")
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    ledger = RedisLedger(REDIS_URL, prefix=prefix)
    try:
        yield ledger
    finally:
        client.delete(prefix + key)
        client.close()
        ledger.close()


def _postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


def _start_postgres() -> None:
    """Start the machine's PostgreSQL cluster, as the env notes describe, if it is down."""
    clusters = Path("/etc/postgresql")
    if not clusters.is_dir() or not shutil.which("pg_ctlcluster"):
        return
    for version in sorted(p.name for p in clusters.iterdir()):
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                       capture_output=True, check=False, timeout=60)


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The server's admin URL, once it answers (started if it is down; skipped or failed
    with the reason if it does not come up)."""
    if not _postgres_reachable():
        _start_postgres()
        for _ in range(20):
            if _postgres_reachable():
                break
            time.sleep(0.5)
        else:
            reason = f"no PostgreSQL server at {POSTGRES_ADMIN_URL} (and it did not start)"
            if os.environ.get("OUTREACH_TEST_POSTGRES") == "required":
                pytest.fail(reason + "; OUTREACH_TEST_POSTGRES=required")
            pytest.skip(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_server(postgres_admin: str) -> Iterator[str]:
    """A scratch database on the local PostgreSQL server, dropped at the end of the session
    (each xdist worker is its own process, so its own database)."""
    name = f"outreach_test_{os.getpid()}"
    _admin(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    yield _database_url(name)
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(*statements: str) -> None:
    """Run statements on the server's admin database (CREATE/DROP DATABASE)."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        admin.dispose()


def _database_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (per xdist worker): each store test gets a
    copy, which costs a millisecond where running the migrations costs a quarter second."""
    path = tmp_path_factory.mktemp("template") / "outreach.sqlite3"
    open_store(f"sqlite:///{path}").dispose()
    # The last connection's close checkpoints the WAL into the main file and removes it.
    assert not path.with_name(path.name + "-wal").exists(), "the template kept a -wal file"
    return path


class PostgresStore:
    """One migrated PostgreSQL database per session (per xdist worker), emptied before each
    test: a DELETE of every table and a restart of every sequence leave it as the migrations
    left it (they insert no rows, which `__init__` checks), in milliseconds where migrating
    takes a second. A test that leaves it unusable (a lock still held, the schema changed or
    dropped, a wrong revision) gets a database cloned afresh from the migrated template."""

    def __init__(self, name: str):
        self.name = name
        self.template = f"{name}_template"
        self.url = _database_url(name)
        self.drop()
        _admin(f"CREATE DATABASE {self.template}")
        template = open_store(_database_url(self.template))
        self.head = current_revision(template)
        self.tables = self._tables(template)
        with template.connect() as connection:
            seeded = [t for t in self.tables
                      if connection.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()]
        template.dispose()
        assert not seeded, f"migrations insert rows into {seeded}: emptying would drop them"
        self._clone()

    @staticmethod
    def _tables(bind: Engine | Connection) -> list[str]:
        return [t for t in inspect(bind).get_table_names() if t != "alembic_version"]

    def _clone(self) -> None:
        _admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)",
               f"CREATE DATABASE {self.name} TEMPLATE {self.template}")

    def reset(self) -> None:
        """The database as the migrations left it, before a test."""
        engine = create_engine(self.url, connect_args={"options": "-c lock_timeout=2000"})
        try:
            with engine.begin() as connection:
                revision = MigrationContext.configure(connection).get_current_revision()
                if revision != self.head or sorted(self._tables(connection)) != sorted(self.tables):
                    raise LookupError("the schema is not the migrated one")
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
                for table in self.tables:
                    connection.exec_driver_sql(f"DELETE FROM {table}")
                for sequence in connection.exec_driver_sql(
                        "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                ).scalars():
                    connection.exec_driver_sql(f"SELECT setval('{sequence}', 1, false)")
        except (LookupError, DBAPIError):
            engine.dispose()
            self._clone()
        else:
            engine.dispose()

    def drop(self) -> None:
        _admin(*(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                 for database in (self.name, self.template)))


@pytest.fixture(scope="session")
def postgres_store(postgres_admin: str) -> Iterator[PostgresStore]:
    store = PostgresStore(f"outreach_store_{os.getpid()}")
    yield store
    store.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL at the newest schema, with no rows: a copy of the session's migrated
    SQLite file, or the session's PostgreSQL store database emptied. Tests of the migrations
    themselves take `empty_store_url`."""
    return migrated_store_url(request, request.param, tmp_path)


def migrated_store_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """`store_url`'s answer for `kind` (sqlite or postgresql), for a fixture of its own params."""
    if kind == "sqlite":
        path = tmp_path / "outreach.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    postgres: PostgresStore = request.getfixturevalue("postgres_store")
    postgres.reset()
    return postgres.url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL (the schema is not there yet: open_store migrates it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outreach.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_server")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    engine = open_store(store_url)
    yield engine
    engine.dispose()
