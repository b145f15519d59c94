"""Campaign files: validated with clear errors; planning is repeatable and explains exclusions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from outreach.campaigns.definitions import CampaignError, find_campaign, load_campaign
from outreach.campaigns.planner import launch, plan_campaign
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store import suppressions
from outreach.store.schema import signers

JOBS = Path(__file__).resolve().parents[2] / "jobs"
VALID = """name = "spring"
[sender]
organization = "Org"
email_from = "Org <team@org-campaign.org>"
mailing_address = "1 Main St, Town, ST 00000"
[[steps]]
name = "hello"
channel = "email"
to = "supporters"
template = "welcome"
"""


def write(tmp_path: Path, text: str, name: str = "spring") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_the_shipped_campaign_loads():
    campaign = find_campaign(JOBS, "marijuana_justice")
    assert [s.name for s in campaign.steps][:3] == ["welcome_email", "welcome_sms",
                                                    "call_your_da"]
    assert campaign.step("call_your_da").delay == timedelta(days=3)
    assert campaign.step("office_digest").delivery == "digest"


@pytest.mark.parametrize(("change", "message"), [
    (('template = "welcome"', 'template = "welcome"\ndelay = "3 days"'),
     "steps[0].delay: '3 days' is not a duration like 3d, 12h or 30m"),
    (('channel = "email"', 'channel = "fax"'), "steps[0].channel: Input should be 'email'"),
    (('to = "supporters"', 'to = "supporters"\ncolour = "red"'),
     "steps[0].colour: Extra inputs are not permitted"),
    (('mailing_address = "1 Main St, Town, ST 00000"\n', ''), "sender.mailing_address: Field "
                                                              "required"),
    (('[sender]', '[audience]\nstates = ["Georgia"]\n[sender]'),
     "audience.states: 'Georgia' is not a two-letter state code"),
    (('name = "spring"', 'name = "autumn"'), "name: 'autumn' must match the file name"),
    (('name = "spring"', 'name = "spring'), "not valid TOML"),
    (('name = "spring"', 'name = "spring"\nstart = "launch"'),
     "start: 'launch' is not one of \"entered\""),
])
def test_mistakes_come_back_as_one_line_with_file_and_key(tmp_path, change, message):
    path = write(tmp_path, VALID.replace(*change))
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_duplicate_step_names_are_refused(tmp_path):
    text = VALID + VALID[VALID.index("[[steps]]"):]
    with pytest.raises(CampaignError, match="repeated: hello"):
        load_campaign(write(tmp_path, text))


def test_unknown_campaign_lists_the_known_ones(tmp_path):
    write(tmp_path, VALID)
    with pytest.raises(CampaignError, match=r"no campaign 'nope' .* \(known: spring\)"):
        find_campaign(tmp_path, "nope")


def test_a_campaigns_folder_that_does_not_exist_is_named_as_the_problem(tmp_path):
    with pytest.raises(CampaignError, match=r"campaigns folder .*missing \(OUTREACH_JOBS_DIR\) "
                                            "does not exist"):
        find_campaign(tmp_path / "missing", "spring")


@pytest.fixture
def signed_up(tmp_path, store, geo, by_zip):
    path = tmp_path / "signers.csv"
    path.write_text("email,phone,sms_opt_in,zip,state,signed_at\n"
                    "ga@example.org,+14045550101,yes,30303,GA,2026-11-01\n"
                    "tx@example.org,+15125550102,no,78701,TX,2026-11-27T12:00:00Z\n"
                    ",+12155550103,yes,19107,PA,2026-11-02\n"
                    "pa@example.org,,,19107,PA,2026-11-03\n")
    # Stored before the frozen "now" of the tests below: a signer enters a campaign no sooner
    # than they were stored (issue 13), so the real clock at intake would be in their future.
    with time_machine.travel(datetime(2026, 11, 28, tzinfo=UTC)):
        intake(path, store)
        match(store, geo, by_zip=by_zip)
    return store


def test_plan_explains_who_is_left_out(signed_up, tmp_path, roster):
    campaign = find_campaign(JOBS, "marijuana_justice")
    plans = {p.step.name: p for p in plan_campaign(signed_up, campaign, datetime.now(UTC),
                                                   roster=roster)}
    assert len(plans["welcome_email"].messages) == 3
    assert plans["welcome_email"].skipped == {"no email address": 1}
    assert len(plans["welcome_sms"].messages) == 2
    assert plans["welcome_sms"].skipped == {"no SMS consent": 1, "no mobile number": 1}


def test_suppressed_and_filtered_signers_are_not_planned(signed_up, tmp_path):
    suppressions.suppress(signed_up, "email", "GA@example.org", "test", "", datetime.now(UTC))
    path = write(tmp_path, VALID.replace('[sender]', '[audience]\nstates = ["GA", "TX"]\n'
                                                     '[sender]'))
    [plan] = plan_campaign(signed_up, load_campaign(path), datetime.now(UTC))
    assert len(plan.messages) == 1  # TX only: GA is suppressed, PA filtered out
    assert plan.skipped == {"on the suppression list": 1}


def test_an_audience_can_require_a_share_of_the_zip(tmp_path, store, geo, by_zip):
    path = tmp_path / "signers.csv"
    path.write_text("email,city,state,zip\n"
                    "boise@example.org,,,83702\n"  # Ada County holds 99.99% of it
                    "athens@example.org,,,30601\n"  # Clarke holds 97.8%
                    "braselton@example.org,,,30517\n"  # four counties: no share
                    "city@example.org,Pasadena,CA,\n")  # a city: nothing measured
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    strict = write(tmp_path, VALID.replace('[sender]', '[audience]\nmin_share = 0.98\n'
                                                       '[sender]'))
    [plan] = plan_campaign(store, load_campaign(strict), datetime.now(UTC))
    assert [m.recipient_id for m in plan.messages] == ["1"]
    assert plan.skipped == {
        "share of the ZIP below min_share 0.98": 1,
        "no share for the match (a city, an ambiguous ZIP, a ZIP without shares)": 2}
    [everyone] = plan_campaign(store, load_campaign(write(tmp_path, VALID)), datetime.now(UTC))
    assert len(everyone.messages) == 4 and not everyone.skipped
    with pytest.raises(CampaignError, match=r"audience\.min_share: Input should be less than"):
        load_campaign(write(tmp_path, VALID.replace('[sender]', '[audience]\nmin_share = 95\n'
                                                                '[sender]')))


def test_messages_are_due_after_their_delay_and_never_within_the_grace(signed_up, roster,
                                                                       tmp_path):
    campaign = find_campaign(JOBS, "marijuana_justice")
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    plans = {p.step.name: p for p in plan_campaign(signed_up, campaign, now,
                                                   timedelta(minutes=10), roster=roster)}
    # Everyone signed before this launch: the welcome after the grace, the call three days
    # after the launch, whenever they signed (issue 13).
    assert {m.not_before for m in plans["welcome_email"].messages} == \
        {now + timedelta(minutes=10)}
    assert {m.not_before for m in plans["call_your_da"].messages} == {now + timedelta(days=3)}
    assert plans["call_your_da"].summary()["backfilled"]["signers"] == 3
    # start = "signed" keeps the signing date: signed 2026-11-27 12:00, three days later;
    # signed early November, now plus the grace.
    signed = load_campaign(write(tmp_path, JOBS.joinpath("marijuana_justice.toml").read_text()
                                 .replace('start = "entered"', 'start = "signed"'),
                                 "marijuana_justice"))
    plans = {p.step.name: p for p in plan_campaign(signed_up, signed, now,
                                                   timedelta(minutes=10), roster=roster)}
    due = {m.recipient_id: m.not_before for m in plans["call_your_da"].messages}
    assert due["2"] == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert due["1"] == now + timedelta(minutes=10)


def test_launching_twice_queues_once(signed_up, roster):
    campaign = find_campaign(JOBS, "marijuana_justice")
    now = datetime.now(UTC)
    first = launch(signed_up, plan_campaign(signed_up, campaign, now, roster=roster), now)
    again = launch(signed_up, plan_campaign(signed_up, campaign, now, roster=roster), now)
    assert first["welcome_email"] == {"planned": 3, "queued_now": 3, "already_queued": 0}
    assert again["welcome_email"] == {"planned": 3, "queued_now": 0, "already_queued": 3}
    with signed_up.connect() as connection:
        assert box.state_counts(connection)["queued"] == sum(
            r["queued_now"] for r in first.values())


OFFICE_STEP = """name = "offices"
[sender]
organization = "Org"
email_from = "Org <team@org-campaign.org>"
mailing_address = "1 Main St, Town, ST 00000"
[[steps]]
name = "to_da"
channel = "email"
to = "offices"
template = "{template}"
delivery = "{delivery}"
daily_cap = 2
"""


@pytest.fixture
def roster_with_contacts(tmp_path, counties):
    from outreach.roster.offices import load_roster
    from tests.conftest import shipped_rows, write_roster

    rows = shipped_rows()
    for row in rows:
        if row["office_id"] in ("pa-philadelphia", "tx-travis-county-da"):
            row["email"] = f"{row['office_id']}@da.example.gov"
    return load_roster(write_roster(tmp_path / "roster.csv", rows), counties)


def many_signers(tmp_path, store, geo, by_zip, count, zip_code="19107"):
    path = tmp_path / "many.csv"
    path.write_text("first_name,last_name,email,city,zip,signed_at\n" + "".join(
        f"P{i},Q,p{i}@example.org,Philadelphia,{zip_code},2026-11-20T{10 + i % 10}:00:00Z\n"
        for i in range(count)))
    intake(path, store)
    match(store, geo, by_zip=by_zip)


def test_a_days_1200_constituents_make_one_digest(tmp_path, store, geo, by_zip,
                                                   roster_with_contacts):
    many_signers(tmp_path, store, geo, by_zip, 1200)
    campaign = load_campaign(write(tmp_path, OFFICE_STEP.format(template="office_digest",
                                                                delivery="digest"), "offices"))
    [plan] = plan_campaign(store, campaign, datetime.now(UTC), roster=roster_with_contacts)
    [digest] = plan.messages
    assert digest.recipient_id == "pa-philadelphia@2026-11-20"
    assert len(digest.context["signer_ids"]) == 1200


def test_letters_above_the_threshold_become_a_digest(tmp_path, store, geo, by_zip,
                                                      roster_with_contacts):
    many_signers(tmp_path, store, geo, by_zip, 30)  # default threshold: 25 a day
    campaign = load_campaign(write(tmp_path, OFFICE_STEP.format(template="office_letter",
                                                                delivery="letter"), "offices"))
    [plan] = plan_campaign(store, campaign, datetime.now(UTC), roster=roster_with_contacts)
    assert [m.recipient_id for m in plan.messages] == ["pa-philadelphia@2026-11-20"]


def test_letters_respect_the_daily_cap_and_reply_to_the_signer(tmp_path, store, geo, by_zip,
                                                               roster_with_contacts):
    many_signers(tmp_path, store, geo, by_zip, 5)
    campaign = load_campaign(write(tmp_path, OFFICE_STEP.format(template="office_letter",
                                                                delivery="letter"), "offices"))
    [plan] = plan_campaign(store, campaign, datetime.now(UTC), roster=roster_with_contacts)
    assert len(plan.messages) == 2  # daily_cap = 2
    assert plan.skipped == {"office daily cap": 3}
    from outreach.campaigns.preview import Prices, preview
    from outreach.campaigns.render import Renderer, Sender

    renderer = Renderer(store, roster_with_contacts,
                        Path(__file__).resolve().parents[2] / "templates",
                        Sender("Org <team@org-campaign.org>", "+1", "Org", "1 Main St"))
    shown = preview([plan], renderer, Prices())
    sample = shown["steps"][0]["samples"][0]
    assert sample["to"] == "p***@da.example.gov"
    assert "Philadelphia District Attorney" in sample["text"]


def test_offices_without_email_are_counted_not_hidden(signed_up, roster):
    campaign = find_campaign(JOBS, "marijuana_justice")
    plans = {p.step.name: p for p in plan_campaign(signed_up, campaign, datetime.now(UTC),
                                                   roster=roster)}
    assert plans["office_digest"].messages == []
    assert plans["office_digest"].skipped["office has no email address"] == 4


def test_launch_gives_share_links_and_intake_credits_the_referrer(signed_up, tmp_path, roster):
    from sqlalchemy import select

    from outreach.campaigns.render import Renderer, Sender
    from outreach.store.schema import signers

    campaign = find_campaign(JOBS, "marijuana_justice")
    now = datetime.now(UTC)
    plans = plan_campaign(signed_up, campaign, now, roster=roster)
    launch(signed_up, plans, now)
    with signed_up.connect() as connection:
        codes = dict(connection.execute(select(signers.c.id, signers.c.referral_code)).all())
    assert all(codes.values()) and len(set(codes.values())) == len(codes)
    share = next(p for p in plans if p.step.name == "share")
    rows = box.claim(signed_up, "t", 100, timedelta(minutes=5), now + timedelta(days=30))
    renderer = Renderer(signed_up, roster, JOBS.parent / "templates",
                        Sender("O <o@o-campaign.org>", "+1", "Org", "1 Main St",
                               "https://sign.example.org"))
    share_rows = [r for r in rows if r.step == "share"]
    rendered = renderer.render_batch(share_rows)
    for row in share_rows:
        code = codes[int(row.recipient_id)]
        assert f"https://sign.example.org/?ref={code}" in rendered[row.id].text
    assert len(share.messages) == 3
    path = tmp_path / "friends.csv"
    path.write_text(f"email,ref\nfriend@example.org,{codes[1]}\nstranger@example.org,nope\n")
    intake(path, signed_up)
    with signed_up.connect() as connection:
        referred = dict(connection.execute(
            select(signers.c.email, signers.c.referred_by)
            .where(signers.c.email.in_(["friend@example.org", "stranger@example.org"]))).all())
    assert referred == {"friend@example.org": 1, "stranger@example.org": None}


def test_plan_counts_states_offices_and_texts_held_for_quiet_hours(signed_up, roster):
    campaign = find_campaign(JOBS, "marijuana_justice")
    night = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 1 a.m. Eastern
    plans = {p.step.name: p for p in plan_campaign(signed_up, campaign, night, timedelta(0),
                                                   roster=roster)}
    welcome = plans["welcome_email"].summary()
    assert welcome["by_state"] == {"GA": 1, "TX": 1, "PA": 1}
    assert "ga-atlanta-circuit" in welcome["top_offices"]
    sms = plans["welcome_sms"].summary()
    assert sms["quiet_hours"]["deferred"] == 2  # both texts would land at night
    # Atlanta and Philadelphia (Austin said no to texts): 8 a.m. Eastern is 13:00 UTC.
    assert sms["quiet_hours"]["first_release"] == "2026-11-28T13:00:00+00:00"
    assert sms["quiet_hours"]["last_release"] == "2026-11-28T13:00:00+00:00"
    noon = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    plans = {p.step.name: p for p in plan_campaign(signed_up, campaign, noon, timedelta(0),
                                                   roster=roster)}
    assert plans["welcome_sms"].quiet_hours["deferred"] == 0


def test_a_household_newcomer_is_never_texted_at_the_phone_it_shares(tmp_path, store, geo,
                                                                     by_zip, roster):
    """Bob signs with Alice's number (both ticked texts): he is a signer of his own without
    a phone (intake), so the SMS step texts that number once, for Alice, and skips Bob."""
    path = tmp_path / "household.csv"
    path.write_text("first_name,email,phone,sms_opt_in,zip,state,signed_at\n"
                    "Alice,alice@example.org,215-555-0142,yes,19107,PA,2026-11-01\n"
                    "Bob,bob@example.org,215-555-0142,yes,19107,PA,2026-11-02\n")
    with time_machine.travel(datetime(2026, 11, 28, tzinfo=UTC)):
        intake(path, store)
        match(store, geo, by_zip=by_zip)
    with store.connect() as connection:
        ids = dict(connection.execute(select(signers.c.first_name, signers.c.id)).all())
    campaign = find_campaign(JOBS, "marijuana_justice")
    plans = {p.step.name: p for p in plan_campaign(store, campaign, datetime.now(UTC),
                                                   roster=roster)}
    assert sorted(m.recipient_id for m in plans["welcome_email"].messages) == sorted(
        [str(ids["Alice"]), str(ids["Bob"])])
    assert [m.recipient_id for m in plans["welcome_sms"].messages] == [str(ids["Alice"])]
    assert plans["welcome_sms"].skipped == {"no mobile number": 1}
