"""Address -> county FIPS -> prosecutor office(s), offline by default.

Offline, an address resolves through its ZIP code or, without a ZIP, through its city and state.
A ZIP's counties come with their shares (data/zip_shares.csv: HUD's share of the ZIP's
residential addresses, Geocorr's share of its 2020 population): the ZIP resolves to one felony
office when that office's counties hold at least OUTREACH_ZIP_MIN_SHARE of it in every source
that has the ZIP, and to one county when that county does (`share` says how much). A ZIP neither
source has keeps the USPS answer of data/zip_county.csv (its main county, and every county its
area touches). Anything else, and a city that touches several counties, is answered `ambiguous`
with every candidate county listed, likeliest first: the engine never picks one silently. With
OUTREACH_GEOCODER=census a street address is placed exactly by the U.S. Census Geocoder, falling
back to the offline answer (and saying so) when the service has no match or cannot be reached.
"""

from __future__ import annotations

import csv
import functools
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

from outreach.config import default_of
from outreach.errors import AddressError, ConfigError, GeocoderError
from outreach.geo.address import ParsedAddress, parse_address
from outreach.roster.offices import OfficeChoice, Roster, normalize_place
from outreach.us.compiled import compiled as compiled_cache
from outreach.us.counties import Counties, load_counties
from outreach.us.states import OUTSIDE_ROSTER

if TYPE_CHECKING:  # the geocoder (and requests) is imported only where it is enabled
    from outreach.geo.census import CensusGeocoder, CensusMatch


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
    # The share of the ZIP in this county (HUD's residential addresses; Geocorr's population
    # where HUD lacks the ZIP); 1.0 for a county the Census Geocoder placed the address in;
    # None where nothing measured it (a city, a ZIP neither source has).
    share: float | None = None


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
    # How much of the ZIP the answer covers: the share of it in `county_fips`, or, where the
    # county is in doubt but the felony office is not, in that office's counties; the lower of
    # the sources' shares (HUD, Geocorr) where both have the ZIP. 1.0 for an address the Census
    # Geocoder placed; None when the felony office is in doubt or nothing measured it (a city,
    # a ZIP neither source has).
    share: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _city_key(city: str) -> str:
    key = normalize_place(city)
    return re.sub(r"^(st|ste|mt|ft)\b", lambda m: {"st": "saint", "ste": "sainte", "mt": "mount",
                                                   "ft": "fort"}[m.group(1)], key)


# The columns of data/zip_county.csv a ZipRow is made of (all text, see GeoData.load).
_ZIP_COLUMNS = ("zip", "state", "city", "acceptable_cities", "county_fips", "other_county_fips",
                "time_zone")


class ZipRow(NamedTuple):
    """One line of data/zip_county.csv. A named tuple, not a dataclass: 40,000 of them are
    read back from the compiled cache at every start, and a tuple is read back in about two
    thirds of the time and held in half the memory (bench/startup.py)."""

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


class ZipShares:
    """How one ZIP divides among counties (data/zip_shares.csv), per source; a source that
    lacks the ZIP is empty. Shares are fractions (0.978, not 97.8). Read-only by convention:
    a plain class, as one is made for every ZIP at each process start."""

    __slots__ = ("geocorr", "hud", "sources")

    def __init__(self, hud: Mapping[str, float], geocorr: Mapping[str, float]):
        self.hud = hud  # residential addresses (all addresses where none is residential)
        self.geocorr = geocorr  # 2020 population of the ZCTA
        # The sources that have the ZIP, the preferred (HUD) first.
        self.sources = tuple(s for s in (hud, geocorr) if s)

    def __repr__(self) -> str:
        return f"ZipShares(hud={dict(self.hud)!r}, geocorr={dict(self.geocorr)!r})"

    def share(self, county_fips: str) -> float:
        """The county's share as the preferred source (HUD, else Geocorr) gives it."""
        return self.sources[0].get(county_fips, 0.0)

    def counties(self) -> list[str]:
        """Every county either source puts some of the ZIP in, likeliest first (the preferred
        source's share, then the other's)."""
        first = self.sources[0]
        if len(self.sources) == 1:
            return list(first) if len(first) == 1 else sorted(first, key=lambda f: (-first[f], f))
        other = self.sources[1]
        if len(first) == 1 and first.keys() == other.keys():
            return list(first)
        return sorted({*first, *other},
                      key=lambda f: (-first.get(f, 0.0), -other.get(f, 0.0), f))


