"""Roster upkeep: corrections with sources, effective dates, gaps, fallbacks, bounces."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from outreach.cli import cli
from outreach.roster.offices import OPTIONAL_COLUMNS, ROSTER_COLUMNS, load_roster
from outreach.sending.delivery import sendgrid_events
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.schema import roster_corrections
from tests.conftest import DATA, shipped_rows, write_roster

ROOT = DATA.parent
SOURCE = "https://example.org/directory"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'o.sqlite3'}",
            "OUTREACH_DATA_DIR": str(DATA), **extra}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env)


def _offices_without_phone(count: int) -> list[str]:
    return [r["office_id"] for r in shipped_rows()
            if not r["phone"] and r["handles"] != "misdemeanor"][:count]


def _corrections(path: Path, office_ids: list[str], bad: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["office_id", "phone", "officeholder", "source_url", "as_of"])
        for i, office_id in enumerate(office_ids):
            phone = "12345" if office_id == bad else f"(555) 010-{1000 + i}"
            writer.writerow([office_id, phone, "", SOURCE, "2026-11-20"])
    return path


def test_import_shows_a_diff_applies_keeps_sources_and_survives_an_upgrade(tmp_path):
    env = env_for(tmp_path)
    ids = _offices_without_phone(10)
    corrections = _corrections(tmp_path / "contacts.csv", ids, bad=ids[6])
    dry = run(env, "roster", "import", str(corrections), "--dry-run", "--json")
    assert dry.exit_code == 2  # an error was found: nothing applied
    plan = json.loads(dry.output)
    assert len(plan["changes"]) == 9 and plan["applied"] == 0
    assert plan["errors"] == [f"{corrections}: line 8: column phone: '12345' is not a "
                              "10-digit U.S. phone number"]
    assert {c["source_url"] for c in plan["changes"]} == {SOURCE}
    text = run(env, "roster", "import", str(corrections), "--dry-run")
    assert f"{ids[0]}\tphone\t'' -> '(555) 010-1000'" in text.output

    applied = run(env, "roster", "import", str(corrections), "--yes", "--json")
    assert json.loads(applied.output)["applied"] == 9
    exported = run(env, "roster", "export").output
    rows = {r["office_id"]: r for r in csv.DictReader(exported.splitlines())}
    assert rows[ids[0]]["phone"] == "(555) 010-1000" and rows[ids[6]]["phone"] == ""

    # A newer package: another shipped file (an office renamed upstream). The corrections stay.
    upgraded = shipped_rows()
    for row in upgraded:
        if row["office_id"] == ids[1]:
            row["office_name"] = row["office_name"] + " (renamed upstream)"
    newer = write_roster(tmp_path / "prosecutors.csv", upgraded,
                         ROSTER_COLUMNS + OPTIONAL_COLUMNS)
    exported = run({**env, "OUTREACH_ROSTER_PATH": str(newer)}, "roster", "export").output
    rows = {r["office_id"]: r for r in csv.DictReader(exported.splitlines())}
    assert rows[ids[1]]["phone"] == "(555) 010-1001"
    assert rows[ids[1]]["office_name"].endswith("(renamed upstream)")
    engine = open_store(env["OUTREACH_DATABASE_URL"])
    with engine.connect() as connection:
        kept = connection.execute(select(roster_corrections)).all()
    assert len(kept) == 9 and {k.source_url for k in kept} == {SOURCE}
    assert {k.file_name for k in kept} == {"contacts.csv"}


def test_lookup_returns_the_corrected_phone(tmp_path):
    env = env_for(tmp_path)
    brooklyn = json.loads(run(env, "lookup", "11201", "--json").output)
    office_id = brooklyn["offices"][0]["office_id"]
    path = tmp_path / "one.csv"
    path.write_text(f"office_id,phone,source_url,as_of\n{office_id},(718) 555-0142,{SOURCE},"
                    "2026-11-27\n")
    assert run(env, "roster", "import", str(path), "--yes").exit_code == 0
    after = json.loads(run(env, "lookup", "11201", "--json").output)
    assert after["offices"][0]["phone"] == "(718) 555-0142"


def test_a_correction_for_an_unknown_office_or_without_source_is_refused(tmp_path):
    env = env_for(tmp_path)
    path = tmp_path / "bad.csv"
    path.write_text("office_id,phone,source_url,as_of\n"
                    "no-such-office,(215) 555-0100,https://x.example,2026-11-01\n"
                    "pa-philadelphia,(215) 555-0100,,2026-11-01\n")
    result = json.loads(run(env, "roster", "import", str(path), "--yes", "--json").output)
    assert result["applied"] == 0
    assert any("line 2: column office_id: no office 'no-such-office'" in e
               for e in result["errors"])
    assert any("line 3: column source_url: required" in e for e in result["errors"])


def _redistricted_roster(tmp_path: Path, starts: date) -> Path:
    """Philadelphia's DA replaced by a new office from `starts` (a redistricting)."""
    rows = shipped_rows()
    for row in rows:
        if row["office_id"] == "pa-philadelphia":
            row["effective_to"] = starts.isoformat()
            new = {**row, "office_id": "pa-philadelphia-new", "effective_to": "",
                   "office_name": "Philadelphia Prosecutor (new district)",
                   "effective_from": starts.isoformat()}
    rows.append(new)
    return write_roster(tmp_path / f"roster-{starts}.csv", rows,
                        ROSTER_COLUMNS + OPTIONAL_COLUMNS)


