"""The counties and county-equivalents of the 50 states and DC (data/counties.csv).

One table serves the roster (is this FIPS real, and in that state?) and geo (county name and
time zone for a FIPS), so both agree on what a county is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class County:
    county_fips: str
    state: str
    name: str
    time_zone: str


@dataclass(frozen=True)
class Counties:
    by_fips: dict[str, County]

    @cached_property
    def states(self) -> frozenset[str]:
        return frozenset(c.state for c in self.by_fips.values())

    def __len__(self) -> int:
        return len(self.by_fips)

    def __contains__(self, fips: object) -> bool:
        return fips in self.by_fips

    def __getitem__(self, fips: str) -> County:
        return self.by_fips[fips]


@cache
def load_counties(path: Path) -> Counties:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    # Every field is a string (dtype=str); pandas types a row's fields as any scalar.
    rows: Iterable[Any] = frame.itertuples(index=False)
    return Counties(
        {
            row.county_fips: County(row.county_fips, row.state, row.county_name, row.time_zone)
            for row in rows
        }
    )
