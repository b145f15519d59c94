"""The global suppression list's statements, and consent's: what recipients told us, as rows.

The suppression list (put addresses on it, lift them, list, look up), signers' consent flags,
the messages an opt-out withdraws, and the double opt-in's SMS confirmation requests. One public
function per statement, run in the caller's transaction (`suppress` alone opens its own), so an
opt-out commits with whatever caused it (a webhook's dedupe record, an import): the rules of
what a STOP or a YES means stay in sending/consent.py, which decides the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Row, bindparam, insert, select, update

from outreach.store.db import (
    chunks,
    dialect_insert,
    lock_in_order,
    per_dialect,
    rows_in,
    select_in,
)
from outreach.store.schema import outbox, signers, sms_confirmations, suppressions


def suppress(engine: Engine, channel: str, address: str, source: str, reason: str,
             now: datetime) -> None:
    """Put an address on the global suppression list (idempotent; re-adds a removed one)."""
    with engine.begin() as connection:
        suppress_many(connection, channel, [(address, reason)], source, now)


def suppress_many(connection: Connection, channel: str, entries: Sequence[tuple[str, str]],
                  source: str, now: datetime) -> None:
    """Put (address, reason) entries on the suppression list in the caller's transaction; an
    entry already there keeps its first source and date, a removed one is put back."""
    suppress_each(connection, channel, [(address, source, reason) for address, reason in entries],
                  now)


def suppress_each(connection: Connection, channel: str,
                  entries: Sequence[tuple[str, str, str]], now: datetime) -> None:
    """suppress_many with a source per entry: (address, source, reason), as a webhook batch
    brings them (a bounce, a spam report, an unsubscribe). One executemany."""
    if not entries:
        return
    connection.execute(_upsert(connection), [{"channel": channel, "address": address.lower(),
                                              "source": source, "reason": reason,
                                              "created_at": now}
                                             for address, source, reason in entries])


@per_dialect
def _upsert(connection: Connection) -> Insert:
    """The suppression list's upsert, built once per dialect (db.per_dialect): building it
    anew cost more than running it for a one-address opt-out (a STOP text)."""
    statement = dialect_insert(connection, suppressions)
    return statement.on_conflict_do_update(
        index_elements=["channel", "address"],
        set_={"source": statement.excluded.source, "reason": statement.excluded.reason,
              "created_at": statement.excluded.created_at, "removed_at": None,
              "removed_reason": None},
        where=suppressions.c.removed_at.is_not(None))


def unsuppress(connection: Connection, channel: str, address: str, reason: str,
               now: datetime) -> bool:
    """Lift a suppression in the caller's transaction, keeping the entry and why it was
    lifted."""
    return connection.execute(
        update(suppressions).where(suppressions.c.channel == channel,
                                   suppressions.c.address == address.lower(),
                                   suppressions.c.removed_at.is_(None))
        .values(removed_at=now, removed_reason=reason)).rowcount == 1


def suppression_list(connection: Connection, include_removed: bool = False) -> list[dict[str, Any]]:
    query = select(suppressions).order_by(suppressions.c.created_at, suppressions.c.id)
    if not include_removed:
        query = query.where(suppressions.c.removed_at.is_(None))
    return [dict(r._mapping) for r in connection.execute(query)]


def suppressed_among(connection: Connection, channel: str,
                     addresses: Iterable[str]) -> set[str]:
    """Which of these addresses are on the suppression list (lower-cased)."""
    query = select(suppressions.c.address).where(suppressions.c.channel == channel,
                                                 suppressions.c.removed_at.is_(None))
    return {row.address for row in select_in(connection, query, suppressions.c.address,
                                             sorted({a.lower() for a in addresses}))}


# --- consent: the statements of sending/consent.py ----------------------------------------------
# What a recipient said about consent, as rows: signers' consent flags, the messages an opt-out
# withdraws, and the double opt-in's pending SMS confirmation requests.

def signer_ids_at(connection: Connection, channel: str, address: str) -> list[int]:
    """The signers whose email (case-insensitive) or phone is this address."""
    return signer_ids_among(connection, channel, [address]).get(address_key(channel, address),
                                                                [])


def signer_ids_among(connection: Connection, channel: str,
                     addresses: Iterable[str]) -> dict[str, list[int]]:
    """The signers at each of these addresses, keyed as the signers table compares them (an
    email lower-cased, a phone as given); addresses no signer has are absent."""
    keys = sorted({address_key(channel, address) for address in addresses})
    found: dict[str, list[int]] = {}
    for row in rows_in(connection, _SIGNERS_AT["sms" if channel == "sms" else "email"], keys,
                       param="addresses"):
        found.setdefault(row.address, []).append(row.id)
    return found


_SIGNERS_AT = {channel: select(column.label("address"), signers.c.id).where(
    column.in_(bindparam("addresses", expanding=True)))
    for channel, column in (("sms", signers.c.phone), ("email", signers.c.email_key))}


def address_key(channel: str, address: str) -> str:
    """An address as the signers table holds it for lookup: an email lower-cased (email_key),
    a phone as given (E.164)."""
    return address if channel == "sms" else address.lower()


def set_consent(connection: Connection, signer_ids: Sequence[int], channel: str, given: bool,
                now: datetime) -> None:
    """Turn these signers' consent for the channel on or off."""
    column = "sms_opt_in" if channel == "sms" else "email_opt_in"
    connection.execute(update(signers).where(signers.c.id.in_(signer_ids))
                       .values({column: given, "updated_at": now}))


