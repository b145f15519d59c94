"""The call_outcomes table's statements: what signers reported after calling their prosecutor.

One statement per function on the caller's connection (the caller decides the transaction).
What an outcome means, which offices a signer may report on and which day a call counts on is
`outreach.campaigns.calls`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from outreach.store.db import dialect_insert
from outreach.store.schema import call_outcomes, signer_matches, signers


def caller_by_code(connection: Connection, code: str) -> Row[Any, Any, Any, Any] | None:
    """The signer a call page's code (their referral code) names, with the offices and time
    zone of their match (None: no such code; the match's columns None: not matched)."""
    return connection.execute(
        select(signers.c.id, signer_matches.c.felony_office_id,
               signer_matches.c.misdemeanor_office_id, signer_matches.c.time_zone)
        .join(signer_matches, signer_matches.c.signer_id == signers.c.id, isouter=True)
        .where(signers.c.referral_code == code)).first()


def record_outcome(connection: Connection, signer_id: int, office_id: str,
                   campaign: str | None, outcome: str, call_day: date, now: datetime) -> None:
    """Store one outcome; one already stored for this signer, office and day is replaced (its
    outcome, campaign and time), so the row count stays one a day."""
    statement = dialect_insert(connection, call_outcomes).values(
        office_id=office_id, campaign=campaign, signer_id=signer_id, outcome=outcome,
        call_day=call_day, created_at=now, updated_at=now)
    connection.execute(statement.on_conflict_do_update(
        index_elements=["signer_id", "office_id", "call_day"],
        set_={"outcome": outcome, "campaign": campaign, "updated_at": now}))


def outcome_counts(connection: Connection, office_id: str | None = None
                   ) -> list[tuple[str, str | None, str, int]]:
    """(office_id, campaign, outcome, calls) for every combination logged at least once (of
    one office, or of all)."""
    query = (select(call_outcomes.c.office_id, call_outcomes.c.campaign,
                    call_outcomes.c.outcome, func.count())
             .group_by(call_outcomes.c.office_id, call_outcomes.c.campaign,
                       call_outcomes.c.outcome))
    if office_id is not None:
        query = query.where(call_outcomes.c.office_id == office_id)
    return [(office, campaign, outcome, count)
            for office, campaign, outcome, count in connection.execute(query)]


def outcome_times(connection: Connection, outcome: str) -> list[tuple[str, datetime]]:
    """(office_id, when it was reported) of every stored call with this outcome."""
    return [(office_id, when) for office_id, when in connection.execute(
        select(call_outcomes.c.office_id, call_outcomes.c.updated_at)
        .where(call_outcomes.c.outcome == outcome))]
