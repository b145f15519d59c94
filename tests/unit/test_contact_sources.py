"""Every contact value in the roster carries its own source and status (issue 16, item 3)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from outreach.errors import RosterError
from outreach.geo.locate import Geo, GeoData
from outreach.roster.offices import (
    CONTACT_FIELDS,
    CONTACT_SOURCE_COLUMNS,
    CONTACT_STATUSES,
    ROSTER_COLUMNS,
    Roster,
    contact_sources_path,
    load_roster,
)
from tests.conftest import DATA, shipped_rows, write_roster

# SOURCES.md of ../shared/reference/contacts: the Solicitor-General offices the PACGA directory
# lists and the roster lacked (Jeff Davis and Appling share one).
GEORGIA_SOLICITORS_ADDED = [
    "Walker", "Toombs", "Liberty", "McIntosh", "Baldwin", "Colquitt", "Grady", "Screven",
    "Paulding", "Coffee", "Treutlen", "Catoosa", "Long", "Ware", "Pierce", "Elbert", "Chattooga",
    "Bryan", "Mitchell", "Jenkins", "Tift", "Candler", "Emanuel", "Lowndes", "Decatur",
    "Jackson", "Jeff Davis", "Effingham", "Bacon", "Tattnall", "Thomas", "Appling",
]


def shipped_sources() -> list[dict[str, str]]:
    with contact_sources_path(DATA / "prosecutors.csv").open(encoding="utf-8",
                                                               newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_contact_value_in_the_shipped_roster_has_exactly_one_source():
    rows = {row["office_id"]: row for row in shipped_rows()}
    sources = shipped_sources()
    listed = Counter((s["office_id"], s["field"], s["value"]) for s in sources)
    cells = Counter((office_id, name, row[name]) for office_id, row in rows.items()
                    for name in CONTACT_FIELDS if row.get(name))
    assert cells and listed == cells  # each value once, nothing else
    assert {s["status"] for s in sources} <= set(CONTACT_STATUSES)
    assert all(s["source"] for s in sources)
    # Leads are most of the new values, and verified ones exist (the rule is not one-sided).
    assert Counter(s["status"] for s in sources)["verified"] > 300
    # USPD is a GPL-3.0 compilation: its attribution stays beside every value taken from it.
    uspd = [s for s in sources if s["source"] == "uspd"]
    assert len(uspd) > 700
    assert all(s["status"] == "lead" and "GPL-3.0" in s["note"] and
               s["source_url"].startswith("https://github.com/billimarie/prosecutor-database/")
               for s in uspd)
    assert not any(s["field"] == "officeholder" for s in uspd)  # its names are stale


def test_every_loaded_value_has_its_source_and_status(roster: Roster):
    offices = roster.all_offices
    assert len(roster) >= 2800
    for office in offices:
        for name in CONTACT_FIELDS:
            value = getattr(office, name)
            found = office.provenance.get(name)
            assert (found is not None) == bool(value), (office.office_id, name)
            if found:
                assert found.value == value and found.source != "roster"
                assert office.contact_status(name) == found.status
    erie = roster.office("ny-erie-county-da")
    assert erie.officeholder == "" and "verify" in erie.notes  # the harvest: Flynn left
    assert "Bridgeport" in roster.office("ct-fairfield").office_name
    montgomery = roster.office("tx-montgomery-county-da")
    assert montgomery.contact_status("officeholder") == "lead"  # its own site names another


def test_the_added_georgia_solicitors_general_answer_lookups_beside_the_district_attorney(
        roster: Roster, geo: Geo, geo_data: GeoData):
    fips_of = {c.name.removesuffix(" County"): fips for fips, c in geo_data.counties.by_fips.items()
               if c.state == "GA"}
    added = [o for o in roster.offices if o.source_url.startswith(
        "https://github.com/enukenuk/georgia-prosecutors/")]
    assert len(added) == 31
    assert sorted(f for o in added for f in o.county_fips) == sorted(
        fips_of[name] for name in GEORGIA_SOLICITORS_ADDED)
    for office in added:
        assert office.handles == "misdemeanor" and office.title == "Solicitor-General"
        assert office.officeholder and office.contact_status("officeholder") is not None
        for fips in office.county_fips:
            felony = [o for o in roster.by_county[fips] if o.prosecutes_felonies]
            # A ZIP whose main county this is (it may touch others: then the county's
            # candidate in the answer lists its offices).
            zip_code = min(z.zip for z in geo_data.by_zip.values() if z.county_fips == fips)
            answer = geo.lookup(zip_code)
            [candidate] = [c for c in answer.candidates if c.county_fips == fips]
            ids = [o["office_id"] for o in candidate.offices]
            assert ids == [felony[0].office_id, office.office_id], (zip_code, ids)
            shown = candidate.offices[1]
            assert shown["officeholder_source"] == "pacga"
            assert shown["phone_status"] == ("" if not office.phone else
                                             office.contact_status("phone"))


def test_lookup_answers_show_each_contacts_status_and_source(geo: Geo):
    answer = geo.lookup("Gettysburg, PA 17325")
    [adams] = answer.offices
    assert adams["office_id"] == "pa-adams" and adams["phone"]
    assert (adams["phone_status"], adams["phone_source"]) == ("lead", "uspd")
    assert (adams["officeholder"], adams["officeholder_status"]) == ("", "")


def _operator_roster(tmp_path: Path, sources: list[dict[str, str]] | None) -> Path:
    rows = shipped_rows()
    path = write_roster(tmp_path / "mine.csv", rows, [*ROSTER_COLUMNS, "mailing_address"])
    if sources is not None:
        with contact_sources_path(path).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, CONTACT_SOURCE_COLUMNS)
            writer.writeheader()
            writer.writerows(sources)
    return path


def test_an_operators_roster_without_a_sources_file_loads_its_values_as_leads(
        tmp_path, counties):
    loaded = load_roster(_operator_roster(tmp_path, None), counties)
    philadelphia = loaded.office("pa-philadelphia")
    found = philadelphia.provenance["phone"]
    assert (found.status, found.source) == ("lead", "roster")
    assert found.source_url == philadelphia.source_url
    assert philadelphia.provenance["officeholder"].as_of == philadelphia.officeholder_as_of


def test_a_roster_file_without_the_mailing_address_column_still_loads(tmp_path, counties):
    path = write_roster(tmp_path / "old.csv", shipped_rows(), ROSTER_COLUMNS)
    assert load_roster(path, counties).office("ga-enotah-circuit").mailing_address == ""


@pytest.mark.parametrize("change, column, message", [
    ({"office_id": "pa-nowhere"}, "office_id", "no office 'pa-nowhere' in the roster"),
    ({"field": "fax"}, "field", "'fax' is not one of phone|email"),
    ({"value": "(215) 000-0000"}, "value", "is not the roster's phone of pa-philadelphia"),
    ({"status": "trusted"}, "status", "'trusted' is not one of verified|lead"),
    ({"as_of": "last year"}, "as_of", "is not YYYY"),
])
def test_a_bad_sources_row_is_one_line_naming_file_line_and_column(tmp_path, counties, change,
                                                                   column, message):
    first = next(s for s in shipped_sources() if s["office_id"] == "pa-philadelphia"
                 and s["field"] == "phone")
    sources = [{**first, "office_id": "pa-adams", "field": "phone",
                "value": next(r for r in shipped_rows() if r["office_id"] == "pa-adams")["phone"]},
               {**first, **change}]
    path = _operator_roster(tmp_path, sources)
    with pytest.raises(RosterError) as raised:
        load_roster(path, counties)
    [problem] = raised.value.problems
    assert "\n" not in problem
    assert problem.startswith(f"{contact_sources_path(path)}: line 3: column {column}: ")
    assert message in problem


def test_a_second_row_for_one_field_is_refused(tmp_path, counties):
    first = next(s for s in shipped_sources() if s["office_id"] == "pa-philadelphia"
                 and s["field"] == "phone")
    path = _operator_roster(tmp_path, [first, {**first, "status": "lead"}])
    with pytest.raises(RosterError, match=r"line 3: column field: second row for "
                                          r"pa-philadelphia phone \(first on line 2\)"):
        load_roster(path, counties)


def test_the_roster_files_sources_are_what_the_loader_uses(tmp_path, counties):
    first = next(s for s in shipped_sources() if s["office_id"] == "pa-philadelphia"
                 and s["field"] == "phone")
    path = _operator_roster(tmp_path, [{**first, "status": "verified", "source": "mine",
                                        "as_of": "2026-12-01"}])
    found = load_roster(path, counties).office("pa-philadelphia").provenance["phone"]
    assert (found.status, found.source, found.as_of) == ("verified", "mine", "2026-12-01")
