"""Providers' word on what happened after a send (Twilio status callbacks, SendGrid's Event
Webhook), applied to the store: each event once, delivery status moved forward, dead or unwilling
addresses suppressed, and a spike of carrier spam filtering holding the SMS step that caused it.

The web layer verifies signatures and parses requests; this module decides what they mean.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from outreach.privacy import mask_text
from outreach.roster.corrections import record_bad_email
from outreach.sending.consent import opt_out
from outreach.store import events as store
from outreach.store.db import is_lock_timeout
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

# A SendGrid batch commits every CHUNK_EVENTS events or CHUNK_SECONDS, whichever comes first:
# SQLite has one write lock, and a petition signature should not wait on it for more than a
# fraction of a second. Between chunks the lock is left free for CHUNK_PAUSE, longer than a
# waiting writer's poll (store.db), so it gets its turn.
CHUNK_EVENTS = 500
CHUNK_SECONDS = 0.2
CHUNK_PAUSE = 0.003


@dataclass(frozen=True)
class SpamAlarm:
    """Hold a campaign step's texts when at least `min_errors` of them, and `share` of those
    with a final status, were filtered as spam within `window`."""

    min_errors: int = 5
    share: float = 0.05
    window: timedelta = timedelta(hours=1)


def twilio_status(engine: Engine, params: Mapping[str, str], now: datetime,
                  alarm: SpamAlarm = SpamAlarm(), outbox_id: int | None = None) -> str:
    """Apply one status callback; returns what it did (for the log and the tests). The event's
    dedupe record and its effects (status, suppression, hold) commit together (DESIGN 9).

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
                                  event=status, error_code=code and code[:20], occurred_at=now,
                                  now=now):
            return "duplicate"
        if message:
            store.set_delivery_status(connection, message.id, status, now)
        if code in TWILIO_SUPPRESSING and params.get("To"):
            opt_out(connection, "sms", params["To"], f"twilio-{code}",
                    TWILIO_SUPPRESSING[code], now)
            return f"suppressed ({code})"
        if code == SPAM_FILTERED and message is not None:
            return _check_spam_alarm(connection, message, now, alarm)
    return status


def _check_spam_alarm(connection: Connection, message: store.SentMessage, now: datetime,
                      alarm: SpamAlarm) -> str:
    errors, total = store.error_share(connection, message.campaign, message.step,
                                      SPAM_FILTERED, now - alarm.window)
    if errors < alarm.min_errors or errors < alarm.share * total:
        return "spam-filtered"
    minutes = int(alarm.window.total_seconds() // 60)
    reason = (f"carrier spam filtering (Twilio {SPAM_FILTERED}): {errors} of {total} "
              f"texts in the last {minutes} minutes")
    if store.hold(connection, message.campaign, message.step, "sms", reason, now):
        log.warning("holding the SMS of %s/%s: %s", message.campaign, message.step, reason)
    return "held"


class _EventFailed(Exception):
    """One event of a batch raised: its chunk is rolled back, the event is skipped."""

    def __init__(self, index: int, error: Exception):
        super().__init__(index)
        self.index, self.error = index, error


def sendgrid_events(engine: Engine, events: Sequence[object], now: datetime) -> Counter[str]:
    """Apply a SendGrid Event Webhook batch; counts of what each event did.

    The batch is applied in chunks, each one transaction holding its events' dedupe records
    and their effects (statuses, suppressions, bounced office addresses): a crash loses the
    chunk under way whole, so SendGrid's retry of the batch applies what was lost (audit F2),
    and no chunk holds SQLite's one write lock long enough to keep a petition signature
    waiting (F14). An event that raises is that event's error, reported and skipped; the
    others apply (F13). A lock that cannot be had is the batch's: it propagates, the web app
    answers 503 and SendGrid retries, the chunks already committed being duplicates then."""
    counts: Counter[str] = Counter()
    skipped: set[int] = set()
    position = 0
    while position < len(events):
        if position:
            time.sleep(CHUNK_PAUSE)  # the lock is free a moment: a waiting writer's turn
        chunk: Counter[str] = Counter()
        try:
            with engine.begin() as connection:
                end = position
                deadline = time.monotonic() + CHUNK_SECONDS
                while end < len(events) and end - position < CHUNK_EVENTS and \
                        time.monotonic() < deadline:
                    if end not in skipped:
                        try:
                            chunk[_apply_sendgrid_event(connection, events[end], now)] += 1
                        except Exception as error:
                            raise _EventFailed(end, error) from error
                    end += 1
        except _EventFailed as failure:
            if is_lock_timeout(failure.error):
                raise failure.error from None
            # The chunk's earlier events were rolled back with it: the next chunk applies
            # them again and steps over this one.
            skipped.add(failure.index)
            counts["error"] += 1
            log.warning("SendGrid event %d of %d skipped: %s", failure.index + 1, len(events),
                        mask_text(f"{type(failure.error).__name__}: {failure.error}"))
            continue
        counts.update(chunk)
        position = end
    return counts


def outbox_id_of(raw: object) -> int | None:
    """Our outbox id from the event's custom argument; None for anything that is not one:
    "²".isdigit() is true and a 30-digit number overflows the column (audit F13)."""
    text = str(raw or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _apply_sendgrid_event(connection: Connection, event: object, now: datetime) -> str:
    """Log one event, move its message's status, suppress its address when it must go;
    returns what it did."""
    if not isinstance(event, dict) or not event.get("event") or not event.get("timestamp"):
        return "invalid"
    name = str(event["event"]).lower()[:40]
    try:
        occurred = datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "invalid"
    outbox_id = outbox_id_of(event.get("outreach_id"))
    # Ours when we sent it; otherwise SendGrid's message id, or a hash of the address (never
    # the address itself: the event log is not a contact list).
    subject = str(outbox_id) if outbox_id else str(event.get("sg_message_id") or hashlib.sha256(
        str(event.get("email", "")).lower().encode()).hexdigest()[:24])
    key = f"sendgrid:{subject}:{name}:{int(occurred.timestamp())}"
    hard_bounce = name == "bounce" and str(event.get("type", "bounce")).lower() != "blocked"
    message = store.message_by_id(connection, outbox_id) if outbox_id else None
    if not store.record_event(connection, provider="sendgrid", dedupe_key=key,
                              outbox_id=message.id if message else None, event=name,
                              error_code=str(event.get("type") or "")[:20] or None,
                              occurred_at=occurred, now=now):
        return "duplicate"
    if message and (name in SENDGRID_STATUS or name in SENDGRID_SUPPRESSING):
        store.set_delivery_status(connection, message.id, name, now)
    if not ((name in SENDGRID_SUPPRESSING or hard_bounce) and event.get("email")):
        return name if name in SENDGRID_STATUS else "recorded"
    reason = mask_text(str(event.get("reason") or name))[:500]
    opt_out(connection, "email", str(event["email"]), f"sendgrid-{name}", reason, now)
    if message is not None and message.recipient_kind == "office" and \
            name in ("bounce", "dropped"):
        # The office's address is bad, not the office: it leaves the roster's sending
        # list and shows in `outreach roster gaps`.
        office_id = re.split(r"[@/]", message.recipient_id, maxsplit=1)[0]
        record_bad_email(connection, office_id, reason, now)
    return "suppressed"
