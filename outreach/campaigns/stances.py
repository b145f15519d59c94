"""What campaigns do with each prosecutor's stance: the templates' view of it, the stance
triggers of campaign steps, and which offices a newly recorded statement made match one.

The stances themselves (the three demands, the values, the summary, the history) are
`outreach.roster.stances`; this module only reads them. A trigger is spelled in a step of a
campaign file:

    trigger = "stance:yes"            the office now says yes to all three (= stance:committed)
    trigger = "stance:committed"      the office's summary became this one: committed, partial,
                                      not_committed or unknown
    trigger = "stance:drop:yes"       the office's stance on this demand became this value

and fires for an office when a statement recorded after the campaign's mark (its launch, or
its last planning pass) makes the office match where it did not before: "your prosecutor just
committed: thank them", once per constituent (the outbox's keys), never for an office that
matched all along.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import cast

from outreach.roster.stances import (
    DEMANDS,
    STANCES,
    SUMMARIES,
    Demand,
    OfficeStance,
    StanceStatement,
    StanceValue,
    Summary,
    stances_from,
)

# The demands as a text message names them: DEMAND_TEXT is too long for one segment.
DEMAND_SHORT: dict[Demand, str] = {
    "expunge": "expunge old convictions",
    "drop": "drop low-level cases",
    "divert": "choose treatment over jail",
}
TRIGGER_PREFIX = "stance:"
TRIGGER_FORMS = ("stance:yes (yes on all three), stance:SUMMARY (" + ", ".join(SUMMARIES)
                 + ") or stance:DEMAND:VALUE (DEMAND " + "|".join(DEMANDS) + ", VALUE "
                 + "|".join(STANCES) + ")")


@dataclass(frozen=True)
class StanceTrigger:
    """When a step fires: the office's summary is `summary`, or its stance on `demand` is
    `value` (exactly one of the two)."""

    spelled: str
    summary: Summary | None = None
    demand: Demand | None = None
    value: StanceValue | None = None

    def matches(self, stance: OfficeStance) -> bool:
        if self.summary is not None:
            return stance.summary == self.summary
        assert self.demand is not None
        return stance.of(self.demand) == self.value


def parse_trigger(text: str) -> StanceTrigger:
    """"stance:yes", "stance:committed", "stance:drop:yes" -> a StanceTrigger, or ValueError
    saying what the spellings are."""
    parts = text.strip().lower().split(":")
    problem = f"{text!r} is not a trigger: use {TRIGGER_FORMS}"
    if len(parts) not in (2, 3) or parts[0] != TRIGGER_PREFIX.rstrip(":"):
        raise ValueError(problem)
    if len(parts) == 2:
        # "yes" is the issue's own spelling: yes on all three is the summary `committed`.
        summary = "committed" if parts[1] == "yes" else parts[1]
        if summary not in SUMMARIES:
            raise ValueError(problem)
        return StanceTrigger(text.strip(), summary=summary)
    demand, value = parts[1], parts[2]
    if demand not in DEMANDS or value not in STANCES:
        raise ValueError(problem)
    return StanceTrigger(text.strip(), demand=demand, value=value)


def and_list(items: Iterable[object]) -> str:
    """["a"] -> "a", ["a", "b"] -> "a and b", ["a", "b", "c"] -> "a, b and c"."""
    words = [str(i) for i in items]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def stance_view(stance: OfficeStance) -> Mapping[str, object]:
    """The templates' `stance`: OfficeStance.to_dict() (the summary, and per demand its
    stance, text, source_url, stated_on and note) with each demand's `short` text for SMS,
    the demands `committed` (yes) and `open` (anything else) as tuples of those per-demand
    views, and, worked out once here rather than in every message's template, their texts
    joined (`committed_text`, `open_text`: "a, b and c") and the committed demands' distinct
    sources (`sources`). Read-only: the renderer hands one view to every message of an
    office, and a template must not change what the next message reads."""
    view = stance.to_dict()
    demands: dict[Demand, Mapping[str, object]] = {}
    for demand in DEMANDS:
        demands[demand] = MappingProxyType({"demand": demand,
                                            **cast(dict[str, object], view[demand]),
                                            "short": DEMAND_SHORT[demand]})
        view[demand] = demands[demand]
    committed = tuple(demands[d] for d in DEMANDS if stance.of(d) == "yes")
    still_open = tuple(demands[d] for d in DEMANDS if stance.of(d) != "yes")
    view["committed"], view["open"] = committed, still_open
    view["committed_text"] = and_list(d["text"] for d in committed)
    view["open_text"] = and_list(d["text"] for d in still_open)
    view["sources"] = tuple(dict.fromkeys(str(d["source_url"]) for d in committed
                                          if d["source_url"]))
    return MappingProxyType(view)


def office_stance(stances: Mapping[str, OfficeStance], office_id: str) -> OfficeStance:
    """An office's stance from a map of those recorded (absent: nothing known)."""
    return stances.get(office_id) or OfficeStance(office_id)


@dataclass(frozen=True)
class StanceChanges:
    """What the statements recorded after a mark changed: each office's stance just before
    them and now, and when its newest one was recorded."""

    before: Mapping[str, OfficeStance]
    after: Mapping[str, OfficeStance]
    recorded_at: Mapping[str, datetime]
    newest_id: int

    @property
    def offices(self) -> list[str]:
        return sorted(self.recorded_at)

    def fired(self, trigger: StanceTrigger) -> dict[str, datetime]:
        """office -> when it came to match the trigger, for the offices that match it now
        and did not at the mark."""
        return {office: when for office, when in self.recorded_at.items()
                if trigger.matches(office_stance(self.after, office))
                and not trigger.matches(office_stance(self.before, office))}


def changes_since(statements: Iterable[StanceStatement], mark: int) -> StanceChanges:
    """The offices with statements newer than `mark` (ids), from the whole history in
    history() order (a statement recorded late but dated early still counts as new: it may
    change nothing, which `fired` sees)."""
    every = list(statements)
    new = [s for s in every if s.id > mark]
    offices = {s.office_id for s in new}
    mine = [s for s in every if s.office_id in offices]
    recorded: dict[str, datetime] = {}
    for statement in sorted(new, key=lambda s: s.id):
        # The store's statements all carry it (SQLite hands it back without a zone: UTC).
        when = statement.recorded_at or datetime.min
        recorded[statement.office_id] = when if when.tzinfo else when.replace(tzinfo=UTC)
    return StanceChanges(stances_from(s for s in mine if s.id <= mark), stances_from(mine),
                         recorded, max((s.id for s in new), default=mark))
