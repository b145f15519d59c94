"""Shared fixtures: the real shipped data, loaded once per test session."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from outreach.counties import Counties, load_counties
from outreach.geo import Geo, GeoData
from outreach.roster import ROSTER_COLUMNS, Roster, load_roster
from tests.census_standin import RunningStandIn

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
