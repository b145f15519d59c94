"""Webhooks: keywords, status callbacks, SendGrid events, unsubscribe links; signed or refused."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from outreach.sending.consent import sms_keyword
from outreach.sending.delivery import sendgrid_events
from outreach.signers.intake import intake
from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.reports import outbox_report
from outreach.store.runs import set_run_state
from outreach.store.schema import message_events, outbox, signers, suppressions
from outreach.testing.webhooks import (
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    SendGridCaller,
    TwilioCaller,
)
from outreach.web import create_app
from tests.live_server import LiveServer
from tests.store_locks import hold_table
from tests.web_helpers import TWILIO_TOKEN, snapshot, web_settings

PUBLIC = "https://mj.example"
PHONES = ["+12155550101", "+12155550102", "+12155550103"]
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@pytest.fixture
def people(tmp_path, store):
    path = tmp_path / "signers.csv"
    path.write_text("first_name,email,phone,zip,sms_opt_in\n" + "".join(
        f"P{i},p{i}@example.org,{phone},19107,yes\n" for i, phone in enumerate(PHONES)))
    intake(path, store)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "welcome", channel, "signer", str(i + 1),
                                                "welcome", {}, NOW)
                                 for i in range(3) for channel in ("sms", "email")], NOW)
    return store


@pytest.fixture
def sendgrid() -> SendGridCaller:
    return SendGridCaller()


@pytest.fixture
def client(people, sendgrid):
    settings = web_settings(PUBLIC, OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY=sendgrid.public_key)
    app = create_app(settings, engine=people, clock=lambda: datetime.now(UTC))
    with TestClient(app, base_url=PUBLIC) as test_client:
        yield test_client


twilio = TwilioCaller(TWILIO_TOKEN)


def post_twilio(client, route: str, params: dict[str, str], signature: str | None = None):
    signature = twilio.sign(PUBLIC + route, params) if signature is None else signature
    return client.post(route, data=params, headers={"X-Twilio-Signature": signature})


def post_sendgrid(client, events: list[dict], caller: SendGridCaller,
                  timestamp: int | None = None):
    body, headers = caller.request(events, timestamp)
    return client.post("/hooks/sendgrid/events", content=body.encode(), headers=headers)


def sms_states(engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {r.recipient_id: r.state for r in connection.execute(
            select(outbox.c.recipient_id, outbox.c.state).where(outbox.c.channel == "sms"))}


def suppressed(engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {r.address: r.source for r in connection.execute(
            select(suppressions).where(suppressions.c.removed_at.is_(None)))}


@pytest.mark.parametrize(("body", "keyword"), [
    ("STOP", "stop"), ("stop", "stop"), ("  Stop. ", "stop"), ("STOP!!", "stop"),
    ("stopall", "stop"), ("Unsubscribe", "stop"), ("cancel", "stop"), ("END", "stop"),
    ("quit", "stop"), ("revoke", "stop"), ("optout", "stop"), ("start", "start"),
    ("Unstop", "start"), ("yes", "start"), ("HELP", "help"), ("info?", "help"),
    ("we have got to STOP this bill", None), ("stop it", None), ("STOPPED", None),
    ("", None), ("thanks!", None),
])
def test_keywords_are_single_words(body, keyword):
    assert sms_keyword(body) == keyword


def test_stop_suppresses_clears_consent_and_withdraws_queued_texts(client, people):
    response = post_twilio(client, "/hooks/twilio/inbound", twilio.inbound(PHONES[0], "Stop"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message>" not in response.text  # Twilio's own opt-out answers; never twice
    assert suppressed(people) == {PHONES[0]: "sms-stop"}
    assert sms_states(people) == {"1": "skipped", "2": "queued", "3": "queued"}
    with people.connect() as connection:
        consent = dict(connection.execute(select(signers.c.phone, signers.c.sms_opt_in)).all())
    assert consent[PHONES[0]] is False and consent[PHONES[1]] is True


def test_a_sentence_containing_stop_is_not_an_opt_out(client, people):
    post_twilio(client, "/hooks/twilio/inbound",
                twilio.inbound(PHONES[0], "we have got to STOP this bill"))
    assert suppressed(people) == {}
    assert sms_states(people)["1"] == "queued"


def test_start_resubscribes_and_help_answers_with_name_and_opt_out(client, people):
    post_twilio(client, "/hooks/twilio/inbound", twilio.inbound(PHONES[1], "STOPALL"))
    assert PHONES[1] in suppressed(people)
    post_twilio(client, "/hooks/twilio/inbound", twilio.inbound(PHONES[1], "unstop"))
    assert PHONES[1] not in suppressed(people)
    with people.connect() as connection:
        history = connection.execute(select(suppressions.c.removed_reason)).scalars().all()
    assert history == ["texted START"]  # the lifted entry stays as evidence
    help_answer = post_twilio(client, "/hooks/twilio/inbound", twilio.inbound(PHONES[1], "help"))
    assert "MJ Campaign" in help_answer.text and "Reply STOP to opt out" in help_answer.text
    answered_by_twilio = post_twilio(client, "/hooks/twilio/inbound",
                                     twilio.inbound(PHONES[1], "HELP", OptOutType="HELP"))
    assert "<Message>" not in answered_by_twilio.text


def test_our_own_confirmation_is_a_setting(people):
    settings = web_settings(PUBLIC, OUTREACH_TWILIO_OPT_OUT="ours")
    with TestClient(create_app(settings, engine=people), base_url=PUBLIC) as client:
        answer = post_twilio(client, "/hooks/twilio/inbound", twilio.inbound(PHONES[2], "END"))
    assert "unsubscribed" in answer.text and "START" in answer.text


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "forged"])
def test_forged_twilio_requests_get_403_and_change_nothing(client, people, signature):
    before = snapshot(people)
    stop = twilio.inbound(PHONES[0], "STOP")
    assert post_twilio(client, "/hooks/twilio/inbound", stop, signature=signature
                       ).status_code == 403
    other_token = TwilioCaller("someone-elses-token").sign(PUBLIC + "/hooks/twilio/inbound", stop)
    assert post_twilio(client, "/hooks/twilio/inbound", stop, signature=other_token
                       ).status_code == 403
    signed = twilio.sign(PUBLIC + "/hooks/twilio/inbound", stop)
    tampered = {**stop, "From": PHONES[1]}  # a good signature over other parameters
    assert post_twilio(client, "/hooks/twilio/inbound", tampered, signature=signed
                       ).status_code == 403
    status = twilio.status("SMxyz", PHONES[0], "undelivered", "30005")
    assert post_twilio(client, "/hooks/twilio/status", status, signature=signature
                       ).status_code == 403
    assert snapshot(people) == before


def test_a_replayed_twilio_request_changes_nothing_more(client, people):
    stop = twilio.inbound(PHONES[0], "STOP")
    post_twilio(client, "/hooks/twilio/inbound", stop)
    post_twilio(client, "/hooks/twilio/inbound", twilio.inbound(PHONES[0], "START"))
    after_start = snapshot(people)
    assert post_twilio(client, "/hooks/twilio/inbound", stop).status_code == 200  # replayed
    assert snapshot(people) == after_start  # the old STOP did not act a second time


def _sent_sms(engine, recipient: str, sid: str) -> int:
    with engine.begin() as connection:
        return connection.execute(
            update(outbox).where(outbox.c.channel == "sms", outbox.c.recipient_id == recipient)
            .values(state="sent", provider_message_id=sid).returning(outbox.c.id)).scalar_one()


def test_status_callbacks_update_delivery_and_suppress_dead_numbers(client, people):
    row = _sent_sms(people, "1", "SM1")
    _sent_sms(people, "2", "SM2")
    for status in ("sent", "delivered", "sent"):  # out of order: delivered stays
        assert post_twilio(client, "/hooks/twilio/status",
                           twilio.status("SM1", PHONES[0], status)).status_code == 204
    post_twilio(client, "/hooks/twilio/status",
                twilio.status("SM2", PHONES[1], "undelivered", "30005"))
    with people.connect() as connection:
        status = connection.execute(select(outbox.c.delivery_status)
                                    .where(outbox.c.id == row)).scalar_one()
    assert status == "delivered"
    assert suppressed(people) == {PHONES[1]: "twilio-30005"}


def test_a_spike_of_carrier_filtering_holds_the_sms_step(tmp_path, store):
    phones = [f"+1215555{i:04d}" for i in range(30)]
    path = tmp_path / "many.csv"
    path.write_text("email,phone,zip,sms_opt_in\n" + "".join(
        f"m{i}@example.org,{p},19107,yes\n" for i, p in enumerate(phones)))
    intake(path, store)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "call", "sms", "signer", str(i + 1),
                                                "call_your_da", {}, NOW) for i in range(30)],
                    NOW)
        box.enqueue(connection, [box.NewMessage("mj", "call", "email", "signer", "1",
                                                "call_your_da", {}, NOW)], NOW)
    for i in range(10):
        _sent_sms(store, str(i + 1), f"SM{i}")
    settings = web_settings(PUBLIC, OUTREACH_SPAM_ALARM_MIN_ERRORS="3",
                            OUTREACH_SPAM_ALARM_SHARE="0.2")
    with TestClient(create_app(settings, engine=store), base_url=PUBLIC) as client:
        for i in range(7):
            post_twilio(client, "/hooks/twilio/status", twilio.status(f"SM{i}", phones[i],
                                                                      "delivered"))
        for i in range(7, 10):
            post_twilio(client, "/hooks/twilio/status",
                        twilio.status(f"SM{i}", phones[i], "undelivered", "30007"))
    with store.connect() as connection:
        report = outbox_report(connection)
    assert len(report["holds"]) == 1
    assert report["holds"][0]["step"] == "call" and "30007" in report["holds"][0]["reason"]
    assert "3 of 10" in report["holds"][0]["reason"]
    claimed = box.claim(store, "w", 100, timedelta(minutes=1), NOW + timedelta(minutes=1))
    assert [r.channel for r in claimed] == ["email"]  # the held texts wait; email goes on
    box.release(store, "w", NOW)
    set_run_state(store, "mj", "active", NOW)  # `outreach resume mj`
    assert len(box.claim(store, "w", 100, timedelta(minutes=1), NOW)) == 21


def test_sendgrid_events_update_status_once_and_suppress(client, people, sendgrid):
    with people.connect() as connection:
        email_rows = dict(connection.execute(
            select(outbox.c.recipient_id, outbox.c.id).where(outbox.c.channel == "email")).all())
    stamp = int(datetime.now(UTC).timestamp())
    delivered = sendgrid.event("delivered", "p0@example.org", email_rows["1"], stamp)
    first = post_sendgrid(client, [delivered, sendgrid.event("open", "p0@example.org",
                                                             email_rows["1"], stamp + 5)],
                          caller=sendgrid)
    assert first.status_code == 200 and first.json() == {"delivered": 1, "open": 1}
    retry = {**delivered, "sg_event_id": "a-new-id-on-retry"}  # SendGrid's retry, new id
    assert post_sendgrid(client, [retry], caller=sendgrid).json() == {"duplicate": 1}
    events = [sendgrid.event("bounce", "p1@example.org", email_rows["2"], stamp,
                             type="bounce", reason="550 5.1.1 p1@example.org unknown"),
              sendgrid.event("bounce", "p2@example.org", email_rows["3"], stamp,
                             type="blocked", reason="421 try later"),
              sendgrid.event("spamreport", "P2@Example.org", email_rows["3"], stamp + 1)]
    assert post_sendgrid(client, events, caller=sendgrid).json() == {"suppressed": 2,
                                                                     "bounce": 1}
    assert suppressed(people) == {"p1@example.org": "sendgrid-bounce",
                                  "p2@example.org": "sendgrid-spamreport"}
    with people.connect() as connection:
        reasons = connection.execute(select(suppressions.c.reason)).scalars().all()
        status = connection.execute(select(outbox.c.delivery_status)
                                    .where(outbox.c.id == email_rows["1"])).scalar_one()
    assert status == "open"
    assert not any("p1@example.org" in r for r in reasons)  # the SMTP text is masked


def test_forged_or_replayed_sendgrid_events_get_403_and_change_nothing(client, people,
                                                                       sendgrid):
    before = snapshot(people)
    unsubscribe = [SendGridCaller.event("unsubscribe", "p0@example.org", 2)]
    assert post_sendgrid(client, unsubscribe, caller=SendGridCaller()).status_code == 403
    eleven_minutes_ago = int((datetime.now(UTC) - timedelta(minutes=11)).timestamp())
    assert post_sendgrid(client, unsubscribe, timestamp=eleven_minutes_ago,
                         caller=sendgrid).status_code == 403  # a captured request, replayed
    body, headers = sendgrid.request(unsubscribe)
    tampered = body.replace("p0@", "p1@").encode()
    assert client.post("/hooks/sendgrid/events", content=tampered,
                       headers=headers).status_code == 403
    assert client.post("/hooks/sendgrid/events", content=body.encode()).status_code == 403
    assert snapshot(people) == before


def _email_rows(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(
            select(outbox.c.recipient_id, outbox.c.id).where(outbox.c.channel == "email")).all())


def test_one_bad_event_is_that_events_error_and_the_rest_of_the_batch_applies(
        client, people, sendgrid, caplog):
    rows, stamp = _email_rows(people), int(datetime.now(UTC).timestamp())
    events = [
        sendgrid.event("open", "p0@example.org", rows["1"], stamp),
        sendgrid.event("processed", "p0@example.org", rows["1"], stamp),
        sendgrid.event("delivered", "p0@example.org", "²", stamp),  # "²".isdigit() is true
        sendgrid.event("delivered", "p0@example.org", 10 ** 30, stamp),  # overflows INTEGER
        # A lone surrogate: the database driver raises while the event is half applied.
        sendgrid.event("unsubscribe", "p1\ud800@example.org", rows["2"], stamp),
        sendgrid.event("unsubscribe", "p2@example.org", rows["3"], stamp),
        "not an event",
        {"event": "delivered", "timestamp": 10 ** 30, "email": "p0@example.org"},
    ]
    answer = post_sendgrid(client, events, caller=sendgrid)
    assert answer.status_code == 200
    assert answer.json() == {"open": 1, "processed": 1, "delivered": 2, "error": 1,
                             "suppressed": 1, "invalid": 2}
    assert suppressed(people) == {"p2@example.org": "sendgrid-unsubscribe"}
    with people.connect() as connection:
        statuses = dict(connection.execute(select(outbox.c.id, outbox.c.delivery_status)
                                           .where(outbox.c.channel == "email")).all())
        logged = set(connection.execute(select(message_events.c.outbox_id)).scalars())
    # The bad event left nothing half done: neither its status nor its dedupe record.
    assert statuses == {rows["1"]: "open", rows["2"]: None, rows["3"]: "unsubscribe"}
    assert logged == {rows["1"], rows["3"], None}
    assert "SendGrid event 5 of 8 skipped: UnicodeEncodeError" in caplog.text
    assert "p1" not in caplog.text


@pytest.mark.parametrize("stamp", ["99999999999999999999", "²", "1e9"])
def test_odd_sendgrid_timestamp_headers_are_refused_before_anything_else(people, sendgrid,
                                                                        stamp):
    """Over HTTP, as SendGrid sends them: requests writes "²" as its Latin-1 byte."""
    before = snapshot(people)
    server = LiveServer(lambda url: create_app(
        web_settings(url, OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY=sendgrid.public_key),
        engine=people))
    body = json.dumps([SendGridCaller.event("unsubscribe", "p0@example.org", 2)])
    headers = {"Content-Type": "application/json", SENDGRID_TIMESTAMP: stamp,
               SENDGRID_SIGNATURE: sendgrid.sign(body, stamp)}
    try:
        answer = requests.post(f"{server.url}/hooks/sendgrid/events", data=body.encode(),
                               headers=headers, timeout=10)
    finally:
        server.close()
    assert answer.status_code == 403
    assert snapshot(people) == before


def _break_suppressions(engine, broken: bool) -> None:
    """A failure in the middle of an opt-out's effects (a disk error, a killed connection)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER broken BEFORE INSERT ON suppressions "
                "BEGIN SELECT RAISE(ABORT, 'the disk went away'); END" if broken
                else "DROP TRIGGER broken")
        elif broken:
            connection.exec_driver_sql(
                "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the disk went away'; END $$")
            connection.exec_driver_sql("CREATE TRIGGER broken BEFORE INSERT ON suppressions "
                                       "FOR EACH ROW EXECUTE FUNCTION broken()")
        else:
            connection.exec_driver_sql("DROP FUNCTION broken() CASCADE")


