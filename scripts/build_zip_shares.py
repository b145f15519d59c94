"""Per-ZIP county shares (data/zip_shares.csv) from the HUD-USPS crosswalk and Geocorr 2022.

The ZIP table (data/zip_county.csv) lists every county a ZIP's area touches, even a sliver, so a
ZIP that is 99.99% in one county used to be answered "ambiguous" (Boise 83702, Billings 59101).
The shares say how much of the ZIP lies in each county, from two independent sources:

  * HUD-USPS ZIP Code Crosswalk, 2023 Q1 (`geo/hud_zip_county_2023q1.csv`): RES_RATIO, the share
    of the ZIP's residential addresses in each county. A ZIP with no residential address at all
    (PO boxes, one organization's ZIP) has RES_RATIO 0 everywhere; there TOT_RATIO, the share of
    all its addresses, says where its boxes are (`hud_basis` = tot).
  * Missouri Census Data Center Geocorr 2022 (`geo/geocorr2022_zcta2020_county_pop20.csv`): the
    2020 Census population of each piece of a ZCTA (the Census area drawn from a ZIP's addresses)
    in each county. Its second line is a label row, and rows with a blank zcta are the people in
    no ZCTA; both are skipped. The share is the piece's population over the ZCTA's (Geocorr's
    `afact`, given here to 6 decimals instead of its 4).

Both use the 2020 county list our roster uses: Connecticut's 8 historical counties (checked: a
Connecticut planning region 09110-09190 in Geocorr would be dropped, leaving HUD alone for those
ZIPs, as mapping regions back to counties needs the town) and Alaska's Chugach / Copper River
(02063 / 02066) instead of Valdez-Cordova. A county code outside the county list stops the build.

Curated fixes (data/sources/zip_overrides.csv, each with its reason) set a ZIP's main county in
zip_county.csv and drop a source's shares for that ZIP where their top county contradicts it.
"""

from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

HUD_FILE = Path("geo") / "hud_zip_county_2023q1.csv"
GEOCORR_FILE = Path("geo") / "geocorr2022_zcta2020_county_pop20.csv"
HUD_UNKNOWN_COUNTY = "99999"  # HUD's code for addresses it could not place in a county
SHARE_COLUMNS = ["zip", "county_fips", "hud_share", "hud_basis", "geocorr_share", "pop2020"]
# Connecticut's planning regions (Census county-equivalents since 2022): not our counties.
CT_PLANNING_REGIONS = {f"091{n}0" for n in range(1, 10)}


def _read(path: Path, skip_label_row: bool = False) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    return rows[1:] if skip_label_row else rows


def _number(text: str) -> str:
    """A share as the file writes it: at most 6 decimals, no trailing zeros ("0.978012", "1")."""
    return f"{float(text):.6f}".rstrip("0").rstrip(".") if text != "" else ""


def hud_shares(path: Path, zips: set[str], counties: set[str]
               ) -> dict[str, tuple[str, dict[str, float]]]:
    """ZIP -> (basis, {county: share}) from the HUD crosswalk, for the ZIPs we know."""
    by_zip: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for line, row in enumerate(_read(path), start=2):
        if row["ZIP"] not in zips:
            continue  # territories, military ZIPs: no county prosecutor in the roster
        if row["COUNTY"] == HUD_UNKNOWN_COUNTY:
            continue  # addresses HUD could not place (3 rows, < 0.4% of their ZIPs)
        if row["COUNTY"] not in counties:
            raise SystemExit(f"{path}: line {line}: column COUNTY: {row['COUNTY']} is not a "
                             "county of data/counties.csv (renamed since 2020?)")
        by_zip[row["ZIP"]].append(row)
    shares: dict[str, tuple[str, dict[str, float]]] = {}
    for zip_code, rows in by_zip.items():
        basis = "res" if any(float(r["RES_RATIO"]) > 0 for r in rows) else "tot"
        column = "RES_RATIO" if basis == "res" else "TOT_RATIO"
        shares[zip_code] = (basis, {r["COUNTY"]: float(r[column]) for r in rows
                                    if float(r[column]) > 0})
    return shares


