"""Provider feedback in the store: the deduplicated event log, delivery status, send holds.

Webhooks arrive more than once (SendGrid retries for a day, Twilio may call twice), so every
event is recorded under a key made of what it says, and only a first copy has effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, func, select, update

from outreach.store.db import dialect_insert
from outreach.store.schema import message_events, outbox, send_holds

# Later statuses win over earlier ones; a late "delivered" never overwrites an "open".
DELIVERY_ORDER = {"queued": 0, "accepted": 0, "sending": 1, "sent": 2, "deferred": 3,
                  "delivered": 4, "undelivered": 4, "failed": 4, "bounce": 4, "dropped": 4,
                  "blocked": 4, "open": 5, "click": 6, "spamreport": 7, "unsubscribe": 7,
                  "group_unsubscribe": 7, "read": 5}


@dataclass(frozen=True)
class SentMessage:
    """The outbox row a provider event is about."""

    id: int
    campaign: str
    step: str
    channel: str
    recipient_kind: str
    recipient_id: str


def record_event(connection: Connection, *, provider: str, dedupe_key: str,
                 outbox_id: int | None, event: str, occurred_at: datetime, now: datetime,
                 error_code: str | None = None) -> bool:
    """Log one event; False if this very event was logged before (a retry, a replay)."""
    statement = dialect_insert(connection, message_events).values(
        dedupe_key=dedupe_key[:300], provider=provider, outbox_id=outbox_id, event=event[:40],
        error_code=error_code, occurred_at=occurred_at, received_at=now,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(message_events.c.id)
    return connection.execute(statement).first() is not None


def message_by_id(connection: Connection, outbox_id: int) -> SentMessage | None:
    row = connection.execute(select(*_columns()).where(outbox.c.id == outbox_id)).first()
    return SentMessage(*row) if row else None


def message_by_provider_id(connection: Connection, provider_id: str) -> SentMessage | None:
    row = connection.execute(select(*_columns())
                             .where(outbox.c.provider_message_id == provider_id)).first()
    return SentMessage(*row) if row else None


def _columns() -> tuple[Column[Any], ...]:
    return (outbox.c.id, outbox.c.campaign, outbox.c.step, outbox.c.channel,
            outbox.c.recipient_kind, outbox.c.recipient_id)


def set_delivery_status(connection: Connection, outbox_id: int, status: str,
                        now: datetime) -> None:
    """Move a message's delivery status forward (events arrive out of order)."""
    current = connection.execute(select(outbox.c.delivery_status)
                                 .where(outbox.c.id == outbox_id)).scalar_one_or_none()
    if current and DELIVERY_ORDER.get(current, 0) > DELIVERY_ORDER.get(status, 0):
        return
    connection.execute(update(outbox).where(outbox.c.id == outbox_id)
                       .values(delivery_status=status[:20], delivery_updated_at=now))


def error_share(connection: Connection, campaign: str, step: str, code: str,
                since: datetime) -> tuple[int, int]:
    """(messages of this step that failed with `code`, messages with a final status) since."""
    final = ("delivered", "undelivered", "failed")
    joined = message_events.join(outbox, outbox.c.id == message_events.c.outbox_id)
    base = select(func.count(func.distinct(message_events.c.outbox_id))).select_from(joined).where(
        outbox.c.campaign == campaign, outbox.c.step == step,
        message_events.c.occurred_at >= since, message_events.c.event.in_(final))
    total = connection.execute(base).scalar_one()
    errors = connection.execute(base.where(message_events.c.error_code == code)).scalar_one()
    return errors, total


def hold(connection: Connection, campaign: str, step: str, channel: str, reason: str,
         now: datetime) -> bool:
    """Hold a step's channel (its rows wait); False if it is held already."""
    active = connection.execute(select(send_holds.c.id).where(
        send_holds.c.campaign == campaign, send_holds.c.step == step,
        send_holds.c.channel == channel, send_holds.c.lifted_at.is_(None))).first()
    if active:
        return False
    connection.execute(send_holds.insert().values(campaign=campaign, step=step,
                                                  channel=channel, reason=reason,
                                                  created_at=now))
    return True