@pytest.mark.parametrize("route", ["inbound", "status"])
def test_an_opt_out_that_fails_midway_leaves_no_dedupe_record_so_the_retry_applies(people,
                                                                                   route):
    settings = web_settings(PUBLIC)
    app = create_app(settings, engine=people, clock=lambda: datetime.now(UTC))
    if route == "inbound":
        params, source = twilio.inbound(PHONES[0], "STOP"), "sms-stop"
    else:
        _sent_sms(people, "1", "SM1")
        params, source = twilio.status("SM1", PHONES[0], "undelivered", "30005"), "twilio-30005"
    with TestClient(app, base_url=PUBLIC, raise_server_exceptions=False) as failing:
        _break_suppressions(people, True)
        assert post_twilio(failing, f"/hooks/twilio/{route}", params).status_code == 500
        _break_suppressions(people, False)
        assert post_twilio(failing, f"/hooks/twilio/{route}", params).status_code in (200, 204)
    assert suppressed(people) == {PHONES[0]: source}
    if route == "inbound":
        assert sms_states(people)["1"] == "skipped"


def test_a_locked_store_answers_503_with_retry_after_and_the_retry_applies(store_url, people,
                                                                          sendgrid):
    settings = web_settings(PUBLIC, OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY=sendgrid.public_key)
    engine = open_store(store_url, lock_timeout=0.5)
    app = create_app(settings, engine=engine, clock=lambda: datetime.now(UTC))
    stop = twilio.inbound(PHONES[0], "STOP")
    unsubscribe = [sendgrid.event("unsubscribe", "p1@example.org", None)]
    with TestClient(app, base_url=PUBLIC) as busy_client:
        holder = hold_table(store_url, "message_events")
        try:
            started = time.monotonic()
            texted = post_twilio(busy_client, "/hooks/twilio/inbound", stop)
            waited = time.monotonic() - started
            emailed = post_sendgrid(busy_client, unsubscribe, caller=sendgrid)
        finally:
            holder.rollback()
            holder.close()
        assert (texted.status_code, emailed.status_code) == (503, 503)
        assert texted.headers["Retry-After"] == emailed.headers["Retry-After"] == "5"
        assert waited < 3
        assert suppressed(people) == {}
        # The providers' retries, once the store is free again, apply both.
        assert post_twilio(busy_client, "/hooks/twilio/inbound", stop).status_code == 200
        assert post_sendgrid(busy_client, unsubscribe, caller=sendgrid).json() == {
            "suppressed": 1}
    engine.dispose()
    assert suppressed(people) == {PHONES[0]: "sms-stop", "p1@example.org": "sendgrid-unsubscribe"}


