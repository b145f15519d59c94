"""What a planned campaign will look like and cost: every message rendered in memory first.

It also counts the messages that would point readers at (or write to) an office contact that
is only a lead, a secondary or old source (`office_contact_leads`), so an organizer sees how
much of a blast rests on unverified numbers before it goes (OUTREACH_CONTACTS=verified drops
them).

A template that fails for any recipient fails the plan, naming the step, template, line and
recipient, so a missing variable is found before launch and not at 3 a.m. in the worker
(DESIGN invariant 6). SMS steps report their segments (and which characters forced UCS-2).
Prices are settings: defaults are list prices and only an estimate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from outreach.campaigns.planner import StepPlan
from outreach.campaigns.render import Renderer
from outreach.campaigns.sms import sms_segments
from outreach.config import default_of
from outreach.errors import PlanError, RenderError, TemplateFailure
from outreach.message import Message
from outreach.privacy import mask
from outreach.store.outbox import OutboxRow

SAMPLES_PER_STEP = 3


@dataclass(frozen=True)
class Prices:
    email: float = default_of("OUTREACH_EMAIL_PRICE")  # per message (a plan-based provider: 0)
    # USD per segment, a U.S. long-code list price: set yours
    sms_segment: float = default_of("OUTREACH_SMS_SEGMENT_PRICE")


def _rows(plan: StepPlan) -> list[OutboxRow]:
    """The plan's messages, then its previews (a trigger step's samples, never queued)."""
    now = datetime.now(UTC)
    return [OutboxRow(-(i + 1), m.idempotency_key, m.campaign, m.step, m.channel,
                      m.recipient_kind, m.recipient_id, m.template, dict(m.context), "queued",
                      0, None, None, None, now)
            for i, m in enumerate([*plan.messages, *plan.previews])]


def _sample(message: Message) -> dict[str, object]:
    sample: dict[str, object] = {"to": mask(message.to), "text": message.text}
    if message.channel == "email":
        sample["subject"] = message.subject
    return sample


def preview(plans: list[StepPlan], renderer: Renderer, prices: Prices) -> dict[str, object]:
    """Render every planned message; counts, SMS segments, cost and samples per step."""
    steps = []
    total_cost = 0.0
    for plan in plans:
        rows = _rows(plan)
        before = Counter(renderer.fallbacks)
        leads_before = Counter(renderer.leads)
        rendered = renderer.render_batch(rows) if rows else {}
        office_contact = dict(Counter(renderer.fallbacks) - before)
        office_contact_leads = dict(Counter(renderer.leads) - leads_before)
        messages: list[Message] = []
        for row in rows:
            result = rendered[row.id]
            if isinstance(result, TemplateFailure):
                raise PlanError(f"campaign {plan.campaign}, step {plan.step.name}, {result} "
                                f"(recipient {result.recipient})")
            if isinstance(result, RenderError):
                raise PlanError(f"campaign {plan.campaign}, step {plan.step.name}: {result} "
                                f"(recipient {row.recipient_kind} {row.recipient_id})")
            messages.append(result)
        samples = messages[:SAMPLES_PER_STEP]
        messages = messages[:len(plan.messages)]  # what would be sent: the cost
        entry: dict[str, object] = plan.summary()
        if office_contact:
            entry["office_contact"] = office_contact  # the templates' fallbacks used
        if office_contact_leads:
            # Messages whose office phone, website or (letters) email is a lead, by field.
            entry["office_contact_leads"] = office_contact_leads
        if plan.step.channel == "sms":
            counts = [sms_segments(m.text) for m in messages]
            segments = sum(c.segments for c in counts)
            forcing = sorted({ch for c in counts for ch in c.non_gsm_characters})
            entry["sms"] = {"segments": segments,
                            "max_segments_per_message": max((c.segments for c in counts),
                                                            default=0),
                            "ucs2_messages": sum(1 for c in counts if c.encoding == "UCS-2"),
                            "ucs2_because_of": forcing}
            cost = segments * prices.sms_segment
        else:
            cost = len(messages) * prices.email
        entry["estimated_cost_usd"] = round(cost, 2)
        entry["samples"] = [_sample(m) for m in samples]
        total_cost += cost
        steps.append(entry)
    return {"steps": steps, "estimated_cost_usd": round(total_cost, 2)}
