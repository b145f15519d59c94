"""People served (2020 Census) and names that are current or absent: the county populations,
the coverage weighed by them, the officeholder rule and the office addressed by title."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date, timedelta

import pytest

from outreach.roster.coverage import coverage_report, people_served, population_coverage
from outreach.roster.offices import ContactSource, RosterError, load_roster
from outreach.us.counties import load_counties
from tests.conftest import DATA

# ../shared/reference beside the checkout (build_data.py's default), or beside a worktree's
# parent folder.
REFERENCE_POP = next((p for p in (base / "shared" / "reference" / "geo" / "county_pop2020.csv"
                                  for base in (DATA.parent.parent, DATA.parent.parent.parent))
                      if p.exists()), DATA / "no-reference")
TODAY = date(2026, 12, 1)


def test_every_county_has_its_2020_population(counties):
    assert all(c.population > 0 for c in counties.by_fips.values())
    # Connecticut: the roster's 8 historical counties, each with its own count.
    connecticut = [c for c in counties.by_fips.values() if c.state == "CT"]
    assert len(connecticut) == 8 and all(c.population > 100_000 for c in connecticut)
    # The 50 states and DC: the Census Bureau published 331,449,281.
    assert abs(counties.population - 331_449_281) / 331_449_281 < 0.0001


@pytest.mark.skipif(not REFERENCE_POP.exists(), reason="no ../shared/reference")
def test_the_populations_are_the_reference_files(counties):
    with REFERENCE_POP.open(encoding="utf-8", newline="") as handle:
        reference = {row["county_fips"]: int(row["pop2020"]) for row in csv.DictReader(handle)}
    assert {f: c.population for f, c in counties.by_fips.items()} == \
        {f: reference[f] for f in counties.by_fips}


def test_a_counties_file_without_a_whole_population_is_refused(tmp_path):
    rows = (DATA / "counties.csv").read_text(encoding="utf-8").splitlines()
    rows[3] = rows[3].rsplit(",", 1)[0] + ",about 20k"
    bad = tmp_path / "counties.csv"
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"counties.csv: line 4: column population: "
                                          r"'about 20k' is not a whole number"):
        load_counties(bad)
    old = tmp_path / "old" / "counties.csv"
    old.parent.mkdir()
    old.write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(RosterError, match="no population column"):
        load_counties(old)


def test_a_county_shared_by_two_district_attorneys_counts_half_for_each(roster, counties):
    served = people_served(roster, counties)
    pecos = counties["48371"].population
    for office_id in ("tx-112th-jd-da", "tx-83rd-jd-da"):
        office = roster.office(office_id)
        alone = sum(counties[f].population for f in office.county_fips if f != "48371")
        assert served[office_id] == round(alone + pecos / 2)
    felony = sum(n for office_id, n in served.items()
                 if roster.office(office_id).prosecutes_felonies)
    # Every person is served by felony offices exactly once (up to each office's rounding).
    assert abs(felony - counties.population) <= len(served)


def test_coverage_weighs_an_office_by_the_people_it_serves(roster, counties):
    before = population_coverage(roster, counties)
    assert set(before) == {"phone", "email", "website", "officeholder_current",
                           "mailing_address"}
    assert all(0 <= v <= 1 and round(v, 4) == v for v in before.values())
    assert not roster.office("il-cook").phone
    corrected = load_roster(DATA / "prosecutors.csv", counties,
                            overrides={"il-cook": {"phone": "(312) 603-1880"}})
    after = population_coverage(corrected, counties)
    cook = counties["17031"].population / counties.population
    assert after["phone"] - before["phone"] == pytest.approx(cook, abs=0.0001)
    assert after["website"] == before["website"]
    report = coverage_report(corrected, counties)
    assert report["coverage"] == {"population": after}


def test_officeholder_current_counts_only_names_confirmed_within_the_window(roster, counties):
    day = roster.day
    fresh = load_roster(DATA / "prosecutors.csv", counties, on=day, overrides={
        "il-cook": {"officeholder": "Eileen O'Neill Burke",
                    "officeholder_as_of": (day - timedelta(days=30)).isoformat()}})
    old = load_roster(DATA / "prosecutors.csv", counties, on=day, overrides={
        "il-cook": {"officeholder": "Eileen O'Neill Burke",
                    "officeholder_as_of": (day - timedelta(days=400)).isoformat()}})
    cook = counties["17031"].population / counties.population
    gained = population_coverage(fresh, counties)["officeholder_current"] - \
        population_coverage(old, counties)["officeholder_current"]
    assert gained == pytest.approx(cook, abs=0.0001)


@pytest.mark.parametrize(("as_of", "expected"), [
    ("2026-11-21", "current"),  # 10 days
    ("2025-10-27", "stale"),  # 400 days
    ("2025-12-01", "current"),  # exactly 365 days
    ("2025-11", "stale"),  # a month counts from its last day: 2025-11-30, 366 days
    ("2026", "current"),  # the year is not over
    ("", "stale"),  # undated
    ("2027-01-01", "stale"),  # not yet: a DA-elect before their first day
])
def test_a_name_is_current_only_when_confirmed_within_the_stale_days(roster, as_of, expected):
    office = replace(roster.office("il-cook"), officeholder="Eileen O'Neill Burke",
                     officeholder_as_of=as_of)
    assert office.officeholder_state(TODAY, 365) == expected
    assert office.current_officeholder(TODAY, 365) == \
        ("Eileen O'Neill Burke" if expected == "current" else "")


def test_a_name_without_a_name_is_missing_and_provenance_can_refresh_it(roster):
    office = replace(roster.office("il-cook"), officeholder="", officeholder_as_of="2026-11")
    assert office.officeholder_state(TODAY, 365) == "missing"
    checked = replace(roster.office("il-cook"), officeholder="Eileen O'Neill Burke",
                      officeholder_as_of="2024-12",
                      provenance={"officeholder": ContactSource(
                          "Eileen O'Neill Burke", "verified", "correction",
                          "https://www.cookcountystatesattorney.org", "2026-11-30")})
    assert checked.officeholder_confirmed == "2026-11-30"
    assert checked.officeholder_state(TODAY, 365) == "current"
    assert checked.officeholder_state(TODAY + timedelta(days=366), 365) == "stale"


@pytest.mark.parametrize(("office_id", "addressee"), [
    ("il-cook", "the Cook County State's Attorney"),
    ("fl-circuit-13", "the State Attorney for the 13th Judicial Circuit"),
    ("la-5th-jdc-da", "the District Attorney for the 5th Judicial District"),
    ("ky-46th-circuit-ca", "the Commonwealth's Attorney for the 46th Judicial Circuit"),
    ("ga-lookout-mountain-circuit", "the Lookout Mountain Judicial Circuit District Attorney"),
    ("hi-honolulu", "the Prosecuting Attorney for the City and County of Honolulu"),
    ("dc-attorney-general", "the Attorney General for the District of Columbia"),
    ("dc-us-attorney", "the United States Attorney for the District of Columbia"),
    ("nj-atlantic-prosecutor", "the Atlantic County Prosecutor"),
    ("ak-anchorage-da", "the Anchorage District Attorney"),
    ("ct-fairfield", "the State's Attorney for the Judicial District of Bridgeport"),
    ("ga-fulton-solicitor-general", "the Solicitor-General for the State Court of Fulton County"),
    ("md-baltimore-city", "the State's Attorney for Baltimore City"),
])
def test_the_office_is_addressed_by_title(roster, office_id, addressee):
    assert roster.office(office_id).addressee == addressee


def test_every_office_has_an_addressee_that_reads_as_a_title(roster):
    for office in roster.all_offices:
        text = office.addressee
        assert text.startswith("the ") and "  " not in text, office.office_id
        assert "(" not in text and "'s Office" not in text and " Office of" not in text, \
            (office.office_id, text)