@pytest.mark.timing  # a wait under 1 s: the parallel suite's load stretched one to 1.08 s in CI
def test_a_large_batch_commits_in_chunks_so_another_writer_waits_briefly(tmp_path):
    """SQLite has one write lock: a petition signature arriving during a large batch waits for
    one chunk, not for the batch (audit F14: 20 s for 20,000 events in one transaction). Set-
    based chunks take about 10,000 events a second here: 50,000 give the writer time to try."""
    url = f"sqlite:///{tmp_path / 'outreach.sqlite3'}"
    engine, other = open_store(url), open_store(url)
    stamp = int(datetime.now(UTC).timestamp())
    events = [SendGridCaller.event("delivered", f"u{i}@example.org", None, stamp)
              for i in range(50000)]
    outcome: list = []
    batch = threading.Thread(target=lambda: outcome.append(
        sendgrid_events(engine, events, datetime.now(UTC))))
    started = time.monotonic()
    batch.start()
    waits = []
    while batch.is_alive():
        asked = time.monotonic()
        with other.begin() as connection:  # what a signature's transaction has to wait for
            connection.execute(select(message_events.c.id).limit(1)).all()
        waits.append(time.monotonic() - asked)
        time.sleep(0.05)
    took = time.monotonic() - started
    assert outcome == [{"delivered": 50000}]
    assert took > 1, "the batch was too quick to show anything; use more events"
    assert len(waits) > 10 and max(waits) < 1.0, (took, sorted(waits)[-5:])
    engine.dispose()
    other.dispose()


