"""Every outbox statement: enqueue, claim, the state machine, lease expiry, reconciliation.

    queued -> claimed -> sending -> sent | failed | retry (not_before = retry at) | unknown
    queued -> claimed -> skipped (reason) | queued again (deferred, or released at shutdown)

The worker never writes SQL; it calls these. `sending` is committed before the provider is
called, so after a crash a `sending` row means "may have been sent": it is reconciled, never
blindly re-sent (DESIGN invariant 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Row,
    String,
    Text,
    Update,
    bindparam,
    case,
    func,
    select,
    update,
)

from outreach.store.db import as_utc, dialect_insert, select_in
from outreach.store.schema import (
    campaign_runs,
    outbox,
    send_holds,
)

# Where an outbox row can be: the `state` column holds exactly these strings (a Literal, not an
# Enum, so the stored values, the JSON reports and the callers' strings stay what they are).
OutboxState = Literal["queued", "claimed", "sending", "sent", "failed", "retry", "unknown",
                      "skipped"]
OUTBOX_STATES: tuple[OutboxState, ...] = get_args(OutboxState)
# How one send can end (Outcome.state): the states a `sending` row moves to.
OutcomeState = Literal["sent", "failed", "retry", "unknown"]
OUTCOME_STATES: tuple[OutcomeState, ...] = get_args(OutcomeState)

CLAIMABLE: tuple[OutboxState, ...] = ("queued", "retry")
TERMINAL: tuple[OutboxState, ...] = ("sent", "failed", "unknown", "skipped")


@dataclass(frozen=True)
class NewMessage:
    """A message to plan: what to render for whom, not the rendered text."""

    campaign: str
    step: str
    channel: str  # email | sms
    recipient_kind: str  # signer | office
    recipient_id: str
    template: str
    context: dict[str, object]
    not_before: datetime
    # More of the key, for a message sent once per something finer than its recipient (the
    # SMS confirmation: once per requested number). Never an address: keys show in reports.
    key_suffix: str = ""

    @property
    def idempotency_key(self) -> str:
        key = idempotency_key(self.campaign, self.step, self.recipient_kind,
                              self.recipient_id, self.channel)
        return f"{key}:{self.key_suffix}" if self.key_suffix else key


def idempotency_key(campaign: str, step: str, recipient_kind: str, recipient_id: str,
                    channel: str) -> str:
    """The outbox row's unique key: one message per campaign, step, recipient and channel."""
    return ":".join((campaign, step, recipient_kind, recipient_id, channel))


@dataclass(frozen=True)
class OutboxRow:
    id: int
    idempotency_key: str
    campaign: str
    step: str
    channel: str
    recipient_kind: str
    recipient_id: str
    template: str
    context: dict[str, object]
    state: OutboxState
    attempts: int
    claimed_by: str | None
    provider_message_id: str | None
    last_error: str | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[*tuple[Any, ...]]) -> OutboxRow:
        return cls(row.id, row.idempotency_key, row.campaign, row.step, row.channel,
                   row.recipient_kind, row.recipient_id, row.template, json.loads(row.context),
                   row.state, row.attempts, row.claimed_by, row.provider_message_id,
                   row.last_error, as_utc(row.updated_at))


def enqueue(connection: Connection, messages: Iterable[NewMessage], now: datetime) -> int:
    """Add messages; one whose idempotency key exists is left alone. Returns how many are new."""
    rows = [{
        "idempotency_key": m.idempotency_key, "campaign": m.campaign, "step": m.step,
        "channel": m.channel, "recipient_kind": m.recipient_kind,
        "recipient_id": m.recipient_id, "template": m.template,
        "context": json.dumps(m.context, sort_keys=True), "state": "queued",
        "not_before": m.not_before, "attempts": 0, "created_at": now, "updated_at": now,
    } for m in messages]
    if not rows:
        return 0
    statement = dialect_insert(connection, outbox).on_conflict_do_nothing(
        index_elements=["idempotency_key"])
    return len(connection.execute(statement.returning(outbox.c.id), rows).all())


