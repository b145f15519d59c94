"""Organizers' corrections to the roster: imported with their sources, kept in the store, laid
over the shipped `data/prosecutors.csv` wherever the roster is loaded.

The shipped file stays the baseline: a package upgrade replaces it, and the corrections (each
with its source URL, as-of date, file and time) are laid over the new one, so nothing an
organizer fixed is lost and nothing loses its provenance. The newest correction of a field
wins; older ones stay as history. `outreach roster export` writes the effective roster.
A corrected contact field (offices.CONTACT_FIELDS) is `verified` from its correction's source
URL and as-of date, also when the correction set the value it already had: an organizer or a
volunteer confirming a lead is what makes it verified.
The SQL is `outreach.store.corrections`; what the rows mean is decided here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row

from outreach.config import Settings
from outreach.csvsafe import SafeCsvWriter
from outreach.errors import RosterError
from outreach.roster.offices import (
    AS_OF,
    CONTACT_FIELDS,
    OPTIONAL_COLUMNS,
    ROSTER_COLUMNS,
    ContactPolicy,
    ContactSource,
    Roster,
    load_roster,
    read_rows,
    row_problems,
)
from outreach.store.corrections import (
    correction_rows,
    corrections_table_exists,
    insert_corrections,
    newest_correction_id,
)
from outreach.store.db import existing_store
from outreach.us.counties import Counties, load_counties

BOUNCE_SOURCE = "provider:bounce"
CORRECTION_SOURCE = "correction"  # ContactSource.source of a corrected contact value
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


def _latest_corrections(engine: Engine | None) -> dict[tuple[str, str], Row[Any]]:
    """(office_id, field) -> its newest correction (none without a store, or before its first
    migration)."""
    if engine is None:
        return {}
    with engine.connect() as connection:
        if not corrections_table_exists(connection):
            return {}
        return {(row.office_id, row.field): row for row in correction_rows(connection)}


def overrides(engine: Engine | None) -> dict[str, dict[str, str]]:
    """office_id -> {field: value}: what the corrections lay over the shipped file."""
    return _overrides(_latest_corrections(engine))


def _overrides(latest: dict[tuple[str, str], Row[Any]]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for (office_id, field), row in latest.items():
        result.setdefault(office_id, {})[field] = row.value
    return result


def correction_sources(engine: Engine | None) -> dict[str, dict[str, ContactSource]]:
    """office_id -> {contact field: its provenance}: the newest correction of each contact
    field that has a value, `verified` from the correction's source (a bounce clears the
    email, leaving nothing to source)."""
    return _correction_sources(_latest_corrections(engine))


def _correction_sources(latest: dict[tuple[str, str], Row[Any]]
                        ) -> dict[str, dict[str, ContactSource]]:
    result: dict[str, dict[str, ContactSource]] = {}
    for (office_id, field), row in latest.items():
        if field in CONTACT_FIELDS and row.value:
            result.setdefault(office_id, {})[field] = ContactSource(
                row.value, "verified", CORRECTION_SOURCE, row.source_url, row.as_of,
                f"organizer's correction ({row.file_name})")
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
        insert_corrections(connection, rows)
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
    """The shipped roster with the store's corrections, as in force on `on` (default today),
    with this deployment's OUTREACH_CONTACTS: what every command and process loads."""
    counties = counties or load_counties(settings.data.data_dir / "counties.csv")
    store = engine if engine is not None else existing_store(settings.store.database_url)
    try:
        latest = _latest_corrections(store)
        return load_roster(settings.data.roster_path, counties, on=on,
                           overrides=_overrides(latest), corrected=_correction_sources(latest),
                           contacts=cast(ContactPolicy, settings.campaigns.contacts))
    finally:
        if engine is None and store is not None:
            store.dispose()


def corrections_version(engine: Engine | None) -> int:
    """The newest correction's id (0: none): it changes whenever a correction is stored."""
    if engine is None:
        return 0
    with engine.connect() as connection:
        if not corrections_table_exists(connection):
            return 0
        return newest_correction_id(connection)
