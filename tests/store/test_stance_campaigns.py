"""Campaigns that follow each prosecutor's stance (issue 17.2): the templates' `stance`, an
audience filtered by stance, and a step a stance change triggers once per constituent."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import event, select, update

from outreach.campaigns.definitions import CampaignError, load_campaign
from outreach.campaigns.planner import (
    launch,
    plan_active_campaigns,
    plan_campaign,
    plan_stance_changes,
)
from outreach.campaigns.preview import Prices, preview
from outreach.campaigns.render import Renderer, Sender
from outreach.campaigns.stances import parse_trigger
from outreach.roster import stances
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store import suppressions
from outreach.store.schema import outbox, stance_marks

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SENDER = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X",
                "https://mj.example")
SOURCE = "https://phillyda.org/news/marijuana-policy"
STORED = datetime(2026, 11, 28, tzinfo=UTC)
LAUNCH = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SENDER_TOML = """[sender]
organization = "Org"
email_from = "Org <team@org-campaign.org>"
mailing_address = "1 Main St, Town, ST 00000"
"""
TRIGGERED = """name = "thanks"
{audience}
""" + SENDER_TOML + """
[[steps]]
name = "hello"
channel = "email"
to = "supporters"
template = "welcome"

[[steps]]
name = "thank_da"
channel = "email"
to = "supporters"
template = "stance_news"
trigger = "{trigger}"
delay = "1h"

[[steps]]
name = "thank_da_sms"
channel = "sms"
to = "supporters"
template = "stance_news"
trigger = "{trigger}"
"""


@pytest.fixture
def constituents(tmp_path, store, geo, by_zip):
    """Four Philadelphia signers (one without email, one whose email is suppressed, one who
    texts), two in Pittsburgh, one the matcher could not place."""
    path = tmp_path / "signers.csv"
    path.write_text("first_name,email,phone,sms_opt_in,zip,signed_at\n"
                    "Victoria,victoria@example.org,+12155550101,yes,19102,2026-11-01\n"
                    "Vince,vince@example.org,,,19107,2026-11-02\n"
                    "Sue,suppressed@example.org,,,19107,2026-11-03\n"
                    "Tex,,+12155550104,no,19103,2026-11-04\n"
                    "Pat,pat@example.org,+14125550105,yes,15219,2026-11-05\n"
                    "Pia,pia@example.org,,,15222,2026-11-06\n"
                    "Nowhere,nowhere@example.org,,,,2026-11-07\n")
    with time_machine.travel(STORED):
        intake(path, store)
        match(store, geo, by_zip=by_zip)
    suppressions.suppress(store, "email", "suppressed@example.org", "test", "", STORED)
    return store


def record(store, roster, office_id: str, now: datetime, **values: str) -> int:
    """Record an office's stance as `outreach stance set` does; how many statements."""
    with store.begin() as connection:
        plan = stances.plan_changes(office_id, values, SOURCE, "2026-11-30", "",
                                    current=stances.current_stances(connection),
                                    office_ids={o.office_id for o in roster.offices},
                                    today=now.date())
        assert not plan.errors, plan.errors
        return stances.record(connection, plan.changes, "test", now)


def campaign_file(tmp_path: Path, trigger: str = "stance:yes", audience: str = "") -> Path:
    path = tmp_path / "jobs" / "thanks.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(TRIGGERED.format(trigger=trigger, audience=audience))
    return path


def queued(store, step: str) -> dict[str, dict]:
    """recipient id -> (context, not_before) of the step's outbox rows."""
    with store.connect() as connection:
        return {r.recipient_id: {"context": r.context, "not_before": r.not_before}
                for r in connection.execute(select(outbox).where(outbox.c.step == step))}


def ids_of(store, *emails_or_phones: str) -> set[str]:
    from outreach.store.schema import signers

    with store.connect() as connection:
        rows = connection.execute(select(signers.c.id, signers.c.email, signers.c.phone))
        return {str(r.id) for r in rows if r.email in emails_or_phones
                or r.phone in emails_or_phones}


