"""Lead contacts in messages: used by default (a lead phone beats none), counted by the plan,
dropped with OUTREACH_CONTACTS=verified; a correction makes a value verified."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.campaigns.definitions import load_campaign
from outreach.campaigns.planner import plan_campaign
from outreach.campaigns.preview import Prices, preview
from outreach.campaigns.render import Renderer, Sender, format_phone
from outreach.cli import cli
from outreach.config import Settings
from outreach.roster.corrections import Change, apply_import, effective_roster
from outreach.roster.offices import Roster
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box

ROOT = Path(__file__).resolve().parents[2]
SENDER = Sender("MJ <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X",
                "https://mj.example")
# Gettysburg: Adams County PA, whose DA's phone, email and website are U.S. Prosecutor
# Database leads (2018-2020) and nothing verified.
ADAMS = "pa-adams"
CAMPAIGN = """name = "calls"
[sender]
organization = "MJ Campaign"
email_from = "MJ <team@mj-campaign.org>"
mailing_address = "1 Main St, Town, ST 00000"
[[steps]]
name = "call"
channel = "sms"
to = "supporters"
template = "call_your_da"
[[steps]]
name = "letters"
channel = "email"
to = "offices"
template = "office_letter"
delivery = "letter"
"""


@pytest.fixture
def gettysburg(tmp_path, store, geo, by_zip):
    path = tmp_path / "signers.csv"
    path.write_text("first_name,email,phone,sms_opt_in,city,state,zip\n"
                    "Ann,ann@example.org,+17175550101,yes,Gettysburg,PA,17325\n")
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    return store


def _call_text(store, roster: Roster) -> str:
    row = box.OutboxRow(-1, "k", "calls", "call", "sms", "signer", "1", "call_your_da", {},
                        "queued", 0, None, None, None, datetime.now(UTC))
    message = Renderer(store, roster, ROOT / "templates", SENDER).render_batch([row])[row.id]
    assert not isinstance(message, Exception), message
    return message.text


def test_a_lead_phone_is_used_unless_contacts_are_verified_only(gettysburg, roster):
    adams = roster.office(ADAMS)
    assert adams.contact_status("phone") == adams.contact_status("website") == "lead"
    text = _call_text(gettysburg, roster)
    assert f"call the {adams.office_name} at {format_phone(adams.phone)}" in text
    strict = dataclasses.replace(roster, contacts="verified")
    text = _call_text(gettysburg, strict)
    assert format_phone(adams.phone) not in text and adams.website not in text
    assert f"find your prosecutor's office, the {adams.office_name}, and call them" in text


def test_the_setting_reaches_the_roster_every_process_loads(store):
    env = {"OUTREACH_DATABASE_URL": "sqlite://"}
    assert effective_roster(Settings.from_values(env), engine=store).contacts == "any"
    strict = effective_roster(Settings.from_values({**env, "OUTREACH_CONTACTS": "verified"}),
                              engine=store)
    assert strict.contacts == "verified"
    assert strict.office(ADAMS).usable("phone", strict.contacts) == ""


def test_plan_counts_messages_that_use_a_lead_and_verified_only_drops_them(
        gettysburg, roster, tmp_path):
    path = tmp_path / "calls.toml"
    path.write_text(CAMPAIGN)
    campaign = load_campaign(path)
    now = datetime.now(UTC)

    def planned(chosen: Roster) -> dict[str, dict[str, object]]:
        plans = plan_campaign(gettysburg, campaign, now, timedelta(0), roster=chosen)
        renderer = Renderer(gettysburg, chosen, ROOT / "templates", SENDER)
        return {s["step"]: s for s in preview(plans, renderer, Prices())["steps"]}

    steps = planned(roster)
    assert steps["call"]["office_contact"] == {"phone": 1}
    assert steps["call"]["office_contact_leads"] == {"phone": 1}
    assert steps["letters"]["messages"] == 1  # to the Adams DA's lead email
    assert steps["letters"]["office_contact_leads"] == {"email": 1}
    steps = planned(dataclasses.replace(roster, contacts="verified"))
    assert steps["call"]["office_contact"] == {"office name only": 1}
    assert "office_contact_leads" not in steps["call"]
    assert steps["letters"]["messages"] == 0
    assert steps["letters"]["skipped"][
        "office email is only a lead (OUTREACH_CONTACTS=verified)"] == 1


def test_plan_command_shows_the_lead_count(gettysburg, store_url, tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "calls.toml").write_text(CAMPAIGN)
    env = {"OUTREACH_DATABASE_URL": store_url, "OUTREACH_JOBS_DIR": str(jobs)}
    shown = CliRunner().invoke(cli, ["plan", "calls", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    call = json.loads(shown.output)["steps"][0]
    assert call["office_contact_leads"] == {"phone": 1}
    text = CliRunner().invoke(cli, ["plan", "calls"], env=env).output
    assert "of these, a lead (unverified source; OUTREACH_CONTACTS=verified drops them): " \
           "phone 1" in text
    strict = CliRunner().invoke(cli, ["plan", "calls", "--json"],
                                env={**env, "OUTREACH_CONTACTS": "verified"})
    assert "office_contact_leads" not in json.loads(strict.output)["steps"][0]


def test_a_correction_makes_a_field_verified_even_when_it_confirms_the_value(store, roster):
    adams = roster.office(ADAMS)
    apply_import(store, [
        # A volunteer called the number: it answers for the DA's office.
        Change(2, ADAMS, "phone", adams.phone, adams.phone,
               "https://www.adamscountypa.gov/departments/districtattorney", "2026-11-30"),
        Change(3, ADAMS, "website", adams.website, "https://www.adamscountypa.gov/da",
               "https://www.adamscountypa.gov/da", "2026-11-30"),
    ], "calls.csv", datetime(2026, 11, 30, tzinfo=UTC))
    office = effective_roster(Settings.from_values({"OUTREACH_DATABASE_URL": "sqlite://"}),
                              engine=store).office(ADAMS)
    for name in ("phone", "website"):
        found = office.provenance[name]
        assert (found.status, found.source, found.as_of) == ("verified", "correction",
                                                             "2026-11-30")
        assert found.note == "organizer's correction (calls.csv)"
    assert office.phone == adams.phone and office.website == "https://www.adamscountypa.gov/da"
    assert office.usable("phone", "verified") == adams.phone  # now fit for any message
    assert office.provenance["email"].status == "lead"  # not corrected: still the lead