def _sendable() -> tuple[ColumnElement[bool], ...]:
    """Rows a worker may take once due: waiting, of an active campaign, of no held step."""
    halted = select(campaign_runs.c.campaign).where(campaign_runs.c.state != "active")
    held = select(send_holds.c.id).where(
        send_holds.c.campaign == outbox.c.campaign, send_holds.c.step == outbox.c.step,
        send_holds.c.channel == outbox.c.channel, send_holds.c.lifted_at.is_(None))
    return outbox.c.state.in_(CLAIMABLE), outbox.c.campaign.not_in(halted), ~held.exists()


def next_due(connection: Connection) -> datetime | None:
    """When the next message a worker would take is due (None: nothing is waiting)."""
    when = connection.execute(select(func.min(outbox.c.not_before))
                              .where(*_sendable())).scalar_one()
    return as_utc(when) if when is not None else None


def held_steps(connection: Connection) -> int:
    """How many campaign steps are held now (an alarm, a broken template, a missing setting)."""
    return connection.execute(select(func.count()).select_from(send_holds)
                              .where(send_holds.c.lifted_at.is_(None))).scalar_one()


def claim(engine: Engine, worker: str, limit: int, lease: timedelta,
          now: datetime) -> list[OutboxRow]:
    """Take up to `limit` due rows for this worker, in one short transaction.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so workers on several hosts never take the same row and
    never wait for each other. SQLite: the transaction is BEGIN IMMEDIATE (one writer).
    """
    due = (select(outbox.c.id)
           .where(*_sendable(), outbox.c.not_before <= now)
           .order_by(outbox.c.not_before, outbox.c.id).limit(limit))
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    statement = (update(outbox).where(outbox.c.id.in_(due.scalar_subquery()))
                 .values(state="claimed", claimed_by=worker, lease_until=now + lease,
                         updated_at=now)
                 .returning(*outbox.c))
    with engine.begin() as connection:
        rows = [OutboxRow.from_row(r) for r in connection.execute(statement)]
    return sorted(rows, key=lambda r: r.id)


def start_sending_many(engine: Engine, row_ids: Iterable[int], worker: str,
                       now: datetime) -> set[int]:
    """Commit `sending` for claimed rows before their provider calls, in one transaction.
    Returns the rows still ours; any other (our claim expired) must not be sent."""
    ids = list(row_ids)
    if not ids:
        return set()
    statement = (update(outbox)
                 .where(outbox.c.id.in_(ids), outbox.c.state == "claimed",
                        outbox.c.claimed_by == worker)
                 .values(state="sending", attempts=outbox.c.attempts + 1, updated_at=now)
                 .returning(outbox.c.id))
    with engine.begin() as connection:
        return {row.id for row in connection.execute(statement)}


def start_sending(engine: Engine, row_id: int, worker: str, now: datetime) -> bool:
    return row_id in start_sending_many(engine, [row_id], worker, now)


def unstart(engine: Engine, row_ids: Iterable[int], worker: str, now: datetime) -> int:
    """Back to the queue from `sending` when the provider was certainly not called."""
    ids = list(row_ids)
    if not ids:
        return 0
    with engine.begin() as connection:
        return connection.execute(
            update(outbox).where(outbox.c.id.in_(ids), outbox.c.state == "sending",
                                 outbox.c.claimed_by == worker)
            .values(state="queued", attempts=outbox.c.attempts - 1, claimed_by=None,
                    lease_until=None, updated_at=now)).rowcount


@dataclass(frozen=True)
class Outcome:
    """How one send ended: sent, failed, retry (due again at retry_at) or unknown."""

    row_id: int
    state: OutcomeState
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.state not in OUTCOME_STATES:
            raise ValueError(f"not an outcome: {self.state}")

    def parameters(self, now: datetime) -> dict[str, object]:
        return {"row_id": self.row_id, "new_state": self.state, "now": now,
                "error": self.error, "provider_id": self.provider_message_id,
                "retry_at": self.retry_at if self.state == "retry" else None}


