"""Calls (issue 17.3): a signer's call page shows their prosecutor's number and a script, its
outcome buttons store what happened per office and campaign, and the counts reach
`outreach report`, the dashboard and `outreach roster gaps`. Through the real web app and
the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from outreach.campaigns.calls import call_day, calls_summary
from outreach.campaigns.render import Renderer, Sender
from outreach.cli import cli
from outreach.roster import corrections, stances
from outreach.roster.stances import DEMAND_TEXT
from outreach.store import outbox as box
from outreach.store.schema import call_outcomes, signers
from outreach.web import create_app
from outreach.web.security import hash_password
from tests.web_helpers import (
    HTML,
    PASSWORD,
    PUBLIC,
    ROOT,
    Clock,
    csrf_of,
    sign,
    web_settings,
)

PHILADELPHIA = "pa-philadelphia"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture
def app(store, clock, password_hash):
    settings = web_settings(PUBLIC, OUTREACH_SESSION_SECRET="s" * 32,
                            OUTREACH_ADMIN_PASSWORD_HASH=password_hash)
    return create_app(settings, engine=store, clock=clock)


@pytest.fixture
def client(app):
    with TestClient(app, base_url=PUBLIC) as test_client:
        yield test_client


def press(client: TestClient, code: str, outcome: str, office: str = PHILADELPHIA,
          campaign: str = "marijuana_justice", csrf: str | None = None):
    path = f"/call/{code}" + (f"?c={campaign}" if campaign else "")
    token = csrf if csrf is not None else csrf_of(client, path)
    return client.post(f"/call/{code}", data={"office": office, "outcome": outcome,
                                              "c": campaign, "csrf": token},
                       headers=HTML, follow_redirects=False)


def stored(store) -> list[tuple]:
    with store.connect() as connection:
        return [tuple(r) for r in connection.execute(
            select(call_outcomes.c.office_id, call_outcomes.c.campaign,
                   call_outcomes.c.outcome, call_outcomes.c.call_day)
            .order_by(call_outcomes.c.id))]


def report(store_url: str) -> dict:
    result = CliRunner().invoke(cli, ["report", "--json"],
                                env={"OUTREACH_DATABASE_URL": store_url})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["calls"]


def office_calls(calls: dict, office_id: str) -> dict[str, int]:
    found = [o for o in calls["by_office"] if o["office_id"] == office_id]
    return found[0]["outcomes"] if found else {}


# --- the Done-when -----------------------------------------------------------------------------
def test_logging_an_outcome_on_a_call_page_increases_the_offices_count_in_report_json(
        client, store, store_url):
    code = sign(client)
    before = report(store_url)
    assert office_calls(before, PHILADELPHIA).get("spoke", 0) == 0
    answer = press(client, code, "spoke")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/call/{code}?c=marijuana_justice&logged=1#thanks"
    after = report(store_url)
    assert office_calls(after, PHILADELPHIA)["spoke"] == 1
    assert after["total"] == before["total"] + 1
    assert after["by_outcome"]["spoke"] == 1
    office = next(o for o in after["by_office"] if o["office_id"] == PHILADELPHIA)
    assert office["by_campaign"] == [{"campaign": "marijuana_justice", "total": 1,
                                      "outcomes": {"spoke": 1, "voicemail": 0,
                                                   "no_answer": 0, "wrong_number": 0}}]
    assert after["by_campaign"][0]["campaign"] == "marijuana_justice"
    text = CliRunner().invoke(cli, ["report"], env={"OUTREACH_DATABASE_URL": store_url})
    assert "Calls logged: 1 to 1 office (spoke to staff 1)" in text.output
    thanks = client.get(answer.headers["location"], headers=HTML).text
    assert 'id="thanks"' in thanks


# --- the page ----------------------------------------------------------------------------------
def test_the_call_page_shows_the_number_script_and_buttons_and_no_signer_data(client, app):
    code = sign(client)
    stranger = TestClient(app, base_url=PUBLIC)  # someone the signer shared their link with
    page = stranger.get(f"/call/{code}", headers=HTML)
    assert page.status_code == 200
    text = page.text
    assert 'href="tel:+12156868000"' in text and "(215) 686-8000" in text
    assert "Larry Krasner" in text  # the officeholder, a public fact
    for demand in DEMAND_TEXT.values():  # no stance recorded: all three asked for
        assert demand in text
    buttons = re.findall(r'<button type="submit"[^>]*name="outcome" value="([a-z_]+)"', text)
    assert buttons == ["spoke", "voicemail", "no_answer", "wrong_number"]
    for label in ("Spoke to staff", "Left a voicemail", "No answer", "Number wrong"):
        assert label in text
    for private in ("Zorabel", "Quixley", "zorabel@example.org", "2675550142", "555-0142",
                    "1421 Arch", "Arch Street"):
        assert private not in text, private
    assert 'id="thanks"' not in text  # nothing says whether this signer called


def test_the_script_thanks_an_office_for_what_it_committed_to_and_asks_the_rest(client,
                                                                                store):
    with store.begin() as connection:
        plan = stances.plan_changes(PHILADELPHIA, {"expunge": "yes"},
                                    "https://phillyda.org/news/expungement", "2026-11-30", "",
                                    current={}, office_ids={PHILADELPHIA},
                                    today=date(2026, 12, 1))
        stances.record(connection, plan.changes, "test", datetime.now(UTC))
    code = sign(client)
    script = client.get(f"/call/{code}", headers=HTML).text.split('class="script"', 1)[1]
    script = " ".join(script.split("</p>", 1)[0].split())
    assert f"Thank you for committing to {DEMAND_TEXT['expunge']}." in script
    assert (f"ask Larry Krasner to {DEMAND_TEXT['drop']} and {DEMAND_TEXT['divert']}."
            in script)


def test_the_thanks_page_links_to_the_call_page(client):
    code = sign(client)
    thanks = client.get(f"/thanks/{code}", headers=HTML).text
    assert f'href="/call/{code}"' in thanks


def test_an_office_without_a_phone_points_to_its_website_and_has_no_buttons(client):
    code = sign(client, email="houston@example.org", phone="", street="1201 Franklin St",
                zip="77002")  # Harris County District Attorney: a website, no phone known
    text = client.get(f"/call/{code}", headers=HTML).text
    assert "Harris County District Attorney" in text
    assert "We don't have this office's phone number yet" in text
    assert 'href="https://www.harriscountyda.com"' in text
    assert 'name="outcome"' not in text and "tel:" not in text
    assert press(client, code, "spoke", office="tx-harris-county-da",
                 csrf=csrf_of(client, "/")).status_code == 400


def test_the_misdemeanor_office_is_shown_when_it_has_a_phone(store, clock, tmp_path, counties):
    """Fulton County, Georgia: a circuit DA for felonies, a Solicitor-General for misdemeanors
    (the shipped roster has no phone for either: a correction gives them one)."""
    fix = tmp_path / "phones.csv"
    fix.write_text("office_id,phone,source_url,as_of\n"
                   "ga-atlanta-circuit,(404) 612-4639,https://fultoncountyga.gov/da,2026-11-01\n"
                   "ga-fulton-solicitor-general,(404) 612-4800,https://fultoncountyga.gov/sg,"
                   "2026-11-01\n")
    current = {r["office_id"]: r for r in corrections.effective_rows(ROOT / "data" /
                                                                     "prosecutors.csv", store)}
    plan = corrections.plan_import(fix, current, counties)
    assert not plan.errors
    corrections.apply_import(store, plan.changes, fix.name, datetime.now(UTC))
    app = create_app(web_settings(PUBLIC, OUTREACH_SESSION_SECRET="s" * 32), engine=store,
                     clock=clock)
    with TestClient(app, base_url=PUBLIC) as client:
        code = sign(client, email="atl@example.org", phone="", street="55 Trinity Ave",
                    zip="30303")
        text = client.get(f"/call/{code}", headers=HTML).text
        assert 'href="tel:+14046124639"' in text and 'href="tel:+14046124800"' in text
        assert text.count('name="office" value=') == 2
        assert press(client, code, "voicemail", office="ga-fulton-solicitor-general",
                     campaign="").status_code == 303
    assert stored(store)[0][:3] == ("ga-fulton-solicitor-general", None, "voicemail")


# --- who may press, and how often --------------------------------------------------------------
def test_a_stranger_without_the_code_cannot_log(client, store):
    code = sign(client)
    token = csrf_of(client, f"/call/{code}")
    for made_up in ("AAAAAAAA", code[:-1], code + "x", "x" * 200):
        answer = client.post(f"/call/{made_up}", headers=HTML, follow_redirects=False,
                             data={"office": PHILADELPHIA, "outcome": "spoke", "csrf": token})
        assert answer.status_code == 404, made_up
        assert client.get(f"/call/{made_up}", headers=HTML).status_code == 404
    # Holding a code does not open another office's count, nor a made-up outcome.
    assert press(client, code, "spoke", office="pa-allegheny").status_code == 400
    assert press(client, code, "hung_up").status_code == 400
    assert stored(store) == []


def test_the_outcome_form_needs_the_sessions_csrf_token(client, app, store):
    code = sign(client)
    assert press(client, code, "spoke", csrf="").status_code == 403
    other = TestClient(app, base_url=PUBLIC)
    other_token = csrf_of(other, f"/call/{code}")
    assert press(client, code, "spoke", csrf=other_token).status_code == 403  # not this session
    assert press(client, code, "spoke", csrf="forged").status_code == 403
    assert stored(store) == []


def test_one_outcome_counts_per_signer_office_and_day(client, store, store_url, clock):
    clock.now = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 10:00 in Philadelphia
    code = sign(client)
    for outcome in ("no_answer", "no_answer", "spoke"):
        assert press(client, code, outcome).status_code == 303
    # A link naming no campaign of jobs/ counts under none.
    assert press(client, code, "spoke", campaign="made_up").status_code == 303
    assert stored(store) == [(PHILADELPHIA, None, "spoke", date(2026, 12, 3))]
    # 23:30 in Philadelphia, already the 4th in UTC: still the signer's 3rd.
    clock.now = datetime(2026, 12, 4, 4, 30, tzinfo=UTC)
    assert press(client, code, "voicemail").status_code == 303
    assert len(stored(store)) == 1
    clock.now = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # the next day: a new call
    assert press(client, code, "voicemail").status_code == 303
    assert stored(store) == [(PHILADELPHIA, "marijuana_justice", "voicemail", date(2026, 12, 3)),
                             (PHILADELPHIA, "marijuana_justice", "voicemail",
                              date(2026, 12, 4))]
    calls = report(store_url)
    assert calls["total"] == 2 and office_calls(calls, PHILADELPHIA)["voicemail"] == 2


def test_presses_are_limited_per_client_and_per_code(app, store):
    with TestClient(app, base_url=PUBLIC, client=("198.51.100.7", 5000)) as one:
        code = sign(one)
        token = csrf_of(one, f"/call/{code}")
        answers = [press(one, code, "spoke", csrf=token).status_code for _ in range(12)]
    assert answers[:10] == [303] * 10 and answers[10:] == [429, 429]
    # Other connections share the per-code limit: 20 an hour whoever presses.
    codes = []
    for host in ("198.51.100.8", "198.51.100.9"):
        with TestClient(app, base_url=PUBLIC, client=(host, 5000)) as other:
            token = csrf_of(other, f"/call/{code}")
            codes += [press(other, code, "voicemail", csrf=token).status_code
                      for _ in range(10)]
    assert codes[:10] == [303] * 10 and codes[10:] == [429] * 10
    assert len(stored(store)) == 1  # and all of it was one call


# --- where the counts go -----------------------------------------------------------------------
def test_number_wrong_reports_appear_in_roster_gaps_until_the_phone_is_corrected(
        client, store, store_url, tmp_path):
    code = sign(client)
    other = sign(client, email="second@example.org", phone="+12675550143")
    for signer in (code, other):
        assert press(client, signer, "wrong_number").status_code == 303
    env = {"OUTREACH_DATABASE_URL": store_url}
    gaps = CliRunner().invoke(cli, ["roster", "gaps", "--json", "--limit", "500"], env=env)
    assert gaps.exit_code == 0, gaps.output
    entry = next(o for o in json.loads(gaps.output)["offices"]
                 if o["office_id"] == PHILADELPHIA)
    assert "number reported wrong" in entry["missing"] and entry["number_reported_wrong"] == 2
    text = CliRunner().invoke(cli, ["roster", "gaps", "--limit", "500"], env=env).output
    line = next(x for x in text.splitlines() if f"  {PHILADELPHIA} (" in x)
    assert "number reported wrong" in line and "(2 callers since the phone was set)" in line
    fix = tmp_path / "phone.csv"
    fix.write_text("office_id,phone,source_url,as_of\n"
                   f"{PHILADELPHIA},(215) 686-8001,https://phila.gov/districtattorney,"
                   f"{datetime.now(UTC).date()}\n")
    assert CliRunner().invoke(cli, ["roster", "import", str(fix), "--yes"],
                              env=env).exit_code == 0
    after = json.loads(CliRunner().invoke(cli, ["roster", "gaps", "--json", "--limit", "500"],
                                          env=env).output)
    assert all("number reported wrong" not in o["missing"] for o in after["offices"])


def test_the_dashboard_shows_calls_by_outcome(client, app):
    code = sign(client)
    second = sign(client, email="second@example.org", phone="+12675550143")
    assert press(client, code, "spoke").status_code == 303
    assert press(client, second, "no_answer").status_code == 303
    organizer = TestClient(app, base_url=PUBLIC)
    token = csrf_of(organizer, "/admin/login")
    assert organizer.post("/admin/login", data={"password": PASSWORD, "csrf": token},
                          follow_redirects=False).status_code == 303
    text = organizer.get("/admin", headers=HTML).text
    assert "2 calls logged on call pages" in text
    assert '<span id="calls-spoke">1</span>' in text
    assert '<span id="calls-no_answer">1</span>' in text
    assert '<span id="calls-wrong_number">0</span>' in text
    assert "Philadelphia District Attorney" in text.split('id="calls-h"', 1)[1]


# --- the messages that link to it ---------------------------------------------------------------
def test_the_call_email_and_text_link_to_the_signers_call_page(client, store, roster):
    code = sign(client)
    now = datetime.now(UTC)
    with store.begin() as connection:
        signer_id = connection.execute(select(signers.c.id)).scalar_one()
        box.enqueue(connection, [box.NewMessage("marijuana_justice", "call", channel, "signer",
                                                str(signer_id), "call", {}, now)
                                 for channel in ("email", "sms")], now)
    rows = box.claim(store, "t", 10, timedelta(minutes=5), now)
    renderer = Renderer(store, roster, Path(ROOT / "templates"),
                        Sender("MJ <team@mj-campaign.org>", "+12155550199", "MJ Campaign",
                               "PO Box 1", PUBLIC))
    results = renderer.render_batch(rows)
    messages = {r.channel: results[r.id] for r in rows}
    link = f"{PUBLIC}/call/{code}?c=marijuana_justice"
    assert link in messages["email"].text and "(215) 686-8000" in messages["email"].text
    for demand in DEMAND_TEXT.values():
        assert demand in messages["email"].text
    assert link in messages["sms"].text and "Reply STOP" in messages["sms"].text


# --- the pieces --------------------------------------------------------------------------------
def test_a_call_counts_on_the_signers_own_calendar_day():
    evening = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)  # 19:00 on the 3rd in Los Angeles
    assert call_day(evening, "America/Los_Angeles") == date(2026, 12, 3)
    assert call_day(evening, None) == date(2026, 12, 4)
    assert call_day(evening, "Not/A_Zone") == date(2026, 12, 4)


def test_the_report_line_with_no_calls():
    empty = {"total": 0, "by_outcome": {}, "by_office": [], "by_campaign": []}
    assert calls_summary(empty) == "Calls logged: none"
