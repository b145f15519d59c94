"""Providers' word on what happened after a send (Twilio status callbacks, SendGrid's Event
Webhook), applied to the store: each event once, delivery status moved forward, dead or unwilling
addresses suppressed, and a spike of carrier spam filtering holding the SMS step that caused it.

The web layer verifies signatures and parses requests; this module decides what they mean.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from outreach.consent import opt_out
from outreach.privacy import mask_text
from outreach.roster_upkeep import record_bad_email
from outreach.store import events as store
from outreach.store.outbox import settle_sent

log = logging.getLogger("outreach.delivery")

# Twilio error codes after which a number is not texted again (each is kept as the source).
TWILIO_SUPPRESSING = {
    "21610": "the recipient replied STOP to Twilio",
    "30003": "unreachable handset",
    "30005": "unknown or inactive number",
    "30006": "landline or unreachable carrier",
}
SPAM_FILTERED = "30007"  # "Message filtered": the carrier judged it spam

# SendGrid events that mean "never email this address again".
SENDGRID_SUPPRESSING = {"unsubscribe", "group_unsubscribe", "spamreport", "dropped"}
SENDGRID_STATUS = {"processed", "delivered", "deferred", "open", "click", "bounce"}


@dataclass(frozen=True)
class SpamAlarm:
    """Hold a campaign step's texts when at least `min_errors` of them, and `share` of those
    with a final status, were filtered as spam within `window`."""

    min_errors: int = 5
    share: float = 0.05
    window: timedelta = timedelta(hours=1)


def twilio_status(engine: Engine, params: Mapping[str, str], now: datetime,
                  alarm: SpamAlarm = SpamAlarm(), outbox_id: int | None = None) -> str:
    """Apply one status callback; returns what it did (for the log and the tests).

    `outbox_id` is our own id, carried in the callback URL we gave Twilio: it finds the row
    of a send whose worker died before recording Twilio's sid, and settles that row as sent
    (Twilio calling back is Twilio saying it has the message), with no clock involved."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    code = params.get("ErrorCode") or None
    if not sid or not status:
        return "ignored: no MessageSid or MessageStatus"
    with engine.begin() as connection:
        message = store.message_by_provider_id(connection, sid)
        if message is None and outbox_id is not None:
            message = store.message_by_id(connection, outbox_id)
            if message is not None and message.channel == "sms":
                settle_sent(connection, message.id, sid, now)
            else:
                message = None
        if not store.record_event(connection, provider="twilio", dedupe_key=f"twilio:{sid}:"
                                  f"{status}", outbox_id=message.id if message else None,
                                  event=status, error_code=code, occurred_at=now, now=now):
            return "duplicate"
        if message:
            store.set_delivery_status(connection, message.id, status, now)
    if code in TWILIO_SUPPRESSING and params.get("To"):
        opt_out(engine, "sms", params["To"], f"twilio-{code}", TWILIO_SUPPRESSING[code], now)
        return f"suppressed ({code})"
    if code == SPAM_FILTERED and message is not None:
        return _check_spam_alarm(engine, message, now, alarm)
    return status


def _check_spam_alarm(engine: Engine, message: store.SentMessage, now: datetime,
                      alarm: SpamAlarm) -> str:
    with engine.begin() as connection:
        errors, total = store.error_share(connection, message.campaign, message.step,
                                          SPAM_FILTERED, now - alarm.window)
        if errors < alarm.min_errors or errors < alarm.share * total:
            return "spam-filtered"
        minutes = int(alarm.window.total_seconds() // 60)
        reason = (f"carrier spam filtering (Twilio {SPAM_FILTERED}): {errors} of {total} "
                  f"texts in the last {minutes} minutes")
        held = store.hold(connection, message.campaign, message.step, "sms", reason, now)
    if held:
        log.warning("holding the SMS of %s/%s: %s", message.campaign, message.step, reason)
    return "held"


def sendgrid_events(engine: Engine, events: Iterable[object], now: datetime) -> Counter[str]:
    """Apply a SendGrid Event Webhook batch (up to about a thousand events): the event log and
    delivery statuses in one transaction, then the few suppressions; counts of what each event
    did."""
    counts: Counter[str] = Counter()
    suppressions: list[tuple[dict, str, store.SentMessage | None]] = []
    with engine.begin() as connection:
        for event in events:
            outcome, message = _record_sendgrid_event(connection, event, now)
            if outcome == "suppress" and isinstance(event, dict):
                suppressions.append((event, str(event["event"]).lower(), message))
                outcome = "suppressed"
            counts[outcome] += 1
    for event, name, message in suppressions:
        reason = mask_text(str(event.get("reason") or name))[:500]
        opt_out(engine, "email", str(event["email"]), f"sendgrid-{name}", reason, now)
        if message is not None and message.recipient_kind == "office" and \
                name in ("bounce", "dropped"):
            # The office's address is bad, not the office: it leaves the roster's sending
            # list and shows in `outreach roster gaps`.
            office_id = re.split(r"[@/]", message.recipient_id, maxsplit=1)[0]
            record_bad_email(engine, office_id, reason, now)
    return counts


def _record_sendgrid_event(connection: Connection, event: object, now: datetime
                           ) -> tuple[str, store.SentMessage | None]:
    """Log one event and move its message's status; "suppress" when its address must go."""
    if not isinstance(event, dict) or not event.get("event") or not event.get("timestamp"):
        return "invalid", None
    name = str(event["event"]).lower()
    try:
        occurred = datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (TypeError, ValueError, OverflowError):
        return "invalid", None
    raw_id = str(event.get("outreach_id") or "")
    outbox_id = int(raw_id) if raw_id.isdigit() else None
    # Ours when we sent it; otherwise SendGrid's message id, or a hash of the address (never
    # the address itself: the event log is not a contact list).
    subject = str(outbox_id) if outbox_id else str(event.get("sg_message_id") or hashlib.sha256(
        str(event.get("email", "")).lower().encode()).hexdigest()[:24])
    key = f"sendgrid:{subject}:{name}:{int(occurred.timestamp())}"
    hard_bounce = name == "bounce" and str(event.get("type", "bounce")).lower() != "blocked"
    message = store.message_by_id(connection, outbox_id) if outbox_id else None
    if not store.record_event(connection, provider="sendgrid", dedupe_key=key,
                              outbox_id=message.id if message else None, event=name,
                              error_code=str(event.get("type") or "") or None,
                              occurred_at=occurred, now=now):
        return "duplicate", message
    if message and (name in SENDGRID_STATUS or name in SENDGRID_SUPPRESSING):
        store.set_delivery_status(connection, message.id, name, now)
    if (name in SENDGRID_SUPPRESSING or hard_bounce) and event.get("email"):
        return "suppress", message
    return (name if name in SENDGRID_STATUS else "recorded"), message
