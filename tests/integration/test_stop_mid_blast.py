"""A STOP that arrives while a blast is sending: no later text to that number, from any
campaign. Real parts end to end: the worker sends through the `twilio` SDK to the stand-in
Twilio, and the stand-in calls our live web app with a signed inbound-message webhook."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from outreach.campaigns.render import Renderer, Sender
from outreach.sending.transports.twilio import TwilioTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake
from outreach.store import outbox as box
from outreach.store.schema import outbox
from outreach.testing.providers import ProviderStandIn, RunningProviders
from outreach.testing.webhooks import TwilioCaller
from outreach.web import create_app
from tests.live_server import LiveServer
from tests.web_helpers import ROOT, web_settings

COUNT = 40


def test_stop_mid_blast_stops_every_later_text_to_that_number(tmp_path, store, roster):
    phones = [f"+1215555{i:04d}" for i in range(COUNT)]
    path = tmp_path / "signers.csv"
    path.write_text("first_name,phone,zip,sms_opt_in\n" + "".join(
        f"N{i},{p},19107,yes\n" for i, p in enumerate(phones)))
    intake(path, store)
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.begin() as connection:  # two campaigns text everyone; the STOPper is last
        for campaign in ("mj", "other"):
            box.enqueue(connection, [box.NewMessage(campaign, "call", "sms", "signer",
                                                    str(i + 1), "welcome", {}, now)
                                     for i in range(COUNT)], now)
    stopper = phones[-1]

    providers = RunningProviders(ProviderStandIn())
    standin = providers.standin
    transport = TwilioTransport(standin.twilio_sid, standin.twilio_token,
                                from_number="+12155550199", base_url=providers.url, timeout=2)
    sender = Sender("MJ <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "PO Box 1")
    worker = Worker(store, {"sms": transport},
                    Renderer(store, roster, ROOT / "templates", sender),
                    options=WorkerOptions(concurrency=2, rates={"sms": 20.0}))
    web = None
    try:
        web = LiveServer(lambda url: create_app(
            web_settings(url, OUTREACH_TWILIO_AUTH_TOKEN=standin.twilio_token), engine=store))
        blast = threading.Thread(target=worker.run, kwargs={"once": True})
        blast.start()
        while len(standin.sms) < 10:  # mid-blast: every row is claimed, most not yet sent
            time.sleep(0.01)
        caller = TwilioCaller(standin.twilio_token)
        answer = caller.post(web.url + "/hooks/twilio/inbound", caller.inbound(stopper, "Stop"))
        stopped_at = datetime.now(UTC)
        assert answer.status_code == 200
        blast.join(timeout=60)
    finally:
        if web:
            web.close()
        providers.close()

    to_stopper = [m for m in standin.sms if m["to"] == stopper]
    assert all(m["sent_at"] < stopped_at for m in to_stopper)
    assert to_stopper == []  # it was queued last in both campaigns
    with store.connect() as connection:
        rows = connection.execute(select(outbox.c.recipient_id, outbox.c.state,
                                         outbox.c.last_error)).all()
    stopper_rows = [r for r in rows if r.recipient_id == str(COUNT)]
    assert [r.state for r in stopper_rows] == ["skipped", "skipped"]
    assert all("sms-stop" in r.last_error for r in stopper_rows)
    assert len(standin.sms) == 2 * COUNT - 2  # everyone else got both texts, once
