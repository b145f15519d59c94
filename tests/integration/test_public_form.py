"""The public form cannot take over a signer, and SMS consent from it needs the number's YES
(DESIGN invariant 10): re-signing with a stored email or phone adds evidence, not changes; a
web SMS opt-in sends one confirmation text and nothing else until the number answers YES."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from outreach.ops.wiring import build_worker
from outreach.signers.intake import intake_records
from outreach.store.schema import outbox, signer_matches, signers, sms_confirmations, submissions
from outreach.testing.webhooks import TwilioCaller
from outreach.web import create_app
from tests.web_helpers import HTML, PUBLIC, TWILIO_TOKEN, snapshot, web_settings

VICTIM = {"first_name": "Victoria", "last_name": "Vance", "email": "victim@example.org",
          "phone": "+1 215 555 0147", "street": "1421 Arch Street", "zip": "19102",
          "email_opt_in": "yes"}
VICTIM_PHONE = "+12155550147"
# 11:00 in Philadelphia on a Tuesday: inside every texting window.
twilio = TwilioCaller(TWILIO_TOKEN)


@pytest.fixture
def app(store, settings, daytime):
    return create_app(settings, engine=store)


def browser(app) -> TestClient:
    """A browser of its own: its own cookies, so its own session."""
    return TestClient(app, base_url=PUBLIC)


def sign(client: TestClient, **fields: str):
    page = client.get("/", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/sign", data={**fields, "csrf": csrf}, headers=HTML,
                       follow_redirects=False)


def text_in(client: TestClient, phone: str, body: str):
    params = twilio.inbound(phone, body)
    return client.post("/hooks/twilio/inbound", data=params, headers={
        "X-Twilio-Signature": twilio.sign(PUBLIC + "/hooks/twilio/inbound", params)})


def stored(store) -> dict:
    with store.connect() as connection:
        row = connection.execute(select(signers)).one()
        match = connection.execute(select(signer_matches.c.felony_office_id)).scalar_one()
    return {**dict(row._mapping), "office": match}


def evidence(store) -> list[tuple[str, dict]]:
    with store.connect() as connection:
        return [(r.outcome, json.loads(r.submitted)) for r in connection.execute(
            select(submissions).order_by(submissions.c.id))]


def texts(store) -> dict[str, str]:
    """step -> state of every text in the outbox."""
    with store.connect() as connection:
        return {r.step: r.state for r in connection.execute(
            select(outbox.c.step, outbox.c.state).where(outbox.c.channel == "sms"))}


def send_due(settings, store) -> list[dict]:
    """Run a real worker (the deployment's gate, the files transport) over what is due;
    return the texts it wrote."""
    build_worker(settings, 1, engine=store).run(once=True)
    journal = settings.send.outbox_dir / "sms.jsonl"
    if not journal.exists():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]


def confirmed_victim(app, store) -> tuple[TestClient, str]:
    """The victim signed with both boxes ticked and answered the confirmation text YES."""
    victim = browser(app)
    answer = sign(victim, **VICTIM, sms_opt_in="yes")
    assert answer.status_code == 303
    text_in(victim, VICTIM_PHONE, "YES")
    assert stored(store)["sms_opt_in"] is True
    return victim, answer.headers["location"]


def test_a_stranger_re_signing_with_a_stored_email_changes_nothing_and_sees_no_code(
        app, store):
    _, thanks = confirmed_victim(app, store)
    before = stored(store)
    stranger = browser(app)
    answer = sign(stranger, first_name="Mallory", last_name="Attacker",
                  email="Victim@Example.org", phone="+1 512 555 0188",
                  street="1000 Congress Ave", zip="78701", sms_opt_in="yes")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/thanks/received"  # not the victim's page and code
    after = stored(store)
    for name in ("first_name", "last_name", "email", "phone", "street", "zip", "email_opt_in",
                 "sms_opt_in", "office"):
        assert after[name] == before[name], name
    assert after["office"] == "pa-philadelphia"
    code = thanks.rsplit("/", 1)[1]
    assert code not in stranger.get("/thanks/received", headers=HTML).text
    page = stranger.get(thanks, headers=HTML)  # the code itself, if they had it: no owner
    refused = stranger.post(f"{thanks}/county", data={"county": "42101", "csrf": "x"})
    assert page.status_code == 200 and refused.status_code == 403
    [(first, _), (second, submitted)] = evidence(store)
    assert (first, second) == ("imported", "duplicate")
    assert submitted["first_name"] == "Mallory" and submitted["phone"] == "+1 512 555 0188"
    with store.connect() as connection:  # the stranger's number is never texted
        asked = connection.execute(select(sms_confirmations.c.phone)).scalars().all()
    assert asked == [VICTIM_PHONE]


def test_a_stranger_with_a_stored_phone_cannot_replace_the_email_or_clear_consent(
        app, store):
    _, thanks = confirmed_victim(app, store)
    answer = sign(browser(app), first_name="Mal", email="mal@attacker.example",
                  phone="(215) 555-0147", zip="19102")  # both boxes unticked
    assert answer.headers["location"] != thanks  # never the victim's page
    with store.connect() as connection:
        people = {r.email: r for r in connection.execute(select(signers))}
    after = people["victim@example.org"]
    assert (after.phone, after.email_opt_in, after.sms_opt_in) == (VICTIM_PHONE, True, True)
    assert people["mal@attacker.example"].phone is None  # the number stays the victim's


def test_signing_again_without_the_boxes_keeps_consent_and_the_own_thanks_page(app, store):
    victim, thanks = confirmed_victim(app, store)
    again = sign(victim, **{**VICTIM, "email_opt_in": ""})
    assert again.headers["location"] == thanks  # the same browser: its own page
    after = stored(store)
    assert (after["email_opt_in"], after["sms_opt_in"]) == (True, True)


def test_re_signing_adds_nothing_to_a_stored_signer(app, store):
    """Not even an empty field: the form cannot tell the signer from a stranger, and a
    stranger's address would move the signer to another prosecutor (letters go out in the
    signer's name); it stays in the evidence."""
    first = sign(browser(app), first_name="Ana", email="ana@example.org", zip="19102")
    assert first.status_code == 303
    before = stored(store)
    again = sign(browser(app), first_name="Someone", last_name="Lopez",
                 email="ana@example.org", phone="+1 215 555 0123",
                 street="1000 Congress Ave", zip="78701")
    assert again.headers["location"] == "/thanks/received"
    after = stored(store)
    for name in ("first_name", "last_name", "phone", "street", "zip", "office", "signed_at",
                 "updated_at"):
        assert after[name] == before[name], name
    assert (after["last_name"], after["phone"], after["street"]) == (None, None, None)
    [_, (outcome, submitted)] = evidence(store)
    assert outcome == "duplicate" and submitted["street"] == "1000 Congress Ave"


def test_a_stranger_cannot_attach_an_email_to_a_phone_only_signer(app, store):
    """Else the stranger would get the signer's emails, their unsubscribe link and the
    offices' replies to letters sent in the signer's name (Reply-To). A new email with a
    stored phone is a new signer (the petition keeps the signature) without that phone."""
    intake_records([{"first_name": "Pat", "phone": "+12155550166", "zip": "19107"}], store,
                   source="import")
    answer = sign(browser(app), first_name="Nora", email="nora.new@example.org",
                  phone="(215) 555-0166", zip="19107", email_opt_in="yes", sms_opt_in="yes")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/thanks/")
    with store.connect() as connection:
        people = {r.first_name: r for r in connection.execute(
            select(signers.c.id, signers.c.first_name, signers.c.email, signers.c.phone,
                   signers.c.unsubscribe_token, signers.c.sms_opt_in))}
        mail = connection.execute(select(outbox.c.recipient_id, outbox.c.channel)).all()
    pat, nora = people["Pat"], people["Nora"]
    assert (pat.email, pat.unsubscribe_token, pat.phone) == (None, None, "+12155550166")
    assert (nora.email, nora.phone, nora.sms_opt_in) == ("nora.new@example.org", None, False)
    nora_id = nora.id  # (not the row's place in the answer: PostgreSQL keeps no order)
    assert {channel for _, channel in mail} == {"email"}  # no confirmation text to Pat's phone
    assert {recipient for recipient, _ in mail} == {str(nora_id)}
    [(outcome, submitted)] = evidence(store)
    assert outcome == "imported" and submitted["phone"] == "(215) 555-0166"


def test_a_web_sms_opt_in_sends_one_confirmation_and_no_campaign_text_until_yes(
        app, store, settings):
    signer = browser(app)
    answer = sign(signer, **VICTIM, sms_opt_in="yes")
    assert "reply <strong>YES</strong>" in signer.get(answer.headers["location"],
                                                      headers=HTML).text
    sign(browser(app), **VICTIM, sms_opt_in="yes")  # a second submission: no second text
    assert stored(store)["sms_opt_in"] is False
    assert texts(store) == {"confirm": "queued"}  # the welcome text waits for the YES
    sent = send_due(settings, store)
    assert [t["to"] for t in sent] == [VICTIM_PHONE]
    assert "MJ Campaign" in sent[0]["body"] and "YES" in sent[0]["body"]
    assert "STOP" in sent[0]["body"]
    assert texts(store) == {"confirm": "sent"}
    assert send_due(settings, store) == sent  # nothing more without the YES

    reply = text_in(signer, VICTIM_PHONE, "Yes")
    assert reply.status_code == 200
    assert stored(store)["sms_opt_in"] is True
    assert texts(store)["welcome_sms"] == "queued"
    sent = send_due(settings, store)
    assert [t["to"] for t in sent] == [VICTIM_PHONE, VICTIM_PHONE]
    assert "thanks for signing, Victoria" in sent[1]["body"]
    with store.connect() as connection:
        confirmation = connection.execute(select(sms_confirmations)).one()
    assert confirmation.confirmed_at is not None  # the evidence of the consent


def test_yes_from_a_number_that_never_opted_in_changes_nothing(app, store, settings):
    intake_records([{"first_name": "Ima", "email": "ima@example.org",
                     "phone": "+12155550111", "zip": "19107"}], store, source="import")
    sign(browser(app), first_name="Web", email="web@example.org", phone="+1 215 555 0122",
         zip="19107", sms_opt_in="yes")  # pending, for another number
    client = browser(app)
    before = {k: v for k, v in snapshot(store).items() if k != "message_events"}
    for phone in ("+12155550111", "+12155550133"):  # stored without consent; unknown
        assert text_in(client, phone, "YES").status_code == 200
        assert text_in(client, phone, "START").status_code == 200
    assert {k: v for k, v in snapshot(store).items() if k != "message_events"} == before
    with store.connect() as connection:
        consent = dict(connection.execute(select(signers.c.phone, signers.c.sms_opt_in)).all())
        pending = connection.execute(select(sms_confirmations.c.confirmed_at)).scalars().all()
    assert consent == {"+12155550111": False, "+12155550122": False}
    assert pending == [None]  # the other number's request still waits for its own YES


def test_organizer_imports_keep_their_consent_rules(store):
    intake_records([{"email": "bo@example.org", "phone": "+12155550144", "zip": "19107",
                     "sms_opt_in": "yes"}], store, source="api")
    intake_records([{"email": "bo@example.org", "phone": "+12155550145", "zip": "19107",
                     "sms_opt_in": "no"}], store, source="api")
    with store.connect() as connection:
        row = connection.execute(select(signers.c.phone, signers.c.sms_opt_in)).one()
    assert tuple(row) == ("+12155550145", False)  # the newest row wins, as for files


def test_the_confirmation_goes_only_to_the_number_that_asked(app, store, settings):
    sign(browser(app), **VICTIM, sms_opt_in="yes")
    # Before the worker runs, an organizer's import gives the signer another number.
    intake_records([{"email": "victim@example.org", "phone": "+12155550148"}], store,
                   source="import")
    assert send_due(settings, store) == []
    with store.connect() as connection:
        row = connection.execute(select(outbox.c.state, outbox.c.last_error)
                                 .where(outbox.c.step == "confirm")).one()
    assert row.state == "skipped" and "no SMS confirmation pending" in row.last_error
    text_in(browser(app), "+12155550148", "YES")  # the new number never asked
    assert stored(store)["sms_opt_in"] is False


def test_a_yes_whose_texts_fail_to_queue_is_applied_by_twilios_retry(app, store,
                                                                      monkeypatch):
    """The YES's dedupe record, the consent and the texts held back for it are one unit: a
    failure while queueing the texts (a lock timeout, a crash) leaves none of them, so the
    retry is not answered "duplicate" with the welcome text lost."""
    from outreach.campaigns import planner

    sign(browser(app), **VICTIM, sms_opt_in="yes")
    real = planner.enqueue_plans

    def lost_connection(*args, **kwargs):
        raise RuntimeError("the connection dropped")

    monkeypatch.setattr(planner, "enqueue_plans", lost_connection)
    hook = TestClient(app, base_url=PUBLIC, raise_server_exceptions=False)
    params = twilio.inbound(VICTIM_PHONE, "YES")
    headers = {"X-Twilio-Signature": twilio.sign(PUBLIC + "/hooks/twilio/inbound", params)}
    assert hook.post("/hooks/twilio/inbound", data=params, headers=headers).status_code == 500
    assert stored(store)["sms_opt_in"] is False  # nothing of it committed
    monkeypatch.setattr(planner, "enqueue_plans", real)
    assert hook.post("/hooks/twilio/inbound", data=params, headers=headers).status_code == 200
    assert stored(store)["sms_opt_in"] is True
    assert texts(store)["welcome_sms"] == "queued"


def test_a_yes_while_the_campaign_file_is_broken_waits_for_the_planning_pass(
        tmp_path, store, daytime):
    from outreach.campaigns.definitions import find_campaign
    from outreach.ops.signing import queue_pending_signings
    from tests.web_helpers import ROOT

    jobs = tmp_path / "jobs"
    jobs.mkdir()
    good = (ROOT / "jobs" / "marijuana_justice.toml").read_text()
    (jobs / "marijuana_justice.toml").write_text(good)
    app = create_app(web_settings(PUBLIC, OUTREACH_SESSION_SECRET="s" * 32,
                                  OUTREACH_JOBS_DIR=str(jobs)), engine=store)
    sign(browser(app), **VICTIM, sms_opt_in="yes")
    (jobs / "marijuana_justice.toml").write_text("[campaign\n")
    assert text_in(browser(app), VICTIM_PHONE, "YES").status_code == 200
    assert stored(store)["sms_opt_in"] is True  # the consent stands
    assert "welcome_sms" not in texts(store)
    (jobs / "marijuana_justice.toml").write_text(good)
    roster = app.state.outreach.geo.roster
    assert queue_pending_signings(store, lambda: find_campaign(jobs, "marijuana_justice"),
                                  roster, datetime.now(UTC)) == 1
    assert texts(store)["welcome_sms"] == "queued"


def test_the_thanks_page_promises_a_text_only_when_one_was_queued(app, store, settings):
    signer = browser(app)
    first = sign(signer, **VICTIM, sms_opt_in="yes")
    assert "confirm-sms" in signer.get(first.headers["location"], headers=HTML).text
    again = sign(signer, **VICTIM, sms_opt_in="yes")  # the request is pending: no new text
    assert "confirm-sms" not in signer.get(again.headers["location"], headers=HTML).text
    assert [t["to"] for t in send_due(settings, store)] == [VICTIM_PHONE]


def test_a_signer_whose_number_changed_is_asked_on_the_new_number(app, store, settings):
    signer = browser(app)
    sign(signer, **VICTIM, sms_opt_in="yes")
    assert [t["to"] for t in send_due(settings, store)] == [VICTIM_PHONE]
    intake_records([{"email": "victim@example.org", "phone": "+12155550148"}], store,
                   source="import")  # an organizer's import: the signer's new number
    again = sign(signer, **{**VICTIM, "phone": "+1 215 555 0148"}, sms_opt_in="yes")
    assert "confirm-sms" in signer.get(again.headers["location"], headers=HTML).text
    sent = send_due(settings, store)
    assert [t["to"] for t in sent] == [VICTIM_PHONE, "+12155550148"]  # one text each
    assert text_in(signer, "+12155550148", "YES").status_code == 200
    assert stored(store)["sms_opt_in"] is True


def test_a_text_queued_for_the_old_number_does_not_go_to_the_new_one_too(app, store,
                                                                        settings):
    signer = browser(app)
    sign(signer, **VICTIM, sms_opt_in="yes")  # not sent yet when the number changes
    intake_records([{"email": "victim@example.org", "phone": "+12155550148"}], store,
                   source="import")
    sign(signer, **{**VICTIM, "phone": "+1 215 555 0148"}, sms_opt_in="yes")
    assert [t["to"] for t in send_due(settings, store)] == ["+12155550148"]  # once


def test_a_stranger_learns_nothing_of_a_signers_number_and_cannot_have_it_texted(
        app, store, settings):
    sign(browser(app), **{**VICTIM, "email_opt_in": ""})  # the SMS box unticked
    pages = []
    for phone in ("+1 215 555 0147", "+1 215 555 0199"):  # the stored number; another
        stranger = browser(app)
        answer = sign(stranger, **{**VICTIM, "phone": phone}, sms_opt_in="yes")
        pages.append(stranger.get(answer.headers["location"], headers=HTML).text)
    assert "confirm-sms" not in pages[0] and pages[0] == pages[1]
    with store.connect() as connection:
        assert connection.execute(select(sms_confirmations)).all() == []
    assert send_due(settings, store) == []
