"""Campaign x audience x step -> outbox rows, with the reason for every signer left out.

Planning is repeatable: each row's idempotency key is (campaign, step, recipient, channel), so
launching twice queues nothing new. A supporter message is due when the signer entered the
campaign plus the step's delay (`entry_times`), and never before the launch's grace period ends
(time to cancel a mistake). An old list imported before the launch thus gets the welcome at the
launch and the 3-day step three days later, not every step in the same minute; a campaign
with `start = "signed"` counts from the signing date instead.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import cast

import pandas as pd
from sqlalchemy import Connection, Engine

from outreach.campaigns.audience import audience_and_left_out
from outreach.campaigns.definitions import Campaign, Step, find_campaign
from outreach.campaigns.stances import StanceChanges, changes_since
from outreach.errors import CampaignError
from outreach.privacy import mask_text
from outreach.roster.offices import Roster
from outreach.roster.stances import OfficeStance, current_stances, history
from outreach.store import outbox as box
from outreach.store import runs, suppressions
from outreach.store import stances as stance_store
from outreach.store.db import is_connection_loss
from outreach.store.signers import (
    assign_referral_codes,
    assign_unsubscribe_tokens,
    audience_frame,
    changed_since,
    constituents,
)
from outreach.us.quiet_hours import STATE_WINDOWS, text_hours

log = logging.getLogger("outreach.planner")
PLAN_MARGIN = timedelta(hours=1)  # an import commits its rows stamped with its start time
SAMPLES = 3  # a trigger step's rendered samples in a plan
FULL_PLAN_EVERY = timedelta(days=1)


@dataclass
class StepPlan:
    campaign: str
    step: Step
    messages: list[box.NewMessage] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    note: str = ""
    by_state: Counter[str] = field(default_factory=Counter)
    by_office: Counter[str] = field(default_factory=Counter)  # recipients' felony offices
    quiet_hours: dict[str, object] = field(default_factory=dict)
    # Supporters who signed before they entered the campaign (before the launch, or an older
    # list stored later): how many got this step, and when it falls for them.
    backfilled: dict[str, object] = field(default_factory=dict)
    # Rendered by a plan's preview, never queued: samples of a trigger step, which queues
    # nothing until a stance change (so its template is checked before the launch too).
    previews: list[box.NewMessage] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {"step": self.step.name, "channel": self.step.channel, "to": self.step.to,
                "messages": len(self.messages), "skipped": dict(self.skipped),
                "by_state": dict(self.by_state.most_common()),
                "top_offices": dict(self.by_office.most_common(10)),
                **({"quiet_hours": self.quiet_hours} if self.quiet_hours else {}),
                **({"backfilled": self.backfilled} if self.backfilled else {}),
                **({"note": self.note} if self.note else {})}


def quiet_hours_preview(due: pd.Series, recipients: pd.DataFrame,
                        windows: dict[str, tuple[time, time]] = STATE_WINDOWS
                        ) -> dict[str, object]:
    """How many texts the compliance gate would hold for their recipients' hours, and until
    when: the gate's own rule (`us.quiet_hours.text_hours`) on the gate's own state windows
    (`wiring.sms_windows`: OUTREACH_SMS_WINDOWS too), so the preview cannot drift from it."""
    releases = []
    for when, (_, person) in zip(due, recipients.iterrows(), strict=True):
        zone = person["time_zone"]
        hours = text_hours(person["state"], zone if isinstance(zone, str) and zone else None,
                           person["phone"] or "", windows)
        opening = hours.opening(when.to_pydatetime())
        if opening > when:
            releases.append(opening)
    preview: dict[str, object] = {
        "deferred": len(releases),
        "window": "the strictest of 08:00-21:00 (TCPA), the address state's and the area-code "
                  "state's, open in both the address's and the area code's time zones"}
    if releases:
        preview["first_release"] = min(releases).isoformat()
        preview["last_release"] = max(releases).isoformat()
    return preview


def entry_times(audience: pd.DataFrame, launched_at: datetime) -> pd.Series:
    """When each signer entered the campaign: the latest of the signing time, the time the
    signer was first stored (`created_at`: a list imported after the launch enters when
    imported, not at the launch) and the campaign's first launch (`campaign_runs.launched_at`,
    which resumes and relaunches keep).

    With `start = "entered"` (the default) supporter steps' delays count from here. Every
    planning path (the organizer's launch, the scheduler's passes, the petition form, the API)
    uses this one rule, and each input is stored, never the pass's "now": a signer planned in
    one pass enters at the same moment in the next, so a step added later lands where the
    first plan would have put it (rows already queued never move: idempotency)."""
    launched = pd.Series(pd.Timestamp(launched_at), index=audience.index)
    return pd.concat([audience["signed_at"], audience["created_at"], launched],
                     axis=1).max(axis=1)


def _backfill_preview(due: pd.Series, backfilled: pd.Series) -> dict[str, object]:
    late = due[backfilled]
    if late.empty:
        return {}
    return {"signers": len(late), "first_due": late.min().isoformat(),
            "last_due": late.max().isoformat()}


def _counts(values: pd.Series) -> dict[str, int]:
    """How often each value occurs; pandas types the keys as any Hashable, here they are text
    (reasons, states, office ids)."""
    return cast(dict[str, int], values.value_counts().to_dict())


def _supporter_step(step: Step, campaign: Campaign, audience: pd.DataFrame,
                    suppressed: set[str], launch_at: datetime, launched_at: datetime,
                    windows: dict[str, tuple[time, time]],
                    at: pd.Series | None = None) -> StepPlan:
    """`at`: when each signer's step falls (a trigger's: its stance's recording plus the
    delay), instead of their entry plus the delay."""
    plan = StepPlan(campaign.name, step)
    if step.channel == "email":
        address, consent = audience["email"], audience["email_opt_in"]
        missing, refused = "no email address", "no email consent"
    else:
        address, consent = audience["phone"], audience["sms_opt_in"]
        missing, refused = "no mobile number", "no SMS consent"
    reason = pd.Series("", index=audience.index)
    reason = reason.mask(address.isna(), missing)
    reason = reason.mask((reason == "") & ~consent.astype(bool), refused)
    reason = reason.mask((reason == "") & address.fillna("").str.lower().isin(suppressed),
                         "on the suppression list")
    plan.skipped.update(_counts(reason[reason != ""]))
    chosen = audience[reason == ""]
    signed = chosen["signed_at"]
    entered = entry_times(chosen, launched_at)
    if at is None:
        due = (signed if campaign.start == "signed" else entered) + step.delay
    else:
        due = at.loc[chosen.index] + step.delay
    due = due.where(due > launch_at, pd.Timestamp(launch_at))
    if at is None:
        plan.backfilled = _backfill_preview(due, entered > signed)
    plan.by_state.update(_counts(chosen["state"].fillna("unknown")))
    plan.by_office.update(_counts(chosen["felony_office_id"].dropna()))
    if step.channel == "sms":
        plan.quiet_hours = quiet_hours_preview(due, chosen, windows)
    plan.messages = [
        box.NewMessage(campaign.name, step.name, step.channel, "signer", str(signer_id),
                       step.template, {}, when.to_pydatetime())
        for signer_id, when in zip(chosen["id"], due, strict=True)]
    return plan


def _office_step(step: Step, campaign: Campaign, audience: pd.DataFrame, roster: Roster,
                 launch_at: datetime) -> StepPlan:
    """Constituent mail to offices: a letter per constituent (Reply-To the signer), or one
    digest per office per signing day when the step asks for it or a day's letters to one
    office would pass the step's threshold. A daily cap limits letters per office per day."""
    plan = StepPlan(campaign.name, step)
    columns = {"felony": ["felony_office_id"], "misdemeanor": ["misdemeanor_office_id"],
               "both": ["felony_office_id", "misdemeanor_office_id"]}[step.offices]
    pairs = pd.concat([audience[["id", "signed_at", c]].rename(columns={c: "office_id"})
                       for c in columns]).dropna(subset=["office_id"])
    plan.skipped["no office for the address"] = int(audience[columns[0]].isna().sum())
    emails = {o.office_id: o.email for o in roster.offices}
    no_email = pairs["office_id"].map(emails).fillna("") == ""
    plan.skipped["office has no email address"] = int(no_email.sum())
    if roster.contacts == "verified":  # OUTREACH_CONTACTS: no letters to a lead's address
        usable = {o.office_id: o.usable("email", "verified") for o in roster.offices}
        lead_only = ~no_email & (pairs["office_id"].map(usable).fillna("") == "")
        plan.skipped["office email is only a lead (OUTREACH_CONTACTS=verified)"] = \
            int(lead_only.sum())
        no_email |= lead_only
    pairs = pairs[~no_email].assign(day=pairs["signed_at"].dt.date)
    plan.by_office.update(_counts(pairs["office_id"]))
    for (office_id, day), group in pairs.sort_values("signed_at").groupby(
            ["office_id", "day"], sort=True):
        day_end = pd.Timestamp(cast(date, day), tz="UTC") + pd.Timedelta(days=1)  # .dt.date
        due = max((day_end + step.delay).to_pydatetime(), launch_at)
        if step.delivery == "digest" or len(group) > step.digest_threshold:
            plan.messages.append(box.NewMessage(
                campaign.name, step.name, step.channel, "office", f"{office_id}@{day}",
                step.template, {"office_id": office_id, "day": str(day),
                                "signer_ids": [int(i) for i in group["id"]]}, due))
            continue
        letters = group if step.daily_cap is None else group.head(step.daily_cap)
        plan.skipped["office daily cap"] += len(group) - len(letters)
        plan.messages.extend(box.NewMessage(
            campaign.name, step.name, step.channel, "office", f"{office_id}/{int(signer)}",
            step.template, {"office_id": office_id, "signer_id": int(signer)}, due)
            for signer in letters["id"])
    plan.skipped = Counter({k: v for k, v in plan.skipped.items() if v})
    return plan


