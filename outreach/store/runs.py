"""Campaign runs: an organizer's launch, pause, resume and cancel, the lifting of send holds
that a resume does, and the planning marks the scheduler's passes leave.

The worker never reads these directly: store/outbox.py's claim leaves out the rows of a campaign
that is not active and of a held step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import Connection, Engine, select, update

from outreach.errors import RunStateError
from outreach.store.db import as_utc, dialect_insert
from outreach.store.outbox import CLAIMABLE
from outreach.store.schema import campaign_runs, outbox, send_holds

# A campaign's run state, as campaign_runs.state stores it (no row: never launched).
RunState = Literal["active", "paused", "cancelled"]
RUN_STATES: tuple[RunState, ...] = get_args(RunState)
# What organizers say (CLI commands, dashboard buttons) -> the run state it sets.
RUN_ACTIONS: dict[str, RunState] = {"pause": "paused", "resume": "active", "cancel": "cancelled"}
# How a row that a broken template failed begins its last_error (the worker writes it): such a
# row never reached a provider, so lifting its step's hold queues it again.
TEMPLATE_FAILED = "render: template "


def ensure_not_cancelled(connection: Connection, campaign: str) -> None:
    """Refuse to launch, pause or resume a cancelled campaign: its queued messages were
    withdrawn (skipped) and their keys are taken, so "active" would send nothing."""
    run = connection.execute(select(campaign_runs.c.state, campaign_runs.c.updated_at)
                             .where(campaign_runs.c.campaign == campaign)).first()
    if run is not None and run.state == "cancelled":
        raise RunStateError(
            f"campaign {campaign} was cancelled on {as_utc(run.updated_at):%Y-%m-%d %H:%M} UTC; "
            "a cancel cannot be undone and its withdrawn messages are not sent again (copy "
            "the campaign file under a new name to reach its audience again)")


def set_run_state(engine: Engine, campaign: str, state: str, now: datetime) -> int:
    """Switch a campaign: paused rows wait, cancelled ones are withdrawn (skipped), never lost.
    A resume lifts the campaign's holds and queues again the rows a broken template failed.
    Returns how many queued rows a cancel withdrew."""
    if state not in RUN_STATES:
        raise ValueError(f"not a campaign state: {state}")
    upsert = dialect_insert(engine, campaign_runs).values(campaign=campaign, state=state,
                                                   launched_at=now, updated_at=now)
    upsert = upsert.on_conflict_do_update(index_elements=["campaign"],
                                          set_={"state": state, "updated_at": now})
    with engine.begin() as connection:
        if state != "cancelled":
            ensure_not_cancelled(connection, campaign)
        connection.execute(upsert)
        if state == "active":  # an organizer's resume also lifts automatic holds
            lifted = connection.execute(update(send_holds)
                                        .where(send_holds.c.campaign == campaign,
                                               send_holds.c.lifted_at.is_(None))
                                        .values(lifted_at=now)
                                        .returning(send_holds.c.step, send_holds.c.channel))
            for step, channel in lifted.all():
                connection.execute(
                    update(outbox).where(outbox.c.campaign == campaign, outbox.c.step == step,
                                         outbox.c.channel == channel, outbox.c.state == "failed",
                                         outbox.c.last_error.startswith(TEMPLATE_FAILED))
                    .values(state="queued", last_error=None, claimed_by=None, not_before=now,
                            updated_at=now))
        if state != "cancelled":
            return 0
        return connection.execute(
            update(outbox).where(outbox.c.campaign == campaign, outbox.c.state.in_(CLAIMABLE))
            .values(state="skipped", last_error="campaign cancelled", updated_at=now)).rowcount


def planning_marks(connection: Connection) -> dict[str, tuple[datetime | None, datetime | None]]:
    """campaign -> (last planning pass, last full pass)."""
    return {r.campaign: (as_utc(r.planned_at) if r.planned_at else None,
                         as_utc(r.fully_planned_at) if r.fully_planned_at else None)
            for r in connection.execute(select(campaign_runs))}


def mark_planned(engine: Engine, campaign: str, when: datetime, full: bool) -> None:
    values: dict[str, object] = {"planned_at": when}
    if full:
        values["fully_planned_at"] = when
    with engine.begin() as connection:
        connection.execute(update(campaign_runs).where(campaign_runs.c.campaign == campaign)
                           .values(**values))


def run_states(connection: Connection) -> dict[str, str]:
    return {r.campaign: r.state for r in connection.execute(select(campaign_runs))}


def active_campaigns(connection: Connection, only: str | None = None) -> list[str]:
    """The launched campaigns the planning pass plans (all active ones, or `only`), sorted."""
    return sorted(name for name, state in run_states(connection).items()
                  if state == "active" and only in (None, name))


def launched_at(connection: Connection, campaign: str) -> datetime | None:
    """When the campaign was first launched (a resume or a second launch keeps it), or None."""
    value = connection.execute(select(campaign_runs.c.launched_at)
                               .where(campaign_runs.c.campaign == campaign)).scalar()
    return as_utc(value) if value is not None else None