def test_a_future_row_waits_for_its_date(tmp_path, counties):
    path = _redistricted_roster(tmp_path, date(2027, 1, 1))
    today = load_roster(path, counties, on=date(2026, 11, 28))
    assert [o.office_id for o in today.offices_for("42101").offices] == ["pa-philadelphia"]
    later = load_roster(path, counties, on=date(2027, 1, 2))
    assert [o.office_id for o in later.offices_for("42101").offices] == ["pa-philadelphia-new"]
    assert later.office("pa-philadelphia").office_name  # still known to old messages
    env = env_for(tmp_path, OUTREACH_ROSTER_PATH=str(path))
    now = json.loads(run(env, "lookup", "19102", "--json").output)
    then = json.loads(run(env, "lookup", "19102", "--date", "2027-01-02", "--json").output)
    assert now["offices"][0]["office_id"] == "pa-philadelphia"
    assert then["offices"][0]["office_id"] == "pa-philadelphia-new"


def test_rematch_reports_the_signers_who_moved(tmp_path):
    env = env_for(tmp_path)
    signers = tmp_path / "s.csv"
    signers.write_text("email,zip\n" + "".join(f"p{i}@example.org,{z}\n" for i, z in
                                               enumerate(["19102", "19103", "10001"])))
    engine = open_store(env["OUTREACH_DATABASE_URL"])
    intake(signers, engine)
    assert run(env, "match").exit_code == 0
    switched = _redistricted_roster(tmp_path, datetime.now(UTC).date() - timedelta(days=1))
    moved = run({**env, "OUTREACH_ROSTER_PATH": str(switched)}, "match", "--rematch", "--json")
    assert json.loads(moved.output)["moved"] == 2  # the two Philadelphians; New York stays


