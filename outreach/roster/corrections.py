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

import io
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Row

from outreach.config import Settings
from outreach.csvsafe import FORMULA_STARTS, SafeCsvWriter
from outreach.errors import RosterError
from outreach.roster.office_files import office_rows
from outreach.roster.offices import (
    AS_OF,
    CONTACT_FIELDS,
    OPTIONAL_COLUMNS,
    ROSTER_COLUMNS,
    ContactPolicy,
    ContactSource,
    Roster,
    as_of_start,
    load_roster,
    read_rows,
    row_problems,
)
from outreach.store.corrections import (
    correction_rows,
    corrections_table_exists,
    insert_corrections,
    newest_correction_id,
    office_corrections,
)
from outreach.store.db import existing_store
from outreach.us.counties import Counties, load_counties

BOUNCE_SOURCE = "provider:bounce"
CORRECTION_SOURCE = "correction"  # ContactSource.source of a corrected contact value
EDITABLE = [c for c in ROSTER_COLUMNS + OPTIONAL_COLUMNS if c not in ("office_id", "source_url")]


# The call sheet `outreach roster verify --export` writes and `roster import` reads back: what
# to check and where (informational), then the volunteer's three columns.
CALL_SHEET_COLUMNS = ("office_id", "office_name", "state", "field", "lead", "status", "source",
                      "lead_source_url", "lead_as_of", "phone", "website", "county",
                      "people_served", "signers", "value", "source_url", "verified_on")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ChangeKind = Literal["change", "verified"]


@dataclass(frozen=True)
class Change:
    """One field of one office, as a corrections file asks to set it; `verified`: a value
    checked and found unchanged (old == new), kept so the roster marks it verified."""

    line: int
    office_id: str
    field: str
    old: str
    new: str
    source_url: str
    as_of: str
    kind: ChangeKind = "change"


@dataclass
class ImportPlan:
    changes: list[Change]
    errors: list[str]  # "FILE: line N: column X: problem"
    unchanged_rows: int
    unchecked_rows: int = 0  # call-sheet rows without a value: nobody checked them yet

    @property
    def verified(self) -> int:
        return sum(1 for c in self.changes if c.kind == "verified")

    def to_dict(self) -> dict[str, object]:
        return {"changes": [asdict(c) for c in self.changes], "errors": self.errors,
                "unchanged_rows": self.unchanged_rows, "unchecked_rows": self.unchecked_rows,
                "verified": self.verified}


def in_effect(as_of: str, day: date) -> bool:
    """Whether a correction dated `as_of` holds on `day`: a correction dated in the future
    waits for its day (a DA-elect's name, entered with the day they take office, switches
    by itself then). A month or a year holds from its first day ("2027" from 2027-01-01)."""
    return not as_of or not AS_OF.match(as_of) or as_of_start(as_of) <= day


def _latest_corrections(engine: Engine | None,
                        on: date | None = None) -> dict[tuple[str, str], Row[Any]]:
    """(office_id, field) -> its newest correction in effect on `on` (default today; none
    without a store, or before its first migration)."""
    if engine is None:
        return {}
    day = on or date.today()
    with engine.connect() as connection:
        if not corrections_table_exists(connection):
            return {}
        return {(row.office_id, row.field): row for row in correction_rows(connection)
                if in_effect(row.as_of, day)}


def overrides(engine: Engine | None, on: date | None = None) -> dict[str, dict[str, str]]:
    """office_id -> {field: value}: what the corrections lay over the shipped file on `on`
    (default today)."""
    return _overrides(_latest_corrections(engine, on))


def _overrides(latest: dict[tuple[str, str], Row[Any]]) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for (office_id, field), row in latest.items():
        result.setdefault(office_id, {})[field] = row.value
    return result


def _same_value(field: str, new: str, old: str) -> bool:
    """Whether a checked value is the one on file: a phone by its digits ("312-603-1880" is
    "(312) 603-1880"), an email or website without regard to case or a trailing slash."""
    if field == "phone":
        def digits(text: str) -> str:
            return re.sub(r"\D", "", text).removeprefix("1")
        return bool(new) and digits(new) == digits(old)
    if field in ("email", "website"):
        return new.casefold().rstrip("/") == old.casefold().rstrip("/")
    return " ".join(new.split()) == " ".join(old.split())


