"""Organizers' corrections to the roster: imported with their sources, kept in the store, laid
over the shipped `data/prosecutors.csv` wherever the roster is loaded.

The shipped file stays the baseline: a package upgrade replaces it, and the corrections (each
with its source URL, as-of date, file and time) are laid over the new one, so nothing an
organizer fixed is lost and nothing loses its provenance. The newest correction of a field
wins; older ones stay as history. `outreach roster export` writes the effective roster.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, Engine, Row, func, inspect, select

from outreach.campaigns.definitions import Campaign
from outreach.config import Settings
from outreach.csvsafe import SafeCsvWriter
from outreach.roster.offices import (
    AS_OF,
    OPTIONAL_COLUMNS,
    ROSTER_COLUMNS,
    Roster,
    RosterError,
    load_roster,
    read_rows,
    row_problems,
    stale_officeholders,
)
from outreach.store.db import existing_store
from outreach.store.schema import roster_corrections
from outreach.store.signers import audience_frame
from outreach.us.counties import Counties, load_counties

if TYPE_CHECKING:
    from outreach.geo.locate import Geo

BOUNCE_SOURCE = "provider:bounce"
EDITABLE = [c for c in ROSTER_COLUMNS + OPTIONAL_COLUMNS if c not in ("office_id", "source_url")]


@dataclass(frozen=True)
class Change:
    """One field of one office, as a corrections file asks to set it."""

    line: int
    office_id: str
    field: str
    old: str
    new: str
    source_url: str
    as_of: str


@dataclass
class ImportPlan:
    changes: list[Change]
    errors: list[str]  # "FILE: line N: column X: problem"
    unchanged_rows: int

    def to_dict(self) -> dict[str, object]:
        return {"changes": [asdict(c) for c in self.changes], "errors": self.errors,
                "unchanged_rows": self.unchanged_rows}


def _latest_corrections(engine: Engine | None) -> dict[tuple[str, str], Row]:
    """(office_id, field) -> its newest correction (none without a store, or before its first
    migration)."""
    if engine is None or not inspect(engine).has_table("roster_corrections"):
        return {}
    with engine.connect() as connection:
        return {(row.office_id, row.field): row for row in connection.execute(
            select(roster_corrections).order_by(roster_corrections.c.id))}


def overrides(engine: Engine | None) -> dict[str, dict[str, str]]:
    """office_id -> {field: value}: what the corrections lay over the shipped file."""
    result: dict[str, dict[str, str]] = {}
    for (office_id, field), row in _latest_corrections(engine).items():
        result.setdefault(office_id, {})[field] = row.value
    return result


def plan_import(path: Path, current: dict[str, dict[str, str]],
                counties: Counties) -> ImportPlan:
    """Compare a corrections file with the effective roster; every problem names its line and
    column, and the rows that pass are checked exactly as the roster loader checks a row."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise RosterError([f"{path}: no such file"]) from None
    changes: list[Change] = []
    errors: list[str] = []
    unchanged = 0
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = [h for h in header if h not in (*EDITABLE, "office_id", "source_url", "as_of")]
        if "office_id" not in header:
            raise RosterError([f"{path}: line 1: no office_id column"])
        if unknown:
            raise RosterError([f"{path}: line 1: unknown column(s) {', '.join(unknown)} "
                               f"(editable: {', '.join(EDITABLE)})"])
        for raw in reader:
            line = reader.line_num
            row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            office_id = row.get("office_id", "")
            if office_id not in current:
                errors.append(f"{path}: line {line}: column office_id: no office "
                              f"{office_id!r} in the roster")
                continue
            old = current[office_id]
            # An empty cell leaves the field as it is (a contacts file fills some columns of
            # some rows); "-" clears it on purpose.
            wanted = {f: "" if row[f] == "-" else row[f] for f in EDITABLE if row.get(f)}
            asked = {f: v for f, v in wanted.items() if v != old.get(f, "")}
            if "officeholder" in asked and "officeholder_as_of" not in asked and \
                    row.get("as_of"):
                asked["officeholder_as_of"] = row["as_of"]  # who holds it, as of when
            if not asked:
                unchanged += 1
                continue
            problems = []
            if not row.get("source_url", "").startswith(("http://", "https://")):
                problems.append(("source_url", "required for every change: the http(s) page "
                                               "the new values come from"))
            if not AS_OF.match(row.get("as_of", "")):
                problems.append(("as_of", "required for every change: the date the source "
                                          "was read, YYYY-MM-DD"))
            problems += [(column, problem) for column, problem in
                         row_problems({**old, **asked}, counties) if column in asked]
            if problems:
                errors.extend(f"{path}: line {line}: column {column}: {problem}"
                              for column, problem in problems)
                continue
            changes.extend(Change(line, office_id, f, old.get(f, ""), value,
                                  row["source_url"], row["as_of"])
                           for f, value in asked.items())
    return ImportPlan(changes, errors, unchanged)


def apply_import(engine: Engine, changes: Iterable[Change], file_name: str,
                 now: datetime) -> int:
    with engine.begin() as connection:
        return record_changes(connection, changes, file_name, now)


def record_changes(connection: Connection, changes: Iterable[Change], file_name: str,
                   now: datetime) -> int:
    """Store corrections in the caller's transaction; returns how many."""
    rows = [{"office_id": c.office_id, "field": c.field, "value": c.new, "old_value": c.old,
             "source_url": c.source_url, "as_of": c.as_of, "file_name": file_name[:300],
             "created_at": now} for c in changes]
    if rows:
        connection.execute(roster_corrections.insert(), rows)
    return len(rows)


