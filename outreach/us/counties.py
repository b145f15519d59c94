"""The counties and county-equivalents of the 50 states and DC (data/counties.csv).

One table serves the roster (is this FIPS real, and in that state?), geo (county name and
time zone for a FIPS) and the coverage reports (how many people live there: the 2020 Census
count, data/README.md), so all agree on what a county is.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from outreach.errors import RosterError


@dataclass(frozen=True)
class County:
    county_fips: str
    state: str
    name: str
    time_zone: str
    population: int = 0  # 2020 Census (county_pop2020.csv, built by scripts/build_data.py)

    @property
    def label(self) -> str:
        """How pages and call sheets name it: "Cook County, IL"."""
        return f"{self.name}, {self.state}"


@dataclass(frozen=True)
class Counties:
    by_fips: dict[str, County]

    @cached_property
    def states(self) -> frozenset[str]:
        return frozenset(c.state for c in self.by_fips.values())

    @cached_property
    def population(self) -> int:
        """The 2020 Census population of the 50 states and DC: the sum of the counties'
        (331,450,370 in the shipped file; data/README.md)."""
        return sum(c.population for c in self.by_fips.values())

    def __len__(self) -> int:
        return len(self.by_fips)

    def __contains__(self, fips: object) -> bool:
        return fips in self.by_fips

    def __getitem__(self, fips: str) -> County:
        return self.by_fips[fips]


@cache
def load_counties(path: Path) -> Counties:
    """The counties file; RosterError naming the line when a population is not a whole number
    (a county counted as nobody would skew every coverage share without a word)."""
    # The csv module, not pandas: every process that looks an address up reads this file, and
    # importing pandas took longer than reading it.
    if not path.is_file():  # the data folder's setting, as roster files say it (offices.py)
        raise RosterError([f"{path}: no such counties file"])
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if "population" not in (reader.fieldnames or ()):
            raise RosterError([f"{path}: line 1: no population column (rebuild it: make data)"])
        counties: dict[str, County] = {}
        for line, row in enumerate(reader, start=2):
            population = row["population"] or ""
            if not population.isdigit():
                raise RosterError([f"{path}: line {line}: column population: "
                                   f"{population!r} is not a whole number"])
            counties[row["county_fips"]] = County(row["county_fips"], row["state"],
                                                  row["county_name"], row["time_zone"],
                                                  int(population))
    return Counties(counties)
