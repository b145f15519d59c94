"""People served and the verification loop through the CLI: coverage by population, gaps
ranked by signers then people and telling stale names from missing ones, and the call sheet
exported, filled in by a volunteer and imported back."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from outreach.cli import cli
from outreach.roster.corrections import CALL_SHEET_COLUMNS
from outreach.signers.intake import intake
from outreach.store.db import open_store
from outreach.store.schema import roster_corrections
from outreach.us.counties import load_counties
from tests.conftest import DATA

COOK_SOURCE = "https://www.cookcountystatesattorney.org/about"
BURKE = "Eileen O'Neill Burke"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'o.sqlite3'}",
            "OUTREACH_DATA_DIR": str(DATA), **extra}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _import(env: dict[str, str], tmp_path: Path, text: str, *flags: str):
    path = tmp_path / f"fix-{len(list(tmp_path.glob('fix-*.csv')))}.csv"
    path.write_text(text, encoding="utf-8")
    return run(env, "roster", "import", str(path), *(flags or ("--yes", "--json")))


def test_roster_check_reports_the_people_whose_office_has_each_contact(tmp_path):
    env = env_for(tmp_path)
    before = json.loads(run(env, "roster", "check", "--json").output)
    shares = before["coverage"]["population"]
    assert set(shares) == {"phone", "email", "website", "officeholder_current",
                           "mailing_address"}
    assert all(isinstance(v, float) and 0 <= v <= 1 and round(v, 4) == v
               for v in shares.values())
    assert before["offices_without_phone"] > 0  # today's counts stay beside it
    # Cook County's office gets a phone: the share rises by Cook County's people.
    fixed = _import(env, tmp_path, "office_id,phone,source_url,as_of\n"
                                   f"il-cook,(312) 603-1880,{COOK_SOURCE},2026-11-30\n")
    assert json.loads(fixed.output)["applied"] == 1
    after = json.loads(run(env, "roster", "check", "--json").output)["coverage"]["population"]
    counties = load_counties(DATA / "counties.csv")
    cook = counties["17031"].population / counties.population
    assert abs(after["phone"] - shares["phone"] - cook) <= 0.0001
    text = run(env, "roster", "check").output
    assert "People served (2020 Census) whose felony office has: phone " in text
    assert "officeholder current" in text


def _signers(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "signers.csv"
    path.write_text("email,zip\n"
                    "a@example.org,60187\n"  # DuPage County IL: 932,877 people
                    "b@example.org,60602\n"  # Cook County IL: 5,275,541
                    "c@example.org,19102\n"  # Philadelphia: 1,603,797
                    "d@example.org,19103\n")  # Philadelphia again
    intake(path, open_store(env["OUTREACH_DATABASE_URL"]))
    assert run(env, "match").exit_code == 0


def test_gaps_rank_by_signers_then_people_and_tell_stale_from_missing(tmp_path):
    env = env_for(tmp_path)
    _signers(tmp_path, env)
    cleared = _import(env, tmp_path, "office_id,officeholder,source_url,as_of\n"
                                     f"il-dupage,-,{COOK_SOURCE},2026-11-30\n")
    assert json.loads(cleared.output)["applied"] >= 1
    report = json.loads(run(env, "roster", "gaps", "--json").output)
    offices = report["offices"]
    assert [o["office_id"] for o in offices[:3]] == ["pa-philadelphia", "il-cook", "il-dupage"]
    assert [o["signers"] for o in offices[:3]] == [2, 1, 1]  # Cook before DuPage: more people
    counties = load_counties(DATA / "counties.csv")
    assert offices[1]["people_served"] == counties["17031"].population
    by_id = {o["office_id"]: o for o in offices}
    assert "officeholder stale" in by_id["il-cook"]["missing"]  # a name from 2025-03
    assert by_id["il-cook"]["officeholder"] == "stale"
    assert "officeholder missing" in by_id["il-dupage"]["missing"]
    assert by_id["il-dupage"]["officeholder"] == "missing"
    # Offices no signer is matched to follow, the most populous first.
    rest = [o for o in offices if o["signers"] == 0]
    assert rest and offices.index(rest[0]) == 3
    assert [o["people_served"] for o in rest] == sorted((o["people_served"] for o in rest),
                                                        reverse=True)
    assert rest[0]["office_id"] == "ca-los-angeles-da"
    text = run(env, "roster", "gaps", "--limit", "2").output
    assert "il-cook (5,275,541 people): missing phone, email, officeholder stale" in text


def _sheet(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CALL_SHEET_COLUMNS
        return list(reader)


def _write_sheet(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CALL_SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_call_sheet_goes_out_and_comes_back_verified(tmp_path):
    env = env_for(tmp_path)
    _signers(tmp_path, env)
    sheet = tmp_path / "sheet.csv"
    done = run(env, "roster", "verify", "--export", str(sheet), "--state", "IL",
               "--limit", "3", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    rows = _sheet(sheet)
    assert summary["rows"] == len(rows) and summary["offices"] == 3
    # The two offices with signers first (Cook: more people), then Illinois' most populous.
    assert list(dict.fromkeys(r["office_id"] for r in rows)) == ["il-cook", "il-dupage",
                                                                 "il-lake"]
    cook = {r["field"]: r for r in rows if r["office_id"] == "il-cook"}
    assert cook["phone"]["status"] == "missing" and cook["phone"]["lead"] == ""
    assert cook["officeholder"]["status"] == "stale"
    assert cook["officeholder"]["lead"] == BURKE
    assert cook["officeholder"]["lead_as_of"] == "2025-03"
    assert cook["phone"]["county"] == "Cook County, IL"
    assert cook["phone"]["people_served"] == "5275541" and cook["phone"]["signers"] == "1"
    assert all(r["value"] == r["source_url"] == r["verified_on"] == "" for r in rows)

    assert "website" not in cook  # verified (the jurisdiction file's, from a dated source)
    # A volunteer calls Cook County: the name is right, here is the phone.
    today = _today()
    for field, value in (("officeholder", BURKE), ("phone", "312-603-1880")):
        cook[field].update(value=value, source_url=COOK_SOURCE, verified_on=today)
    filled = _write_sheet(tmp_path / "filled.csv", rows)
    dry = run(env, "roster", "import", str(filled), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"il-cook\tofficeholder\tverified {BURKE!r}" in dry.output
    assert "il-cook\tphone\t'' -> '312-603-1880'" in dry.output
    assert f"il-cook\tofficeholder_as_of\t'2025-03' -> '{today}'" in dry.output
    assert f"{len(rows) - 2} sheet rows not checked" in dry.output
    plan = json.loads(run(env, "roster", "import", str(filled), "--yes", "--json").output)
    assert plan["verified"] == 1 and plan["applied"] == 3 and plan["errors"] == []
    assert plan["unchecked_rows"] == len(rows) - 2

    engine = open_store(env["OUTREACH_DATABASE_URL"])
    with engine.connect() as connection:
        stored = {r.field: r for r in connection.execute(select(roster_corrections))}
    engine.dispose()
    assert stored["officeholder"].value == stored["officeholder"].old_value == BURKE
    assert stored["officeholder"].as_of == today
    assert stored["officeholder"].source_url == COOK_SOURCE
    assert stored["officeholder_as_of"].value == today
    lookup = json.loads(run(env, "lookup", "60602", "--json").output)["offices"][0]
    assert lookup["officeholder_status"] == "current"  # confirmed today: messages name her
    assert lookup["phone"] == "312-603-1880"
    # Cook's name is no longer stale and its phone is verified, so the next sheet asks
    # nothing of it but the email and the postal address it lacks.
    again = tmp_path / "again.csv"
    run(env, "roster", "verify", "--export", str(again), "--state", "IL", "--limit", "1")
    assert {r["field"]: r["status"] for r in _sheet(again) if r["office_id"] == "il-cook"} \
        == {"email": "missing", "mailing_address": "missing"}


def test_a_call_sheet_row_needs_its_source_and_a_day_that_has_come(tmp_path):
    env = env_for(tmp_path)
    sheet = tmp_path / "sheet.csv"
    assert run(env, "roster", "verify", "--export", str(sheet), "--state", "IL",
               "--limit", "1").exit_code == 0
    rows = _sheet(sheet)[:3]
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    rows[0].update(value="(312) 603-1880", source_url=COOK_SOURCE, verified_on=tomorrow)
    rows[1].update(value="sao@cookcountyil.gov", source_url="", verified_on=_today())
    rows[2].update(value="https://www.cookcountystatesattorney.org", source_url=COOK_SOURCE,
                   verified_on="")
    path = _write_sheet(tmp_path / "bad.csv", rows)
    result = run(env, "roster", "import", str(path), "--yes", "--json")
    assert result.exit_code == 2
    plan = json.loads(result.output)
    assert plan["applied"] == 0 and plan["changes"] == []
    assert plan["errors"] == [
        f"{path}: line 2: column verified_on: {tomorrow} is after today ({_today()})",
        f"{path}: line 3: column source_url: required for every change: the http(s) page the "
        "new values come from",
        f"{path}: line 4: column verified_on: required with a value: the day you checked it, "
        "YYYY-MM-DD"]
    extra = tmp_path / "extra.csv"
    extra.write_text(",".join((*CALL_SHEET_COLUMNS, "notes")) + "\n", encoding="utf-8")
    refused = run(env, "roster", "import", str(extra), "--dry-run")
    assert refused.exit_code == 2
    assert "line 1: unknown column(s) notes (a call sheet's: office_id," in refused.output


def test_the_call_sheet_escapes_formulas_and_reads_its_own_escape_back(tmp_path):
    env = env_for(tmp_path)
    planted = '=HYPERLINK("http://evil.example","call")'
    old = (datetime.now(UTC).date() - timedelta(days=500)).isoformat()
    _import(env, tmp_path, "office_id,officeholder,source_url,as_of\n"
                           f"il-cook,\"{planted.replace(chr(34), chr(34) * 2)}\","
                           f"{COOK_SOURCE},{old}\n")
    sheet = tmp_path / "sheet.csv"
    run(env, "roster", "verify", "--export", str(sheet), "--state", "IL", "--limit", "1")
    raw = sheet.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in raw and ",=HYPERLINK" not in raw
    rows = _sheet(sheet)
    holder = next(r for r in rows if r["field"] == "officeholder")
    assert holder["lead"] == "'" + planted
    holder.update(value=holder["lead"], source_url=COOK_SOURCE, verified_on=_today())
    plan = json.loads(run(env, "roster", "import", str(_write_sheet(tmp_path / "f.csv", rows)),
                          "--dry-run", "--json").output)
    assert ("officeholder", "verified", planted) in \
        [(c["field"], c["kind"], c["new"]) for c in plan["changes"]]


def test_verify_refuses_an_unknown_state_or_campaign_in_one_line(tmp_path):
    env = env_for(tmp_path)
    sheet = tmp_path / "s.csv"
    bad_state = run(env, "roster", "verify", "--export", str(sheet), "--state", "XX")
    assert bad_state.exit_code == 2 and "'XX' is not a U.S. state or DC" in bad_state.output
    bad_campaign = run(env, "roster", "verify", "--export", str(sheet), "--campaign", "nope")
    assert bad_campaign.exit_code == 2
    assert bad_campaign.output.count("\n") == 1 and "error" in bad_campaign.output
    assert not sheet.exists()


def test_a_correction_dated_in_the_future_waits_for_its_day(tmp_path):
    env = env_for(tmp_path)
    today = datetime.now(UTC).date()
    sworn_in = (today + timedelta(days=30)).isoformat()
    path = tmp_path / "elect.csv"
    path.write_text("office_id,officeholder,source_url,as_of\n"
                    f"il-cook,Next Holder,{COOK_SOURCE},{sworn_in}\n", encoding="utf-8")
    dry = run(env, "roster", "import", str(path), "--dry-run")
    assert f"il-cook\tofficeholder\t{BURKE!r} -> 'Next Holder'\t({COOK_SOURCE}, {sworn_in}; " \
           f"waits for {sworn_in})" in dry.output
    assert run(env, "roster", "import", str(path), "--yes").exit_code == 0
    now = json.loads(run(env, "lookup", "60602", "--json").output)["offices"][0]
    assert now["officeholder"] == BURKE
    then = json.loads(run(env, "lookup", "60602", "--date", sworn_in, "--json").output)
    assert then["offices"][0]["officeholder"] == "Next Holder"
    assert then["offices"][0]["officeholder_status"] == "current"
    assert then["offices"][0]["officeholder_as_of"] == sworn_in