def _finish_statement() -> Update:
    state = bindparam("new_state", type_=String)
    now = bindparam("now", type_=DateTime(timezone=True))
    return (update(outbox)
            .where(outbox.c.id == bindparam("row_id"), outbox.c.state == "sending")
            .values(state=state, updated_at=now, last_error=bindparam("error", type_=Text),
                    lease_until=None,
                    provider_message_id=func.coalesce(bindparam("provider_id", type_=String),
                                                      outbox.c.provider_message_id),
                    sent_at=case((state == "sent", now), else_=outbox.c.sent_at),
                    not_before=func.coalesce(bindparam("retry_at",
                                                       type_=DateTime(timezone=True)),
                                             outbox.c.not_before),
                    claimed_by=case((state == "retry", None), else_=outbox.c.claimed_by)))


FINISH = _finish_statement()


def finish_many(engine: Engine, outcomes: Iterable[Outcome], now: datetime) -> None:
    """Record many outcomes in one transaction (rows no longer `sending` are left alone)."""
    parameters = [o.parameters(now) for o in outcomes]
    if parameters:
        with engine.begin() as connection:
            connection.execute(FINISH, parameters)


def finish(engine: Engine, row_id: int, state: OutcomeState, now: datetime, *,
           provider_message_id: str | None = None, error: str | None = None,
           retry_at: datetime | None = None) -> bool:
    """Record one outcome; False if the row was not `sending`."""
    outcome = Outcome(row_id, state, provider_message_id, error, retry_at)
    with engine.begin() as connection:
        return connection.execute(FINISH, outcome.parameters(now)).rowcount == 1


def settle_sent(connection: Connection, row_id: int, provider_message_id: str,
                now: datetime) -> bool:
    """A `sending` row the provider itself vouches for (a signed status callback that carries
    our id): sent, with the provider's id, whether or not its worker lived to record it."""
    outcome = Outcome(row_id, "sent", provider_message_id)
    return connection.execute(FINISH, outcome.parameters(now)).rowcount == 1


SetAsideState = Literal["skipped", "queued", "failed"]


@dataclass(frozen=True)
class SetAside:
    """A claimed row the worker does not send now: `skipped` (terminal: the gate said no,
    the reason kept), `queued` (deferred: back in the queue, due at `until`, the reason kept
    for `outreach report`: "waiting for quiet hours until ...") or `failed` (it cannot be
    sent at all: its template fails, its recipient is gone)."""

    row_id: int
    state: SetAsideState
    reason: str | None = None
    until: datetime | None = None

    def parameters(self, worker: str, now: datetime) -> dict[str, object]:
        return {"row_id": self.row_id, "worker": worker, "new_state": self.state,
                "reason": self.reason or None, "now": now,
                "until": self.until if self.state == "queued" else None}


def _set_aside_statement() -> Update:
    state = bindparam("new_state", type_=String)
    return (update(outbox)
            .where(outbox.c.id == bindparam("row_id"), outbox.c.state == "claimed",
                   outbox.c.claimed_by == bindparam("worker", type_=String))
            .values(state=state, last_error=bindparam("reason", type_=Text),
                    updated_at=bindparam("now", type_=DateTime(timezone=True)),
                    lease_until=None,
                    not_before=func.coalesce(bindparam("until", type_=DateTime(timezone=True)),
                                             outbox.c.not_before),
                    claimed_by=case((state == "queued", None), else_=outbox.c.claimed_by)))


SET_ASIDE = _set_aside_statement()


def set_aside(engine: Engine, rows: Iterable[SetAside], worker: str, now: datetime) -> int:
    """Settle many claimed rows that are not sent now, in one transaction (one executemany).
    Rows no longer claimed by this worker are left alone; returns how many moved."""
    parameters = [r.parameters(worker, now) for r in rows]
    if not parameters:
        return 0
    with engine.begin() as connection:
        if len(parameters) == 1:  # rowcount is the row's own, whatever the driver
            return connection.execute(SET_ASIDE, parameters[0]).rowcount
        return connection.execute(SET_ASIDE, parameters).rowcount


def release(engine: Engine, worker: str, now: datetime) -> int:
    """Give back this worker's unstarted claims (graceful shutdown)."""
    with engine.begin() as connection:
        return release_claims(connection, worker, now)