def _verified_on_problem(verified_on: str, today: date) -> str:
    """Why a `verified_on` cell cannot be used ("" when it can): the day the volunteer read
    the source or heard it on the phone, a full date, not after today (a check still to come
    is no check)."""
    if not _FULL_DATE.match(verified_on):
        return f"{verified_on!r} is not a date YYYY-MM-DD" if verified_on else \
            "required with a value: the day you checked it, YYYY-MM-DD"
    try:
        checked = date.fromisoformat(verified_on)
    except ValueError:
        return f"{verified_on!r} is not a date YYYY-MM-DD"
    return f"{verified_on} is after today ({today})" if checked > today else ""


def _row_plan(line: int, office_id: str, wanted: dict[str, str], old: dict[str, str],
              source_url: str, as_of: str, *, verified: bool,
              counties: Counties) -> tuple[list[Change], list[tuple[str, str]]]:
    """The changes one row asks for (and, when `verified`, the values it confirms unchanged),
    or the (column, problem) pairs that refuse it; both empty when it asks nothing."""
    asked = {f: v for f, v in wanted.items() if not _same_value(f, v, old.get(f, ""))}
    confirmed = [f for f in wanted if f not in asked] if verified else []
    if ({"officeholder"} & {*asked, *confirmed}) and "officeholder_as_of" not in wanted and \
            as_of and old.get("officeholder_as_of", "") != as_of:
        asked["officeholder_as_of"] = as_of  # who holds it, as of when
    if not asked and not confirmed:
        return [], []
    problems = []
    if not source_url.startswith(("http://", "https://")):
        problems.append(("source_url", "required for every change: the http(s) page "
                                       "the new values come from"))
    if not AS_OF.match(as_of):
        problems.append(("as_of", "required for every change: the date the source "
                                  "was read, YYYY-MM-DD"))
    problems += [(column, problem) for column, problem in
                 row_problems({**old, **asked}, counties) if column in asked]
    if problems:
        return [], problems
    return ([Change(line, office_id, f, old.get(f, ""), value, source_url, as_of)
             for f, value in asked.items()]
            + [Change(line, office_id, f, old.get(f, ""), old.get(f, ""), source_url, as_of,
                      "verified") for f in confirmed]), []


def _sheet_row(line: int, row: dict[str, str], old: dict[str, str], counties: Counties,
               today: date) -> tuple[list[Change], list[tuple[str, str]], bool]:
    """One call-sheet row (`outreach roster verify --export`): the volunteer's `value`,
    `source_url` and `verified_on` for the row's `field`; the other columns are the sheet's
    information and are ignored. Returns (changes, problems, checked)."""
    field, value = row.get("field", ""), row.get("value", "")
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        value = value[1:]  # the sheet's own formula escape (csvsafe), copied from `lead`
    if not value:
        return [], [], False  # not checked (yet)
    if field not in EDITABLE:
        return [], [("field", f"{field!r} is not a field a correction can set (one of "
                              f"{', '.join(EDITABLE)})")], True
    problem = _verified_on_problem(row.get("verified_on", ""), today)
    if problem:
        return [], [("verified_on", problem)], True
    changes, problems = _row_plan(line, row["office_id"], {field: "" if value == "-" else value},
                                  old, row.get("source_url", ""), row["verified_on"],
                                  verified=True, counties=counties)
    return changes, [("value" if c == field else c, p) for c, p in problems], True


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