def _token(engine, signer_id: int) -> str:
    from outreach.store.signers import assign_unsubscribe_tokens

    with engine.begin() as connection:
        assign_unsubscribe_tokens(connection, [signer_id])
        return connection.execute(select(signers.c.unsubscribe_token)
                                  .where(signers.c.id == signer_id)).scalar_one()


def test_unsubscribe_get_asks_and_a_bare_post_unsubscribes(client, people):
    token = _token(people, 1)
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    assert suppressed(people) == {}  # a link scanner's GET unsubscribes nobody
    done = client.post(f"/u/{token}")  # RFC 8058 clients may send no body at all
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert suppressed(people) == {"p0@example.org": "unsubscribe-link"}
    with people.connect() as connection:
        email_states = dict(connection.execute(
            select(outbox.c.recipient_id, outbox.c.state)
            .where(outbox.c.channel == "email")).all())
    assert email_states == {"1": "skipped", "2": "queued", "3": "queued"}


def test_one_click_post_with_the_rfc8058_body(client, people):
    token = _token(people, 2)
    response = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert "p1@example.org" in suppressed(people)


def test_unknown_unsubscribe_token_is_404_and_changes_nothing(client, people):
    before = snapshot(people)
    assert client.get("/u/not-a-token").status_code == 404
    assert client.post("/u/not-a-token").status_code == 404
    assert snapshot(people) == before


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok",
                                             "workers": {"live": 0, "late": 0, "dead": 0}}