def plan_campaign(engine: Engine, campaign: Campaign, now: datetime,
                  grace: timedelta = timedelta(minutes=10),
                  roster: Roster | None = None,
                  signer_ids: list[int] | None = None,
                  windows: dict[str, tuple[time, time]] = STATE_WINDOWS) -> list[StepPlan]:
    """What launching now would queue, step by step, and who is left out and why (for the
    whole audience, or for these signers only: someone who just signed the petition).
    `windows`: the texts' state windows for the quiet-hours preview (`wiring.sms_windows`).

    Supporter steps count from each signer's entry (`entry_times`) from the campaign's first
    launch, or from `now` for a campaign not launched yet (the launch this plan is for)."""
    with engine.connect() as connection:
        launched_at = runs.launched_at(connection, campaign.name) or now
        frame = audience_frame(connection, signer_ids)
        suppressed = _suppressed(connection, frame)
        stances = current_stances(connection) if campaign.watches_stances else {}
    audience, left_out = audience_and_left_out(frame, campaign, stances)
    plans = []
    for step in campaign.steps:
        if step.trigger:
            plan = _waiting_trigger(step, campaign, audience, stances, suppressed[step.channel],
                                    now + grace, launched_at, windows)
        elif step.to == "supporters":
            plan = _supporter_step(step, campaign, audience, suppressed[step.channel],
                                   now + grace, launched_at, windows)
        elif roster is None:
            raise ValueError("office steps need the roster")
        else:
            plan = _office_step(step, campaign, audience, roster, now + grace)
        plan.skipped.update(left_out)  # the audience's min_share and stance: every step's
        plans.append(plan)
    return plans