SHARE_COLUMNS = ("zip", "county_fips", "hud_share", "hud_basis", "geocorr_share", "pop2020")


class ZipShareTable(Mapping[str, ZipShares]):
    """data/zip_shares.csv by ZIP, read at every process start, so kept cheap: the file's lines
    are indexed by ZIP (the build writes them sorted, one county a line, plain numbers) and a
    ZIP's lines are parsed when it is looked up (a bad line fails then, naming its number).

    Held compactly, as every web process and matching pass holds it: the lines as one string
    with their offsets (an array), a ZIP's lines as one int (first << 32 | end), where 55,000
    line strings and 40,000 pairs took about 11 MB (bench/startup.py)."""

    def __init__(self, path: Path):
        self.path = path
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines or tuple(lines[0].split(",")) != SHARE_COLUMNS:
            raise ConfigError(f"{path}: line 1: expected the columns {','.join(SHARE_COLUMNS)} "
                              "(rebuild it: make data)")
        self._text = "\n".join(lines)
        # Where each line starts in _text, and where the text ends (one past the last line).
        self._starts = array("L", accumulate((len(line) + 1 for line in lines), initial=0))
        self._at: dict[str, int] = {}
        first, current = 1, ""
        for number in range(1, len(lines) + 1):
            zip_code = lines[number][:5] if number < len(lines) else ""
            if zip_code != current:
                if current:
                    if current in self._at:
                        raise ConfigError(f"{path}: line {number}: ZIP {current} appears "
                                          "apart from its other lines (rebuild it: make data)")
                    self._at[current] = first << 32 | number
                first, current = number, zip_code

    def __getitem__(self, zip_code: str) -> ZipShares:
        # Parsed anew each time, not kept: a few lines, and 40,000 kept objects would cost the
        # garbage collector more than the parsing does.
        span = self._at[zip_code]
        return self._parse(span >> 32, span & 0xFFFFFFFF)

    def _line(self, number: int) -> str:
        return self._text[self._starts[number]:self._starts[number + 1] - 1]

    def _parse(self, start: int, end: int) -> ZipShares:
        hud: dict[str, float] = {}
        geocorr: dict[str, float] = {}
        for number in range(start, end):
            try:
                _, county, hud_share, _, geocorr_share, _ = self._line(number).split(",")
                if hud_share:
                    hud[county] = float(hud_share)
                if geocorr_share:
                    geocorr[county] = float(geocorr_share)
            except ValueError:
                raise ConfigError(f"{self.path}: line {number + 1}: not zip,county_fips,"
                                  "share,basis,share,population with numbers for shares "
                                  "(rebuild it: make data)") from None
        return ZipShares(hud, geocorr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


def _itself(county_fips: str) -> str:
    return county_fips


def dominant(sources: Iterable[Mapping[str, float]], key: Callable[[str], Hashable],
             minimum: float) -> tuple[Hashable, float] | None:
    """The group (`key` of a county: the county itself, or its felony offices) that holds at
    least `minimum` of the ZIP in every source, with the lowest of those shares; None when a
    source gives it less or the sources' largest groups differ."""
    found: Hashable = None
    lowest = 1.0
    for shares in sources:
        totals: dict[Hashable, float] = defaultdict(float)
        for fips, share in shares.items():
            totals[key(fips)] += share
        top = max(totals, key=lambda k: totals[k])
        total = round(totals[top], 6)  # the file's precision: 0.95 split in two is 0.95
        if total < minimum or (found is not None and top != found):
            return None
        found, lowest = top, min(lowest, total)
    return (found, lowest) if found is not None else None


# The files GeoData is built from, in data_dir.
GEO_FILES = ("zip_county.csv", "zip_shares.csv", "ct_towns.csv", "counties.csv")


def geo_files(data_dir: Path) -> list[Path]:
    """The data files the geography is built from: what a compiled copy of it is keyed by
    (with the package's code, which compiled.py puts in every key). A missing one is the
    operator's setting, not a bug: ConfigError names the folder and the setting that chose it."""
    paths = [data_dir / name for name in GEO_FILES]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ConfigError(f"{data_dir}: no {', '.join(missing)} in this data folder "
                          "(OUTREACH_DATA_DIR must name a folder like the package's data/)")
    return paths


def zip_codes(data_dir: Path) -> frozenset[str]:
    """The ZIP codes a lookup knows (data/zip_county.csv's, those of the 50 states and DC),
    for checks that need no more of the geography: intake warns of a ZIP not among them, which
    no match can place. Its first column alone, read again only when the file changes: about
    0.05 s, where the whole geography, even from the compiled cache, takes several times that
    (the file importer needs nothing else of it)."""
    geo_files(data_dir)  # a folder without its data files: the same one-line error
    path = data_dir / "zip_county.csv"
    status = path.stat()
    return _zip_codes(path, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=4)
def _zip_codes(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        column = next(reader, ["zip"]).index("zip")
        return frozenset(row[column] for row in reader if row)


def _text_columns(path: Path) -> dict[str, list[str]]:
    """A CSV file's columns by name, every cell text ("" where empty), as read_csv with
    dtype=str and keep_default_na=False gives them, without importing pandas."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        cells = list(zip(*reader, strict=False)) or [() for _ in header]
    return {name: list(column) for name, column in zip(header, cells, strict=True)}


class GeoData:
    """The offline ZIP tables, indexed by ZIP and by (state, city), and the ZIPs' shares."""

    def __init__(self, zip_table: Mapping[str, Sequence[str]], counties: Counties,
                 ct_towns: dict[str, str], shares: Mapping[str, ZipShares] | None = None):
        self.counties = counties
        self.ct_towns = ct_towns
        self.shares = shares or {}
        self.by_zip: dict[str, ZipRow] = {}
        by_city: dict[tuple[str, str], list[ZipRow]] = defaultdict(list)
        by_other_city: dict[tuple[str, str], list[ZipRow]] = defaultdict(list)
        # Whole columns as lists (every column is text): a tenth of the time of iterating
        # rows. City names repeat: keyed once. The table itself is not kept (only the index).
        columns: list[list[str]] = [list(zip_table[c]) for c in _ZIP_COLUMNS]
        keys: dict[str, str] = {}
        # One string object per distinct value: the index holds 40,000 rows of repeated
        # states, time zones and counties (less memory in every process that loads it).
        text: dict[str, str] = {}

        def key_of(name: str) -> str:
            if name not in keys:
                keys[name] = _city_key(name)
            return keys[name]

        for zip_code, state, city, others, county, other_counties, zone in zip(*columns,
                                                                                strict=True):
            row = ZipRow(zip_code, text.setdefault(state, state), text.setdefault(city, city),
                         tuple(text.setdefault(o, o) for o in others.split("|") if o),
                         text.setdefault(county, county),
                         tuple(text.setdefault(f, f) for f in other_counties.split(";") if f),
                         text.setdefault(zone, zone))
            self.by_zip[zip_code] = row
            if city:
                by_city[(text[state], key_of(city))].append(row)
            for other in row.acceptable_cities:
                by_other_city[(text[state], key_of(other))].append(row)
        # Tuples, not lists (no room kept for appending), and each key's state the one
        # string of that state: 30,000 keys held by every process that loads the index.
        self.by_city: dict[tuple[str, str], tuple[ZipRow, ...]] = \
            {k: tuple(v) for k, v in by_city.items()}
        self.by_other_city: dict[tuple[str, str], tuple[ZipRow, ...]] = \
            {k: tuple(v) for k, v in by_other_city.items()}

    @classmethod
    def load(cls, data_dir: Path) -> GeoData:
        """Build the tables from the CSV files (GeoData.compiled reads them from the cache)."""
        geo_files(data_dir)
        towns = _text_columns(data_dir / "ct_towns.csv")
        return cls(_text_columns(data_dir / "zip_county.csv"),
                   load_counties(data_dir / "counties.csv"),
                   {normalize_place(t): f for t, f in zip(towns["town"], towns["county_fips"],
                                                           strict=True)},
                   ZipShareTable(data_dir / "zip_shares.csv"))

    @classmethod
    def compiled(cls, data_dir: Path, cache_dir: Path | None) -> GeoData:
        """The tables as `load` builds them, read from the compiled cache in `cache_dir`
        (outreach/us/compiled.py) when the data files and the package's code are unchanged
        since it was written: a pickle read instead of 40,000 rows parsed and indexed."""
        return compiled_cache("geo", geo_files(data_dir), lambda: cls.load(data_dir),
                              directory=cache_dir)

    def state_of(self, county_fips: str | None, zip_code: str | None) -> str | None:
        """The state of a matched county, else of a ZIP code (one split between counties,
        even between states, has its USPS state); None where neither is known."""
        if county_fips and county_fips in self.counties:
            return self.counties[county_fips].state
        row = self.by_zip.get(zip_code) if zip_code else None
        return row.state if row else None

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
    # How much of the ZIP the answer covers (Lookup.share), and each county's share.
    share: float | None = None
    shares: dict[str, float] = field(default_factory=dict)


class Geo:
    """Answers lookups from a roster and the offline data, optionally with the Census Geocoder."""

    def __init__(self, roster: Roster, data: GeoData, geocoder: CensusGeocoder | None = None,
                 zip_min_share: float = default_of("OUTREACH_ZIP_MIN_SHARE")):
        self.roster = roster
        self.data = data
        self.geocoder = geocoder
        self.zip_min_share = zip_min_share
        self._felony_keys: dict[str, frozenset[str]] = {}
        # Counties some office serves by town, and the offices of the others (which no town
        # changes), worked out once: the per-ZIP answers ask for them 40,000 times.
        self._split = {f for office in roster.offices for f in office.places}
        self._whole: dict[str, OfficeChoice] = {}

    def felony_key(self, county_fips: str) -> frozenset[str]:
        """The felony offices of a county (all of them where towns split it): counties with
        the same key send a signer to the same felony prosecutor."""
        key = self._felony_keys.get(county_fips)
        if key is None:
            key = frozenset(o.office_id for o in self.roster.by_county.get(county_fips, ())
                            if o.prosecutes_felonies)
            self._felony_keys[county_fips] = key
        return key

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
        resolution = _Resolution([fips], [town] if town else [], "exact", share=1.0,
                                 shares={fips: 1.0})
        return self._answer(label, ParsedAddress("", town, self.data.counties[fips].state, ""),
                            resolution, "census", "")

    def for_chosen_county(self, county_fips: str, city: str, zip_code: str) -> Lookup:
        """The answer for a county the signer says they live in (the thanks page's picker):
        their town decides a county split between offices by town, else their ZIP's own
        town name (a signer of the form gives no city). Without one, such a county's answer
        has no felony office, and the signer who picked it would lose theirs."""
        known = self.data.by_zip.get(zip_code)
        return self.for_county(county_fips, city or (known.city if known else ""))

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
        if len(counties) == 1:
            return _Resolution(counties, towns, "exact", zip_row, first_place_decides=True,
                               share=1.0, shares={counties[0]: 1.0})
        return _Resolution(counties, towns, "ambiguous", zip_row, first_place_decides=True)

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
            resolution = self._resolve_zip(row, [p for p in places if p])
            return self._narrow_by_town(resolution, row, parsed.city)
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

    def _resolve_zip(self, row: ZipRow, places: list[str]) -> _Resolution:
        """A ZIP's counties by their shares: one county, or one felony office's counties, when
        it holds OUTREACH_ZIP_MIN_SHARE of the ZIP in every source; else all, likeliest
        first. A ZIP neither source has keeps the USPS table's counties."""
        shares = self.data.shares.get(row.zip)
        if shares is None:
            return _Resolution(row.counties, places, "zip", row)
        sources = shares.sources
        counties = shares.counties()
        by_share = {f: sources[0].get(f, 0.0) for f in counties}
        if len(counties) == 1:  # most ZIPs: one county in every source
            share = round(min(s[counties[0]] for s in sources), 6)
            if share >= self.zip_min_share:
                return _Resolution(counties, places, "zip", row, share=share, shares=by_share)
        county = dominant(sources, _itself, self.zip_min_share)
        if county is not None:
            fips = cast(str, county[0])
            return _Resolution([fips], places, "zip", row, share=county[1],
                               shares={fips: by_share[fips]})
        office = dominant(sources, self.felony_key, self.zip_min_share)
        if office is not None:
            counties = [f for f in counties if self.felony_key(f) == office[0]]
            return _Resolution(counties, places, "zip", row, share=office[1],
                               shares={f: by_share[f] for f in counties})
        return _Resolution(counties, places, "zip", row, shares=by_share)

    def _narrow_by_town(self, resolution: _Resolution, row: ZipRow, town: str) -> _Resolution:
        """A typed town picks the county among a ZIP's candidates only where towns lie wholly
        in one county and we know which (Connecticut: data/ct_towns.csv; its counties are made
        of whole towns). Elsewhere a typed city narrows nothing: postal city names cross
        county lines, and the USPS name of a ZIP is what everyone in it writes, so it says
        nothing about which part of the ZIP an address is in. (Measured on
        tests/fixtures/checks/hospitals_address_county.csv: keeping only the counties where
        the city lookup places the city answered 349 of 384 ambiguous rows, 15 of them
        wrong, 4.3%; README, "What it does today".)"""
        if not town or len(resolution.counties) < 2 or not self.town_picks_county(row):
            return resolution
        county = self.data.ct_towns.get(normalize_place(town))
        if county not in resolution.counties:
            return resolution
        return _Resolution([county], resolution.places, "zip", row,
                           shares={county: resolution.shares.get(county, 0.0)})

    @staticmethod
    def town_picks_county(row: ZipRow) -> bool:
        """Whether a typed town can pick the county of this ZIP (see _narrow_by_town)."""
        return row.state == "CT"

    def town_may_decide(self, row: ZipRow, answer: Lookup) -> bool:
        """Whether the signer's typed town can change a bare ZIP's answer: a candidate county
        split between offices by town, or a town that picks the county (Connecticut)."""
        return any(c.county_fips in self._split for c in answer.candidates) or \
            (len(answer.candidates) > 1 and self.town_picks_county(row))

    def zip_lookups(self) -> Iterator[tuple[ZipRow, Lookup]]:
        """Every ZIP code with its bare-ZIP answer, the same as `lookup(zip)` gives, without
        reading each ZIP back from text (the web app and the scheduler make these 40,000
        answers at every start)."""
        for zip_code, row in self.data.by_zip.items():
            places = [p for p in (row.city, *row.acceptable_cities) if p]
            resolution = self._resolve_zip(row, places)
            yield row, self._answer(zip_code, ParsedAddress("", "", "", zip_code), resolution,
                                    "offline", "")

    def _offices(self, county_fips: str, places: list[str], first_decides: bool) -> OfficeChoice:
        """Offices for a county; ambiguous when the candidate places disagree or none decides."""
        if county_fips not in self._split:
            whole = self._whole.get(county_fips)
            if whole is None:
                whole = self._whole[county_fips] = self.roster.offices_for(county_fips)
            return whole
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
                [o.office_id for o in choice.certain], resolution.shares.get(fips)))
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
            # A share vouches for the felony office: none where that office is in doubt.
            share=resolution.share if any(o["handles"] != "misdemeanor" for o in offices)
            else None,
        )