# --- our own id in the status callback URL (security audit F23) ----------------------------------
def test_a_status_callback_with_our_id_validates_and_settles_an_unrecorded_send(client, people):
    """Twilio signs the full callback URL, query included: the check covers `?outreach_id=`.
    A callback for a send whose worker died before recording Twilio's sid settles that row."""
    row = box.claim(people, "dead", 1, timedelta(minutes=5), datetime.now(UTC))[0]
    assert row.channel == "sms"
    box.start_sending(people, row.id, "dead", datetime.now(UTC))
    route = f"/hooks/twilio/status?outreach_id={row.id}"
    params = twilio.status("SMnew", PHONES[0], "sent")
    bare = twilio.sign(PUBLIC + "/hooks/twilio/status", params)  # signed without the query
    assert post_twilio(client, route, params, signature=bare).status_code == 403
    assert post_twilio(client, route, params).status_code == 204
    with people.connect() as connection:
        settled = connection.execute(select(outbox.c.state, outbox.c.provider_message_id,
                                            outbox.c.delivery_status)
                                     .where(outbox.c.id == row.id)).one()
    assert tuple(settled) == ("sent", "SMnew", "sent")


def test_the_standin_calls_our_live_webhook_back_and_it_validates(tmp_path, store):
    from outreach.message import Message
    from outreach.sending.transports.twilio import TwilioTransport
    from outreach.testing.providers import ProviderStandIn, RunningProviders
    from tests.live_server import LiveServer

    providers = RunningProviders(ProviderStandIn(status_callbacks=True))
    web = None
    try:
        web = LiveServer(lambda url: create_app(web_settings(url), engine=store))
        transport = TwilioTransport(providers.standin.twilio_sid, TWILIO_TOKEN,
                                    from_number="+12155550199", base_url=providers.url,
                                    status_callback=f"{web.url}/hooks/twilio/status")
        transport.send(Message(outbox_id=5, channel="sms", to=PHONES[0], sender="+1", text="x"))
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not providers.standin.callbacks and datetime.now(UTC) < deadline:
            time.sleep(0.05)
    finally:
        if web:
            web.close()
        providers.close()
    assert providers.standin.callbacks == [(f"{web.url}/hooks/twilio/status?outreach_id=5",
                                            204)]


