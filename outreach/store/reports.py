"""Reports: what the store holds, counted for people (`outreach report`, the dashboard) and
for monitoring (the metric gauges, the health line). Reads only."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from outreach.store.outbox import state_counts
from outreach.store.runs import run_states
from outreach.store.schema import outbox, send_holds, signers, suppressions
from outreach.store.signers import as_utc


def outbox_report(connection: Connection) -> dict[str, object]:
    """Totals by state, by campaign and channel, and the rows that need a person's eyes
    (unknown: maybe sent; failed: with the provider's reason)."""
    groups: dict[tuple[str, str, str], dict[str, int]] = {}
    query = (select(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.state,
                    func.count())
             .group_by(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.state))
    for campaign, step, channel, state, count in connection.execute(query):
        groups.setdefault((campaign, step, channel), {})[state] = count
    skipped: dict[tuple[str, str, str], dict[str, int]] = {}
    reasons = (select(outbox.c.campaign, outbox.c.step, outbox.c.channel, outbox.c.last_error,
                      func.count())
               .where(outbox.c.state == "skipped")
               .group_by(outbox.c.campaign, outbox.c.step, outbox.c.channel,
                         outbox.c.last_error))
    for campaign, step, channel, reason, count in connection.execute(reasons):
        skipped.setdefault((campaign, step, channel), {})[reason or "no reason"] = count
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
    opt_outs = dict(connection.execute(select(suppressions.c.source, func.count())
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
