"""The Census Geocoder client against a local stand-in speaking the documented formats."""

from __future__ import annotations

import time

import pytest

from outreach.geo.census import BATCH_LIMIT, BatchAddress, CensusGeocoder, GeocoderError
from outreach.geo.locate import Geo
from outreach.testing.census import KnownAddress, RunningStandIn

PHILLY = "1421 Arch Street, Philadelphia, PA 19102"
BRASELTON = "5000 Tanger Blvd, Braselton, GA 30517"  # a ZIP touching four counties


def client(server: RunningStandIn, **kwargs) -> CensusGeocoder:
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retries", 2)
    kwargs.setdefault("backoff_factor", 0.01)
    return CensusGeocoder(server.url, **kwargs)


def add_philly(server: RunningStandIn) -> None:
    server.standin.add(PHILLY, KnownAddress("1421 ARCH ST, PHILADELPHIA, PA, 19102", "42101",
                                            "Philadelphia County", "Philadelphia", "19102"))


def test_match_returns_county_town_and_zip(census):
    add_philly(census)
    [match] = client(census).geocode(PHILLY)
    assert (match.county_fips, match.town, match.zip) == ("42101", "Philadelphia", "19102")
    sent = census.standin.requests[-1]
    assert sent["path"] == "/geocoder/geographies/onelineaddress"
    assert sent["params"]["vintage"] == ["Census2020_Current"]
    assert sent["params"]["format"] == ["json"]


def test_no_match_is_an_empty_list(census):
    assert client(census).geocode("1 Nowhere Rd, Philadelphia, PA 19102") == []


def test_rejected_request_carries_the_services_reason(census):
    with pytest.raises(GeocoderError, match="rejected the request: Address cannot be empty"):
        client(census).geocode("x" * 101)
    assert len(census.standin.requests) == 1  # a 400 is permanent: not retried


def test_transient_5xx_is_retried_until_an_answer(census):
    add_philly(census)
    census.standin.fail_next(2, status=503)
    [match] = client(census, retries=2).geocode(PHILLY)
    assert match.county_fips == "42101"
    assert len(census.standin.requests) == 3


def test_persistent_5xx_gives_up_after_the_retries(census):
    census.standin.fail_next(10, status=502)
    with pytest.raises(GeocoderError, match="HTTP 502"):
        client(census, retries=2).geocode(PHILLY)
    assert len(census.standin.requests) == 3


def test_retry_after_is_honoured(census):
    add_philly(census)
    census.standin.fail_next(1, status=429, retry_after="1")
    started = time.monotonic()
    client(census).geocode(PHILLY)
    assert time.monotonic() - started >= 1.0
    assert len(census.standin.requests) == 2


def test_stalled_service_times_out_with_a_clear_error(census):
    census.standin.stall_next(5, seconds=1.0)
    with pytest.raises(GeocoderError, match=r"did not answer within 0\.3s"):
        client(census, timeout=0.3, retries=1).geocode(PHILLY)


def test_unreachable_service(census):
    url = census.url
    census.close()
    with pytest.raises(GeocoderError, match="unreachable"):
        CensusGeocoder(url, timeout=0.5, retries=0).geocode(PHILLY)


def test_unreadable_answer_is_an_error_not_a_crash(census):
    census.standin.garbage_next(1)
    with pytest.raises(GeocoderError, match="cannot read"):
        client(census).geocode(PHILLY)


def test_batch_reports_match_no_match_and_tie_per_id(census):
    add_philly(census)
    census.standin.ties.add("10 MAIN ST SPRINGFIELD IL 62701")
    results = list(client(census).geocode_batch([
        BatchAddress("a", "1421 Arch Street", "Philadelphia", "PA", "19102"),
        BatchAddress("b", "1 Nowhere Rd", "Philadelphia", "PA", "19102"),
        BatchAddress("c", "10 Main St", "Springfield", "IL", "62701"),
    ]))
    assert [(r.id, r.status, r.county_fips) for r in results] == [
        ("a", "match", "42101"), ("b", "no_match", ""), ("c", "tie", "")]


def test_batch_is_split_at_the_services_limit(census):
    addresses = [BatchAddress(str(i), f"{i} Main St", "Springfield", "IL", "62701")
                 for i in range(BATCH_LIMIT + 5)]
    results = list(client(census).geocode_batch(addresses))
    assert len(results) == BATCH_LIMIT + 5
    assert [r["rows"] for r in census.standin.requests] == [BATCH_LIMIT, 5]
    assert census.standin.requests[0]["fields"]["benchmark"] == "Public_AR_Current"


def test_batch_over_the_limit_is_refused_by_the_service_as_documented(census):
    # What the client avoids: one file of 10,001 rows is a 400 with the service's reason.
    oversized = client(census)
    with pytest.raises(GeocoderError, match="10,000 record limit"):
        oversized._batch([BatchAddress(str(i), "1 Main St", "X", "IL", "62701")
                          for i in range(BATCH_LIMIT + 1)])


def test_geo_uses_the_census_county_for_a_street_address(census, roster, geo_data):
    census.standin.add(BRASELTON, KnownAddress("5000 TANGER BLVD, BRASELTON, GA, 30517",
                                               "13135", "Gwinnett County", "", "30517"))
    answer = Geo(roster, geo_data, client(census)).lookup(BRASELTON)
    assert (answer.confidence, answer.source, answer.county_fips) == ("exact", "census", "13135")
    assert "ga-gwinnett-circuit" in [o["office_id"] for o in answer.offices]
    # Placed itself, not by its ZIP's shares (Gwinnett holds under a fifth of 30517).
    assert answer.share == answer.candidates[0].share == 1.0


def test_connecticut_planning_region_maps_back_to_the_county_by_town(census, roster, geo_data):
    address = "1 Main St, Cheshire, CT 06410"
    census.standin.add(address, KnownAddress("1 MAIN ST, CHESHIRE, CT, 06410", "09170",
                                             "South Central Connecticut Planning Region",
                                             "Cheshire", "06410"))
    answer = Geo(roster, geo_data, client(census)).lookup(address)
    assert answer.county_fips == "09009"
    assert [o["office_id"] for o in answer.offices] == ["ct-new-haven"]


def test_no_census_match_falls_back_to_offline_and_says_so(census, roster, geo_data):
    answer = Geo(roster, geo_data, client(census)).lookup(BRASELTON)
    assert (answer.source, answer.confidence) == ("offline", "ambiguous")
    assert answer.geocoder_note.startswith("census: no match")


def test_census_outage_falls_back_to_offline_and_says_so(census, roster, geo_data):
    census.standin.fail_next(10, status=503)
    answer = Geo(roster, geo_data, client(census, retries=1)).lookup(PHILLY)
    assert (answer.source, answer.confidence, answer.county_fips) == ("offline", "zip", "42101")
    assert "HTTP 503" in answer.geocoder_note


def test_zip_or_city_alone_never_calls_the_geocoder(census, roster, geo_data):
    Geo(roster, geo_data, client(census)).lookup("Athens, GA")
    assert census.standin.requests == []


def test_census_town_decides_before_the_typed_village(census, roster, geo_data):
    # Northford is a village of North Branford: the Census town names the judicial district.
    address = "10 Village St, Northford, CT 06472"
    census.standin.add(address, KnownAddress("10 VILLAGE ST, NORTHFORD, CT, 06472", "09009",
                                             "New Haven County", "North Branford", "06472"))
    answer = Geo(roster, geo_data, client(census)).lookup(address)
    assert answer.confidence == "exact"
    assert [o["office_id"] for o in answer.offices] == ["ct-new-haven"]
