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
    # Likeliest first (HUD: Jackson holds about half its homes), each with its share.
    shares = [c.share for c in answer.candidates]
    assert answer.candidates[0].county_fips == "13157"
    assert all(s is not None for s in shares) and shares == sorted(shares, reverse=True)
    assert 0.99 < sum(shares) < 1.01
    assert answer.share is None  # no felony office holds enough of it
    assert answer.offices == []  # no office is shared by all four


def test_ambiguous_zip_keeps_the_office_all_candidates_share(geo: Geo):
    # 30517 (Braselton) is in four counties of three circuits: no office is shared.
    assert geo.lookup("30517").offices == []
    # A ZIP whose counties all sit in one multi-county district still names that district.
    shared = None
    for zip_code, row in geo.data.by_zip.items():
        if len(row.counties) == 2 and zip_code.startswith("3"):
            answer = geo.lookup(zip_code)
            if answer.offices and answer.confidence == "ambiguous":
                shared = answer
                break
    assert shared is not None and len(shared.candidates) == 2
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


# --- ZIP shares (data/zip_shares.csv): a ZIP resolves where one office holds almost all of it ---

@pytest.mark.parametrize(("address", "county", "felony"), [
    ("Boise, ID 83702", "16001", "id-ada"),
    ("Billings, MT 59101", "30111", "mt-yellowstone-county"),
    ("Athens, GA 30601", "13059", "ga-western-circuit"),
    ("30601", "13059", "ga-western-circuit"),
])
def test_a_zip_almost_wholly_in_one_county_resolves_with_its_share(geo: Geo, address, county,
                                                                   felony):
    answer = geo.lookup(address)
    assert (answer.county_fips, answer.confidence) == (county, "zip")
    assert [o["office_id"] for o in answer.offices if o["handles"] != "misdemeanor"] == [felony]
    assert answer.share is not None and geo.zip_min_share <= answer.share < 1
    assert [c.county_fips for c in answer.candidates] == [county]
    # The USPS table alone lists other counties (slivers): this used to be `ambiguous`.
    assert len(geo.data.by_zip[answer.zip].counties) > 1
    assert set(geo.data.shares[answer.zip].hud) > {county}


def test_zip_99519_is_anchorage_not_the_north_slope(geo: Geo):
    answer = geo.lookup("99519")
    assert (answer.county_fips, answer.confidence, answer.share) == ("02020", "zip", 1.0)
    assert "ak-anchorage-da" in office_ids(answer)
    assert geo.data.by_zip["99519"].counties == ["02020"]
    assert not geo.data.shares["99519"].geocorr  # its ZCTA is Prudhoe Bay's: dropped


def test_a_zip_the_sources_put_in_different_offices_stays_ambiguous(geo: Geo):
    """HUD's top county and Geocorr's are served by different felony offices: no answer."""
    disputed = []
    for zip_code in geo.data.by_zip:
        shares = geo.data.shares.get(zip_code)
        if shares is None or not (shares.hud and shares.geocorr):
            continue
        hud_top = max(shares.hud, key=lambda f: shares.hud[f])
        geocorr_top = max(shares.geocorr, key=lambda f: shares.geocorr[f])
        if geo.felony_key(hud_top) != geo.felony_key(geocorr_top):
            disputed.append(zip_code)
            answer = geo.lookup(zip_code)
            assert answer.confidence == "ambiguous" and answer.county_fips is None, zip_code
            assert answer.share is None
            # Only an office serving both (Texas' overlapping district attorneys) is certain.
            felony = {o["office_id"] for o in answer.offices if o["handles"] != "misdemeanor"}
            assert felony <= geo.felony_key(hud_top) & geo.felony_key(geocorr_top), zip_code
            assert {hud_top, geocorr_top} <= {c.county_fips for c in answer.candidates}
    assert len(disputed) > 100
    # North Canton CT: HUD puts all its homes in Litchfield County, Geocorr all its people in
    # Hartford County.
    assert "06059" in disputed


def test_a_zip_split_between_counties_of_one_office_names_that_office(geo: Geo):
    found = 0
    for zip_code in geo.data.shares:
        answer = geo.lookup(zip_code)
        if answer.county_fips is not None or answer.share is None:
            continue
        found += 1
        felony = [o["office_id"] for o in answer.offices if o["handles"] != "misdemeanor"]
        assert felony and len(answer.candidates) > 1, zip_code
        assert answer.share >= geo.zip_min_share
        for candidate in answer.candidates:
            assert set(felony) <= {o["office_id"] for o in candidate.offices}
        # Candidates are the office's counties only, likeliest first.
        shares = [c.share or 0.0 for c in answer.candidates]
        assert shares == sorted(shares, reverse=True)
    assert found > 100