def release_claims(connection: Connection, worker: str, now: datetime) -> int:
    """A worker's unstarted claims back to the queue: its own at a stop, a dead one's when a
    survivor declares it dead (store/workers.py). A `claimed` row was never handed to a
    provider (that is `sending`, committed first), so giving it back can send nothing twice;
    if the worker is in fact alive, start_sending_many finds the claim gone and skips it."""
    return connection.execute(
        update(outbox).where(outbox.c.state == "claimed", outbox.c.claimed_by == worker)
        .values(state="queued", claimed_by=None, lease_until=None, updated_at=now)).rowcount


def sending_of(connection: Connection, worker: str) -> list[OutboxRow]:
    """A worker's rows in `sending`: after it died, the sends it may or may not have made, to
    reconcile at once (DESIGN invariant 1) rather than when they turn stale."""
    rows = connection.execute(select(outbox).where(outbox.c.state == "sending",
                                                   outbox.c.claimed_by == worker)
                              .order_by(outbox.c.id))
    return [OutboxRow.from_row(r) for r in rows]


def expire_leases(engine: Engine, now: datetime) -> int:
    """Claims whose worker died before starting to send go back to the queue."""
    with engine.begin() as connection:
        return connection.execute(
            update(outbox).where(outbox.c.state == "claimed", outbox.c.lease_until < now)
            .values(state="queued", claimed_by=None, lease_until=None, updated_at=now)).rowcount


def stale_sending(engine: Engine, older_than: datetime) -> list[OutboxRow]:
    """Rows left in `sending` (their worker died mid-call): reconcile them, never re-send."""
    with engine.connect() as connection:
        rows = connection.execute(select(outbox).where(outbox.c.state == "sending",
                                                       outbox.c.updated_at < older_than))
        return [OutboxRow.from_row(r) for r in rows]


def state_counts(connection: Connection) -> dict[OutboxState, int]:
    rows = connection.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
    counts = dict.fromkeys(OUTBOX_STATES, 0)
    counts.update({state: count for state, count in rows})
    return counts


@dataclass(frozen=True)
class StepRecord:
    """Where one of a recipient's campaign steps stands: enough for the gate's spacing rule."""

    idempotency_key: str
    state: OutboxState
    not_before: datetime
    sent_at: datetime | None  # sent; for sending/unknown, when the send started


def step_records(connection: Connection, keys: Iterable[str]) -> dict[str, StepRecord]:
    """The outbox rows with these idempotency keys (a unique index: no scan of the outbox)."""
    query = select(outbox.c.idempotency_key, outbox.c.state, outbox.c.not_before,
                   outbox.c.sent_at, outbox.c.updated_at)
    records = {}
    for row in select_in(connection, query, outbox.c.idempotency_key, sorted(set(keys)), 500):
        started = row.sent_at if row.state == "sent" else \
            row.updated_at if row.state in ("sending", "unknown") else None
        records[row.idempotency_key] = StepRecord(
            row.idempotency_key, row.state, as_utc(row.not_before),
            as_utc(started) if started is not None else None)
    return records


def rows_in(connection: Connection, states: tuple[OutboxState, ...]) -> list[OutboxRow]:
    return [OutboxRow.from_row(r) for r in connection.execute(
        select(outbox).where(outbox.c.state.in_(states)).order_by(outbox.c.id))]


def texts_sent_since(connection: Connection, campaign: str, recipient_id: str, since: datetime,
                     excluding: int) -> int:
    """How many texts of this campaign went (or may have gone: sending, unknown) to this signer
    since `since`, other than outbox row `excluding`: the gate's daily text limit."""
    return connection.execute(select(func.count()).select_from(outbox).where(
        outbox.c.channel == "sms", outbox.c.recipient_kind == "signer",
        outbox.c.recipient_id == recipient_id, outbox.c.campaign == campaign,
        outbox.c.state.in_(("sent", "sending", "unknown")),
        outbox.c.updated_at >= since, outbox.c.id != excluding)).scalar_one()
