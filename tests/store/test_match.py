"""Matching signers to offices: vectorized answers agree with one-by-one lookups."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from outreach.geo.by_zip import answer_columns
from outreach.geo.census import CensusGeocoder
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store.schema import signer_matches, signers
from outreach.store.signers import choose_county
from outreach.testing.census import KnownAddress

SIGNERS = """email,address,city,state,zip
pa@example.com,1421 Arch St,Philadelphia,PA,19102
ga@example.com,,Athens,GA,
braselton@example.com,5000 Tanger Blvd,Braselton,GA,30517
athol@example.com,1 Main St,Athol,MA,01331
phillipston@example.com,1 Main St,Phillipston,MA,01331
travis@example.com,1000 Congress Ave,Austin,TX,78701
clash@example.com,1 Main St,Philadelphia,NJ,19102
nowhere@example.com,,,,
ghost@example.com,,Gotham City,NJ,
vannuys@example.com,1 Main St,Van Nuys,CA,91401
"""


def load(tmp_path: Path, store, text: str = SIGNERS) -> None:
    path = tmp_path / "signers.csv"
    path.write_text(text)
    intake(path, store)


def matches(store) -> dict[str, dict]:
    query = select(signers.c.email, signer_matches).join(
        signer_matches, signer_matches.c.signer_id == signers.c.id)
    with store.connect() as connection:
        return {r.email: dict(r._mapping) for r in connection.execute(query)}


def test_every_signer_gets_a_match_or_none(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    summary = match(store, geo, by_zip=by_zip)
    assert summary.signers == 10
    assert summary.matched + summary.ambiguous + summary.unmatched == 10
    found = matches(store)
    assert found["pa@example.com"]["felony_office_id"] == "pa-philadelphia"
    assert found["pa@example.com"]["confidence"] == "zip"
    assert found["ga@example.com"]["county_fips"] == "13059"
    assert found["ga@example.com"]["confidence"] == "city"
    assert found["travis@example.com"]["felony_office_id"] == "tx-travis-county-da"
    assert found["travis@example.com"]["misdemeanor_office_id"] == "tx-travis-county-attorney"
    assert found["travis@example.com"]["time_zone"] == "America/Chicago"


def test_ambiguous_zip_lists_its_counties_and_is_not_guessed(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    match(store, geo, by_zip=by_zip)
    braselton = matches(store)["braselton@example.com"]
    assert braselton["confidence"] == "ambiguous" and braselton["county_fips"] is None
    assert set(braselton["candidate_counties"].split(";")) == {"13013", "13135", "13139",
                                                               "13157"}
    assert braselton["felony_office_id"] is None


def test_the_match_stores_the_share_and_the_likeliest_county_first(tmp_path, store, geo,
                                                                  by_zip):
    load(tmp_path, store, "email,city,state,zip\n"
                          "boise@example.com,Boise,ID,83702\n"
                          "braselton@example.com,Braselton,GA,30517\n"
                          "haddam@example.com,East Haddam,CT,06415\n"
                          "colchester@example.com,,,06415\n"
                          "athens@example.com,Athens,GA,\n")
    match(store, geo, by_zip=by_zip)
    found = matches(store)
    boise = found["boise@example.com"]
    assert (boise["county_fips"], boise["felony_office_id"]) == ("16001", "id-ada")
    assert boise["share"] == geo.lookup("83702").share and boise["share"] >= geo.zip_min_share
    braselton = found["braselton@example.com"]
    assert braselton["share"] is None  # no felony office holds enough of it
    candidates = braselton["candidate_counties"].split(";")
    shares = geo.data.shares["30517"]
    assert candidates == sorted(candidates, key=lambda f: -shares.share(f))
    # A Connecticut town picks the county of its ZIP; without the town the ZIP stays ambiguous.
    assert found["haddam@example.com"]["county_fips"] == "09007"
    assert found["colchester@example.com"]["confidence"] == "ambiguous"
    assert found["athens@example.com"]["share"] is None  # a city: nothing measured


def test_the_signers_town_decides_a_split_county(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    match(store, geo, by_zip=by_zip)
    found = matches(store)
    assert found["athol@example.com"]["felony_office_id"] == "ma-northwestern"
    assert found["phillipston@example.com"]["felony_office_id"] == "ma-worcester"
    assert found["vannuys@example.com"]["office_ids"] == "ca-los-angeles-da;" \
                                                         "ca-los-angeles-city-attorney"


def test_a_chosen_county_split_by_town_takes_the_signers_town_or_their_zips(tmp_path, store,
                                                                            geo, by_zip):
    # Worcester County is split between two DAs by town. A form signer gives no city: the
    # ZIP's own town (Brimfield, 01010, mostly in Hampden) decides; a typed city wins.
    load(tmp_path, store, "email,city,state,zip\nform@example.com,,,01010\n"
                          "typed@example.com,Athol,MA,01010\n")
    match(store, geo, by_zip=by_zip)
    with store.begin() as connection:
        for signer_id in connection.execute(select(signers.c.id)).scalars():
            choose_county(connection, signer_id, "25027")
    match(store, geo, rematch_all=True, by_zip=by_zip)
    found = matches(store)
    assert (found["form@example.com"]["confidence"],
            found["form@example.com"]["felony_office_id"]) == ("chosen", "ma-worcester")
    assert found["typed@example.com"]["felony_office_id"] == "ma-northwestern"


def test_unplaceable_signers_are_none_not_dropped(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    summary = match(store, geo, by_zip=by_zip)
    found = matches(store)
    for email in ("nowhere@example.com", "ghost@example.com", "clash@example.com"):
        assert found[email]["confidence"] == "none"
    assert summary.unmatched == 3


def test_vectorized_match_agrees_with_lookup_one_by_one(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    match(store, geo, by_zip=by_zip)
    found = matches(store)
    for email, address in [("pa@example.com", "1421 Arch St, Philadelphia, PA 19102"),
                           ("braselton@example.com", "30517"),
                           ("athol@example.com", "Athol, MA 01331"),
                           ("ga@example.com", "Athens, GA")]:
        expected = answer_columns(geo.lookup(address))
        assert {k: found[email][k] for k in expected} == expected, email


def test_only_new_or_moved_signers_are_matched_again(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    assert match(store, geo, by_zip=by_zip).signers == 10
    assert match(store, geo, by_zip=by_zip).signers == 0
    moved = tmp_path / "moved.csv"
    moved.write_text("email,city,state,zip,signed_at\n"
                     "pa@example.com,Richmond,VA,23219,2030-01-01\n")
    intake(moved, store)
    summary = match(store, geo, by_zip=by_zip)
    assert summary.signers == 1
    assert matches(store)["pa@example.com"]["felony_office_id"] == "va-richmond-city"
    assert match(store, geo, rematch_all=True, by_zip=by_zip).signers == 10


def test_census_batch_places_ambiguous_signers_exactly(tmp_path, store, geo, by_zip, census):
    load(tmp_path, store)
    census.standin.add("5000 Tanger Blvd, Braselton, GA, 30517",
                       KnownAddress("5000 TANGER BLVD", "13135", "Gwinnett County"))
    geocoder = CensusGeocoder(census.url, timeout=2, retries=1, backoff_factor=0.01)
    summary = match(store, geo, by_zip=by_zip, geocoder=geocoder)
    assert summary.geocoded == 1
    braselton = matches(store)["braselton@example.com"]
    assert (braselton["confidence"], braselton["county_fips"]) == ("exact", "13135")
    assert braselton["felony_office_id"] == "ga-gwinnett-circuit"
    assert braselton["share"] == 1.0  # the Census placed the street address itself
    [batch] = [r for r in census.standin.requests if r["method"] == "POST"]
    # Only ambiguous or city-only signers with a street go: Athens (no street) stays offline.
    assert batch["rows"] == 1


def test_census_outage_keeps_the_offline_match_and_says_so(tmp_path, store, geo, by_zip,
                                                           census):
    load(tmp_path, store)
    census.standin.fail_next(10, status=503)
    geocoder = CensusGeocoder(census.url, timeout=2, retries=1, backoff_factor=0.01)
    summary = match(store, geo, by_zip=by_zip, geocoder=geocoder)
    assert summary.geocoded == 0 and "HTTP 503" in summary.geocoder_note
    assert matches(store)["braselton@example.com"]["confidence"] == "ambiguous"


def test_reimport_with_the_same_address_keeps_the_match(tmp_path, store, geo, by_zip):
    load(tmp_path, store)
    match(store, geo, by_zip=by_zip)
    load(tmp_path, store)  # the same rows again: all duplicates, no address changed
    assert match(store, geo, by_zip=by_zip).signers == 0