def test_the_answers_for_every_zip_at_once_are_the_lookups_of_each(geo: Geo):
    """zip_lookups (the matcher's per-ZIP table) skips reading each ZIP back from text: it
    must answer what lookup(zip) answers, for one-county, shared, split and unshared ZIPs."""
    compared = 0
    for number, (row, answer) in enumerate(geo.zip_lookups()):
        if number % 7 == 0 or len(answer.candidates) > 1 or answer.share is None:
            assert answer == geo.lookup(row.zip), row.zip
            compared += 1
    assert compared > 10_000


def test_the_minimum_share_is_a_setting(roster, geo_data):
    strict = Geo(roster, geo_data, zip_min_share=0.99)
    answer = strict.lookup("30601")  # Clarke holds 97.8% of its homes, 97.8% of its people
    assert answer.confidence == "ambiguous" and answer.county_fips is None
    assert answer.candidates[0].county_fips == "13059"
    assert Geo(roster, geo_data, zip_min_share=0.97).lookup("30601").county_fips == "13059"


def test_a_zip_neither_source_has_keeps_the_usps_answer(geo: Geo):
    unshared = [z for z in geo.data.by_zip if z not in geo.data.shares]
    assert unshared
    for zip_code in unshared[:200]:
        row = geo.data.by_zip[zip_code]
        answer = geo.lookup(zip_code)
        assert [c.county_fips for c in answer.candidates] == row.counties
        assert answer.share is None and all(c.share is None for c in answer.candidates)


def test_a_typed_connecticut_town_picks_the_county_of_its_zip(geo: Geo):
    # 06415 (Colchester) reaches into East Haddam, Middlesex County; Connecticut's counties
    # are made of whole towns (data/ct_towns.csv).
    assert geo.lookup("06415").confidence == "ambiguous"
    assert geo.lookup("Colchester, CT 06415").county_fips == "09011"
    east_haddam = geo.lookup("East Haddam, CT 06415")
    assert (east_haddam.county_fips, east_haddam.confidence) == ("09007", "zip")
    assert east_haddam.share is None  # the town decided, not the ZIP's shares


def test_a_typed_city_elsewhere_never_guesses_the_county(geo: Geo):
    # The USPS puts Westminster's own ZIPs in Adams and Jefferson counties; keeping only
    # those would answer Adams for "Westminster, CO 80023", a ZIP three quarters in
    # Broomfield: wrong for most of its people (a hospital in the check file is one of them).
    assert {c.county_fips for c in geo.lookup("Westminster, CO").candidates} == {"08001",
                                                                                 "08059"}
    answer = geo.lookup("Westminster, CO 80023")
    assert answer.confidence == "ambiguous"
    assert [c.county_fips for c in answer.candidates] == ["08014", "08001"]


OFFICE_OF = {"A": "AB", "B": "AB", "C": "C"}  # counties A and B: one felony office


@pytest.mark.parametrize(("hud", "geocorr", "group", "expected"), [
    ({"A": 0.97, "B": 0.03}, {"A": 0.96, "B": 0.04}, "county", ("A", 0.96)),  # the lower
    ({"A": 0.97, "B": 0.03}, {"A": 0.94, "B": 0.06}, "county", None),  # short in one source
    ({"A": 0.97, "B": 0.03}, {}, "county", ("A", 0.97)),  # one source has it: it decides
    ({"A": 0.5, "C": 0.5}, {"A": 0.5, "C": 0.5}, "county", None),
    ({"A": 1.0}, {"C": 1.0}, "county", None),  # the sources disagree
    ({"A": 0.475, "B": 0.475, "C": 0.05}, {"A": 0.95, "C": 0.05}, "county", None),
    ({"A": 0.475, "B": 0.475, "C": 0.05}, {"A": 0.95, "C": 0.05}, "office", ("AB", 0.95)),
    ({"A": 0.6, "C": 0.4}, {"B": 0.99, "C": 0.01}, "office", None),
])
def test_dominant_group_needs_the_share_in_every_source(hud, geocorr, group, expected):
    from outreach.geo.locate import dominant

    key = OFFICE_OF.__getitem__ if group == "office" else (lambda fips: fips)
    assert dominant([s for s in (hud, geocorr) if s], key, 0.95) == expected