# --- set-based batches (issue 18 item 4): the same outcome as one event at a time ---------------
def _delivery(engine) -> dict[int, tuple[str | None, str]]:
    with engine.connect() as connection:
        return {r.id: (r.delivery_status, r.state) for r in connection.execute(
            select(outbox.c.id, outbox.c.delivery_status, outbox.c.state)
            .where(outbox.c.channel == "email"))}


def test_a_mixed_batch_applies_each_event_once_and_in_order_across_chunks(people, monkeypatch):
    """Duplicates (in the batch and from an earlier one), ids that are not ours, statuses out
    of order, and bounces, spam reports and unsubscribes, in chunks of three events so that
    every rule has to hold across a chunk's boundary too."""
    from outreach.sending import delivery

    monkeypatch.setattr(delivery, "CHUNK_EVENTS", 3)
    rows, stamp = _email_rows(people), int(datetime.now(UTC).timestamp())
    one, two, three = rows["1"], rows["2"], rows["3"]
    earlier = SendGridCaller.event("delivered", "p0@example.org", one, stamp - 100)
    assert sendgrid_events(people, [earlier], NOW) == {"delivered": 1}
    events = [
        SendGridCaller.event("open", "p0@example.org", one, stamp + 5),
        SendGridCaller.event("delivered", "p0@example.org", one, stamp),  # after the open
        {**earlier, "sg_event_id": "retried"},  # the earlier batch's event again
        SendGridCaller.event("delivered", "x@example.org", 987654, stamp),  # not our id
        SendGridCaller.event("processed", "y@example.org", None, stamp),  # no id at all
        SendGridCaller.event("bounce", "p1@example.org", two, stamp, type="bounce",
                             reason="550 5.1.1 p1@example.org: user unknown"),
        SendGridCaller.event("spamreport", "P2@Example.org", three, stamp + 1),
        SendGridCaller.event("click", "p0@example.org", one, stamp + 9),
        SendGridCaller.event("open", "p0@example.org", one, stamp + 5),  # the first, again
        SendGridCaller.event("unsubscribe", "p2@example.org", three, stamp + 2),
        SendGridCaller.event("open", "p0@example.org", one, stamp + 20),  # after the click
        SendGridCaller.event("group_unsubscribe", "stranger@example.org", None, stamp),
    ]
    answer = sendgrid_events(people, events, NOW)
    assert answer == {"duplicate": 2, "open": 2, "delivered": 2, "processed": 1, "click": 1,
                      "suppressed": 4}
    statuses = _delivery(people)
    assert statuses[one] == ("click", "queued")  # neither the late open nor the delivered
    assert statuses[two] == ("bounce", "skipped")  # suppressed: the queued email withdrawn
    assert statuses[three] == ("unsubscribe", "skipped")  # equal rank: the later news
    assert suppressed(people) == {"p1@example.org": "sendgrid-bounce",
                                  "p2@example.org": "sendgrid-spamreport",
                                  "stranger@example.org": "sendgrid-group_unsubscribe"}
    with people.connect() as connection:
        consent = dict(connection.execute(select(signers.c.email,
                                                  signers.c.email_opt_in)).all())
        logged = connection.execute(select(message_events.c.outbox_id, message_events.c.event)
                                    ).all()
        withdrawn = connection.execute(select(outbox.c.last_error).where(
            outbox.c.id == two)).scalar_one()
    assert consent == {"p0@example.org": True, "p1@example.org": False,
                       "p2@example.org": False}
    assert withdrawn == "opted out (sendgrid-bounce)"
    assert sorted(logged, key=repr) == sorted([
        (one, "delivered"), (one, "open"), (one, "delivered"), (None, "delivered"),
        (None, "processed"), (two, "bounce"), (three, "spamreport"), (one, "click"),
        (three, "unsubscribe"), (one, "open"), (None, "group_unsubscribe")], key=repr)
    before = snapshot(people)
    assert sendgrid_events(people, events, NOW) == {"duplicate": len(events)}  # the retry
    assert snapshot(people) == before


