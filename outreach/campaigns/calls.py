"""Calls: a signer calls their prosecutor from their call page and says how it went.

The petition's strongest ask is a constituent's call (prosecutors are elected by, or answer
to, the people of their county), and counting the calls is what lets organizers say "400 of
your voters called this month". A signer's call page (`/call/<code>`, the code being their
referral code) shows their felony office's number, their misdemeanor office's too when it has
one, a script and four outcome buttons; each press is stored here per office and per campaign
(the campaign whose message carried the link, `?c=NAME`).

The code is a share code: the signer passes it around (`/?ref=<code>`), so whoever holds it
can open the page and press a button. What that can do is bounded here: an outcome counts
once per signer, office and day (the signer's local calendar day, from their match's time
zone, else UTC), a later press the same day replaces the earlier one (a "no answer" followed
by a second try that reached staff counts as one call that reached staff); a campaign name
that is not one of jobs/ is recorded as no campaign; the web adds CSRF and per-client and
per-code rate limits. "number wrong" reports reach `outreach roster gaps`, counting only those
made since the office's phone was last corrected, so a fixed number stops being flagged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine

from outreach.campaigns.definitions import campaign_names
from outreach.errors import InputError
from outreach.roster.offices import Office, Roster
from outreach.roster.stances import DEMAND_TEXT, DEMANDS, OfficeStance
from outreach.store.calls import caller_by_code, outcome_counts, outcome_times, record_outcome
from outreach.store.corrections import correction_rows, corrections_table_exists
from outreach.store.db import as_utc

Outcome = Literal["spoke", "voicemail", "no_answer", "wrong_number"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
OUTCOME_LABELS: dict[Outcome, str] = {
    "spoke": "spoke to staff",
    "voicemail": "left a voicemail",
    "no_answer": "no answer",
    "wrong_number": "number wrong",
}
WRONG_NUMBER = "number reported wrong"  # the label `roster gaps` gives such an office
CODE_LENGTH = 16  # signers.referral_code's width: a longer path names no signer


class CallError(InputError):
    """An outcome the call page cannot record (an office not the signer's, a made-up outcome)."""


@dataclass(frozen=True)
class Caller:
    """The signer behind a call page: who they are to the store, and whom they may call."""

    signer_id: int
    felony_office_id: str | None
    misdemeanor_office_id: str | None
    time_zone: str | None


def find_caller(engine: Engine, code: str) -> Caller | None:
    """The signer a call page's code names (None: no such code)."""
    if not code or len(code) > CODE_LENGTH:
        return None
    with engine.connect() as connection:
        row = caller_by_code(connection, code)
    if row is None:
        return None
    return Caller(row.id, row.felony_office_id, row.misdemeanor_office_id, row.time_zone)


def offices_to_call(caller: Caller, roster: Roster) -> list[Office]:
    """The offices the call page shows: the felony office (with its number, or the website
    where it has none), then the misdemeanor office when it is another one and has a phone
    (in Texas, Georgia or Pennsylvania's cities a county or city attorney tries the low-level
    marijuana cases the second demand names). An office the roster no longer has is left out."""
    shown: list[Office] = []
    for office_id, needs_phone in ((caller.felony_office_id, False),
                                   (caller.misdemeanor_office_id, True)):
        if not office_id or any(o.office_id == office_id for o in shown):
            continue
        try:
            office = roster.office(office_id)
        except KeyError:
            continue
        if office.phone or not needs_phone:
            shown.append(office)
    return shown


def call_day(now: datetime, time_zone: str | None) -> date:
    """The calendar day a call counts on: the signer's own (a 7 p.m. call in California is
    the same day as their 10 a.m. one, though UTC has turned), UTC when their zone is unknown."""
    try:
        zone = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    return now.astimezone(zone).date() if zone else as_utc(now).date()


def link_campaign(name: str, jobs_dir: Path) -> str | None:
    """The campaign a call link names (`?c=NAME`), if it is one of jobs/: anything else
    (a mangled or made-up name) is recorded as no campaign rather than counted under it."""
    name = name.strip()
    return name if name and name in campaign_names(jobs_dir) else None


def log_call(engine: Engine, caller: Caller, roster: Roster, office_id: str, outcome: str,
             campaign: str | None, now: datetime) -> Outcome:
    """Store what the signer said about their call to one of the offices on their page: only
    an office shown with a number can be reported on."""
    if outcome not in OUTCOMES:
        raise CallError(f"unknown call outcome {outcome[:40]!r}: one of {', '.join(OUTCOMES)}")
    if office_id not in {o.office_id for o in offices_to_call(caller, roster) if o.phone}:
        raise CallError("that office is not one this call page shows a number for")
    with engine.begin() as connection:
        record_outcome(connection, caller.signer_id, office_id, campaign, outcome,
                       call_day(now, caller.time_zone), now)
    return outcome


def _by_outcome(counts: Mapping[str, int]) -> dict[str, int]:
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}


