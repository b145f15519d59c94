"""Address lookup, offline: the right county and office, and `ambiguous` instead of a guess."""

from __future__ import annotations

import pytest

from outreach.geo.address import parse_address
from outreach.geo.locate import AddressError, Geo


def office_ids(answer) -> list[str]:
    return [o["office_id"] for o in answer.offices]


def test_philadelphia_street_address(geo: Geo):
    answer = geo.lookup("1421 Arch Street, Philadelphia, PA 19102")
    assert (answer.county_fips, answer.county_name) == ("42101", "Philadelphia County")
    assert answer.confidence == "zip"
    assert office_ids(answer) == ["pa-philadelphia"]
    assert answer.time_zone == "America/New_York"


def test_bare_zip(geo: Geo):
    answer = geo.lookup("19107")
    assert answer.county_fips == "42101" and answer.state == "PA"
    assert office_ids(answer) == ["pa-philadelphia"]
    assert answer.confidence == "zip"


def test_athens_georgia_is_the_western_circuit(geo: Geo):
    answer = geo.lookup("Athens, GA")
    assert answer.county_fips == "13059" and answer.confidence == "city"
    western = next(o for o in answer.offices if o["office_id"] == "ga-western-circuit")
    assert western["handles"] == "felony_and_misdemeanor"
    # Clarke's State Court misdemeanors go to its Solicitor-General.
    assert office_ids(answer) == ["ga-western-circuit", "ga-clarke-solicitor-general"]


def test_richmond_city_not_the_surrounding_counties(geo: Geo):
    answer = geo.lookup("Richmond, VA 23219")
    assert (answer.county_fips, answer.county_name) == ("51760", "Richmond city")
    assert office_ids(answer) == ["va-richmond-city"]


def test_brooklyn_address_is_kings_county(geo: Geo):
    answer = geo.lookup("350 Jay St, Brooklyn, NY 11201")
    assert answer.county_fips == "36047"
    assert office_ids(answer) == ["ny-kings-county-da"]


def test_travis_county_has_felony_da_and_misdemeanor_county_attorney(geo: Geo):
    answer = geo.lookup("1000 Congress Ave, Austin, TX 78701")
    assert answer.county_fips == "48453"
    handles = {o["office_id"]: o["handles"] for o in answer.offices}
    assert handles == {"tx-travis-county-da": "felony",
                       "tx-travis-county-attorney": "misdemeanor"}


def test_anchorage_is_the_appointed_state_district_attorney(geo: Geo):
    answer = geo.lookup("632 W 4th Ave, Anchorage, AK 99501")
    assert answer.county_fips == "02020" and answer.time_zone == "America/Anchorage"
    felony = [o for o in answer.offices if o["handles"] != "misdemeanor"]
    assert [o["office_id"] for o in felony] == ["ak-anchorage-da"]
    assert felony[0]["selection"] == "appointed"
    assert "Alaska Department of Law" in felony[0]["office_name"]


def test_zip_touching_four_counties_is_ambiguous_with_every_candidate(geo: Geo):
    answer = geo.lookup("30517")  # Braselton, GA
    assert answer.confidence == "ambiguous"
    assert answer.county_fips is None and answer.county_name is None
    assert {c.county_fips for c in answer.candidates} == {"13013", "13135", "13139", "13157"}
    assert answer.candidates[0].county_fips == "13157"  # the USPS main county comes first
    assert answer.offices == []  # no office is shared by all four


def test_ambiguous_zip_keeps_the_office_all_candidates_share(geo: Geo):
    # 30601 (Athens) touches Clarke, Jackson and Madison: three circuits, nothing shared.
    assert geo.lookup("30601").confidence == "ambiguous"
    # A ZIP whose counties all sit in one multi-county district still names that district.
    shared = None
    for zip_code, row in geo.data.by_zip.items():
        if len(row.counties) == 2 and zip_code.startswith("3"):
            answer = geo.lookup(zip_code)
            if answer.offices:
                shared = answer
                break
    assert shared is not None and shared.confidence == "ambiguous"
    for candidate in shared.candidates:
        ids = {o["office_id"] for o in candidate.offices}
        assert {o["office_id"] for o in shared.offices} <= ids


def test_city_spanning_counties_is_ambiguous(geo: Geo):
    answer = geo.lookup("Atlanta, GA")  # Fulton and DeKalb
    assert answer.confidence == "ambiguous"
    assert {"13121", "13089"} <= {c.county_fips for c in answer.candidates}


@pytest.mark.parametrize(("address", "office"), [
    ("Athol, MA", "ma-northwestern"),
    ("Worcester, MA", "ma-worcester"),
    ("Cheshire, CT", "ct-new-haven"),
    ("06410", "ct-new-haven"),
    ("Shelton, CT 06484", "ct-ansonia-milford"),
    ("1800 3rd Ave N, Bessemer, AL 35020", "al-10th-circuit-bessemer"),
    ("Birmingham, AL 35203", "al-10th-circuit-birmingham"),
])
def test_town_decides_the_office_in_counties_split_by_town(geo: Geo, address, office):
    answer = geo.lookup(address)
    assert answer.confidence in ("zip", "city")
    assert [o["office_id"] for o in answer.offices if o["handles"] != "misdemeanor"] == [office]