def _random_batch(rows: list[int], count: int, seed: int) -> list[object]:
    import random

    chance = random.Random(seed)
    names = ["processed", "delivered", "deferred", "open", "click", "bounce", "dropped",
             "spamreport", "unsubscribe", "group_unsubscribe", "blocked"]
    stamp = int(NOW.timestamp())
    events: list[object] = []
    for index in range(count):
        if events and chance.random() < 0.15:  # a copy of an earlier event
            events.append(chance.choice(events))
            continue
        name = chance.choice(names)
        target = chance.choice([*rows, 999999, None])
        email = f"p{chance.randrange(5)}@example.org"
        extra = {"type": chance.choice(["bounce", "blocked"])} if name == "bounce" else {}
        events.append({**SendGridCaller.event(name, email, target, stamp + chance.randrange(30),
                                              **extra), "sg_message_id": f"m{index % 40}"})
    return events


def test_a_batch_in_chunks_ends_as_applying_its_events_one_by_one(tmp_path, monkeypatch):
    """The oracle: chunks of one event (one transaction each, in order) are what the
    per-event code did. A random batch with copies, unknown ids, every event kind, in
    chunks of 500, ends with the same store."""
    from outreach.sending import delivery

    events = _random_batch(list(range(1, 7)), 1500, seed=18)

    def applied(name: str, chunk: int) -> dict[str, list]:
        engine = open_store(f"sqlite:///{tmp_path / name}")
        path = tmp_path / f"{name}.csv"
        path.write_text("first_name,email,zip,email_opt_in\n" + "".join(
            f"P{i},p{i}@example.org,19107,yes\n" for i in range(3)))
        intake(path, engine)
        with engine.begin() as connection:
            box.enqueue(connection, [box.NewMessage("mj", step, "email", "signer", str(i), "w",
                                                    {}, NOW) for i in (1, 2, 3)
                                     for step in ("welcome", "call")], NOW)
        monkeypatch.setattr(delivery, "CHUNK_EVENTS", chunk)
        counts = sendgrid_events(engine, events, NOW)
        with engine.connect() as connection:
            state = {
                "counts": counts,
                "consent": connection.execute(select(signers.c.email, signers.c.email_opt_in)
                                              .order_by(signers.c.email)).all(),
                "outbox": connection.execute(select(outbox).order_by(outbox.c.id)).all(),
                "suppressions": connection.execute(
                    select(suppressions.c.address, suppressions.c.source,
                           suppressions.c.reason).order_by(suppressions.c.address)).all(),
                "events": connection.execute(
                    select(message_events.c.dedupe_key, message_events.c.outbox_id,
                           message_events.c.event, message_events.c.error_code)
                    .order_by(message_events.c.dedupe_key)).all()}
        engine.dispose()
        return state

    chunked, one_by_one = applied("chunked.sqlite3", 500), applied("one-by-one.sqlite3", 1)
    assert len(one_by_one["events"]) > 500 and len(one_by_one["suppressions"]) == 5
    assert chunked == one_by_one


