"""Each prosecutor's stance on the three demands: recorded with a source, kept as history, the
latest-dated statement current, bad input refused line by line (issue 17.1)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner

from outreach.cli import cli
from outreach.roster import stances
from outreach.roster.stances import OfficeStance, StanceStatement
from tests.conftest import DATA

SOURCE = "https://phillyda.org/news/marijuana-policy"
TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
OFFICES = {"pa-philadelphia", "pa-allegheny"}


def _run(store_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OUTREACH_DATABASE_URL": store_url,
                                                    "OUTREACH_DATA_DIR": str(DATA)})


def _plan(current, **asked: str) -> stances.StancePlan:  # type: ignore[no-untyped-def]
    on = asked.pop("on", "2026-11-30")
    source = asked.pop("source", SOURCE)
    return stances.plan_changes("pa-philadelphia", asked, source, on, "", current=current,
                                office_ids=OFFICES, today=TODAY)


def test_the_latest_dated_statement_is_current_and_every_one_is_history(store):
    with store.begin() as connection:
        stances.record(connection, _plan({}, expunge="yes", drop="partial").changes,
                       "cli:tester", NOW)
        # An older statement recorded later goes into the history, not over the newer one.
        stances.record(connection, _plan({}, expunge="no", on="2019-05-01").changes,
                       "import:old.csv", NOW)
    with store.connect() as connection:
        current = stances.stance_of(connection, "pa-philadelphia")
        past = stances.history(connection, ["pa-philadelphia"])
        other = stances.stance_of(connection, "pa-allegheny")
    assert current.of("expunge") == "yes" and current.of("drop") == "partial"
    assert current.of("divert") == "unknown" and current.summary == "partial"
    assert [(s.demand, s.stance, s.set_by) for s in past] == [
        ("expunge", "no", "import:old.csv"), ("expunge", "yes", "cli:tester"),
        ("drop", "partial", "cli:tester")]
    assert other.summary == "unknown" and other.of("drop") == "unknown"


def test_summary_of_the_three_demands():
    def of(**values: str) -> OfficeStance:
        return OfficeStance("x", {d: StanceStatement("x", d, v, SOURCE, TODAY)  # type: ignore[misc]
                                  for d, v in values.items()})
    assert of(expunge="yes", drop="yes", divert="yes").summary == "committed"
    assert of(expunge="yes", drop="no", divert="no").summary == "partial"
    assert of(expunge="no").summary == "not_committed"
    assert of().summary == "unknown"
    assert of(expunge="yes", drop="yes").summary == "partial"  # divert unknown


def test_a_statement_needs_a_known_office_a_value_a_source_and_a_past_day():
    assert _plan({}, expunge="maybe").errors == [
        "column expunge: 'maybe' is not one of unknown|no|partial|yes"]
    assert "column source_url" in _plan({}, expunge="yes", source="phillyda.org").errors[0]
    assert _plan({}, expunge="yes", on="2027-01-01").errors == [
        "column on: 2027-01-01 is in the future: a stance is recorded once stated"]
    assert _plan({}).errors[0].startswith("no demand given")
    unknown = stances.plan_changes("pa-nowhere", {"drop": "yes"}, SOURCE, "2026-11-30", "",
                                   current={}, office_ids=OFFICES, today=TODAY)
    assert unknown.errors == ["column office_id: no office 'pa-nowhere' in the roster"]
    held = {"pa-philadelphia": OfficeStance("pa-philadelphia", {"drop": StanceStatement(
        "pa-philadelphia", "drop", "yes", SOURCE, TODAY)})}
    again = _plan(held, drop="yes")
    assert again.changes == [] and again.unchanged_rows == 1


def test_cli_set_list_and_import_with_a_dry_run(store_url, tmp_path: Path):
    done = _run(store_url, "stance", "set", "pa-philadelphia", "--expunge", "yes", "--drop",
                "yes", "--divert", "yes", "--source", SOURCE, "--on", "2026-11-30", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["recorded"] == 3
    listed = json.loads(_run(store_url, "stance", "list", "--state", "pa", "--json").output)
    assert [(o["office_id"], o["summary"]) for o in listed["offices"]] == [
        ("pa-philadelphia", "committed")]
    assert listed["offices"][0]["drop"]["source_url"] == SOURCE

    sheet = tmp_path / "stances.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["office_id", "expunge", "drop", "divert", "source_url", "on", "note"])
        writer.writerow(["pa-allegheny", "no", "", "partial", SOURCE, "2026-10-01", "a debate"])
        writer.writerow(["pa-allegheny", "perhaps", "", "", SOURCE, "2026-10-01", ""])
        writer.writerow(["pa-philadelphia", "yes", "", "", SOURCE, "2026-11-30", ""])
    dry = _run(store_url, "stance", "import", str(sheet), "--dry-run", "--json")
    assert dry.exit_code == 2  # an error row: reported, the others still shown
    plan = json.loads(dry.output)
    assert [(c["office_id"], c["demand"], c["old"], c["new"]) for c in plan["changes"]] == [
        ("pa-allegheny", "expunge", "unknown", "no"),
        ("pa-allegheny", "divert", "unknown", "partial")]
    assert plan["errors"] == [f"{sheet}: line 3: column expunge: 'perhaps' is not one of "
                              "unknown|no|partial|yes"]
    assert plan["unchanged_rows"] == 1 and plan["recorded"] == 0
    applied = json.loads(_run(store_url, "stance", "import", str(sheet), "--yes",
                              "--json").output)
    assert applied["recorded"] == 2
    history = json.loads(_run(store_url, "stance", "list", "--history", "--json").output)
    assert {(s["office_id"], s["set_by"].partition(":")[0]) for s in history["history"]} == {
        ("pa-philadelphia", "cli"), ("pa-allegheny", "import")}
    assert {s["set_by"] for s in history["history"] if s["office_id"] == "pa-allegheny"} == {
        "import:stances.csv"}
    bad = _run(store_url, "stance", "set", "pa-philadelphia", "--drop", "no", "--source",
               "not a url")
    assert bad.exit_code == 2 and "source_url" in bad.output
