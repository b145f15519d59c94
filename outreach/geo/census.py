"""Client for the U.S. Census Geocoder (precise mode: street address -> county FIPS).

The offline ZIP table cannot split a ZIP that straddles counties; the Census Geocoder places a
street address on its TIGER/Line segment and returns the county (and, in New England, the town).
Documented at geocoding.geo.census.gov/geocoder/Geocoding_Services_API.html:
  GET  {base}/geographies/onelineaddress?address=..&benchmark=..&vintage=..&layers=..&format=json
  POST {base}/geographies/addressbatch   multipart: addressFile (CSV id,street,city,state,zip,
       no header, at most 10,000 rows), benchmark, vintage -> CSV, one row per input:
       id, input, Match|No_Match|Tie, Exact|Non_Exact, matched address, "lon,lat", tigerLineId,
       side, state FIPS, county FIPS, tract, block
Errors come back as HTTP 400 with {"errors": [...], "status": "400"}; overload as 5xx.

We ask for vintage Census2020_Current: its counties are the 2020 county list our roster uses
(Connecticut's 8 historical counties, not the 2022 planning regions).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from outreach.errors import GeocoderError

BATCH_LIMIT = 10_000  # "there is currently an upper limit of 10,000 records per batch file"
BENCHMARK = "Public_AR_Current"
VINTAGE = "Census2020_Current"
LAYERS = "Counties,County Subdivisions"
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class CensusMatch:
    matched_address: str
    county_fips: str
    county_name: str
    town: str  # county subdivision (a town in New England); "" when the layer is absent
    zip: str
    longitude: float | None
    latitude: float | None


@dataclass(frozen=True)
class BatchAddress:
    id: str
    street: str
    city: str
    state: str
    zip: str


@dataclass(frozen=True)
class BatchResult:
    id: str
    status: str  # "match" | "no_match" | "tie"
    county_fips: str = ""
    matched_address: str = ""


def _session(retries: int, backoff_factor: float) -> requests.Session:
    """A session that retries connection errors, 429 and 5xx with exponential backoff.

    Retries and Retry-After handling come from urllib3 rather than a loop of our own.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_factor,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class CensusGeocoder:
    def __init__(self, base_url: str, *, timeout: float = 15.0, retries: int = 3,
                 backoff_factor: float = 0.5):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.session = _session(retries, backoff_factor)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        # Any: the keywords go to requests.Session.request unchanged (params, data, files).
        url = f"{self.base_url}/{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.RetryError as error:
            raise GeocoderError(f"Census Geocoder kept failing after {self.retries} retries "
                                f"({type(error).__name__})") from None
        except requests.exceptions.Timeout:
            raise GeocoderError(f"Census Geocoder did not answer within {self.timeout:g}s "
                                f"({self.retries} retries)") from None
        except requests.exceptions.ConnectionError as error:
            # urllib3 reports a read timeout that outlived its retries as a connection error.
            if isinstance(getattr(error.args[0], "reason", None), ReadTimeoutError):
                raise GeocoderError(f"Census Geocoder did not answer within {self.timeout:g}s "
                                    f"({self.retries} retries)") from None
            raise GeocoderError(f"Census Geocoder unreachable at {self.base_url}") from None
        if response.status_code == 400:
            raise GeocoderError(f"Census Geocoder rejected the request: {_errors(response)}")
        if response.status_code != 200:
            raise GeocoderError(f"Census Geocoder answered HTTP {response.status_code}")
        return response

    def geocode(self, address: str) -> list[CensusMatch]:
        """Every match for a one-line address (usually one; none when the Census has no match)."""
        response = self._request("GET", "geographies/onelineaddress", params={
            "address": address, "benchmark": BENCHMARK, "vintage": VINTAGE,
            "layers": LAYERS, "format": "json",
        })
        try:
            matches = response.json()["result"]["addressMatches"]
            return [_parse_match(match) for match in matches]
        except (ValueError, KeyError, IndexError, TypeError):
            raise GeocoderError("Census Geocoder sent a response we cannot read") from None

    def geocode_batch(self, addresses: Iterable[BatchAddress]) -> Iterator[BatchResult]:
        """Geocode many addresses, 10,000 per request as the service allows."""
        chunk: list[BatchAddress] = []
        for address in addresses:
            chunk.append(address)
            if len(chunk) == BATCH_LIMIT:
                yield from self._batch(chunk)
                chunk = []
        if chunk:
            yield from self._batch(chunk)

    def _batch(self, chunk: list[BatchAddress]) -> list[BatchResult]:
        body = io.StringIO()
        writer = csv.writer(body, lineterminator="\n")
        for a in chunk:
            writer.writerow([a.id, a.street, a.city, a.state, a.zip])
        response = self._request(
            "POST", "geographies/addressbatch",
            data={"benchmark": BENCHMARK, "vintage": VINTAGE},
            files={"addressFile": ("addresses.csv", body.getvalue().encode(), "text/csv")},
        )
        results = {}
        for row in csv.reader(io.StringIO(response.text)):
            if not row:
                continue
            results[row[0]] = _parse_batch_row(row)
        missing = [a.id for a in chunk if a.id not in results]
        if missing:
            raise GeocoderError(f"Census Geocoder batch answer lacks {len(missing)} of "
                                f"{len(chunk)} rows (first id {missing[0]})")
        return [results[a.id] for a in chunk]


def _errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(str(e) for e in errors) or "HTTP 400"
    except ValueError:
        return "HTTP 400"


def _parse_match(match: dict[str, Any]) -> CensusMatch:
    geographies = match["geographies"]
    county = geographies["Counties"][0]
    towns = [t for t in geographies.get("County Subdivisions", []) if "NAME" in t]
    coordinates = match.get("coordinates") or {}
    return CensusMatch(
        matched_address=match.get("matchedAddress", ""),
        county_fips=county["GEOID"],
        county_name=county.get("NAME", ""),
        town=_town_name(towns[0]["NAME"]) if towns else "",
        zip=(match.get("addressComponents") or {}).get("zip", ""),
        longitude=coordinates.get("x"),
        latitude=coordinates.get("y"),
    )


def _town_name(name: str) -> str:
    """"West Hartford town" -> "West Hartford": the Census appends the legal description."""
    for suffix in (" town", " city", " borough", " plantation", " township"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _parse_batch_row(row: list[str]) -> BatchResult:
    status = {"Match": "match", "No_Match": "no_match", "Tie": "tie"}.get(row[2], "") \
        if len(row) > 2 else ""
    if not status:
        raise GeocoderError(f"Census Geocoder batch row {row[0]!r} has no match status")
    if status != "match":
        return BatchResult(row[0], status)
    if len(row) < 10 or not (row[8].isdigit() and row[9].isdigit()):
        raise GeocoderError(f"Census Geocoder batch row {row[0]!r} lacks state/county FIPS")
    return BatchResult(row[0], "match", county_fips=row[8] + row[9], matched_address=row[4])
