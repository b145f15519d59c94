"""Provider webhooks: Twilio inbound texts (STOP/START/HELP) and status callbacks, SendGrid's
Event Webhook. Every route verifies the provider's signature first (signatures.py)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from twilio.twiml.messaging_response import MessagingResponse

from outreach.errors import CampaignError
from outreach.ops.signing import queue_confirmed
from outreach.sending.consent import OptIn, opt_in_sms, opt_out, sms_keyword
from outreach.sending.delivery import SpamAlarm, outbox_id_of, sendgrid_events, twilio_status
from outreach.signers.fields import check_phone
from outreach.store import events as store
from outreach.web.deps import StateDep
from outreach.web.signatures import SendGridBody, TwilioParams

log = logging.getLogger("outreach.web")
router = APIRouter(prefix="/hooks")


def _twiml(reply: str | None = None) -> Response:
    answer = MessagingResponse()
    if reply:
        answer.message(reply)
    return Response(str(answer), media_type="application/xml")


@router.post("/twilio/inbound")
def twilio_inbound(state: StateDep, params: TwilioParams) -> Response:
    """A text to our number. Keywords act at once; anything else is only logged (masked)."""
    settings, now = state.settings, state.clock()
    phone = check_phone(params.get("From", "")).value
    keyword = sms_keyword(params.get("Body", ""))
    if phone is None:
        return _twiml()
    ours = settings.compliance.twilio_opt_out == "ours"
    organization = settings.campaigns.organization
    withdrawn, opted_in = 0, OptIn()
    campaign = None  # the petition's and the roster, read before the transaction (not under
    if keyword == "start":  # its write lock)
        roster = state.geo.roster
        try:
            campaign = state.campaign()
        except CampaignError as error:  # the opt-in stands; its texts wait (queue_confirmed)
            log.warning("SMS opt-in: the petition campaign does not load: %s", error)
    # The dedupe record (Twilio may deliver a webhook twice) and the keyword's effect commit
    # together: a crash between them would answer Twilio's retry "seen" and lose the STOP, or
    # a YES's texts held back for the missing consent.
    with state.engine.begin() as connection:
        first = store.record_event(connection, provider="twilio",
                                   dedupe_key=f"twilio-inbound:{params.get('MessageSid', '')}",
                                   outbox_id=None, event=f"inbound-{keyword or 'text'}",
                                   occurred_at=now, now=now)
        if first and keyword == "stop":
            withdrawn = opt_out(connection, "sms", phone, "sms-stop",
                                f"texted {params.get('Body', '').strip()[:20]}", now)
        elif first and keyword == "start":
            opted_in = opt_in_sms(connection, phone, "texted START", now)
            if opted_in.signer_ids:
                queue_confirmed(connection, campaign, roster, opted_in.signer_ids,
                                now)
    if not first:
        return _twiml()
    if keyword == "stop":
        log.info("SMS opt-out by keyword; %d queued texts withdrawn", withdrawn)
        return _twiml(f"{organization}: you are unsubscribed and will get no more texts. "
                      "Reply START to resubscribe." if ours else None)
    if keyword == "start":
        if not ours or (not opted_in.signer_ids and not opted_in.lifted):
            return _twiml()
        return _twiml(f"{organization}: thanks, your texts are confirmed. Up to 3 msgs/day. "
                      "Reply HELP for help, STOP to opt out." if opted_in.confirmed
                      else f"{organization}: you are subscribed again. Reply STOP to opt out.")
    if keyword == "help" and params.get("OptOutType", "").upper() != "HELP":
        return _twiml(f"{organization}: petition updates and calls to action. "
                      "Msg & data rates may apply. Reply STOP to opt out.")
    return _twiml()


@router.post("/twilio/status")
def twilio_status_callback(request: Request, state: StateDep,
                           params: TwilioParams) -> Response:
    settings = state.settings
    alarm = SpamAlarm(settings.compliance.spam_alarm_min_errors,
                      settings.compliance.spam_alarm_share,
                      timedelta(minutes=settings.compliance.spam_alarm_window_minutes))
    ours = request.query_params.get("outreach_id", "")  # in the URL we gave Twilio (signed)
    outcome = twilio_status(state.engine, params, state.clock(), alarm,
                            outbox_id=outbox_id_of(ours))
    log.debug("Twilio status callback: %s", outcome)
    return Response(status_code=204)


@router.post("/sendgrid/events")
def sendgrid_event_webhook(state: StateDep, body: SendGridBody) -> dict[str, int]:
    try:
        events = json.loads(body)
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    if not isinstance(events, list):
        raise HTTPException(400, "expected a JSON array of events")
    return dict(sendgrid_events(state.engine, events, state.clock()))
