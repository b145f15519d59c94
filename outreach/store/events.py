"""Provider feedback in the store: the deduplicated event log, delivery status, send holds.

Webhooks arrive more than once (SendGrid retries for a day, Twilio may call twice), so every
event is recorded under a key made of what it says, and only a first copy has effects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Integer, bindparam, case, func, select, update

from outreach.store.db import chunks, dialect_insert, lock_in_order, per_dialect, rows_in
from outreach.store.schema import message_events, outbox, send_holds

_DEDUPE_KEY_LENGTH: int = message_events.c.dedupe_key.type.length  # type: ignore[attr-defined]

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


@dataclass(frozen=True)
class ProviderEvent:
    """One provider event as the log keeps it: `dedupe_key` names what it says (so a retry with
    new provider ids is the same event), `outbox_id` the message it is about when it is ours."""

    provider: str
    dedupe_key: str
    outbox_id: int | None
    event: str
    occurred_at: datetime
    error_code: str | None = None

    @property
    def stored_key(self) -> str:
        """The dedupe key as the log stores it: cut to its column, as every look-up of it."""
        return self.dedupe_key[:_DEDUPE_KEY_LENGTH]


def record_event(connection: Connection, *, provider: str, dedupe_key: str,
                 outbox_id: int | None, event: str, occurred_at: datetime, now: datetime,
                 error_code: str | None = None) -> bool:
    """Log one event; False if this very event was logged before (a retry, a replay)."""
    return bool(record_events(connection, [ProviderEvent(provider, dedupe_key, outbox_id,
                                                         event, occurred_at, error_code)], now))


def record_events(connection: Connection, events: Sequence[ProviderEvent],
                  now: datetime) -> set[str]:
    """Log events with one INSERT ... ON CONFLICT DO NOTHING RETURNING; the dedupe keys (as
    stored: cut to the column) of those logged now, i.e. not logged before by this or any
    other transaction (RETURNING names only the rows inserted). A key twice in `events` is
    logged once. On PostgreSQL a concurrent transaction inserting the same key makes this one
    wait for its outcome, so exactly one of them has the event's effects."""
    rows: dict[str, dict[str, Any]] = {}
    for item in events:
        key = item.stored_key
        rows.setdefault(key, {"dedupe_key": key, "provider": item.provider,
                              "outbox_id": item.outbox_id, "event": item.event[:40],
                              "error_code": item.error_code, "occurred_at": item.occurred_at,
                              "received_at": now})
    if not rows:
        return set()
    # A list of parameter sets with RETURNING is SQLAlchemy's "insertmanyvalues": one
    # multi-row VALUES statement per page of rows. In key order, so two PostgreSQL
    # transactions logging overlapping batches wait for each other instead of deadlocking
    # (each waits on the first key they share, holding none the other wants after it).
    return set(connection.execute(_log_insert(connection),
                                  [rows[key] for key in sorted(rows)]).scalars())


@per_dialect
def _log_insert(connection: Connection) -> Insert:
    """The event log's INSERT, built once per dialect (db.per_dialect)."""
    return dialect_insert(connection, message_events).on_conflict_do_nothing(
        index_elements=["dedupe_key"]).returning(message_events.c.dedupe_key)


_MESSAGE_COLUMNS = (outbox.c.id, outbox.c.campaign, outbox.c.step, outbox.c.channel,
                    outbox.c.recipient_kind, outbox.c.recipient_id)
_MESSAGES_BY_ID = select(*_MESSAGE_COLUMNS).where(outbox.c.id.in_(bindparam("ids",
                                                                           expanding=True)))
_MESSAGE_BY_PROVIDER_ID = select(*_MESSAGE_COLUMNS).where(
    outbox.c.provider_message_id == bindparam("provider_id"))  # typed by the comparison


def message_by_id(connection: Connection, outbox_id: int) -> SentMessage | None:
    return messages_by_id(connection, [outbox_id]).get(outbox_id)


def messages_by_id(connection: Connection, outbox_ids: Iterable[int]) -> dict[int, SentMessage]:
    """The outbox rows among these ids (one SELECT per db.IN_CHUNK ids); ids that are not
    ours are absent."""
    return {row.id: SentMessage(*tuple(row))
            for row in rows_in(connection, _MESSAGES_BY_ID, sorted(set(outbox_ids)))}


def message_by_provider_id(connection: Connection, provider_id: str) -> SentMessage | None:
    row = connection.execute(_MESSAGE_BY_PROVIDER_ID, {"provider_id": provider_id}).first()
    return SentMessage(*tuple(row)) if row else None


def delivery_rank(status: str) -> int:
    """Where a status stands in DELIVERY_ORDER (0 for one it does not know)."""
    return DELIVERY_ORDER.get(status, 0)


# The status moves only if the stored one's rank, computed in SQL, is not above the new
# one's: the comparison happens in the UPDATE itself, under the row's lock, so of two
# transactions moving one message the later news wins whichever commits first (a SELECT then
# an UPDATE could let an earlier status overwrite a later one on PostgreSQL's READ COMMITTED).
_ADVANCE = update(outbox).where(
    outbox.c.id.in_(bindparam("ids", expanding=True)),
    case(DELIVERY_ORDER, value=outbox.c.delivery_status, else_=0)
    <= bindparam("rank", type_=Integer),
).values(delivery_status=bindparam("status", type_=outbox.c.delivery_status.type),
         delivery_updated_at=bindparam("now", type_=outbox.c.delivery_updated_at.type))


def set_delivery_status(connection: Connection, outbox_id: int, status: str,
                        now: datetime) -> None:
    """Move a message's delivery status forward (events arrive out of order)."""
    advance_delivery_statuses(connection, {outbox_id: status}, now)


def advance_delivery_statuses(connection: Connection, statuses: Mapping[int, str],
                              now: datetime) -> None:
    """Move each message's delivery status forward to the one given, unless it already has a
    later one (DELIVERY_ORDER; an equal rank is replaced, as the later news). One UPDATE per
    distinct status (a batch of `delivered` is one statement) and db.IN_CHUNK ids.

    The UPDATEs lock their rows a status at a time, so two transactions moving the same
    messages to different statuses (two SendGrid POSTs, one with `delivered`, one with
    `open`) would lock them in different orders and could deadlock on PostgreSQL: all the
    rows are locked first, in id order (db.lock_in_order), and the UPDATEs then find them
    held, or wait for the other transaction as a whole."""
    lock_in_order(connection, outbox.c.id, statuses)
    by_status: dict[str, list[int]] = {}
    for outbox_id, status in statuses.items():
        by_status.setdefault(status, []).append(outbox_id)
    for status, ids in by_status.items():
        for part in chunks(sorted(ids)):
            connection.execute(_ADVANCE, {"ids": part, "rank": delivery_rank(status),
                                          "status": status[:20], "now": now})


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