def plan_import(path: Path, current: dict[str, dict[str, str]], counties: Counties, *,
                today: date | None = None) -> ImportPlan:
    """Compare a corrections file with the effective roster; every problem names its line and
    column, and the rows that pass are checked exactly as the roster loader checks a row.

    Two shapes: a corrections file (office_id, the changed columns, source_url, as_of; an
    optional `verified_on` makes the row's unchanged values verified too), or a call sheet
    (`outreach roster verify --export`: one field per row, with the volunteer's value,
    source_url and verified_on). A value confirmed unchanged is kept as a correction with
    that value, dated verified_on, so the roster marks it `verified`."""
    today = today or date.today()
    changes: list[Change] = []
    errors: list[str] = []
    unchanged = unchecked = 0
    with office_rows(path) as (header, rows):
        sheet = "field" in header
        allowed = CALL_SHEET_COLUMNS if sheet else \
            (*EDITABLE, "office_id", "source_url", "as_of", "verified_on")
        unknown = [h for h in header if h not in allowed]
        if sheet and not {"value", "verified_on"} <= set(header):
            raise RosterError([f"{path}: line 1: a call sheet needs the columns field, value, "
                               "source_url and verified_on"])
        if unknown:
            what = f"a call sheet's: {', '.join(CALL_SHEET_COLUMNS)}" if sheet else \
                f"editable: {', '.join(EDITABLE)}"
            raise RosterError([f"{path}: line 1: unknown column(s) {', '.join(unknown)} "
                               f"({what})"])
        for line, row in rows:
            office_id = row.get("office_id", "")
            if office_id not in current:
                errors.append(f"{path}: line {line}: column office_id: no office "
                              f"{office_id!r} in the roster")
                continue
            old = current[office_id]
            if sheet:
                found, problems, checked = _sheet_row(line, row, old, counties, today)
                unchecked += not checked
            else:
                # An empty cell leaves the field as it is (a contacts file fills some columns
                # of some rows); "-" clears it on purpose.
                wanted = {f: "" if row[f] == "-" else row[f] for f in EDITABLE if row.get(f)}
                verified_on = row.get("verified_on", "")
                problem = _verified_on_problem(verified_on, today) if verified_on else ""
                problems = [("verified_on", problem)] if problem else []
                found = []
                if not problems:
                    found, problems = _row_plan(line, office_id, wanted, old,
                                                row.get("source_url", ""),
                                                row.get("as_of") or verified_on,
                                                verified=bool(verified_on), counties=counties)
                checked = True
            if problems:
                errors.extend(f"{path}: line {line}: column {column}: {problem}"
                              for column, problem in problems)
            elif found:
                changes.extend(found)
            elif checked:
                unchanged += 1
    return ImportPlan(changes, errors, unchanged, unchecked)


def plan_correction(office_id: str, field: str, value: str, source_url: str,
                    verified_on: str, current: dict[str, dict[str, str]], counties: Counties,
                    today: date) -> tuple[list[Change], list[str]]:
    """One value an organizer corrects or confirms on the dashboard's Roster page, checked as
    a call-sheet row is (source URL and date required, the value checked as the loader
    checks it; the same value as on file is a verification): (changes, "column: problem"
    lines)."""
    if office_id not in current:
        return [], [f"office_id: no office {office_id!r} in the roster"]
    if not value.strip():
        return [], ["value: empty (type the value, or - to clear the field)"]
    row = {"office_id": office_id, "field": field.strip(), "value": value.strip(),
           "source_url": source_url.strip(), "verified_on": verified_on.strip()}
    changes, problems, _ = _sheet_row(0, row, current[office_id], counties, today)
    return changes, [f"{column}: {problem}" for column, problem in problems]


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


def effective_rows(baseline: Path, engine: Engine | None,
                   on: date | None = None) -> list[dict[str, str]]:
    """The shipped file's rows with the corrections in effect on `on` (default today) laid
    over them (what export writes and an import compares against)."""
    found = overrides(engine, on)
    return [{**row, **found.get(row["office_id"], {})} for row in read_rows(baseline)]


def effective_roster(settings: Settings, counties: Counties | None = None, *,
                     on: date | None = None, engine: Engine | None = None) -> Roster:
    """The shipped roster with the store's corrections, as in force on `on` (default today),
    with this deployment's OUTREACH_CONTACTS: what every command and process loads."""
    counties = counties or load_counties(settings.data.data_dir / "counties.csv")
    store = engine if engine is not None else existing_store(settings.store.database_url)
    try:
        latest = _latest_corrections(store, on)
        return load_roster(settings.data.roster_path, counties, on=on,
                           overrides=_overrides(latest), corrected=_correction_sources(latest),
                           contacts=cast(ContactPolicy, settings.campaigns.contacts),
                           cache_dir=settings.data.cache_dir)
    finally:
        if engine is None and store is not None:
            store.dispose()


def correction_history(engine: Engine, office_id: str, limit: int = 50) -> list[Row[Any]]:
    """One office's stored corrections, newest first, each with its source, as-of and file."""
    with engine.connect() as connection:
        if not corrections_table_exists(connection):
            return []
        return office_corrections(connection, office_id, limit)


def corrections_version(engine: Engine | None) -> int:
    """The newest correction's id (0: none): it changes whenever a correction is stored."""
    if engine is None:
        return 0
    with engine.connect() as connection:
        if not corrections_table_exists(connection):
            return 0
        return newest_correction_id(connection)