def _suppressed(connection: Connection, frame: pd.DataFrame) -> dict[str, set[str]]:
    """channel -> the suppressed addresses among the frame's signers."""
    return {channel: suppressions.suppressed_among(connection, channel, frame[column].dropna())
            for channel, column in (("email", "email"), ("sms", "phone"))}


def _waiting_trigger(step: Step, campaign: Campaign, audience: pd.DataFrame,
                     stances: Mapping[str, OfficeStance], suppressed: set[str],
                     launch_at: datetime, launched_at: datetime,
                     windows: dict[str, tuple[time, time]]) -> StepPlan:
    """A trigger step queues nothing at a launch: it waits for a stance change (planned by
    plan_stance_changes). The plan says so and how many offices match already (those do not
    fire: they matched before), and renders a few samples, so a broken template is found
    before the launch like any other step's (preview.py)."""
    trigger = step.stance_trigger
    assert trigger is not None
    matching = sum(1 for s in stances.values() if trigger.matches(s))
    plan = StepPlan(campaign.name, step, note=(
        f"trigger {step.trigger}: queued for an office's constituents when a stance recorded "
        f"after the launch makes the office match; offices matching already (they fire "
        f"nothing): {matching}"))
    if step.channel == "email":
        reachable = audience["email"].notna() & audience["email_opt_in"]
    else:
        reachable = audience["phone"].notna() & audience["sms_opt_in"]
    # Samples of what it would say: constituents of offices that match now first.
    matching_offices = {o for o, s in stances.items() if trigger.matches(s)}
    matched = pd.Series(False, index=audience.index)
    for kind in OFFICE_KINDS[step.offices]:
        matched |= audience[f"{kind}_office_id"].isin(matching_offices)
    sample = audience[reachable].assign(_matched=matched[reachable]).sort_values(
        "_matched", ascending=False, kind="stable").head(SAMPLES * 10)  # some suppressed
    plan.previews = _supporter_step(step, campaign, sample, suppressed, launch_at, launched_at,
                                    windows).messages[:SAMPLES]
    return plan



