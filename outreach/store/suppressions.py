"""The global suppression list's statements: put addresses on it, lift them, list, look up.

One public function per statement (a convenience wrapper, `suppress`, opens its own
transaction); the others run in the caller's transaction, so an opt-out commits with whatever
caused it (a webhook's dedupe record, an import).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from outreach.store.db import select_in
from outreach.store.schema import suppressions


def _insert(bind: Connection | Engine, table: Table):  # type: ignore[no-untyped-def]
    """An INSERT that knows ON CONFLICT, in the dialect of the database at hand."""
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def suppress(engine: Engine, channel: str, address: str, source: str, reason: str,
             now: datetime) -> None:
    """Put an address on the global suppression list (idempotent; re-adds a removed one)."""
    with engine.begin() as connection:
        suppress_many(connection, channel, [(address, reason)], source, now)


def suppress_many(connection: Connection, channel: str, entries: Sequence[tuple[str, str]],
                  source: str, now: datetime) -> None:
    """Put (address, reason) entries on the suppression list in the caller's transaction; an
    entry already there keeps its first source and date, a removed one is put back."""
    if not entries:
        return
    statement = _insert(connection, suppressions)
    statement = statement.on_conflict_do_update(
        index_elements=["channel", "address"],
        set_={"source": statement.excluded.source, "reason": statement.excluded.reason,
              "created_at": statement.excluded.created_at, "removed_at": None,
              "removed_reason": None},
        where=suppressions.c.removed_at.is_not(None))
    connection.execute(statement, [{"channel": channel, "address": address.lower(),
                                    "source": source, "reason": reason, "created_at": now}
                                   for address, reason in entries])


def unsuppress(connection: Connection, channel: str, address: str, reason: str,
               now: datetime) -> bool:
    """Lift a suppression in the caller's transaction, keeping the entry and why it was
    lifted."""
    return connection.execute(
        update(suppressions).where(suppressions.c.channel == channel,
                                   suppressions.c.address == address.lower(),
                                   suppressions.c.removed_at.is_(None))
        .values(removed_at=now, removed_reason=reason)).rowcount == 1


def suppression_list(connection: Connection, include_removed: bool = False) -> list[dict]:
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
                                             sorted({a.lower() for a in addresses}), 500)}
