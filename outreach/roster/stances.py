"""Where each prosecutor stands on the petition's three demands.

The petition asks every local chief prosecutor to (1) expunge past marijuana convictions,
(2) drop pending low-level marijuana cases and (3) send non-violent drug offenders to
treatment and diversion instead of jail. For each office and demand the engine keeps every
statement anyone recorded (`unknown | no | partial | yes`, the public source it rests on, the
day the source dates it from, a note, who recorded it and when). An office's stance on a
demand is its latest-dated statement; a later recording of an older statement goes into the
history without overriding a newer one. An office nobody has recorded is `unknown`.

The SQL is `outreach.store.stances`; this module decides what the rows mean, and checks
input (a stance file, a command's options) exactly as strictly as a roster correction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine

from outreach.errors import RosterError
from outreach.roster.office_files import office_rows
from outreach.store.stances import insert_stances, stance_rows, stances_table_exists

Demand = Literal["expunge", "drop", "divert"]
DEMANDS: tuple[Demand, ...] = ("expunge", "drop", "divert")
DEMAND_TEXT: dict[Demand, str] = {
    "expunge": "expunge past marijuana convictions",
    "drop": "drop pending low-level marijuana cases",
    "divert": "send non-violent drug offenders to treatment and diversion instead of jail",
}
StanceValue = Literal["unknown", "no", "partial", "yes"]
STANCES: tuple[StanceValue, ...] = ("unknown", "no", "partial", "yes")
# What an office's three stances add up to, for messages, the map and the table.
Summary = Literal["committed", "partial", "not_committed", "unknown"]
SUMMARIES: tuple[Summary, ...] = ("committed", "partial", "not_committed", "unknown")

_URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class StanceStatement:
    """One recorded statement of one office on one demand."""

    office_id: str
    demand: Demand
    stance: StanceValue
    source_url: str
    stated_on: date
    note: str = ""
    set_by: str = ""
    recorded_at: datetime | None = None
    id: int = 0

    def to_dict(self) -> dict[str, object]:
        found = asdict(self)
        found["stated_on"] = self.stated_on.isoformat()
        found["recorded_at"] = self.recorded_at.isoformat() if self.recorded_at else None
        return found


@dataclass(frozen=True)
class OfficeStance:
    """An office's current stance on each demand (None: nobody recorded one)."""

    office_id: str
    current: Mapping[Demand, StanceStatement] = field(default_factory=dict)

    def of(self, demand: Demand) -> StanceValue:
        found = self.current.get(demand)
        return found.stance if found else "unknown"

    @property
    def summary(self) -> Summary:
        """`committed`: yes on all three; `partial`: yes or partial on some; `not_committed`:
        a known stance (no) and nothing more; `unknown`: nothing known."""
        values = [self.of(d) for d in DEMANDS]
        if all(v == "yes" for v in values):
            return "committed"
        if any(v in ("yes", "partial") for v in values):
            return "partial"
        if any(v == "no" for v in values):
            return "not_committed"
        return "unknown"

    def committed_to(self, demand: Demand) -> bool:
        return self.of(demand) == "yes"

    def to_dict(self) -> dict[str, object]:
        """The template's and the JSON's view: each demand's stance with its source."""
        demands: dict[str, object] = {}
        for demand in DEMANDS:
            found = self.current.get(demand)
            demands[demand] = {
                "stance": self.of(demand), "text": DEMAND_TEXT[demand],
                "source_url": found.source_url if found else "",
                "stated_on": found.stated_on.isoformat() if found else "",
                "note": found.note if found else ""}
        return {"office_id": self.office_id, "summary": self.summary, **demands}


def _statement(row: Any) -> StanceStatement:
    return StanceStatement(row.office_id, cast(Demand, row.demand), cast(StanceValue, row.stance),
                           row.source_url, row.stated_on, row.note or "", row.set_by,
                           row.created_at, row.id)


def history(connection: Connection, office_ids: Iterable[str] | None = None
            ) -> list[StanceStatement]:
    """Every statement (of these offices, or of all), oldest stated first."""
    if not stances_table_exists(connection):
        return []
    wanted = None if office_ids is None else set(office_ids)
    return [_statement(row) for row in stance_rows(connection, wanted)]


def current_stances(connection: Connection, office_ids: Iterable[str] | None = None
                    ) -> dict[str, OfficeStance]:
    """office_id -> its current stances, for the offices anyone recorded (absent: unknown)."""
    return stances_from(history(connection, office_ids))


def stances_from(statements: Iterable[StanceStatement]) -> dict[str, OfficeStance]:
    """office_id -> the stances these statements (in history() order, oldest stated first)
    add up to: what current_stances reads, or what an office stood at before some newer
    statements (a trigger compares the two)."""
    latest: dict[str, dict[Demand, StanceStatement]] = {}
    for statement in statements:
        latest.setdefault(statement.office_id, {})[statement.demand] = statement
    return {office_id: OfficeStance(office_id, demands) for office_id, demands in latest.items()}


