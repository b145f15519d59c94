"""The roster: every office loads, every county is covered, and bad rows are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.roster.coverage import coverage_report
from outreach.roster.offices import Roster, RosterError, load_roster
from outreach.us.counties import Counties
from tests.conftest import shipped_rows, write_roster


def test_shipped_roster_covers_every_county_with_a_felony_prosecutor(roster, counties):
    report = coverage_report(roster, counties)
    assert report["offices"] >= 2300
    assert report["states"] == 51
    assert set(report["offices_per_state"]) >= {"DC", "TX", "VA", "CT", "AK"}
    assert report["counties_total"] == 3143
    assert report["counties_uncovered"] == []
    assert report["felony_offices"] >= 2300


def test_report_counts_gaps_instead_of_hiding_them(roster, counties):
    report = coverage_report(roster, counties)
    without_email = sum(1 for o in roster.offices if not o.email)
    assert report["offices_without_email"] == without_email > 0
    assert report["offices_without_phone"] == sum(1 for o in roster.offices if not o.phone)
    # New Jersey's county prosecutors handle indictable crimes only; municipal courts the rest.
    assert all(f.startswith("34") for f in report["counties_without_misdemeanor_office"])


def test_report_lists_a_county_left_without_felony_office(tmp_path, counties):
    rows = [r for r in shipped_rows() if r["office_id"] != "pa-philadelphia"]
    report = coverage_report(load_roster(write_roster(tmp_path / "r.csv", rows), counties),
                             counties)
    assert report["counties_uncovered"] == ["42101"]


def _load_with(tmp_path: Path, counties: Counties, index: int, **changes: str) -> RosterError:
    rows = shipped_rows()[:5]
    rows[index].update(changes)
    with pytest.raises(RosterError) as caught:
        load_roster(write_roster(tmp_path / "roster.csv", rows), counties)
    return caught.value


def test_fips_that_is_no_county_is_named_with_line_and_column(tmp_path, counties):
    error = _load_with(tmp_path, counties, 2, county_fips="02999")
    assert str(error).endswith("line 4: column county_fips: 02999 is not a county FIPS code")


def test_fips_of_another_state_is_rejected(tmp_path, counties):
    error = _load_with(tmp_path, counties, 0, county_fips="42101")
    assert "line 2: column county_fips: 42101 (Philadelphia County) is in PA, not AK" in str(error)


def test_malformed_fips_is_rejected(tmp_path, counties):
    error = _load_with(tmp_path, counties, 0, county_fips="2020")
    assert "'2020' is not a 5-digit county FIPS code" in str(error)


def test_duplicate_office_id_names_both_lines(tmp_path, counties):
    first = shipped_rows()[0]["office_id"]
    error = _load_with(tmp_path, counties, 3, office_id=first)
    assert f"line 5: column office_id: duplicate id '{first}' (first on line 2)" in str(error)


def test_unknown_state_is_rejected(tmp_path, counties):
    error = _load_with(tmp_path, counties, 1, state="PR")
    assert "line 3: column state: 'PR' is not a U.S. state or DC" in str(error)


@pytest.mark.parametrize(("column", "value"), [
    ("kind", "parish"), ("selection", "hereditary"), ("handles", "infractions")])
def test_values_outside_the_allowed_sets_are_rejected(tmp_path, counties, column, value):
    error = _load_with(tmp_path, counties, 0, **{column: value})
    assert f"column {column}: '{value}' is not one of" in str(error)


def test_empty_required_value_is_rejected(tmp_path, counties):
    error = _load_with(tmp_path, counties, 0, office_name="")
    assert "line 2: column office_name: is empty" in str(error)


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("officeholder_as_of", "March 2024", "is not YYYY, YYYY-MM or YYYY-MM-DD"),
    ("email", "da at county.gov", "is not an email address"),
    ("phone", "555-0100", "is not a 10-digit U.S. phone number"),
    ("website", "www.example.gov", "is not an http(s) URL"),
    ("places", "02020", "is not COUNTYFIPS:Town|Town"),
    ("places", "01001:Prattville", "county 01001 is not one of this office's county_fips"),
])
def test_malformed_optional_values_are_rejected(tmp_path, counties, column, value, expected):
    error = _load_with(tmp_path, counties, 0, **{column: value})
    assert f"line 2: column {column}: " in str(error) and expected in str(error)


def test_every_problem_is_collected_not_only_the_first(tmp_path, counties):
    rows = shipped_rows()[:5]
    rows[0]["state"] = "XX"
    rows[4]["handles"] = "none"
    with pytest.raises(RosterError) as caught:
        load_roster(write_roster(tmp_path / "roster.csv", rows), counties)
    assert len(caught.value.problems) >= 2
    assert str(caught.value).endswith(f"(and {len(caught.value.problems) - 1} more)")


def test_missing_column_and_missing_file_are_clear(tmp_path, counties):
    columns = [c for c in shipped_rows()[0] if c != "handles"]
    path = write_roster(tmp_path / "roster.csv", shipped_rows()[:2], columns)
    with pytest.raises(RosterError, match="line 1: missing column\\(s\\) handles"):
        load_roster(path, counties)
    with pytest.raises(RosterError, match="no such roster file"):
        load_roster(tmp_path / "absent.csv", counties)


def test_county_with_felony_and_misdemeanor_offices_lists_both(roster: Roster):
    offices = roster.offices_for("48453").offices  # Travis County, TX
    assert [o.office_id for o in offices] == ["tx-travis-county-da", "tx-travis-county-attorney"]
    assert offices[0].prosecutes_felonies and not offices[1].prosecutes_felonies


@pytest.mark.parametrize(("county", "place", "expected"), [
    ("25027", "Athol", ["ma-northwestern"]),
    ("25027", "ATHOL", ["ma-northwestern"]),
    ("25027", "Worcester", ["ma-worcester"]),
    ("01073", "Bessemer", ["al-10th-circuit-bessemer"]),
    ("01073", "Birmingham", ["al-10th-circuit-birmingham"]),
    ("02185", "Point Hope", ["ak-kotzebue-da"]),
    ("02185", "Utqiagvik", ["ak-fairbanks-da"]),
    ("09009", "West Haven", ["ct-ansonia-milford"]),
    ("09009", "Meriden", ["ct-new-haven"]),
    ("09003", "Simsbury", ["ct-litchfield"]),
    ("09005", "Torrington", ["ct-litchfield"]),
    ("09005", "Plymouth", ["ct-new-britain"]),
])
def test_town_picks_the_office_in_a_county_split_by_town(roster, county, place, expected):
    choice = roster.offices_for(county, place)
    assert [o.office_id for o in choice.offices] == expected
    assert not choice.ambiguous


def test_split_county_without_a_town_is_ambiguous_with_every_candidate(roster):
    choice = roster.offices_for("25027")
    assert {o.office_id for o in choice.offices} == {"ma-worcester", "ma-northwestern"}
    assert choice.ambiguous


def test_unknown_town_in_a_county_no_office_serves_whole_is_ambiguous(roster):
    # New Haven County is fully divided among three districts; a village name decides nothing.
    choice = roster.offices_for("09009", "Northford")
    assert choice.ambiguous and len(choice.offices) == 3


def test_every_connecticut_town_has_exactly_one_judicial_district(roster, geo_data):
    for town, county in geo_data.ct_towns.items():
        choice = roster.offices_for(county, town)
        assert len(choice.offices) == 1 and not choice.ambiguous, (town, county, choice)


def _as_pandas_read_it(path: Path) -> list[dict[str, str]]:
    """The roster file's rows as read_rows read them with pandas before (dtype=str,
    keep_default_na=False, optional columns added empty, every cell stripped)."""
    import pandas as pd

    from outreach.roster.offices import OPTIONAL_COLUMNS, ROSTER_COLUMNS

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    for column in OPTIONAL_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    columns = ROSTER_COLUMNS + OPTIONAL_COLUMNS
    return frame[columns].apply(lambda column: column.str.strip()).to_dict("records")


def test_roster_rows_read_without_pandas_as_pandas_read_them(tmp_path):
    from outreach.roster.offices import read_rows

    shipped = Path(__file__).resolve().parents[2] / "data" / "prosecutors.csv"
    assert read_rows(shipped) == _as_pandas_read_it(shipped)
    rows = shipped_rows()[:3]
    rows[1]["notes"] = '  a "quoted", spaced note\nover two lines  '
    columns = [c for c in rows[0] if c not in ("effective_from", "mailing_address")]
    path = write_roster(tmp_path / "roster.csv", rows, columns)
    text = path.read_text(encoding="utf-8")
    path.write_text("\ufeff" + text.replace("\n", "\n\n", 1), encoding="utf-8")  # BOM, blank
    assert read_rows(path) == _as_pandas_read_it(path)
    assert read_rows(path)[1]["notes"] == 'a "quoted", spaced note\nover two lines'


def test_a_row_longer_than_the_header_is_refused(tmp_path, counties):
    path = write_roster(tmp_path / "roster.csv", shipped_rows()[:2])
    path.write_text(path.read_text(encoding="utf-8") + "x," * 30 + "x\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"not a readable CSV file: Expected \d+ fields in "
                                          r"line 4, saw 31"):
        load_roster(path, counties)


def test_a_roster_built_from_its_file_imports_no_pandas(tmp_path):
    """A long-running process rebuilds the roster (a correction, a new day, a cold cache)
    without the frame library that `outreach run` keeps out of its scheduler."""
    import subprocess
    import sys

    probe = ("import sys; from pathlib import Path; from outreach.roster.offices import "
             "load_roster; from outreach.us.counties import load_counties; "
             f"data = Path({str(Path(__file__).resolve().parents[2] / 'data')!r}); "
             "roster = load_roster(data / 'prosecutors.csv', load_counties(data / "
             "'counties.csv')); print(len(roster.all_offices), 'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=120)
    count, pandas_loaded = done.stdout.split()
    assert int(count) > 2000 and pandas_loaded == "False"