# --- the trigger ---------------------------------------------------------------------------
def test_a_commitment_queues_one_thanks_per_constituent_and_none_on_a_second_run(
        tmp_path, constituents, roster):
    store = constituents
    campaign = load_campaign(campaign_file(tmp_path))
    plans = {p.step.name: p for p in plan_campaign(store, campaign, LAUNCH, roster=roster)}
    assert plans["thank_da"].messages == []  # a trigger step waits: nothing at the launch
    assert "trigger stance:yes" in plans["thank_da"].note
    launch(store, list(plans.values()), LAUNCH)
    jobs = tmp_path / "jobs"
    quiet = plan_active_campaigns(store, jobs, roster, LAUNCH + timedelta(minutes=1))
    assert quiet["thanks"].get("thank_da", {}).get("queued_now", 0) == 0

    record(store, roster, "pa-allegheny", LAUNCH + timedelta(minutes=2), drop="yes")  # 1 of 3
    recorded = LAUNCH + timedelta(minutes=3)
    assert record(store, roster, "pa-philadelphia", recorded, expunge="yes", drop="yes",
                  divert="yes") == 3
    first = plan_active_campaigns(store, jobs, roster, LAUNCH + timedelta(minutes=4))["thanks"]
    # Email: Victoria and Vince (Sue is suppressed, Tex has no email); text: Victoria only
    # (Tex said no to texts); nobody in Pittsburgh, whose DA said yes to one demand only.
    assert first["thank_da"]["queued_now"] == 2
    assert first["thank_da_sms"]["queued_now"] == 1
    rows = queued(store, "thank_da")
    assert set(rows) == ids_of(store, "victoria@example.org", "vince@example.org")
    assert {r["context"] for r in rows.values()} == {'{"trigger_office_id": "pa-philadelphia"}'}
    # Due an hour (the step's delay) after the stance was recorded.
    assert {r["not_before"].replace(tzinfo=UTC) for r in rows.values()} == \
        {recorded + timedelta(hours=1)}
    assert set(queued(store, "thank_da_sms")) == ids_of(store, "+12155550101")

    again = plan_active_campaigns(store, jobs, roster, LAUNCH + timedelta(minutes=5))["thanks"]
    assert again.get("thank_da", {}).get("queued_now", 0) == 0
    # A restart between queueing and moving the mark plans the change again: nothing twice.
    with store.begin() as connection:
        connection.execute(update(stance_marks).values(stance_id=0))
    replayed = plan_active_campaigns(store, jobs, roster, LAUNCH + timedelta(minutes=6))
    assert replayed["thanks"]["thank_da"] == {"planned": 2, "queued_now": 0, "already_queued": 2}
    assert len(queued(store, "thank_da")) == 2

    # Pittsburgh's DA completes the three: their constituents, once.
    record(store, roster, "pa-allegheny", LAUNCH + timedelta(minutes=7), expunge="yes",
           divert="yes")
    later = plan_active_campaigns(store, jobs, roster, LAUNCH + timedelta(minutes=8))["thanks"]
    assert later["thank_da"]["queued_now"] == 2
    assert set(queued(store, "thank_da")) == ids_of(
        store, "victoria@example.org", "vince@example.org", "pat@example.org",
        "pia@example.org")


def test_an_office_that_matched_before_the_launch_or_again_does_not_fire(
        tmp_path, constituents, roster):
    store = constituents
    record(store, roster, "pa-philadelphia", LAUNCH - timedelta(days=1), expunge="yes",
           drop="yes", divert="yes")
    campaign = load_campaign(campaign_file(tmp_path))
    launch(store, plan_campaign(store, campaign, LAUNCH, roster=roster), LAUNCH)
    jobs = tmp_path / "jobs"
    # A new statement that keeps Philadelphia committed (a new source, a later date) and one
    # that leaves Pittsburgh short of all three: no office came to match.
    with store.begin() as connection:
        stances.record(connection, [stances.StanceChange(
            0, "pa-philadelphia", "drop", "yes", "yes", SOURCE + "?update", date(2026, 12, 1))],
            "test", LAUNCH + timedelta(minutes=1))
    record(store, roster, "pa-allegheny", LAUNCH + timedelta(minutes=1), expunge="yes")
    result = plan_active_campaigns(store, jobs, roster, LAUNCH + timedelta(minutes=2))
    assert result["thanks"].get("thank_da", {}).get("queued_now", 0) == 0
    assert queued(store, "thank_da") == {}


