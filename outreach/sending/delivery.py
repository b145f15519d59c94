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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine

from outreach.privacy import mask_text
from outreach.roster.corrections import record_bad_email
from outreach.sending.consent import OptOut, opt_out, opt_out_many
from outreach.store import events as store
from outreach.store.db import is_connection_loss, is_lock_timeout
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

# A SendGrid batch commits every CHUNK_EVENTS events, each chunk one transaction of a few
# set-based statements (look-up, event log, statuses, suppressions): SQLite has one write lock,
# and a petition signature should not wait on it for more than a fraction of a second. Between
# chunks the lock is left free for CHUNK_PAUSE, longer than a waiting writer's poll (store.db),
# so it gets its turn.
CHUNK_EVENTS = 500
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


@dataclass(frozen=True)
class _SendGridEvent:
    """One well-formed event of a batch, read before any statement runs."""

    index: int  # its place in the batch, for the log
    name: str
    record: store.ProviderEvent
    email: str | None  # set when the address must go on the suppression list
    reason: str


def sendgrid_events(engine: Engine, events: Sequence[object], now: datetime) -> Counter[str]:
    """Apply a SendGrid Event Webhook batch; counts of what each event did.

    The batch is applied in chunks, each one transaction holding its events' dedupe records
    and their effects (statuses, suppressions, bounced office addresses): a crash loses the
    chunk under way whole, so SendGrid's retry of the batch applies what was lost and nothing
    twice (audit F2), and no chunk holds SQLite's one write lock long enough to keep a
    petition signature waiting (F14). A chunk is a few set-based statements whatever its size
    (_apply_chunk). An event that cannot be read, or whose statements raise, is that event's
    error, reported and skipped; the others apply (F13): a chunk that raises is rolled back
    and applied again in halves, down to the one event that fails. A lock that cannot be had,
    or a lost connection, is the batch's: it propagates, the web app answers 503 (or 500) and
    SendGrid retries, the chunks already committed being duplicates then."""
    counts: Counter[str] = Counter()
    readable: list[_SendGridEvent] = []
    for index, event in enumerate(events):
        try:
            parsed = _read_sendgrid_event(index, event)
        except Exception as error:  # one odd event must not fail the batch (F13)
            _skip(counts, index, len(events), error)
            continue
        if parsed is None:
            counts["invalid"] += 1
        else:
            readable.append(parsed)
    # A stack of chunks still to apply, the next one last: a chunk that fails is replaced by
    # its two halves, in order, so events still apply in the batch's order.
    pending = [readable[i:i + CHUNK_EVENTS] for i in range(0, len(readable), CHUNK_EVENTS)]
    pending.reverse()
    first = True
    while pending:
        chunk = pending.pop()
        if not first:
            time.sleep(CHUNK_PAUSE)  # the lock is free a moment: a waiting writer's turn
        first = False
        try:
            with engine.begin() as connection:
                applied = _apply_chunk(connection, chunk, now)
        except Exception as error:
            if is_lock_timeout(error) or is_connection_loss(error):
                raise
            if len(chunk) == 1:
                _skip(counts, chunk[0].index, len(events), error)
            else:
                half = len(chunk) // 2
                pending += [chunk[half:], chunk[:half]]
            continue
        counts.update(applied)
    return counts


def _skip(counts: Counter[str], index: int, total: int, error: Exception) -> None:
    counts["error"] += 1
    log.warning("SendGrid event %d of %d skipped: %s", index + 1, total,
                mask_text(f"{type(error).__name__}: {error}"))


def outbox_id_of(raw: object) -> int | None:
    """Our outbox id from the event's custom argument; None for anything that is not one:
    "²".isdigit() is true and a 30-digit number overflows the column (audit F13)."""
    text = str(raw or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _read_sendgrid_event(index: int, event: object) -> _SendGridEvent | None:
    """What one event says and would do, or None when it is not an event we can key."""
    if not isinstance(event, dict) or not event.get("event") or not event.get("timestamp"):
        return None
    name = str(event["event"]).lower()[:40]
    try:
        occurred = datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    outbox_id = outbox_id_of(event.get("outreach_id"))
    # Ours when we sent it; otherwise SendGrid's message id, or a hash of the address (never
    # the address itself: the event log is not a contact list).
    subject = str(outbox_id) if outbox_id else str(event.get("sg_message_id") or hashlib.sha256(
        str(event.get("email", "")).lower().encode()).hexdigest()[:24])
    key = f"sendgrid:{subject}:{name}:{int(occurred.timestamp())}"
    hard_bounce = name == "bounce" and str(event.get("type", "bounce")).lower() != "blocked"
    suppressing = (name in SENDGRID_SUPPRESSING or hard_bounce) and bool(event.get("email"))
    return _SendGridEvent(
        index, name,
        store.ProviderEvent("sendgrid", key, outbox_id, name, occurred,
                            str(event.get("type") or "")[:20] or None),
        str(event["email"]) if suppressing else None,
        mask_text(str(event.get("reason") or name))[:500] if suppressing else "")


def _apply_chunk(connection: Connection, chunk: Sequence[_SendGridEvent],
                 now: datetime) -> Counter[str]:
    """Log a chunk's events and apply the effects of those logged now, in the caller's
    transaction: one SELECT of their messages, one INSERT ... ON CONFLICT DO NOTHING RETURNING
    for the log (what it returns is what is new), one UPDATE per delivery status reached (on
    PostgreSQL after one SELECT ... FOR UPDATE of all their rows in id order, so two batches at
    once cannot deadlock: store.advance_delivery_statuses), and one opt-out for all the
    addresses that must go. The same outcome as applying the events
    one by one in order: a copy of an event later in the chunk is a duplicate, and a message
    ends at the latest status in DELIVERY_ORDER (the last one of equal rank)."""
    messages = store.messages_by_id(connection, [e.record.outbox_id for e in chunk
                                                 if e.record.outbox_id is not None])
    records = [e.record if e.record.outbox_id in messages
               else replace(e.record, outbox_id=None) for e in chunk]
    new = store.record_events(connection, records, now)
    counts: Counter[str] = Counter()
    statuses: dict[int, str] = {}
    opt_outs: list[OptOut] = []
    bad_office_emails: list[tuple[str, str]] = []
    for event in chunk:
        key = event.record.stored_key
        if key not in new:
            counts["duplicate"] += 1
            continue
        new.discard(key)  # a second copy in this chunk is a duplicate
        message = messages.get(event.record.outbox_id or 0)
        if message and (event.name in SENDGRID_STATUS or event.name in SENDGRID_SUPPRESSING):
            reached = statuses.get(message.id)
            if reached is None or store.delivery_rank(event.name) >= store.delivery_rank(reached):
                statuses[message.id] = event.name
        if event.email is None:
            counts[event.name if event.name in SENDGRID_STATUS else "recorded"] += 1
            continue
        counts["suppressed"] += 1
        opt_outs.append(OptOut(event.email, f"sendgrid-{event.name}", event.reason))
        if message is not None and message.recipient_kind == "office" and \
                event.name in ("bounce", "dropped"):
            # The office's address is bad, not the office: it leaves the roster's sending
            # list and shows in `outreach roster gaps`.
            office_id = re.split(r"[@/]", message.recipient_id, maxsplit=1)[0]
            bad_office_emails.append((office_id, event.reason))
    store.advance_delivery_statuses(connection, statuses, now)
    opt_out_many(connection, "email", opt_outs, now)
    for office_id, reason in bad_office_emails:
        record_bad_email(connection, office_id, reason, now)
    return counts
