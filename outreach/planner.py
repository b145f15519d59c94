"""Campaign x audience x step -> outbox rows, with the reason for every signer left out.

Planning is repeatable: each row's idempotency key is (campaign, step, recipient, channel), so
launching twice queues nothing new. A message is due at the signer's signing time plus the
step's delay, and never before the launch's grace period ends (time to cancel a mistake).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from outreach.campaigns import Campaign, Step
from outreach.store import outbox as box
from outreach.store.signers import audience_frame


@dataclass
class StepPlan:
    step: Step
    messages: list[box.NewMessage] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    note: str = ""

    def summary(self) -> dict[str, object]:
        return {"step": self.step.name, "channel": self.step.channel, "to": self.step.to,
                "messages": len(self.messages), "skipped": dict(self.skipped),
                **({"note": self.note} if self.note else {})}


def select_audience(frame: pd.DataFrame, campaign: Campaign) -> pd.DataFrame:
    """The signers the campaign's audience filters keep (vectorized)."""
    audience = campaign.audience
    keep = pd.Series(True, index=frame.index)
    if audience.states:
        keep &= frame["state"].isin(audience.states)
    if audience.counties:
        keep &= frame["county_fips"].isin(audience.counties)
    if audience.office_ids:
        offices = frame["office_ids"].fillna("").str.split(";")
        keep &= offices.apply(lambda ids: bool(set(ids) & set(audience.office_ids)))
    if audience.sources:
        keep &= frame["source"].isin(audience.sources)
    signed = pd.to_datetime(frame["signed_at"], utc=True)
    if audience.signed_after:
        keep &= signed.dt.date >= audience.signed_after
    if audience.signed_before:
        keep &= signed.dt.date < audience.signed_before
    keep &= frame["confidence"].fillna("none").isin(audience.confidence)
    chosen = frame[keep].sort_values("signed_at", kind="stable")
    return chosen.head(audience.limit) if audience.limit else chosen


def _supporter_step(step: Step, campaign: Campaign, audience: pd.DataFrame,
                    suppressed: set[str], launch_at: datetime) -> StepPlan:
    plan = StepPlan(step)
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
    plan.skipped.update(reason[reason != ""].value_counts().to_dict())
    chosen = audience[reason == ""]
    due = pd.to_datetime(chosen["signed_at"], utc=True) + step.delay
    due = due.where(due > launch_at, launch_at)
    plan.messages = [
        box.NewMessage(campaign.name, step.name, step.channel, "signer", str(signer_id),
                       step.template, {}, when.to_pydatetime())
        for signer_id, when in zip(chosen["id"], due, strict=True)]
    return plan


def plan_campaign(engine: Engine, campaign: Campaign, now: datetime,
                  grace: timedelta = timedelta(minutes=10)) -> list[StepPlan]:
    """What launching now would queue, step by step, and who is left out and why."""
    with engine.connect() as connection:
        frame = audience_frame(connection)
        suppressed = {channel: box.suppressed_among(connection, channel, frame[column].dropna())
                      for channel, column in (("email", "email"), ("sms", "phone"))}
    audience = select_audience(frame, campaign)
    plans = []
    for step in campaign.steps:
        if step.to == "supporters":
            plans.append(_supporter_step(step, campaign, audience, suppressed[step.channel],
                                         now + grace))
        else:
            plans.append(StepPlan(step, note="office letters and digests are not planned yet "
                                             "(the rest of the campaigns issue)"))
    return plans


def launch(engine: Engine, plans: list[StepPlan], now: datetime) -> dict[str, dict[str, int]]:
    """Queue the planned messages; a message already queued by an earlier launch is kept."""
    result = {}
    with engine.begin() as connection:
        for plan in plans:
            new = box.enqueue(connection, plan.messages, now)
            result[plan.step.name] = {"planned": len(plan.messages), "queued_now": new,
                                      "already_queued": len(plan.messages) - new}
    return result
