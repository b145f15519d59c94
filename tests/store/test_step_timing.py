"""Steps timed from when a signer enters the campaign, and spaced by their delays at send time
(issue 13): an old list gets the welcome at the launch and the 3-day step three days later."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy import select

from outreach.campaigns.definitions import load_campaign
from outreach.campaigns.planner import (
    launch,
    plan_active_campaigns,
    plan_campaign,
    queue_for_signers,
)
from outreach.campaigns.render import Renderer, Sender
from outreach.cli import cli
from outreach.sending.compliance import Gate
from outreach.sending.transports.files import FilesTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake, intake_records
from outreach.signers.match import match
from outreach.store import events
from outreach.store.runs import set_run_state
from outreach.store.schema import outbox
from outreach.store.signers import as_utc

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
LAUNCH = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 Eastern
GRACE = timedelta(minutes=10)
CAMPAIGN = """name = "timing"
{start}
[sender]
organization = "MJ Campaign"
email_from = "MJ Campaign <team@mj-campaign.org>"
mailing_address = "PO Box 1, Washington, DC 20001"
[[steps]]
name = "welcome"
channel = "email"
to = "supporters"
template = "welcome"
[[steps]]
name = "call"
channel = "email"
to = "supporters"
template = "call_your_da"
delay = "3d"
[[steps]]
name = "share"
channel = "email"
to = "supporters"
template = "share"
delay = "5d"
"""


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "timing.toml").write_text(CAMPAIGN.format(start=""))
    return folder


def old_list(tmp_path: Path, store, geo, by_zip, count: int = 3) -> None:
    """A list exported from an older petition: signed 30 days before the launch, imported the
    hour before it."""
    signed = (LAUNCH - timedelta(days=30)).isoformat()
    path = tmp_path / "old.csv"
    path.write_text("first_name,email,zip,signed_at\n" + "".join(
        f"P{i},p{i}@example.org,19107,{signed}\n" for i in range(count)))
    with time_machine.travel(LAUNCH - timedelta(hours=1)):
        intake(path, store)
        match(store, geo, by_zip=by_zip)


def send(store, roster, jobs: Path, folder: Path):
    """One `outreach worker --once` with the real gate (this run's counts)."""
    steps = {"timing": tuple(load_campaign(jobs / "timing.toml").steps)}
    gate = Gate(store, roster, campaign_steps=lambda name: steps.get(name, ()))
    renderer = Renderer(store, roster, TEMPLATES,
                        Sender("MJ <team@mj-campaign.org>", "+12155550199", "MJ Campaign",
                               "PO Box 1"))
    return Worker(store, {"email": FilesTransport(folder, "email")}, renderer, gate=gate,
                  options=WorkerOptions(concurrency=2)).run(once=True)


def sent(store) -> dict[tuple[str, str], datetime]:
    """(recipient, step) -> when it was sent."""
    with store.connect() as connection:
        return {(r.recipient_id, r.step): as_utc(r.sent_at) for r in connection.execute(
            select(outbox).where(outbox.c.state == "sent"))}


def due(store) -> dict[tuple[str, str], datetime]:
    with store.connect() as connection:
        return {(r.recipient_id, r.step): as_utc(r.not_before)
                for r in connection.execute(select(outbox))}


def test_an_old_list_gets_the_welcome_at_the_launch_and_the_3_day_step_3_days_later(
        tmp_path, store, geo, by_zip, roster, jobs):
    old_list(tmp_path, store, geo, by_zip)
    campaign = load_campaign(jobs / "timing.toml")
    with time_machine.travel(LAUNCH):
        plans = plan_campaign(store, campaign, LAUNCH, GRACE, roster=roster)
        launch(store, plans, LAUNCH)
    planned = {p.step.name: p.summary() for p in plans}
    assert planned["welcome"]["backfilled"] == {
        "signers": 3, "first_due": (LAUNCH + GRACE).isoformat(),
        "last_due": (LAUNCH + GRACE).isoformat()}
    assert planned["call"]["backfilled"]["first_due"] == \
        (LAUNCH + timedelta(days=3)).isoformat()
    with time_machine.travel(LAUNCH + GRACE + timedelta(seconds=1)):
        assert send(store, roster, jobs, tmp_path / "out")["sent"] == 3
        # The scheduler's next pass, a minute later, moves and adds nothing.
        again = plan_active_campaigns(store, jobs, roster, LAUNCH + GRACE + timedelta(minutes=1))
    assert sum(s["queued_now"] for s in again["timing"].values()) == 0
    assert {step for _, step in sent(store)} == {"welcome"}
    assert all(LAUNCH <= when <= LAUNCH + GRACE + timedelta(minutes=1)
               for when in sent(store).values())
    with time_machine.travel(LAUNCH + timedelta(days=3) - timedelta(minutes=1)):
        assert send(store, roster, jobs, tmp_path / "out")["sent"] == 0
    with time_machine.travel(LAUNCH + timedelta(days=3)):
        # Due by the plan, but each welcome went out a little after the grace: the gate keeps
        # the three days from the welcome each signer actually got.
        stats = send(store, roster, jobs, tmp_path / "out")
    assert (stats["sent"], stats["deferred"]) == (0, 3)
    with time_machine.travel(LAUNCH + GRACE + timedelta(days=3, minutes=1)):
        assert send(store, roster, jobs, tmp_path / "out")["sent"] == 3
    went = sent(store)
    calls = [when for (_, step), when in went.items() if step == "call"]
    assert len(calls) == 3 and min(calls) >= LAUNCH + timedelta(days=3)
    assert all(went[(who, "call")] - went[(who, "welcome")] >= timedelta(days=3)
               for who, step in went if step == "call")
    assert all(when == LAUNCH + timedelta(days=5)
               for (_, step), when in due(store).items() if step == "share")


def test_a_signer_who_signs_after_the_launch_counts_from_signing(tmp_path, store, geo,
                                                                 by_zip, roster, jobs):
    campaign = load_campaign(jobs / "timing.toml")
    with time_machine.travel(LAUNCH):
        launch(store, plan_campaign(store, campaign, LAUNCH, GRACE, roster=roster), LAUNCH)
    day_after = LAUNCH + timedelta(days=1)
    path = tmp_path / "new.csv"
    path.write_text("email,zip\nnew@example.org,19107\n")  # no date: signed when imported
    with time_machine.travel(day_after, tick=False):
        intake(path, store)
        match(store, geo, by_zip=by_zip)
        plan_active_campaigns(store, jobs, roster, day_after)
    with time_machine.travel(day_after + timedelta(hours=2), tick=False):
        [form] = intake_records([{"email": "form@example.org", "zip": "19107"}], store,
                                source="petition-web")
        match(store, geo, by_zip=by_zip, only=[form.signer_id])
        queue_for_signers(store, campaign, roster, [form.signer_id],
                          day_after + timedelta(hours=2))
    planned = due(store)
    assert planned[("1", "welcome")] == day_after
    assert planned[("1", "call")] == day_after + timedelta(days=3)
    assert planned[(str(form.signer_id), "call")] == day_after + timedelta(days=3, hours=2)


def test_a_list_imported_after_the_launch_enters_when_imported(tmp_path, store, geo, by_zip,
                                                               roster, jobs):
    campaign = load_campaign(jobs / "timing.toml")
    with time_machine.travel(LAUNCH - timedelta(days=60)):
        launch(store, plan_campaign(store, campaign, LAUNCH - timedelta(days=60), GRACE,
                                    roster=roster), LAUNCH - timedelta(days=60))
    old_list(tmp_path, store, geo, by_zip)  # signed 30 days before, imported an hour before
    imported = LAUNCH - timedelta(hours=1)
    plan_active_campaigns(store, jobs, roster, LAUNCH)
    planned = due(store)
    assert planned[("1", "welcome")] == LAUNCH  # the pass's own time: no grace, it was due
    assert planned[("1", "call")] == imported + timedelta(days=3)


def test_start_signed_keeps_signing_time_and_the_gate_still_spaces_the_steps(
        tmp_path, store, geo, by_zip, roster, jobs):
    (jobs / "timing.toml").write_text(CAMPAIGN.format(start='start = "signed"'))
    old_list(tmp_path, store, geo, by_zip, count=1)
    campaign = load_campaign(jobs / "timing.toml")
    with time_machine.travel(LAUNCH):
        plans = plan_campaign(store, campaign, LAUNCH, GRACE, roster=roster)
        launch(store, plans, LAUNCH)
    # Their delays are long past: every step is due at the end of the grace, as before.
    assert set(due(store).values()) == {LAUNCH + GRACE}
    assert {p.step.name: p.backfilled["signers"] for p in plans} == \
        {"welcome": 1, "call": 1, "share": 1}
    with time_machine.travel(LAUNCH + GRACE, tick=False):
        stats = send(store, roster, jobs, tmp_path / "out")
    assert (stats["sent"], stats["deferred"]) == (1, 2)  # the welcome; the others wait
    welcome = sent(store)[("1", "welcome")]
    assert due(store)[("1", "call")] == welcome + timedelta(days=3)
    assert due(store)[("1", "share")] == welcome + timedelta(days=5)


def test_a_step_held_past_the_next_ones_due_time_does_not_go_out_with_it(
        tmp_path, store, geo, by_zip, roster, jobs):
    old_list(tmp_path, store, geo, by_zip, count=1)
    campaign = load_campaign(jobs / "timing.toml")
    with time_machine.travel(LAUNCH):
        launch(store, plan_campaign(store, campaign, LAUNCH, GRACE, roster=roster), LAUNCH)
        with store.begin() as connection:  # e.g. a spike of spam filtering on the welcome
            events.hold(connection, "timing", "welcome", "email", "test hold", LAUNCH)
    four_days = LAUNCH + timedelta(days=4)
    with time_machine.travel(four_days, tick=False):
        # The welcome is held: the call, due a day ago, must not overtake it.
        assert send(store, roster, jobs, tmp_path / "out")["sent"] == 0
        assert sent(store) == {}
        set_run_state(store, "timing", "active", four_days)  # the organizer resumes
    with time_machine.travel(four_days + timedelta(minutes=1), tick=False):
        stats = send(store, roster, jobs, tmp_path / "out")
    assert stats["sent"] == 1
    assert set(sent(store)) == {("1", "welcome")}
    with time_machine.travel(four_days + timedelta(days=3), tick=False):
        stats = send(store, roster, jobs, tmp_path / "out")
    # The call's first deferral ends; it waits for three days after the welcome's release
    # (and the share, due now too, for five).
    assert (stats["sent"], stats["deferred"]) == (0, 2)
    assert due(store)[("1", "call")] == four_days + timedelta(minutes=1, days=3)
    assert due(store)[("1", "share")] == four_days + timedelta(minutes=1, days=5)
    with time_machine.travel(four_days + timedelta(days=3, minutes=1), tick=False):
        assert send(store, roster, jobs, tmp_path / "out")["sent"] == 1
    assert set(sent(store)) == {("1", "welcome"), ("1", "call")}


def test_plan_says_how_many_signers_are_back_filled_and_when_their_steps_fall(tmp_path,
                                                                               store_url):
    env = {"OUTREACH_DATABASE_URL": store_url}
    path = tmp_path / "signers.csv"
    path.write_text("email,zip,signed_at\na@example.com,19107,2026-10-01\n"
                    "b@example.com,30303,2026-10-02\nc@example.com,19107,\n")
    runner = CliRunner()
    now = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        runner.invoke(cli, ["intake", str(path)], env=env)
        shown = json.loads(runner.invoke(cli, ["plan", "marijuana_justice", "--json"],
                                         env=env).output)
        text = runner.invoke(cli, ["plan", "marijuana_justice"], env=env).output
    steps = {step["step"]: step for step in shown["steps"]}
    assert steps["welcome_email"]["messages"] == 3  # c signed when imported: not back-filled
    assert steps["call_your_da"]["backfilled"] == {
        "signers": 2, "first_due": "2026-11-05T15:00:00+00:00",
        "last_due": "2026-11-05T15:00:00+00:00"}
    assert "back-filled: 2 signed before they entered the campaign" in text
    assert "due 2026-11-05T15:00:00+00:00 to 2026-11-05T15:00:00+00:00" in text
