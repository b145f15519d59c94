"""Reports: what the store holds, counted for people (`outreach report`, the dashboard) and
for monitoring (the metric gauges, the health line). Reads only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Date, Row, cast, func, or_, select

from outreach.store.db import as_utc
from outreach.store.outbox import CLAIMABLE, state_counts
from outreach.store.runs import run_states
from outreach.store.schema import outbox, send_holds, signer_matches, signers, suppressions


def outbox_report(connection: Connection) -> dict[str, object]:
    """Totals by state, by campaign and channel, and the rows that need a person's eyes
    (unknown: maybe sent; failed: with the provider's reason)."""
    groups: dict[tuple[str, str, str], dict[str, int]] = {}
    query = (select(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.state,
                    func.count())
             .group_by(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.state))
    for campaign, step, channel, state, count in connection.execute(query):
        groups.setdefault((campaign, step, channel), {})[state] = count
    skipped, retrying, failed = (_reasons(connection, state)
                                 for state in ("skipped", "retry", "failed"))
    waiting: dict[tuple[str, str, str], dict[str, dict[str, object]]] = {}
    deferred = (select(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.last_error,
                       func.count(), func.min(outbox.c.not_before), func.max(outbox.c.not_before))
                .where(outbox.c.state == "queued", outbox.c.last_error.is_not(None))
                .group_by(outbox.c.campaign, outbox.c.step, outbox.c.channel,
                          outbox.c.last_error))
    for campaign, step, channel, reason, count, first, last in connection.execute(deferred):
        # Queued rows with a reason are the gate's deferrals (quiet hours, office hours, the
        # daily text limit): each waits until its own release time.
        waiting.setdefault((campaign, step, channel), {})[reason] = {
            "count": count, "first_release": as_utc(first).isoformat(),
            "last_release": as_utc(last).isoformat()}
    opt_outs: dict[str, int] = dict(connection.execute(select(suppressions.c.source, func.count())
                                       .where(suppressions.c.removed_at.is_(None))
                                       .group_by(suppressions.c.source)).all())
    referrals = connection.execute(select(func.count()).select_from(signers)
                                   .where(signers.c.referred_by.is_not(None))).scalar_one()
    attention = connection.execute(
        select(outbox.c.id, outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.state,
               outbox.c.last_error)
        .where(outbox.c.state.in_(("unknown", "failed"))).order_by(outbox.c.id).limit(200))
    return {
        "states": state_counts(connection),
        "by_campaign": [{"campaign": c, "step": st, "channel": ch, "states": s,
                         "skipped_by_reason": skipped.get((c, st, ch), {}),
                         "retrying_by_reason": retrying.get((c, st, ch), {}),
                         "failed_by_reason": failed.get((c, st, ch), {}),
                         "waiting_by_reason": waiting.get((c, st, ch), {})}
                        for (c, st, ch), s in sorted(groups.items())],
        "runs": run_states(connection),
        "opt_outs_by_source": opt_outs,
        "referrals": referrals,
        "holds": [{"campaign": h.campaign, "step": h.step, "channel": h.channel,
                   "reason": h.reason, "since": h.created_at.isoformat()}
                  for h in connection.execute(select(send_holds)
                                              .where(send_holds.c.lifted_at.is_(None)))],
        "delivery": dict(connection.execute(
            select(outbox.c.delivery_status, func.count())
            .where(outbox.c.delivery_status.is_not(None))
            .group_by(outbox.c.delivery_status)).all()),
        "attention": [dict(r._mapping) for r in attention],
    }


REASONS_SHOWN = 10  # a step's reasons of one state listed, the most frequent first


def _reasons(connection: Connection, state: str) -> dict[tuple[str, str, str], dict[str, int]]:
    """(campaign, step, channel) -> the reasons (last_error) of its rows in `state`, with
    how many rows have each: why rows were skipped, are waiting for a retry (a refused SMTP
    connection), or failed. The REASONS_SHOWN most frequent; the rest counted as "other
    reasons" (a provider whose text varies per row does not list a blast row by row)."""
    found: dict[tuple[str, str, str], dict[str, int]] = {}
    query = (select(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.last_error,
                    func.count())
             .where(outbox.c.state == state)
             .group_by(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.last_error)
             .order_by(func.count().desc(), outbox.c.last_error))
    for campaign, step, channel, reason, count in connection.execute(query):
        reasons = found.setdefault((campaign, step, channel), {})
        if len(reasons) < REASONS_SHOWN:
            reasons[reason or "no reason"] = reasons.get(reason or "no reason", 0) + count
        else:
            reasons["other reasons"] = reasons.get("other reasons", 0) + count
    return found


# --- the dashboard ---------------------------------------------------------------------------
def _signing_day(connection: Connection) -> Any:
    """The calendar day of a signature, in SQL (SQLite stores text; PostgreSQL casts)."""
    column = signers.c.signed_at
    return func.date(column) if connection.dialect.name == "sqlite" else cast(column, Date)


def signer_total(connection: Connection) -> int:
    """How many signers are stored."""
    return connection.execute(select(func.count()).select_from(signers)).scalar_one()


def signatures_per_day(connection: Connection, since: datetime) -> dict[str, int]:
    """ISO day -> signatures on it, for the days from `since` (a midnight) on."""
    day = _signing_day(connection)
    return dict((str(d), n) for d, n in connection.execute(
        select(day, func.count()).where(signers.c.signed_at >= since).group_by(day)))


def signers_by_state(connection: Connection,
                     state_of: Callable[[str | None, str | None], str | None] | None = None
                     ) -> list[tuple[str, int]]:
    """(state, signers) from the most signers down. A signer who gave no state (the petition
    form asks none) counts under `state_of(matched county FIPS, ZIP)` (the geography's
    answer, which this layer lacks); "?" where it names none or none is given."""
    counts: Counter[str] = Counter(dict(connection.execute(
        select(signers.c.state, func.count()).where(signers.c.state.is_not(None))
        .group_by(signers.c.state)).all()))
    stateless = (select(signer_matches.c.county_fips, signers.c.zip, func.count())
                 .select_from(signers.outerjoin(signer_matches,
                                                signer_matches.c.signer_id == signers.c.id))
                 .where(signers.c.state.is_(None))
                 .group_by(signer_matches.c.county_fips, signers.c.zip))
    for county_fips, zip_code, count in connection.execute(stateless):
        counts[(state_of(county_fips, zip_code) if state_of else None) or "?"] += count
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def match_confidence(connection: Connection) -> dict[str, int]:
    """Match confidence -> matched signers."""
    return dict(connection.execute(
        select(signer_matches.c.confidence, func.count())
        .group_by(signer_matches.c.confidence)).all())


def campaign_state_counts(connection: Connection, campaign: str) -> dict[str, int]:
    """One campaign's messages by state (states without any left out): its progress bar."""
    return dict(connection.execute(
        select(outbox.c.state, func.count()).where(outbox.c.campaign == campaign)
        .group_by(outbox.c.state)).all())


def recent_opt_outs(connection: Connection, limit: int = 15) -> list[Row[Any]]:
    """The newest suppression entries (lifted ones included), newest first."""
    return list(connection.execute(select(suppressions).order_by(
        suppressions.c.created_at.desc()).limit(limit)).all())


# --- the dashboard's office view ---------------------------------------------------------------
def office_signatures_per_day(connection: Connection, office_id: str,
                              since: datetime | None = None) -> dict[str, int]:
    """ISO day -> how many of the signers matched to this office (as felony or misdemeanor
    office: one match row per signer, so each once) signed on it, from `since` on. Counts
    only: the office view charts them and never needs a signer."""
    day = _signing_day(connection)
    query = (select(day, func.count())
             .select_from(signers.join(signer_matches,
                                       signer_matches.c.signer_id == signers.c.id))
             .where(or_(signer_matches.c.felony_office_id == office_id,
                        signer_matches.c.misdemeanor_office_id == office_id))
             .group_by(day))
    if since is not None:
        query = query.where(signers.c.signed_at >= since)
    return {str(d): n for d, n in connection.execute(query)}


def office_letter_counts(connection: Connection, office_id: str
                         ) -> list[tuple[str, str, str, int]]:
    """(campaign, template, state, letters) of the outbox rows addressed to this office.

    The planner names an office recipient `OFFICE_ID@DAY` (a daily digest) or
    `OFFICE_ID/SIGNER_ID` (a letter per signer), and the roster's ids are lowercase letters,
    digits and hyphens, so the prefix picks exactly this office's rows (an office whose id
    merely begins alike does not match: the separator follows the whole id)."""
    recipient = outbox.c.recipient_id
    return [(campaign, template, state, count) for campaign, template, state, count in
            connection.execute(
                select(outbox.c.campaign, outbox.c.template, outbox.c.state, func.count())
                .where(outbox.c.recipient_kind == "office",
                       or_(recipient.startswith(f"{office_id}@", autoescape=True),
                           recipient.startswith(f"{office_id}/", autoescape=True)))
                .group_by(outbox.c.campaign, outbox.c.template, outbox.c.state)
                .order_by(outbox.c.campaign, outbox.c.template, outbox.c.state))]


# --- monitoring: the metric gauges and the health line ---------------------------------------
def messages_by_state_and_channel(connection: Connection) -> list[tuple[str, str, int]]:
    """(state, channel, messages) of the whole outbox: the queue-depth gauge."""
    return [(state, channel, count) for state, channel, count in connection.execute(
        select(outbox.c.state, outbox.c.channel, func.count())
        .group_by(outbox.c.state, outbox.c.channel))]


def active_suppressions(connection: Connection) -> int:
    """How many addresses are on the suppression list now (lifted entries not counted)."""
    return connection.execute(
        select(func.count()).select_from(suppressions)
        .where(suppressions.c.removed_at.is_(None))).scalar_one()


def due_now(connection: Connection, now: datetime) -> int:
    """How many waiting messages are due at `now` (holds and paused campaigns not considered:
    the health line's "due now")."""
    return connection.execute(select(func.count()).select_from(outbox).where(
        outbox.c.state.in_(CLAIMABLE), outbox.c.not_before <= now)).scalar_one()