def launch(engine: Engine, plans: list[StepPlan], now: datetime,
           progress: Callable[[StepPlan], None] = lambda plan: None
           ) -> dict[str, dict[str, int]]:
    """An organizer's launch: the campaign's run becomes active (launching again resumes a
    paused one and lifts automatic holds), then its messages are queued."""
    if plans:
        runs.set_run_state(engine, plans[0].campaign, "active", now)
        if any(p.step.trigger for p in plans):
            # Its triggers fire for stances recorded from now on (a relaunch keeps the mark).
            with engine.begin() as connection:
                stance_store.start_stance_mark(connection, plans[0].campaign,
                                               stance_store.newest_stance_id(connection), now)
    return enqueue_plans(engine, plans, now, progress)


def enqueue_plans(engine: Engine, plans: list[StepPlan], now: datetime,
                  progress: Callable[[StepPlan], None] = lambda plan: None
                  ) -> dict[str, dict[str, int]]:
    """Queue the planned messages; a message already queued by an earlier run is kept."""
    result = {}
    supporters = sorted({int(m.recipient_id) for p in plans for m in p.messages
                         if m.recipient_kind == "signer"})
    with engine.begin() as connection:
        assign_referral_codes(connection, supporters)  # their share links
        assign_unsubscribe_tokens(connection, supporters)  # their one-click unsubscribe
        for plan in plans:
            new = box.enqueue(connection, plan.messages, now)
            progress(plan)
            result[plan.step.name] = {"planned": len(plan.messages), "queued_now": new,
                                      "already_queued": len(plan.messages) - new}
    return result