def opt_out_signers(connection: Connection, channel: str, reasons: Mapping[int, str],
                    now: datetime) -> int:
    """Clear these signers' consent for the channel and withdraw their unsent messages on it,
    each signer's with its reason (signer id -> reason); how many messages were withdrawn. A
    statement per db.IN_CHUNK signers (and reason, for the withdrawal).

    The signers are locked first, in id order across all reasons (db.lock_in_order): two
    transactions opting out overlapping signers (two webhook batches) wait for each other
    instead of deadlocking, and as every opt-out holds its signers' rows before it withdraws
    their messages, the withdrawals of the two cannot cross either."""
    ids = sorted(reasons)
    lock_in_order(connection, signers.c.id, ids)
    for part in chunks(ids):
        set_consent(connection, part, channel, False, now)
    by_reason: dict[str, list[int]] = {}
    for signer_id in ids:
        by_reason.setdefault(reasons[signer_id], []).append(signer_id)
    return sum(withdraw_unsent(connection, part, channel, reason, now)
               for reason, same in by_reason.items() for part in chunks(same))


def withdraw_unsent(connection: Connection, signer_ids: Sequence[int], channel: str,
                    reason: str, now: datetime) -> int:
    """Skip these signers' messages on the channel that no provider has been handed yet,
    claimed ones included (a worker only starts rows still `claimed`); returns how many."""
    return connection.execute(
        update(outbox).where(outbox.c.channel == channel,
                             outbox.c.recipient_kind == "signer",
                             outbox.c.recipient_id.in_([str(i) for i in signer_ids]),
                             outbox.c.state.in_(("queued", "retry", "claimed")))
        .values(state="skipped", last_error=reason, claimed_by=None,
                lease_until=None, updated_at=now)).rowcount


def pending_request(connection: Connection, signer_id: int, phone: str) -> int | None:
    """The id of this signer's unanswered SMS confirmation request for this number, if any."""
    return connection.execute(select(sms_confirmations.c.id).where(
        sms_confirmations.c.signer_id == signer_id, sms_confirmations.c.phone == phone,
        sms_confirmations.c.confirmed_at.is_(None))).scalar()


def add_request(connection: Connection, signer_id: int, phone: str, source: str,
                now: datetime) -> int:
    """Record a new SMS confirmation request; its id."""
    return int(connection.execute(insert(sms_confirmations).values(
        signer_id=signer_id, phone=phone, source=source[:200], requested_at=now)
        .returning(sms_confirmations.c.id)).scalar_one())


def pending_confirmations(connection: Connection,
                          signer_ids: list[int]) -> dict[tuple[int, str], int]:
    """(signer id, phone) -> request id of these signers' unanswered SMS confirmation
    requests."""
    if not signer_ids:
        return {}
    query = select(sms_confirmations.c.id, sms_confirmations.c.signer_id,
                   sms_confirmations.c.phone).where(
        sms_confirmations.c.signer_id.in_(signer_ids),
        sms_confirmations.c.confirmed_at.is_(None))
    return {(row.signer_id, row.phone): row.id for row in connection.execute(query)}


def confirm_requests(connection: Connection, phone: str, now: datetime) -> list[int]:
    """Mark confirmed the pending requests of this number by the signers who still have it;
    the signer ids of the requests confirmed."""
    return list(connection.execute(
        update(sms_confirmations)
        .where(sms_confirmations.c.phone == phone,
               sms_confirmations.c.confirmed_at.is_(None),
               sms_confirmations.c.signer_id.in_(
                   select(signers.c.id).where(signers.c.phone == phone)))
        .values(confirmed_at=now).returning(sms_confirmations.c.signer_id)).scalars())


def signer_by_token(connection: Connection, token: str) -> Row[Any, Any] | None:
    """(id, email) of the signer an unsubscribe token names, or None."""
    return connection.execute(select(signers.c.id, signers.c.email)
                              .where(signers.c.unsubscribe_token == token)).first()