def test_bare_zip_shared_by_towns_of_different_offices_is_ambiguous(geo: Geo):
    # 01331 is Athol's ZIP (Northwestern DA), but Phillipston (Worcester DA) uses it too.
    answer = geo.lookup("01331")
    assert answer.confidence == "ambiguous"
    assert answer.county_fips == "25027"  # the county is certain; the office is not
    assert answer.candidates[0].office_ambiguous
    assert {o["office_id"] for o in answer.candidates[0].offices} == {"ma-northwestern",
                                                                     "ma-worcester"}


def test_typed_town_overrides_the_zip_city_in_a_split_county(geo: Geo):
    # 01331 is Athol's ZIP, but the USPS also delivers Phillipston mail through it.
    answer = geo.lookup("10 Main St, Phillipston, MA 01331")
    assert office_ids(answer) == ["ma-worcester"]


@pytest.mark.parametrize(("address", "reason"), [
    ("", "the address is empty"),
    ("   ", "the address is empty"),
    ("PA", "no ZIP code and no city"),
    ("00000", "ZIP 00000 is not a ZIP code of the 50 states or DC"),
    ("Springfield", "no ZIP code and no city found"),
    ("Springfield 62701 Lane", "no ZIP code and no city found"),
    ("Gotham City, NJ", "no city or town by that name in NJ"),
    ("1 Main St, Philadelphia, NJ 19107", "ZIP 19107 is in PA, not NJ"),
    ("San Juan, PR 00901", "PR has no county prosecutor in the roster"),
    ("12 Elm St, Springfield, Narnia 12345", "is not a U.S. state"),
    ("1 Main St, Austin, TX 7870", "not 5 digits"),
])
def test_unreadable_input_gets_a_clear_reason(geo: Geo, address, reason):
    with pytest.raises(AddressError, match=reason):
        geo.lookup(address)


def test_errors_never_echo_the_street_address(geo: Geo):
    with pytest.raises(AddressError) as caught:
        geo.lookup("742 Evergreen Terrace, Springfield, NJ 19107")
    assert "Evergreen" not in str(caught.value) and "742" not in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("19102-1234", ("", "", "", "19102")),
    ("191021234", ("", "", "", "19102")),
    ("Athens, Georgia", ("", "Athens", "GA", "")),
    ("St. Louis, MO", ("", "St. Louis", "MO", "")),
    ("123 main st apt 4, springfield il 62701", ("123 main st apt 4", "Springfield", "IL",
                                                 "62701")),
])
def test_parse_address_forms(text, expected):
    parsed = parse_address(text)
    assert (parsed.street, parsed.city, parsed.state, parsed.zip) == expected


def test_saint_and_st_spellings_find_the_same_city(geo: Geo):
    assert geo.lookup("St. Louis, MO").county_fips == geo.lookup("Saint Louis, MO").county_fips


def test_public_api_lookup_reads_settings_from_environment():
    from outreach.geo import lookup

    answer = lookup("Richmond, VA 23219")
    assert answer.to_dict()["offices"][0]["office_id"] == "va-richmond-city"


@pytest.mark.parametrize(("address", "expected"), [
    ("Van Nuys, CA", ["ca-los-angeles-da", "ca-los-angeles-city-attorney"]),
    ("90012", ["ca-los-angeles-da", "ca-los-angeles-city-attorney"]),
    ("Long Beach, CA 90802", ["ca-los-angeles-da", "ca-long-beach-city-prosecutor"]),
    ("Pasadena, CA", ["ca-los-angeles-da"]),
    ("La Jolla, CA", ["ca-san-diego-da", "ca-san-diego-city-attorney"]),
    ("Chula Vista, CA", ["ca-san-diego-da"]),
])
def test_city_misdemeanor_offices_serve_their_city_only(geo: Geo, address, expected):
    answer = geo.lookup(address)
    assert answer.confidence in ("zip", "city")
    assert office_ids(answer) == expected


def test_county_wide_felony_da_stays_certain_when_only_the_city_office_is_in_doubt(roster):
    choice = roster.offices_for("06037")  # Los Angeles County, no town known
    assert choice.ambiguous
    assert [o.office_id for o in choice.certain] == ["ca-los-angeles-da"]
    worcester = roster.offices_for("25027")  # Athol's DA replaces the Worcester DA entirely
    assert worcester.ambiguous and worcester.certain == ()


def test_st_louis_mailing_name_spans_the_city_and_the_county(geo: Geo):
    answer = geo.lookup("St. Louis, MO")
    assert answer.confidence == "ambiguous"
    assert [c.county_fips for c in answer.candidates][:2] in (["29510", "29189"],
                                                              ["29189", "29510"])