def plan_active_campaigns(engine: Engine, jobs_dir: Path, roster: Roster, now: datetime,
                          only: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """The scheduler's planning pass over every launched, active campaign, so new signers get
    the welcome steps now and follow-ups at their entry + their delay (queued ahead, due
    then; `entry_times`). No grace period: the organizer's launch had one. Paused, cancelled or held
    campaigns stay as they are (this never changes a run's state).

    Incremental: only signers stored, changed or matched since the last pass (less a margin
    for slow imports) are planned again; the whole audience once a day, after the campaign's
    file changed, and the first time. Re-planning a million signers every minute would cost
    tens of seconds a minute for nothing (idempotent, but not free)."""
    with engine.connect() as connection:
        active = runs.active_campaigns(connection, only)
        marks = runs.planning_marks(connection)
    results = {}
    for name in active:
        # One bad campaign stays one bad campaign (DESIGN invariant 11): its file's mistakes,
        # or anything else its planning meets, is logged in one line and the others are
        # planned. A database that went away is everyone's problem: the job fails and the
        # next pass tries again.
        try:
            results[name] = _plan_active(engine, jobs_dir, name, roster, now, marks.get(name))
        except CampaignError as error:
            log.warning("planning %s skipped: %s", name, "; ".join(error.problems))
        except Exception as error:
            if is_connection_loss(error):
                raise
            log.warning("planning %s skipped: %s: %s", name, type(error).__name__,
                        " ".join(mask_text(str(error)).split())[:300])
    return results


def _plan_active(engine: Engine, jobs_dir: Path, name: str, roster: Roster, now: datetime,
                 mark: tuple[datetime | None, datetime | None] | None
                 ) -> dict[str, dict[str, int]]:
    campaign = find_campaign(jobs_dir, name)
    last, last_full = mark or (None, None)
    edited = datetime.fromtimestamp(campaign.source.stat().st_mtime, now.tzinfo) \
        if campaign.source else now
    full = last is None or last_full is None or edited >= last_full or \
        now - last_full >= FULL_PLAN_EVERY
    ids = None
    if not full and last is not None:  # not full: an earlier pass left its mark (`last`)
        with engine.connect() as connection:
            ids = changed_since(connection, last - PLAN_MARGIN)
    plans = plan_campaign(engine, campaign, now, timedelta(0), roster=roster,
                          signer_ids=ids) if ids is None or ids else []
    queued = enqueue_plans(engine, plans, now)
    runs.mark_planned(engine, name, now, full)
    for step, counts in plan_stance_changes(engine, campaign, roster, now).items():
        if step in queued:
            counts = {k: queued[step][k] + v for k, v in counts.items()}
        queued[step] = counts
    return queued


def plan_stance_changes(engine: Engine, campaign: Campaign, roster: Roster, now: datetime,
                        windows: dict[str, tuple[time, time]] = STATE_WINDOWS
                        ) -> dict[str, dict[str, int]]:
    """A planning pass's share of the stances: what the statements recorded since the
    campaign's mark (stance_marks: its launch, or its last pass) change for it.

    * A trigger step (`trigger = "stance:yes"`) is queued for the constituents of each office
      the new statements made match (it did not at the mark, it does now): its delay after
      the recording, through the campaign's audience, consent and suppression like any
      step, and the send-time gate after. Once per constituent: the outbox's key is the
      step's and the signer's, so a second pass, a restart between queueing and the mark,
      or two planners at once queue nothing twice, and an office that matches again later
      writes only to constituents it never wrote to.
    * A stance-filtered audience is planned again for the changed offices' constituents:
      an office that came into the filter brings its signers the campaign's steps now,
      not at the next full pass.

    A campaign seen for the first time (no mark, launched before triggers existed, or the
    unlaunched petition campaign) gets its mark now: what was recorded before is old news."""
    if not campaign.watches_stances:
        return {}
    with engine.connect() as connection:
        mark = stance_store.stance_mark(connection, campaign.name)
        newest = stance_store.newest_stance_id(connection)
        statements = history(connection) if mark is not None and newest > mark else []
    if mark is None:
        with engine.begin() as connection:
            stance_store.start_stance_mark(connection, campaign.name, newest, now)
        return {}
    if not statements:
        return {}
    changes = changes_since(statements, mark)
    plans = plan_triggered(engine, campaign, changes, now, windows)
    if campaign.audience.filters_by_stance:
        with engine.connect() as connection:
            ids = constituents(connection, changes.offices)
        plans += [p for p in plan_campaign(engine, campaign, now, timedelta(0), roster=roster,
                                           signer_ids=ids, windows=windows)
                  if not p.step.trigger] if ids else []
    queued = enqueue_plans(engine, plans, now)
    with engine.begin() as connection:
        stance_store.advance_stance_mark(connection, campaign.name, changes.newest_id, now)
    return queued


OFFICE_KINDS = {"felony": ("felony",), "misdemeanor": ("misdemeanor",),
                "both": ("felony", "misdemeanor")}


def plan_triggered(engine: Engine, campaign: Campaign, changes: StanceChanges, now: datetime,
                   windows: dict[str, tuple[time, time]] = STATE_WINDOWS) -> list[StepPlan]:
    """The campaign's trigger steps for the constituents of the offices `changes` made match
    (each step's own trigger, and its `offices`: whose stance counts). A message's context
    names the office (`trigger_office_id`); it falls the step's delay after the recording."""
    steps = [s for s in campaign.steps if s.trigger]
    fired = {s.name: changes.fired(s.stance_trigger) for s in steps if s.stance_trigger}
    if not any(fired.values()):
        return [StepPlan(campaign.name, s) for s in steps]
    with engine.connect() as connection:
        launched_at = runs.launched_at(connection, campaign.name) or now
        ids = sorted({i for s in steps for i in constituents(
            connection, fired[s.name], OFFICE_KINDS[s.offices])})
        frame = audience_frame(connection, ids)
        suppressed = _suppressed(connection, frame)
        stances = current_stances(connection)
    plans = []
    for step in steps:
        offices = fired[step.name]
        # Each signer's office whose change fired the step (the earlier, if both did).
        found = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
        office_of = pd.Series(None, index=frame.index, dtype="object")
        for kind in OFFICE_KINDS[step.offices]:
            column = frame[f"{kind}_office_id"]
            when = pd.to_datetime(column.map(offices), utc=True)
            earlier = when.notna() & (found.isna() | (when < found))
            found = found.where(~earlier, when)
            office_of = office_of.where(~earlier, column)
        mine = frame[found.notna()]
        audience, left_out = audience_and_left_out(mine, campaign, stances)
        plan = _supporter_step(step, campaign, audience, suppressed[step.channel], now,
                               launched_at, windows, at=found)
        plan.skipped.update(left_out)
        office_by_signer = dict(zip(frame["id"].astype(int), office_of, strict=True))
        plan.messages = [replace(m, context={"trigger_office_id":
                                             office_by_signer[int(m.recipient_id)]})
                         for m in plan.messages]
        plans.append(plan)
    return plans


def queue_for_signers(engine: Engine, campaign: Campaign, roster: Roster, signer_ids: list[int],
                      now: datetime) -> dict[str, dict[str, int]]:
    """A campaign's steps for signers who just arrived (the petition form, the API): the
    welcome now, follow-ups on their delay; nothing when an organizer paused or cancelled the
    campaign. It never launches the campaign for anyone else."""
    with engine.connect() as connection:
        run = runs.run_states(connection).get(campaign.name)
    if run in ("paused", "cancelled") or not signer_ids:
        return {}
    plans = plan_campaign(engine, campaign, now, timedelta(0), roster=roster,
                          signer_ids=signer_ids)
    return enqueue_plans(engine, plans, now)