def test_per_demand_triggers_and_a_retraction_before_the_pass(tmp_path, constituents, roster):
    store = constituents
    campaign = load_campaign(campaign_file(tmp_path, trigger="stance:drop:yes"))
    launch(store, plan_campaign(store, campaign, LAUNCH, roster=roster), LAUNCH)
    record(store, roster, "pa-allegheny", LAUNCH + timedelta(minutes=1), drop="yes")
    # Philadelphia said yes, then took it back before any pass saw it: no "just committed".
    record(store, roster, "pa-philadelphia", LAUNCH + timedelta(minutes=1), drop="yes")
    with store.begin() as connection:
        stances.record(connection, [stances.StanceChange(
            0, "pa-philadelphia", "drop", "yes", "no", SOURCE, date(2026, 12, 1))],
            "test", LAUNCH + timedelta(minutes=2))
    plan_active_campaigns(store, tmp_path / "jobs", roster, LAUNCH + timedelta(minutes=3))
    assert set(queued(store, "thank_da")) == ids_of(store, "pat@example.org", "pia@example.org")


def test_two_planners_at_once_queue_each_thanks_once(tmp_path, constituents, roster):
    store = constituents
    campaign = load_campaign(campaign_file(tmp_path))
    launch(store, plan_campaign(store, campaign, LAUNCH, roster=roster), LAUNCH)
    record(store, roster, "pa-philadelphia", LAUNCH + timedelta(minutes=1), expunge="yes",
           drop="yes", divert="yes")
    results: list[dict] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def planner() -> None:
        try:
            start.wait()
            results.append(plan_stance_changes(store, campaign, roster,
                                               LAUNCH + timedelta(minutes=2)))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=planner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.get("thank_da", {}).get("queued_now", 0) for r in results) == 2
    assert len(queued(store, "thank_da")) == 2


def test_a_trigger_step_is_rendered_in_the_plan_so_a_broken_template_stops_the_launch(
        tmp_path, constituents, roster):
    campaign = load_campaign(campaign_file(tmp_path))
    renderer = Renderer(constituents, roster, TEMPLATES, SENDER)
    shown = preview(plan_campaign(constituents, campaign, LAUNCH, roster=roster), renderer,
                    Prices())
    step = next(s for s in shown["steps"] if s["step"] == "thank_da")
    assert step["messages"] == 0 and step["estimated_cost_usd"] == 0
    assert len(step["samples"]) == 3 and "Dear " in step["samples"][0]["text"]


@pytest.mark.parametrize(("text", "expected"), [
    ("stance:yes", ("committed", None, None)), ("stance:committed", ("committed", None, None)),
    ("stance:not_committed", ("not_committed", None, None)),
    ("stance:drop:yes", (None, "drop", "yes")), ("Stance:Divert:Partial", (None, "divert",
                                                                          "partial"))])
def test_trigger_spellings(text, expected):
    trigger = parse_trigger(text)
    assert (trigger.summary, trigger.demand, trigger.value) == expected


# --- the audience filter -------------------------------------------------------------------
FILTERED = """name = "press"
[audience]
confidence = ["exact", "chosen", "zip", "city", "ambiguous", "none"]
{audience}
""" + SENDER_TOML + """
[[steps]]
name = "hello"
channel = "email"
to = "supporters"
template = "welcome"
"""


def press_file(tmp_path: Path, audience: str) -> Path:
    path = tmp_path / "jobs" / "press.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(FILTERED.format(audience=audience))
    return path


def test_an_audience_filtered_by_stance_counts_who_it_leaves_out(tmp_path, constituents,
                                                                 roster):
    store = constituents
    record(store, roster, "pa-philadelphia", LAUNCH, drop="yes")
    record(store, roster, "pa-allegheny", LAUNCH, drop="no", expunge="yes")
    by_demand = load_campaign(press_file(tmp_path, 'stance = { drop = ["unknown", "no", '
                                                   '"partial"] }'))
    [plan] = plan_campaign(store, by_demand, LAUNCH)
    assert {m.recipient_id for m in plan.messages} == ids_of(store, "pat@example.org",
                                                             "pia@example.org")
    assert plan.skipped == {"stance filter: prosecutor's drop stance is yes": 4,
                            "stance filter: no prosecutor matched": 1}

    by_summary = load_campaign(press_file(tmp_path, 'stance_summary = ["not_committed", '
                                                    '"unknown"]'))
    [plan] = plan_campaign(store, by_summary, LAUNCH)
    assert plan.messages == []  # both offices are partial now
    assert plan.skipped == {"stance filter: prosecutor's stance is partial": 6,
                            "stance filter: no prosecutor matched": 1}