def calls_report(connection: Connection, office_id: str | None = None) -> dict[str, object]:
    """`outreach report`'s calls section: totals by outcome, then per office (with its
    campaigns) and per campaign (None: calls from the thanks page or a link without one); of
    one office (the dashboard's office view), or of all."""
    offices: dict[str, Counter[str]] = defaultdict(Counter)
    office_campaigns: dict[str, dict[str | None, Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter))
    campaigns: dict[str | None, Counter[str]] = defaultdict(Counter)
    for office, campaign, outcome, count in outcome_counts(connection, office_id):
        offices[office][outcome] += count
        office_campaigns[office][campaign][outcome] += count
        campaigns[campaign][outcome] += count
    total: Counter[str] = sum(offices.values(), Counter())

    def rank(counts: Counter[str]) -> int:
        return -sum(counts.values())

    return {
        "total": sum(total.values()),
        "by_outcome": _by_outcome(total),
        "by_office": [
            {"office_id": office_id, "total": sum(counts.values()),
             "outcomes": _by_outcome(counts),
             "by_campaign": [{"campaign": campaign, "total": sum(c.values()),
                              "outcomes": _by_outcome(c)}
                             for campaign, c in sorted(office_campaigns[office_id].items(),
                                                       key=lambda i: (rank(i[1]), i[0] or ""))]}
            for office_id, counts in sorted(offices.items(), key=lambda i: (rank(i[1]), i[0]))],
        "by_campaign": [{"campaign": campaign, "total": sum(counts.values()),
                         "outcomes": _by_outcome(counts)}
                        for campaign, counts in sorted(campaigns.items(),
                                                       key=lambda i: (rank(i[1]), i[0] or ""))],
    }


def calls_summary(report: Mapping[str, Any]) -> str:
    """calls_report as `outreach report`'s one line."""
    counts, offices = report["by_outcome"], report["by_office"]
    if not report["total"]:
        return "Calls logged: none"
    shown = ", ".join(f"{OUTCOME_LABELS[o]} {counts[o]}" for o in OUTCOMES if counts[o])
    return (f"Calls logged: {report['total']} to {len(offices)} "
            f"office{'s' if len(offices) != 1 else ''} ({shown})")


def wrong_number_reports(engine: Engine) -> dict[str, int]:
    """office_id -> "number wrong" reports made since its phone was last corrected (`roster
    import`): the offices whose number is worth checking, with how many callers said so."""
    with engine.connect() as connection:
        reports = outcome_times(connection, "wrong_number")
        fixed = {row.office_id: as_utc(row.created_at)
                 for row in (correction_rows(connection)
                             if corrections_table_exists(connection) else [])
                 if row.field == "phone"}
    found: Counter[str] = Counter()
    for office_id, when in reports:
        if office_id not in fixed or as_utc(when) > fixed[office_id]:
            found[office_id] += 1
    return dict(found)


def script_demands(stance: OfficeStance | None) -> dict[str, list[str]]:
    """The script's two lists: the demands the office has committed to (the caller thanks
    them) and those it has not (the caller asks for them), in the petition's order."""
    committed = [DEMAND_TEXT[d] for d in DEMANDS if stance and stance.committed_to(d)]
    asked = [DEMAND_TEXT[d] for d in DEMANDS if not (stance and stance.committed_to(d))]
    return {"committed": committed, "asked": asked}