def test_roster_gaps_rank_offices_by_signers_affected(tmp_path, counties):
    demo = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    done = subprocess.run([sys.executable, "-m", "outreach.cli", "demo", "--dir", str(demo)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    database = f"sqlite:///{demo / 'outreach.sqlite3'}"
    gaps = run({"OUTREACH_DATABASE_URL": database}, "roster", "gaps", "--json",
               "--campaign", "marijuana_justice")
    report = json.loads(gaps.output)
    offices = report["offices"]
    assert offices and report["signers_matched"] > 0
    assert [o["signers"] for o in offices] == sorted((o["signers"] for o in offices),
                                                     reverse=True)
    assert all(o["missing"] for o in offices)
    assert 0 < report["share_covered"]["phone"] < 1
    assert all(isinstance(v, float) for v in report["share_covered"].values())

    # No message the demo rendered names an empty office, phone or greeting.
    texts = [p.read_text() for p in (demo / "outbox" / "email").glob("*.eml")]
    sms_journal = demo / "outbox" / "sms.jsonl"
    if sms_journal.exists():
        texts += [json.loads(line)["body"] for line in sms_journal.read_text().splitlines()]
    # The steps still waiting for their delays (timed from the launch for the sample's old
    # signatures) rendered now, every one of them, so the check covers every template.
    from outreach.campaigns.definitions import find_campaign
    from outreach.campaigns.planner import plan_campaign
    from outreach.campaigns.render import Renderer, Sender

    engine = open_store(database)
    roster = load_roster(DATA / "prosecutors.csv", counties)
    renderer = Renderer(engine, roster, ROOT / "templates",
                        Sender("MJ <t@mj-campaign.org>", "+12155550100", "MJ Campaign", "PO Box 1"))
    plans = plan_campaign(engine, find_campaign(ROOT / "jobs", "marijuana_justice"),
                          datetime.now(UTC), timedelta(0), roster=roster)
    waiting = [box.OutboxRow(-(i + 1), m.idempotency_key, m.campaign, m.step, m.channel,
                             m.recipient_kind, m.recipient_id, m.template, dict(m.context),
                             "queued", 0, None, None, None, datetime.now(UTC))
               for i, m in enumerate(m for p in plans for m in p.messages
                                     if m.not_before > datetime.now(UTC))]
    rendered = renderer.render_batch(waiting).values()
    assert {row.step for row in waiting} >= {"call_your_da", "call_your_da_sms", "share"}
    assert all(not isinstance(m, Exception) for m in rendered)
    texts += [m.text for m in rendered]
    engine.dispose()
    assert len(texts) > 100
    empty = re.compile(r"Dear ,|the  |at \.|call  |\(\)|None|\{\{|Your prosecutor is the \.|"
                       r"To the ,|To the :", re.MULTILINE)
    offenders = [t for t in texts if empty.search(t)]
    assert offenders == []


def test_office_fallbacks_in_messages_and_counts_in_the_plan(tmp_path, store, counties, geo,
                                                             by_zip):
    from outreach.campaigns.definitions import find_campaign
    from outreach.campaigns.planner import plan_campaign
    from outreach.campaigns.preview import Prices, preview
    from outreach.campaigns.render import Renderer, Sender

    path = tmp_path / "s.csv"
    path.write_text("email,phone,zip,sms_opt_in\n"
                    "a@example.org,+12155550101,19102,yes\n"  # Philadelphia: a phone
                    "b@example.org,+19015550102,38103,yes\n")  # Shelby County TN: website?
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    shelby = geo.lookup("38103").offices[0]["office_id"]
    roster = load_roster(DATA / "prosecutors.csv", counties,
                         overrides={shelby: {"phone": "", "website": ""}})
    renderer = Renderer(store, roster, ROOT / "templates",
                        Sender("MJ <t@mj-campaign.org>", "+1", "MJ Campaign", "PO Box 1"))
    campaign = find_campaign(ROOT / "jobs", "marijuana_justice")
    plans = plan_campaign(store, campaign, datetime.now(UTC), timedelta(0), roster=roster)
    shown = preview(plans, renderer, Prices(0, 0.01))
    call = next(s for s in shown["steps"] if s["step"] == "call_your_da")
    assert call["office_contact"] == {"phone": 1, "office name only": 1}
    rows = [box.OutboxRow(-1, "k", "mj", "c", channel, "signer", "2", "call_your_da", {},
                          "queued", 0, None, None, None, datetime.now(UTC))
            for channel in ("email", "sms")]
    email, sms = (renderer.render_batch([r])[-1] for r in rows)
    name = roster.office(shelby).office_name
    assert f'find your prosecutor\'s office by searching for "{name}"' in email.text
    assert f"find your prosecutor's office, the {name}, and call them" in sms.text


def test_a_hard_bounce_from_an_office_marks_its_email_bad(tmp_path, store, counties):
    now = datetime.now(UTC)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "digest", "email", "office",
                                                "pa-philadelphia@2026-11-27", "office_digest",
                                                {"office_id": "pa-philadelphia"}, now)], now)
    events = [{"email": "da@phila.example", "timestamp": int(now.timestamp()),
               "event": "bounce", "type": "bounce", "outreach_id": "1",
               "reason": "550 5.1.1 user unknown"}]
    assert sendgrid_events(store, events, now) == {"suppressed": 1}
    from outreach.roster.corrections import bounced_offices, overrides

    assert overrides(store)["pa-philadelphia"] == {"email": ""}
    assert bounced_offices(store) == {"pa-philadelphia"}
    effective = load_roster(DATA / "prosecutors.csv", counties, overrides=overrides(store))
    assert effective.office("pa-philadelphia").email == ""


@pytest.mark.parametrize("day", ["2027-13-01", "01/02/2027"])
def test_effective_dates_are_validated(tmp_path, counties, day):
    rows = shipped_rows()[:2]
    rows[0]["effective_from"] = day
    path = write_roster(tmp_path / "r.csv", rows, ROSTER_COLUMNS + OPTIONAL_COLUMNS)
    from outreach.roster.offices import RosterError

    with pytest.raises(RosterError, match=r"column effective_from: .* is not a date"):
        load_roster(path, counties)


def test_a_long_running_process_follows_the_calendar_and_new_corrections(tmp_path):
    import time_machine

    from outreach.config import Settings
    from outreach.geo.current import CurrentGeo
    from outreach.roster.corrections import Change, apply_import

    path = _redistricted_roster(tmp_path, date(2027, 1, 1))
    engine = open_store(f"sqlite:///{tmp_path / 'o.sqlite3'}")
    settings = Settings.from_env({"OUTREACH_DATA_DIR": str(DATA),
                                  "OUTREACH_ROSTER_PATH": str(path)})
    current = CurrentGeo(settings, engine)
    current.RECHECK_SECONDS = 0
    with time_machine.travel(datetime(2026, 12, 31, 12, tzinfo=UTC), tick=False):
        assert current.geo().lookup("19102").offices[0]["office_id"] == "pa-philadelphia"
        apply_import(engine, [Change(2, "pa-philadelphia", "phone", "", "(215) 555-0199",
                                     SOURCE, "2026-12-30")], "fix.csv", datetime.now(UTC))
        assert current.geo().roster.office("pa-philadelphia").phone == "(215) 555-0199"
    with time_machine.travel(datetime(2027, 1, 2, 12, tzinfo=UTC), tick=False):
        assert current.geo().lookup("19102").offices[0]["office_id"] == "pa-philadelphia-new"
        assert current.by_zip().loc["19102", "felony_office_id"] == "pa-philadelphia-new"