def test_an_office_entering_the_filter_brings_its_signers_the_steps_now(
        tmp_path, constituents, roster):
    store = constituents
    campaign = load_campaign(press_file(tmp_path, 'stance_summary = ["committed"]'))
    launch(store, plan_campaign(store, campaign, LAUNCH, roster=roster), LAUNCH)
    assert queued(store, "hello") == {}
    plan_active_campaigns(store, tmp_path / "jobs", roster, LAUNCH + timedelta(minutes=1))
    record(store, roster, "pa-philadelphia", LAUNCH + timedelta(minutes=2), expunge="yes",
           drop="yes", divert="yes")
    # An incremental pass (no signer changed): the change alone re-plans Philadelphia.
    plan_active_campaigns(store, tmp_path / "jobs", roster, LAUNCH + timedelta(minutes=3))
    assert set(queued(store, "hello")) == ids_of(store, "victoria@example.org",
                                                 "vince@example.org")


@pytest.mark.parametrize(("audience", "trigger", "message"), [
    ('stance = { dorp = ["no"] }', "stance:yes",
     "audience.stance.dorp: Extra inputs are not permitted"),
    ('stance = { drop = ["maybe"] }', "stance:yes",
     "audience.stance.drop[0]: Input should be 'unknown', 'no', 'partial' or 'yes'"),
    ('stance_summary = ["done"]', "stance:yes",
     "audience.stance_summary[0]: Input should be 'committed', 'partial', 'not_committed' "
     "or 'unknown'"),
    ("", "stance:maybe", "steps[1].trigger: 'stance:maybe' is not a trigger: use stance:yes"),
    ("", "stance:drop:perhaps", "steps[1].trigger: 'stance:drop:perhaps' is not a trigger"),
    ("", "yes", "steps[1].trigger: 'yes' is not a trigger"),
])
def test_stance_keys_are_checked_with_one_line_naming_file_and_key(tmp_path, audience,
                                                                   trigger, message):
    path = campaign_file(tmp_path, trigger, f"[audience]\n{audience}" if audience else "")
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    lines = str(caught.value).splitlines()  # one line a problem (both trigger steps here)
    assert lines[0].startswith(f"{path}: {message}")
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_a_trigger_is_for_supporter_steps_only(tmp_path):
    path = tmp_path / "office.toml"
    path.write_text('name = "office"\n' + SENDER_TOML + '[[steps]]\nname = "to_da"\n'
                    'channel = "email"\nto = "offices"\ntemplate = "office_letter"\n'
                    'trigger = "stance:yes"\n')
    with pytest.raises(CampaignError, match=r"office.toml: steps\[0\]: .*trigger: "
                                            r"'stance:yes' is for supporter steps only"):
        load_campaign(path)


# --- the templates' context ----------------------------------------------------------------
def claimed(store, template: str, channels=("email",), recipient_ids=None):
    now = datetime.now(UTC)
    with store.connect() as connection:
        from outreach.store.schema import signers

        ids = recipient_ids or [r.id for r in connection.execute(select(signers.c.id))]
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", f"{template}-{now.timestamp()}", channel,
                                                "signer", str(i), template, {}, now)
                                 for i in ids for channel in channels], now)
    return box.claim(store, "t", 100, timedelta(minutes=5), now)


