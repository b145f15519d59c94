"""Shared fixtures: the real shipped data, loaded once per test session."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

from outreach.geo.locate import Geo, GeoData
from outreach.roster.offices import ROSTER_COLUMNS, Roster, load_roster
from outreach.signers.match import zip_answers
from outreach.store.db import open_store
from outreach.testing.census import RunningStandIn
from outreach.us.counties import Counties, load_counties

DATA = Path(__file__).resolve().parent.parent / "data"


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
def postgres_server() -> Iterator[str]:
    """A scratch database on the local PostgreSQL server, dropped at the end of the session."""
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
    name = f"outreach_test_{os.getpid()}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
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
