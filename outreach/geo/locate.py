"""Address -> county FIPS -> prosecutor office(s), offline by default.

Offline, an address resolves through its ZIP code (data/zip_county.csv: the ZIP's main county,
the other counties its area touches, its city and time zone) or, without a ZIP, through its city
and state. A ZIP or city that touches several counties is answered `ambiguous` with every
candidate county listed: the engine never picks one silently. With OUTREACH_GEOCODER=census a
street address is placed exactly by the U.S. Census Geocoder, falling back to the offline answer
(and saying so) when the service has no match or cannot be reached.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, cast

import pandas as pd

from outreach.errors import AddressError, GeocoderError
from outreach.geo.address import ParsedAddress, parse_address
from outreach.geo.census import CensusGeocoder, CensusMatch
from outreach.roster.offices import OfficeChoice, Roster, normalize_place
from outreach.us.counties import Counties, load_counties
from outreach.us.states import OUTSIDE_ROSTER


@dataclass(frozen=True)
class CountyCandidate:
    county_fips: str
    county_name: str
    state: str
    time_zone: str
    offices: list[dict[str, str]]
    # True where the county alone does not decide the office (a town-split county, no town known)
    office_ambiguous: bool = False
    certain_office_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Lookup:
    """The answer of `outreach lookup --json` and of `outreach.geo.lookup()`."""

    input: str
    zip: str | None
    city: str | None
    state: str | None
    county_fips: str | None  # None when ambiguous: see `candidates`
    county_name: str | None
    time_zone: str | None
    confidence: str  # exact | zip | city | ambiguous
    offices: list[dict[str, str]]  # the offices certain for this address (all candidates share)
    candidates: list[CountyCandidate] = field(default_factory=list)
    source: str = "offline"  # offline | census
    geocoder_note: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _city_key(city: str) -> str:
    key = normalize_place(city)
    return re.sub(r"^(st|ste|mt|ft)\b", lambda m: {"st": "saint", "ste": "sainte", "mt": "mount",
                                                   "ft": "fort"}[m.group(1)], key)


class _ZipColumns(Protocol):
    """A row of data/zip_county.csv as itertuples gives it (all text, see GeoData.from_dir)."""

    zip: str
    state: str
    city: str
    acceptable_cities: str  # "|"-separated
    county_fips: str
    other_county_fips: str  # ";"-separated
    time_zone: str


@dataclass(frozen=True)
class ZipRow:
    zip: str
    state: str
    city: str
    acceptable_cities: tuple[str, ...]
    county_fips: str
    other_county_fips: tuple[str, ...]
    time_zone: str

    @property
    def counties(self) -> list[str]:
        return [f for f in (self.county_fips, *self.other_county_fips) if f]


class GeoData:
    """The offline ZIP table, indexed by ZIP and by (state, city)."""

    def __init__(self, zip_table: pd.DataFrame, counties: Counties, ct_towns: dict[str, str]):
        self.table = zip_table
        self.counties = counties
        self.ct_towns = ct_towns
        self.by_zip: dict[str, ZipRow] = {}
        self.by_city: dict[tuple[str, str], list[ZipRow]] = defaultdict(list)
        self.by_other_city: dict[tuple[str, str], list[ZipRow]] = defaultdict(list)
        # pandas types a row's cells as any scalar; from_dir reads every column as text.
        rows = cast(Iterable[_ZipColumns], zip_table.itertuples(index=False))
        for r in rows:
            row = ZipRow(r.zip, r.state, r.city,
                         tuple(filter(None, r.acceptable_cities.split("|"))),
                         r.county_fips, tuple(filter(None, r.other_county_fips.split(";"))),
                         r.time_zone)
            self.by_zip[row.zip] = row
            if row.city:
                self.by_city[(row.state, _city_key(row.city))].append(row)
            for other in row.acceptable_cities:
                self.by_other_city[(row.state, _city_key(other))].append(row)

    @classmethod
    def load(cls, data_dir: Path) -> GeoData:
        table = pd.read_csv(data_dir / "zip_county.csv", dtype=str, keep_default_na=False)
        towns = pd.read_csv(data_dir / "ct_towns.csv", dtype=str, keep_default_na=False)
        return cls(table, load_counties(data_dir / "counties.csv"),
                   {normalize_place(t): f for t, f in zip(towns.town, towns.county_fips,
                                                           strict=True)})

    def legacy_ct_county(self, county_fips: str, town: str) -> str:
        """Map a Connecticut planning region (09110-09190, used by the Census since 2022) back to
        the historical county our roster uses, by town."""
        if county_fips.startswith("091") and town:
            return self.ct_towns.get(normalize_place(town), county_fips)
        return county_fips


@dataclass
class _Resolution:
    counties: list[str]
    places: list[str]  # town names that may pick the office in a town-split county
    confidence: str
    zip_row: ZipRow | None = None
    # True: `places` are in order of trust and the first one a town list names decides
    # (the Census town before the typed city). False: they must all agree (a ZIP's names).
    first_place_decides: bool = False


class Geo:
    """Answers lookups from a roster and the offline data, optionally with the Census Geocoder."""

    def __init__(self, roster: Roster, data: GeoData, geocoder: CensusGeocoder | None = None):
        self.roster = roster
        self.data = data
        self.geocoder = geocoder

    def lookup(self, address: str) -> Lookup:
        parsed = parse_address(address)
        if parsed.state in OUTSIDE_ROSTER:
            raise AddressError(f"{parsed.state} has no county prosecutor in the roster "
                               "(50 states and DC only)")
        if parsed.state and parsed.state not in self.data.counties.states:
            raise AddressError(f"{parsed.state!r} is not a U.S. state")
        source, note = "offline", ""
        resolution = None
        if self.geocoder is not None and parsed.street:
            try:
                resolution = self._resolve_census(address, parsed)
                source = "census"
                if resolution is None:
                    note = "census: no match; answered from the ZIP/city tables"
            except GeocoderError as error:
                note = f"census: {error}; answered from the ZIP/city tables"
            if resolution is None:
                source = "offline"
        if resolution is None:
            resolution = self._resolve_offline(parsed)
        return self._answer(address, parsed, resolution, source, note)

    def for_county(self, county_fips: str, town: str = "", *, label: str = "") -> Lookup:
        """The answer for an address already placed in a county (by the Census batch geocoder),
        with its town to decide a county split between offices."""
        fips = self.data.legacy_ct_county(county_fips, town)
        if fips not in self.data.counties:
            raise AddressError(f"county {fips} is not in the county list")
        resolution = _Resolution([fips], [town] if town else [], "exact")
        return self._answer(label, ParsedAddress("", town, self.data.counties[fips].state, ""),
                            resolution, "census", "")

    def _resolve_census(self, address: str, parsed: ParsedAddress) -> _Resolution | None:
        assert self.geocoder is not None
        matches: list[CensusMatch] = self.geocoder.geocode(address)
        if not matches:
            return None
        counties = []
        for match in matches:
            fips = self.data.legacy_ct_county(match.county_fips, match.town)
            if fips not in self.data.counties:
                raise GeocoderError(f"county {fips} is not in the county list")
            if fips not in counties:
                counties.append(fips)
        # The Census town (county subdivision) and the typed city both speak for the town;
        # where they pick different offices the answer says ambiguous.
        towns = [t for t in (matches[0].town, parsed.city) if t]
        zip_row = self.data.by_zip.get(matches[0].zip or parsed.zip)
        confidence = "exact" if len(counties) == 1 else "ambiguous"
        return _Resolution(counties, towns, confidence, zip_row, first_place_decides=True)

    def _resolve_offline(self, parsed: ParsedAddress) -> _Resolution:
        if parsed.zip:
            row = self.data.by_zip.get(parsed.zip)
            if row is None:
                raise AddressError(f"ZIP {parsed.zip} is not a ZIP code of the 50 states or DC")
            if parsed.state and parsed.state != row.state:
                raise AddressError(f"ZIP {parsed.zip} is in {row.state}, not {parsed.state}")
            # A typed town decides a town-split county; otherwise every name the USPS accepts
            # for the ZIP is tried, and disagreement between them is ambiguity.
            places = [parsed.city] if parsed.city else [row.city, *row.acceptable_cities]
            return _Resolution(row.counties, [p for p in places if p], "zip", row)
        if not parsed.state:
            raise AddressError("a city without a state or ZIP code is ambiguous: add the state")
        key = (parsed.state, _city_key(parsed.city))
        rows = self.data.by_city.get(key) or self.data.by_other_city.get(key)
        if not rows:
            raise AddressError(f"no city or town by that name in {parsed.state}")
        # The USPS main county of each of the city's ZIPs; slivers the ZIP areas touch beyond
        # the city are not the city.
        counted = Counter(r.county_fips for r in rows if r.county_fips)
        counties = [fips for fips, _ in counted.most_common()]
        return _Resolution(counties, [parsed.city], "city", rows[0] if len(rows) == 1 else None)

    def _offices(self, county_fips: str, places: list[str], first_decides: bool) -> OfficeChoice:
        """Offices for a county; ambiguous when the candidate places disagree or none decides."""
        if first_decides:
            named = [p for p in places if self.roster.names_place(county_fips, p)]
            places = named[:1] or places
        choices = [self.roster.offices_for(county_fips, p) for p in dict.fromkeys(places)] or \
                  [self.roster.offices_for(county_fips)]
        first = choices[0]
        if all(c.offices == first.offices and not c.ambiguous for c in choices):
            return first
        union = tuple(dict.fromkeys(o for c in choices for o in c.offices))
        certain = tuple(o for o in first.certain if all(o in c.certain for c in choices))
        return OfficeChoice(union, ambiguous=True, certain=certain)

    def _answer(self, address: str, parsed: ParsedAddress, resolution: _Resolution,
                source: str, note: str) -> Lookup:
        candidates = []
        for fips in resolution.counties:
            county = self.data.counties[fips]
            choice = self._offices(fips, resolution.places, resolution.first_place_decides)
            candidates.append(CountyCandidate(
                fips, county.name, county.state, county.time_zone,
                [o.summary() for o in choice.offices], choice.ambiguous,
                [o.office_id for o in choice.certain]))
        certain_ids = set.intersection(*(set(c.certain_office_ids) for c in candidates)) \
            if candidates else set()
        offices = [s for s in candidates[0].offices if s["office_id"] in certain_ids] \
            if candidates else []
        single = len(candidates) == 1
        ambiguous = not single or candidates[0].office_ambiguous
        confidence = "ambiguous" if ambiguous else resolution.confidence
        row = resolution.zip_row
        zones = {c.time_zone for c in candidates}
        time_zone = row.time_zone if row else (zones.pop() if len(zones) == 1 else None)
        state = parsed.state or (row.state if row else None) or \
            (candidates[0].state if candidates else None)
        return Lookup(
            input=address,
            zip=parsed.zip or (row.zip if row else None),
            city=parsed.city or (row.city if row else None),
            state=state,
            county_fips=candidates[0].county_fips if single else None,
            county_name=candidates[0].county_name if single else None,
            time_zone=time_zone,
            confidence=confidence,
            offices=offices,
            candidates=candidates,
            source=source,
            geocoder_note=note,
        )