def test_templates_get_the_stance_of_the_office_and_of_the_misdemeanor_office(
        tmp_path, constituents, roster):
    store = constituents
    (tmp_path / "t" / "email").mkdir(parents=True)
    (tmp_path / "t" / "email" / "ctx.subject.txt").write_text("ctx")
    (tmp_path / "t" / "email" / "ctx.txt").write_text(
        "{% if stance %}{{ stance.office_id }} {{ stance.summary }} drop={{ stance.drop.stance }}"
        " {{ stance.drop.source_url }} {{ stance.drop.stated_on }} open="
        "{{ stance.open | map(attribute='demand') | join(',') }} committed="
        "{{ stance.committed | map(attribute='text') | and_list }} "
        "misdemeanor={{ misdemeanor_stance }} [{{ stance.open_text }}|{{ stance.sources | "
        "join(',') }}]{% else %}none{% endif %}")
    record(store, roster, "pa-philadelphia", LAUNCH, expunge="yes", drop="yes")
    renderer = Renderer(store, roster, tmp_path / "t", SENDER)
    rows = claimed(store, "ctx")
    rendered = renderer.render_batch(rows)
    texts = {row.recipient_id: getattr(rendered[row.id], "text", None) for row in rows}
    [philly] = ids_of(store, "victoria@example.org")
    [pittsburgh] = ids_of(store, "pat@example.org")
    [nowhere] = ids_of(store, "nowhere@example.org")
    assert texts[philly] == (f"pa-philadelphia partial drop=yes {SOURCE} 2026-11-30 "
                             "open=divert committed=expunge past marijuana convictions and "
                             "drop pending low-level marijuana cases misdemeanor=None "
                             "[send non-violent drug offenders to treatment and diversion "
                             f"instead of jail|{SOURCE}]")
    assert texts[pittsburgh] == ("pa-allegheny unknown drop=unknown   open=expunge,drop,divert "
                                 "committed= misdemeanor=None [expunge past marijuana "
                                 "convictions, drop pending low-level marijuana cases and send "
                                 "non-violent drug offenders to treatment and diversion instead "
                                 "of jail|]")
    assert texts[nowhere] == "none"


def test_the_renderer_reads_stances_once_per_batch_and_again_after_a_recording(
        constituents, roster):
    store = constituents
    statements: list[str] = []

    @event.listens_for(store, "before_cursor_execute")
    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def stance_reads() -> int:
        return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT")
                   and "FROM office_stances" in s and "max(" not in s.lower())

    renderer = Renderer(store, roster, TEMPLATES, SENDER)
    [philly] = ids_of(store, "victoria@example.org")
    rows = claimed(store, "welcome", ("email", "sms"))
    statements.clear()
    first = renderer.render_batch(rows)
    assert stance_reads() == 1  # for the batch's 14 messages
    assert "has not committed" in first[next(r.id for r in rows if r.recipient_id == philly
                                             and r.channel == "email")].text
    statements.clear()
    renderer.render_batch(claimed(store, "welcome"))
    assert stance_reads() == 0  # nothing recorded since: the stances in memory stand
    record(store, roster, "pa-philadelphia", LAUNCH, expunge="yes", drop="yes", divert="yes")
    statements.clear()
    rows = claimed(store, "welcome", ("email", "sms"), [int(philly)])
    after = renderer.render_batch(rows)
    assert stance_reads() == 1
    email, sms = (after[r.id] for r in sorted(rows, key=lambda r: r.channel))
    assert "Good news: your prosecutor has committed to all three" in email.text
    assert "Please thank them" in email.text and SOURCE in email.text
    assert "has committed to all 3 demands: thank them at" in sms.text
    event.remove(store, "before_cursor_execute", seen)


def test_outreach_plan_shows_the_stance_filters_reasons(tmp_path, constituents, roster,
                                                        store_url):
    import json

    from click.testing import CliRunner

    from outreach.cli import cli
    from tests.conftest import DATA

    record(constituents, roster, "pa-philadelphia", LAUNCH, drop="yes")
    press_file(tmp_path, 'stance = { drop = ["unknown", "no", "partial"] }')
    env = {"OUTREACH_DATABASE_URL": store_url, "OUTREACH_DATA_DIR": str(DATA),
           "OUTREACH_JOBS_DIR": str(tmp_path / "jobs"), "OUTREACH_TEMPLATES_DIR": str(TEMPLATES)}
    shown = CliRunner().invoke(cli, ["plan", "press", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    [step] = json.loads(shown.output)["steps"]
    assert step["messages"] == 2
    assert step["skipped"]["stance filter: prosecutor's drop stance is yes"] == 4
    text = CliRunner().invoke(cli, ["plan", "press"], env=env).output
    assert "left out: stance filter: prosecutor's drop stance is yes 4" in text


def test_the_shipped_campaign_thanks_constituents_when_their_da_commits():
    from outreach.campaigns.definitions import find_campaign

    campaign = find_campaign(Path(__file__).resolve().parents[2] / "jobs", "marijuana_justice")
    step = campaign.step("stance_thanks")
    assert step.to == "supporters" and step.template == "stance_news"
    assert step.stance_trigger is not None and step.stance_trigger.summary == "committed"
    assert campaign.watches_stances