def record_bad_email(connection: Connection, office_id: str, reason: str,
                     now: datetime) -> None:
    """A hard bounce from an office's address: the address goes, the office stays, and the
    gap shows in `outreach roster gaps`. In the caller's transaction, with the bounce's event."""
    record_changes(connection, [Change(0, office_id, "email", "", "", BOUNCE_SOURCE,
                                       now.date().isoformat())], f"bounce: {reason}"[:300], now)


def bounced_offices(engine: Engine | None) -> set[str]:
    """Offices whose email a provider reported as bouncing (and that nobody has set since)."""
    return {office_id for (office_id, field), row in _latest_corrections(engine).items()
            if field == "email" and row.source_url == BOUNCE_SOURCE}


def gaps(engine: Engine, roster: Roster, stale_days: int, day: date,
         campaign: Campaign | None = None) -> dict[str, object]:
    """Offices ranked by how many matched signers (of the campaign's audience) they serve and
    lack a phone, an email or a current officeholder: the contacts worth finding first."""
    from outreach.campaigns.planner import select_audience

    with engine.connect() as connection:
        frame = audience_frame(connection)
    if campaign is not None:
        frame = select_audience(frame, campaign)
    served = Counter(frame["felony_office_id"].dropna())
    served.update(frame["misdemeanor_office_id"].dropna())
    people = int(frame["felony_office_id"].notna().sum())
    stale = {o.office_id for o in stale_officeholders(roster, day, stale_days)}
    bounced = bounced_offices(engine)
    ranked, covered = [], Counter()
    for office_id, count in served.most_common():
        try:
            office = roster.office(office_id)
        except KeyError:
            continue
        missing = [label for label, lacking in (
            ("phone", not office.phone), ("email", not office.email),
            ("current officeholder", office_id in stale)) if lacking]
        for label, present in (("phone", office.phone), ("email", office.email),
                               ("website", office.website),
                               ("current officeholder", office_id not in stale)):
            if present and office.prosecutes_felonies:
                covered[label] += count
        if missing:
            ranked.append({"office_id": office_id, "office_name": office.office_name,
                           "state": office.state, "signers": count, "missing": missing,
                           "email_bounced": office_id in bounced,
                           "website": office.website})
    return {"signers_matched": people, "campaign": campaign.name if campaign else None,
            "share_covered": {label: round(covered[label] / people, 4) if people else 0.0
                              for label in ("phone", "email", "website",
                                            "current officeholder")},
            "offices": ranked}


def export_csv(rows: Iterable[dict[str, str]]) -> str:
    """The effective roster as CSV, cells that a spreadsheet would run as formulas escaped."""
    out = io.StringIO()
    writer = SafeCsvWriter(out, ROSTER_COLUMNS + OPTIONAL_COLUMNS)
    for row in rows:
        writer.writerow([row.get(c, "") for c in ROSTER_COLUMNS + OPTIONAL_COLUMNS])
    return out.getvalue()


def effective_rows(baseline: Path, engine: Engine | None) -> list[dict[str, str]]:
    """The shipped file's rows with the corrections laid over them (what export writes and
    an import compares against)."""
    found = overrides(engine)
    return [{**row, **found.get(row["office_id"], {})} for row in read_rows(baseline)]


def effective_roster(settings: Settings, counties: Counties | None = None, *,
                     on: date | None = None, engine: Engine | None = None) -> Roster:
    """The shipped roster with the store's corrections, as in force on `on` (default today):
    what every command and process loads."""
    counties = counties or load_counties(settings.data.data_dir / "counties.csv")
    store = engine if engine is not None else existing_store(settings.store.database_url)
    try:
        return load_roster(settings.data.roster_path, counties, on=on, overrides=overrides(store))
    finally:
        if engine is None and store is not None:
            store.dispose()


def corrections_version(engine: Engine | None) -> int:
    """The newest correction's id (0: none): it changes whenever a correction is stored."""
    if engine is None or not inspect(engine).has_table("roster_corrections"):
        return 0
    with engine.connect() as connection:
        return connection.execute(select(func.max(roster_corrections.c.id))).scalar() or 0


class CurrentGeo:
    """The roster and geography as they stand today, for processes that run for months (the
    web app, the scheduler): the roster is rebuilt when the day changes, so effective dates
    switch by themselves, and when a correction is imported. Checked at most once a minute;
    the offline ZIP tables are loaded once."""

    RECHECK_SECONDS = 60.0

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine
        self._lock = threading.RLock()
        self._geo: Geo | None = None
        self._by_zip: pd.DataFrame | None = None
        self._version: tuple[date, int] | None = None
        self._checked = 0.0

    def geo(self) -> Geo:
        from outreach.geo.locate import Geo, build_geo

        with self._lock:
            if self._geo is not None and \
                    time.monotonic() - self._checked < self.RECHECK_SECONDS:
                return self._geo
            self._checked = time.monotonic()
            version = (date.today(), corrections_version(self.engine))
            if self._geo is None:
                self._geo = build_geo(self.settings, version[0], self.engine)
            elif version != self._version:
                roster = effective_roster(self.settings, on=version[0], engine=self.engine)
                self._geo = Geo(roster, self._geo.data, self._geo.geocoder)
                self._by_zip = None
            self._version = version
            return self._geo

    def by_zip(self) -> pd.DataFrame:
        """The per-ZIP match answers of the current roster (match's join table)."""
        from outreach.signers.match import zip_answers

        with self._lock:
            geo = self.geo()
            if self._by_zip is None:
                self._by_zip = zip_answers(geo)
            return self._by_zip