def test_two_deliveries_of_one_batch_at_once_apply_each_event_once(store_url, people):
    """SendGrid retrying while the first delivery is still being applied: on PostgreSQL both
    transactions run at once, and the event log's unique key decides which one applies."""
    rows, stamp = _email_rows(people), int(datetime.now(UTC).timestamp())
    events = [SendGridCaller.event(name, f"u{i}@example.org", rows[str(1 + i % 3)], stamp + i)
              for i in range(1500) for name in ("delivered", "unsubscribe")]
    engines = [open_store(store_url), open_store(store_url)]
    outcomes: list = []
    threads = [threading.Thread(target=lambda e=e: outcomes.append(
        sendgrid_events(e, events, datetime.now(UTC)))) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert len(outcomes) == 2
    total = outcomes[0] + outcomes[1]
    assert total == {"duplicate": 3000, "delivered": 1500, "suppressed": 1500}
    assert len(suppressed(people)) == 1500
    with people.connect() as connection:
        assert connection.execute(select(func.count()).select_from(message_events)
                                  ).scalar_one() == 3000


def _apply_at_once(engine, events: list[dict], now: datetime, start: threading.Barrier,
                   outcomes: list) -> None:
    start.wait()
    try:
        outcomes.append(sendgrid_events(engine, events, now))
    except Exception as error:  # the caller's assertion names it
        outcomes.append(error)


@pytest.mark.postgres
def test_two_batches_moving_the_same_messages_to_different_statuses_do_not_deadlock(
        postgres_store):
    """Two SendGrid POSTs at once about the same messages, one bringing `delivered` for the
    even ones and `open` for the odd ones, the other the reverse, each listing its events so
    that its first status group is the other's second: the UPDATEs of a status lock their
    rows a group at a time, so without one global lock order the two transactions lock each
    other's second group and PostgreSQL ends one with DeadlockDetected (40P01; the batch
    would answer 503). Several rounds, the statuses reset between them so the UPDATEs lock
    rows every time; every message ends `open` (it outranks `delivered`)."""
    postgres_store.reset()
    engine = open_store(postgres_store.url)
    count, now = 300, datetime.now(UTC)
    with engine.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "welcome", "email", "signer", str(i),
                                                "welcome", {}, NOW) for i in range(count)], NOW)
        connection.execute(update(outbox).values(state="sent", sent_at=NOW))
        ids = sorted(connection.execute(select(outbox.c.id)).scalars())
    engines = [open_store(postgres_store.url), open_store(postgres_store.url)]
    try:
        for round_ in range(6):
            stamp = int(now.timestamp()) + round_
            with engine.begin() as connection:
                connection.execute(update(outbox).values(delivery_status=None))
            batches = [[SendGridCaller.event("delivered" if n % 2 == odd else "open",
                                             f"u{n}@example.org", outbox_id, stamp)
                        for n, outbox_id in enumerate(ids)] for odd in (0, 1)]
            batches[1].reverse()  # its first event: the last message's, `delivered`
            start, outcomes = threading.Barrier(2), []
            threads = [threading.Thread(target=_apply_at_once, args=(*pair, now, start,
                                                                    outcomes))
                       for pair in zip(engines, batches, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [type(o).__name__ for o in outcomes] == ["Counter", "Counter"], outcomes
            assert outcomes[0] + outcomes[1] == {"delivered": count, "open": count}
            with engine.connect() as connection:
                assert dict(Counter(connection.execute(select(outbox.c.delivery_status))
                                    .scalars())) == {"open": count}
    finally:
        for each in [engine, *engines]:
            each.dispose()
