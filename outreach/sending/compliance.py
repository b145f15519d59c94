"""The gate: at send time, may this message go now, later, or never? One answer per message.

Checked when the worker is about to send (DESIGN invariant 2), so an opt-out or a window that
closes between planning and sending wins:
  * consent for the channel, read fresh from the store (email yes unless withdrawn; SMS only
    with an explicit yes). The one text sent without it is the double opt-in's confirmation
    request, and only to the number whose confirmation is still pending (consent.py);
  * SMS quiet hours in every time zone the recipient may be in: the address's and the number's
    area code's (a Hawaii signer with a Chicago mobile may be in Chicago tonight). The window is
    the strictest of the federal TCPA window (47 CFR 64.1200(c)(1): 8 a.m. to 9 p.m.), the rule
    of the state of the signer's address and the rule of the state of the number's area code
    (Oklahoma presumes an Oklahoma area code means an Oklahoma resident), and it must be open in
    all of those zones at once. A recipient with no known zone at all waits for the window that
    is open in every U.S. time zone at once, never assumed to be in New York;
  * at most 3 texts per recipient per campaign in 24 hours (Florida, Oklahoma and Maryland
    count attempts that way);
  * mail to prosecutors' offices on business days and hours of the office's time zone;
  * a campaign's steps to one signer in order and spaced by their delays (`step_spacing`).
The suppression list is checked by the worker for a whole batch at once, before the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import Engine

from outreach.campaigns.definitions import CONFIRM_CAMPAIGN, Step
from outreach.message import Message
from outreach.roster.offices import Roster
from outreach.sending.gate import ALLOW, Decision
from outreach.store import outbox as box
from outreach.store.outbox import OutboxRow, StepRecord
from outreach.store.signers import ConsentAndZone, consent_and_zones
from outreach.store.suppressions import pending_confirmations
from outreach.us.quiet_hours import (
    OFFICE_HOURS,
    STATE_WINDOWS,
    US_ZONES,
    opening_everywhere,
    text_hours,
)

TEXTS_PER_DAY = 3


def _earlier_steps(row: OutboxRow, steps: Sequence[Step]) -> list[tuple[Step, timedelta]]:
    """The campaign's supporter steps meant to come before this row's step, each with the gap
    this step must keep after it (its delay minus theirs). Steps of equal delay (a welcome
    email and a welcome text) go together. A stance trigger's step counts its delay from a
    stance's recording, not from the signer's entry: it neither waits for the others nor
    holds them back."""
    mine = next((s for s in steps if s.name == row.step), None)
    if mine is None or mine.trigger:
        return []
    return [(s, mine.delay - s.delay) for s in steps
            if s.to == "supporters" and s.delay < mine.delay and not s.trigger]


def spacing_keys(row: OutboxRow, steps: Sequence[Step]) -> list[str]:
    """The outbox keys of the earlier steps `step_spacing` looks at for this row."""
    return [box.idempotency_key(row.campaign, step.name, row.recipient_kind, row.recipient_id,
                                step.channel) for step, _ in _earlier_steps(row, steps)]


def step_spacing(row: OutboxRow, steps: Sequence[Step], records: Mapping[str, StepRecord],
                 now: datetime) -> datetime | None:
    """When this step may go to its signer so that no two steps of one campaign reach them
    closer together than their delays say, or None if it may go now.

    The planner's due times space the steps, but a step can be held (quiet hours, a paused
    campaign, a held step, retries) and released together with the next one, or the next one's
    due time may already have passed (a signer matched or added to the audience late). So at
    send time step k waits until every earlier step j of the campaign was sent + (delay_k -
    delay_j); an earlier step still waiting to go (queued, claimed, retry) counts as sent no
    sooner than its own due time, so k never overtakes it and is checked again then. Earlier
    steps on any channel count: it is one person who gets a welcome email and a "call your
    prosecutor" text in the same minute. Skipped or failed steps, and steps the planner left
    out (no consent, no address), hold nothing back."""
    until = None
    for step, gap in _earlier_steps(row, steps):
        record = records.get(box.idempotency_key(row.campaign, step.name, row.recipient_kind,
                                                 row.recipient_id, step.channel))
        if record is None or record.state in ("skipped", "failed"):
            continue
        went = record.sent_at if record.sent_at is not None else max(now, record.not_before)
        if went + gap > now and (until is None or went + gap > until):
            until = went + gap
    return until


class Gate:
    """The worker's gate (sending.gate.Gate; replacing its stub): `prepare` reads a claimed
    batch's recipients in one query, then the gate answers each message from memory plus one
    count for texts."""

    def __init__(self, engine: Engine, roster: Roster,
                 extra_windows: dict[str, tuple[time, time]] | None = None,
                 county_zones: dict[str, str] | None = None,
                 campaign_steps: Callable[[str], Sequence[Step]] = lambda name: ()):
        self.engine = engine
        self.roster = roster
        self.windows = {**STATE_WINDOWS, **(extra_windows or {})}
        self.county_zones = county_zones or {}
        self.recipients: dict[int, ConsentAndZone] = {}
        self.pending: dict[tuple[int, str], int] = {}  # (signer, phone) -> request awaiting YES
        # A campaign's steps (its file); an unknown campaign spaces nothing beyond its plan.
        self.campaign_steps = campaign_steps
        self.step_records: dict[str, StepRecord] = {}

    def prepare(self, rows: Sequence[OutboxRow]) -> None:
        ids = [int(r.recipient_id) for r in rows if r.recipient_kind == "signer"]
        if not ids:
            return
        keys = [key for r in rows if r.recipient_kind == "signer"
                for key in spacing_keys(r, self.campaign_steps(r.campaign))]
        with self.engine.connect() as connection:
            self.recipients.update(consent_and_zones(connection, ids))
            asking = [int(r.recipient_id) for r in rows if r.campaign == CONFIRM_CAMPAIGN]
            self.pending = pending_confirmations(connection, asking)
            self.step_records = box.step_records(connection, keys)

    def __call__(self, row: OutboxRow, message: Message, now: datetime) -> Decision:
        if row.recipient_kind == "office":
            return self._office(row, now)
        recipient = self.recipients.get(int(row.recipient_id))
        if recipient is None:
            return Decision("skip", reason="the signer no longer exists")
        # Consent first: a row that will never go is skipped now, not deferred by the spacing
        # (it would show as "waiting" in the report and be claimed again and again).
        if row.channel == "email" and not recipient.email_opt_in:
            return Decision("skip", reason="no email consent (withdrawn)")
        if row.channel == "sms" and row.campaign == CONFIRM_CAMPAIGN:
            # The number's own request: a text queued for a signer's old number must not go
            # to their new one beside the new request's text. (A row without "request" was
            # queued before requests had their own texts: any pending one is its.)
            request = self.pending.get((int(row.recipient_id), message.to))
            if request is None or row.context.get("request", request) != request:
                return Decision("skip", reason="no SMS confirmation pending for this number")
        elif row.channel == "sms" and not recipient.sms_opt_in:
            return Decision("skip", reason="no SMS consent")
        spaced = step_spacing(row, self.campaign_steps(row.campaign), self.step_records, now)
        if spaced is not None:
            return Decision("defer", until=spaced, reason="spaced after the campaign's earlier "
                                                          "step, by their delays")
        if row.channel == "email":
            return ALLOW
        hours = text_hours(recipient.state, recipient.time_zone, message.to, self.windows)
        opening = hours.opening(now)
        if opening > now:
            return Decision("defer", until=opening,
                            reason="quiet hours in the recipient's time zones")
        if self._texts_in_last_day(row, now) >= TEXTS_PER_DAY:
            return Decision("defer", until=now + timedelta(hours=24),
                            reason=f"already {TEXTS_PER_DAY} texts in 24 hours")
        return ALLOW

    def _texts_in_last_day(self, row: OutboxRow, now: datetime) -> int:
        with self.engine.connect() as connection:
            return box.texts_sent_since(connection, row.campaign, row.recipient_id,
                                        now - timedelta(hours=24), excluding=row.id)

    def _office(self, row: OutboxRow, now: datetime) -> Decision:
        office_id = str(row.context.get("office_id", ""))
        try:
            office = self.roster.office(office_id)
        except KeyError:
            return Decision("skip", reason=f"office {office_id} is no longer in the roster")
        zone = self.county_zones.get(office.county_fips[0])
        opening = opening_everywhere(now, [zone] if zone else list(US_ZONES), OFFICE_HOURS,
                                     weekdays_only=True)
        if opening > now:
            return Decision("defer", until=opening, reason="outside the office's business hours")
        return ALLOW