def stance_of(connection: Connection, office_id: str) -> OfficeStance:
    return current_stances(connection, [office_id]).get(office_id, OfficeStance(office_id))


def stances_by_office(engine: Engine | None) -> dict[str, OfficeStance]:
    """current_stances for a caller holding an engine (None: no store, nothing known)."""
    if engine is None:
        return {}
    with engine.connect() as connection:
        return current_stances(connection)


@dataclass(frozen=True)
class StanceChange:
    """One demand of one office, as a command or a stance file asks to record it."""

    line: int  # 0: from a command's options
    office_id: str
    demand: Demand
    old: StanceValue
    new: StanceValue
    source_url: str
    stated_on: date
    note: str = ""


@dataclass
class StancePlan:
    changes: list[StanceChange]
    errors: list[str]  # "FILE: line N: column X: problem"
    unchanged_rows: int = 0

    def to_dict(self) -> dict[str, object]:
        changes = []
        for change in self.changes:
            found = asdict(change)
            found["stated_on"] = change.stated_on.isoformat()
            changes.append(found)
        return {"changes": changes, "errors": self.errors, "unchanged_rows": self.unchanged_rows}


def _problems(office_id: str, asked: Mapping[str, str], source_url: str, stated_on: str,
              office_ids: set[str], today: date) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if office_id not in office_ids:
        problems.append(("office_id", f"no office {office_id!r} in the roster"))
    for demand, value in asked.items():
        if value not in STANCES:
            problems.append((demand, f"{value!r} is not one of {'|'.join(STANCES)}"))
    if not source_url.startswith(_URL_PREFIXES) or " " in source_url.strip():
        problems.append(("source_url", "required: the http(s) page where the office states "
                                       "its position"))
    try:
        day = date.fromisoformat(stated_on)
    except ValueError:
        problems.append(("on", f"{stated_on!r} is not a date YYYY-MM-DD"))
    else:
        if day > today:
            problems.append(("on", f"{stated_on} is in the future: a stance is recorded once "
                                   "stated"))
    return problems


def plan_changes(office_id: str, asked: Mapping[str, str], source_url: str, stated_on: str,
                 note: str, *, current: Mapping[str, OfficeStance], office_ids: set[str],
                 today: date, line: int = 0, where: str = "") -> StancePlan:
    """The changes one row (or one `stance set`) asks for, checked; `where` prefixes errors
    ("FILE: line N: "). A demand already at the asked stance is not recorded again."""
    asked = {d: v.strip().lower() for d, v in asked.items() if v and v.strip()}
    if not asked:
        return StancePlan([], [f"{where}no demand given: set at least one of "
                               f"{', '.join(DEMANDS)}"])
    problems = _problems(office_id, asked, source_url.strip(), stated_on.strip(), office_ids,
                         today)
    if problems:
        return StancePlan([], [f"{where}column {column}: {problem}"
                               for column, problem in problems])
    stance = current.get(office_id, OfficeStance(office_id))
    changes = [StanceChange(line, office_id, cast(Demand, demand), stance.of(cast(Demand, demand)),
                            cast(StanceValue, value), source_url.strip(),
                            date.fromisoformat(stated_on.strip()), note.strip())
               for demand, value in asked.items() if value != stance.of(cast(Demand, demand))]
    return StancePlan(changes, [], 0 if changes else 1)


def plan_import(path: Path, current: Mapping[str, OfficeStance], office_ids: set[str],
                today: date) -> StancePlan:
    """Compare a stance file (office_id, any of expunge/drop/divert, source_url, on, note)
    with the stances recorded; every problem names its line and column."""
    plan = StancePlan([], [])
    allowed = ("office_id", *DEMANDS, "source_url", "on", "note")
    with office_rows(path) as (header, rows):
        unknown = [h for h in header if h not in allowed]
        if unknown:
            raise RosterError([f"{path}: line 1: unknown column(s) {', '.join(unknown)} "
                               f"(allowed: {', '.join(allowed)})"])
        for line, row in rows:
            found = plan_changes(row.get("office_id", ""),
                                 {d: row.get(d, "") for d in DEMANDS},
                                 row.get("source_url", ""), row.get("on", ""),
                                 row.get("note", ""), current=current, office_ids=office_ids,
                                 today=today, line=line, where=f"{path}: line {line}: ")
            plan.changes += found.changes
            plan.errors += found.errors
            plan.unchanged_rows += found.unchanged_rows
    return plan


def record(connection: Connection, changes: Iterable[StanceChange], set_by: str,
           now: datetime) -> int:
    """Store the changes in the caller's transaction; returns how many."""
    rows = [{"office_id": c.office_id, "demand": c.demand, "stance": c.new,
             "source_url": c.source_url[:500], "stated_on": c.stated_on, "note": c.note or None,
             "set_by": set_by[:200], "created_at": now} for c in changes]
    if rows:
        insert_stances(connection, rows)
    return len(rows)
