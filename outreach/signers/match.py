"""Signers -> county, time zone and prosecutor office(s), for every signer not yet matched.

Vectorized: the answer for every ZIP code is worked out once (40,000 ZIPs, well under a second)
and joined to the signers with pandas; only the few signers whose own town decides the office
(counties split between offices by town) or who gave a city without a ZIP are looked up, once per
distinct (ZIP, city) or (city, state). With OUTREACH_GEOCODER=census the ambiguous and city-only
signers with a street address then go to the Census batch geocoder, 10,000 per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pandas as pd
from sqlalchemy import Engine

from outreach.errors import AddressError, GeocoderError
from outreach.geo.by_zip import answer_columns, zip_answers
from outreach.geo.census import BatchAddress, CensusGeocoder
from outreach.geo.locate import Geo
from outreach.store import signers as store

# "chosen": the signer picked their county on the thanks page (their word, not a geocode).
MATCHED = ("exact", "chosen", "zip", "city")


@dataclass
class MatchSummary:
    signers: int = 0
    matched: int = 0
    ambiguous: int = 0
    unmatched: int = 0
    by_confidence: dict[str, int] = field(default_factory=dict)
    with_felony_office: int = 0
    geocoded: int = 0
    geocoder_note: str = ""
    moved: int = 0  # signers matched before whose felony office is now another one

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


NO_MATCH = {"county_fips": None, "time_zone": None, "felony_office_id": None,
            "misdemeanor_office_id": None, "office_ids": None, "candidate_counties": None,
            "confidence": "none", "share": None}


def _lookup_each(geo: Geo, addresses: pd.Series) -> pd.DataFrame:
    """Match fields for each distinct address text (small sets only)."""
    answers: dict[object, dict[str, Any]] = {}
    for address in addresses.unique():
        try:
            answers[address] = answer_columns(geo.lookup(address))
        except AddressError:
            answers[address] = NO_MATCH
    return pd.DataFrame.from_dict(answers, orient="index")


def match_frame(signers: pd.DataFrame, geo: Geo, by_zip: pd.DataFrame) -> pd.DataFrame:
    """Match fields for a frame of signers (id, street, city, state, zip), vectorized."""
    result = by_zip.reindex(signers["zip"].to_numpy())
    result.index = signers.index
    result.insert(0, "id", signers["id"])
    known_zip = result["confidence"].notna()
    state_clash = known_zip & (signers["state"] != "") & (signers["state"] != result["zip_state"])
    result.loc[state_clash, list(NO_MATCH)] = list(NO_MATCH.values())

    by_town = known_zip & ~state_clash & result["town_decides"].eq(True) & \
        (signers["city"] != "")
    no_zip = ~known_zip & (signers["city"] != "") & (signers["state"] != "")
    for mask, text in (
        (by_town, signers["city"] + ", " + result["zip_state"].fillna("") + " " + signers["zip"]),
        (no_zip, signers["city"] + ", " + signers["state"]),
    ):
        if mask.any():
            looked_up = _lookup_each(geo, text[mask])
            result.loc[mask, list(NO_MATCH)] = looked_up.loc[text[mask]].to_numpy()
    unmatched = result["confidence"].isna()
    result.loc[unmatched, list(NO_MATCH)] = list(NO_MATCH.values())
    return result[["id", *NO_MATCH]]


def _county_answer(geo: Geo, county_fips: str, city: str, zip_code: str) -> dict[str, Any]:
    """The match fields for a county the signer named themselves: `chosen`, kept apart from
    `exact` (a street address the Census Geocoder placed) so reports can tell them apart."""
    return {**answer_columns(geo.for_chosen_county(county_fips, city, zip_code)),
            "confidence": "chosen"}


def _apply_choices(result: pd.DataFrame, choices: dict[int, str], geo: Geo,
                   signers: pd.DataFrame) -> None:
    """Signers who picked their county keep it, whatever their ZIP alone says."""
    for position in result.index[result["id"].isin(list(choices))]:
        answer = _county_answer(geo, choices[int(cast(int, result.at[position, "id"]))],
                                str(signers.at[position, "city"]),
                                str(signers.at[position, "zip"]))
        for column, value in answer.items():
            result.at[position, column] = value


def _geocode(result: pd.DataFrame, signers: pd.DataFrame, geo: Geo,
             geocoder: CensusGeocoder) -> tuple[int, str]:
    """Place ambiguous and city-only signers with a street address exactly; (count, note)."""
    wanted = result["confidence"].isin(["ambiguous", "city"]) & (signers["street"] != "")
    if not wanted.any():
        return 0, ""
    batch = signers[wanted]
    rows: Iterable[Any] = batch.itertuples(index=False)  # text fields; pandas: any scalar
    addresses = (BatchAddress(str(r.id), r.street, r.city, r.state, r.zip) for r in rows)
    placed = 0
    by_id = pd.Series(batch.index, index=batch["id"].astype(str))
    try:
        for answer in geocoder.geocode_batch(addresses):
            if answer.status != "match":
                continue
            index = by_id[answer.id]
            try:
                lookup = geo.for_county(answer.county_fips, cast(str, signers.at[index, "city"]))
            except AddressError:
                continue
            result.loc[index, list(NO_MATCH)] = list(answer_columns(lookup).values())
            placed += 1
    except GeocoderError as error:
        return placed, f"census: {error}; the rest keep their offline match"
    return placed, ""


def match(engine: Engine, geo: Geo, *, rematch_all: bool = False,
          geocoder: CensusGeocoder | None = None,
          by_zip: pd.DataFrame | None = None,
          only: list[int] | None = None) -> MatchSummary:
    """Match every signer whose match is missing (or every signer, with rematch_all; or only
    these, as the petition form does for the one who just signed)."""
    with engine.connect() as connection:
        signers = store.signers_to_match(connection, rematch_all, only)
    summary = MatchSummary(signers=len(signers))
    if signers.empty:
        return summary
    result = match_frame(signers, geo, zip_answers(geo) if by_zip is None else by_zip)
    if geocoder is not None:
        summary.geocoded, summary.geocoder_note = _geocode(result, signers, geo, geocoder)
    with engine.begin() as connection:
        ids = list(result["id"])
        before = store.felony_offices(connection, ids)
        _apply_choices(result, store.chosen_counties(connection, ids), geo, signers)
        store.save_matches(connection, result, datetime.now(UTC))
    previous = result["id"].map(before)
    summary.moved = int((previous.notna() & (previous != result["felony_office_id"])).sum())
    counts = result["confidence"].value_counts()
    summary.by_confidence = {k: int(counts.get(k, 0))
                             for k in (*MATCHED, "ambiguous", "none")}
    summary.matched = sum(summary.by_confidence[k] for k in MATCHED)
    summary.ambiguous = summary.by_confidence["ambiguous"]
    summary.unmatched = summary.by_confidence["none"]
    summary.with_felony_office = int(result["felony_office_id"].notna().sum())
    return summary