def geocorr_shares(path: Path, zips: set[str], counties: set[str]
                   ) -> tuple[dict[str, dict[str, int]], int]:
    """ZCTA -> {county: 2020 population of the piece}, and how many Connecticut planning-region
    rows were dropped."""
    pieces: dict[str, dict[str, int]] = collections.defaultdict(dict)
    dropped_ct = 0
    for line, row in enumerate(_read(path, skip_label_row=True), start=3):
        zcta = row["zcta"].strip()
        if not zcta or zcta not in zips:
            continue  # people in no ZCTA; Puerto Rico
        if row["county"] in CT_PLANNING_REGIONS:
            dropped_ct += 1
            continue
        if row["county"] not in counties:
            raise SystemExit(f"{path}: line {line}: column county: {row['county']} is not a "
                             "county of data/counties.csv (renamed since 2020?)")
        pieces[zcta][row["county"]] = int(row["pop20"])
    return pieces, dropped_ct


def apply_overrides(zip_rows: list[dict[str, str]], overrides_path: Path) -> dict[str, str]:
    """Set the main county of the ZIPs data/sources/zip_overrides.csv corrects; ZIP -> county."""
    overrides = {row["zip"]: row["county_fips"] for row in _read(overrides_path)}
    found = set()
    for row in zip_rows:
        if row["zip"] in overrides:
            fips = overrides[row["zip"]]
            others = [f for f in row["other_county_fips"].split(";") if f and f != fips]
            row["county_fips"] = fips
            row["other_county_fips"] = ";".join(others)
            found.add(row["zip"])
    if set(overrides) - found:
        raise SystemExit(f"{overrides_path}: ZIP(s) not in zip_county.csv: "
                         f"{sorted(set(overrides) - found)}")
    return overrides


def _top(shares: dict[str, float]) -> str:
    return max(sorted(shares), key=lambda f: shares[f]) if shares else ""


def build_zip_shares(reference: Path, zip_rows: list[dict[str, str]],
                     counties: list[dict[str, str]], overrides_path: Path
                     ) -> list[dict[str, str]]:
    """The rows of data/zip_shares.csv (and the overrides applied to `zip_rows` in place)."""
    zips = {row["zip"] for row in zip_rows}
    county_set = {c["county_fips"] for c in counties}
    overrides = apply_overrides(zip_rows, overrides_path)
    hud = hud_shares(reference / HUD_FILE, zips, county_set)
    pieces, dropped_ct = geocorr_shares(reference / GEOCORR_FILE, zips, county_set)
    if dropped_ct:
        print(f"Geocorr: {dropped_ct} rows in Connecticut planning regions dropped (HUD only "
              "for those ZIPs)", file=sys.stderr)
    geocorr: dict[str, dict[str, float]] = {}
    for zcta, by_county in pieces.items():
        total = sum(by_county.values())
        if total > 0:
            geocorr[zcta] = {f: n / total for f, n in by_county.items() if n > 0}
    for zip_code, fips in overrides.items():
        if zip_code in hud and _top(hud[zip_code][1]) != fips:
            del hud[zip_code]
            print(f"ZIP {zip_code}: HUD's shares dropped (zip_overrides.csv)", file=sys.stderr)
        if zip_code in geocorr and _top(geocorr[zip_code]) != fips:
            del geocorr[zip_code]
            print(f"ZIP {zip_code}: Geocorr's shares dropped (zip_overrides.csv)",
                  file=sys.stderr)
    rows = []
    for zip_code in sorted(set(hud) | set(geocorr)):
        basis, from_hud = hud.get(zip_code, ("", {}))
        from_geocorr = geocorr.get(zip_code, {})
        population = pieces.get(zip_code, {}) if zip_code in geocorr else {}
        for fips in sorted(set(from_hud) | set(from_geocorr)):
            rows.append({
                "zip": zip_code,
                "county_fips": fips,
                "hud_share": _number(str(from_hud.get(fips, 0.0))) if from_hud else "",
                "hud_basis": basis if from_hud else "",
                "geocorr_share": _number(str(from_geocorr.get(fips, 0.0)))
                if from_geocorr else "",
                "pop2020": str(population.get(fips, 0)) if from_geocorr else "",
            })
    return rows
