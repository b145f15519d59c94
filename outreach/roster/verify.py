"""`outreach roster verify --export FILE`: the call sheet volunteers work through.

One row per contact value worth a call or a look: a lead (from a secondary or old source), a
value no source vouches for, a field the roster lacks, an officeholder name too old to use,
for the offices that matter most (most signers, then most people served). The volunteer fills
`value` (the value as they found it: the same one confirms it, another corrects it, `-` says
the office has none), `source_url` (the page, or the office's own site for a call) and
`verified_on`; `outreach roster import` reads the sheet back (roster/corrections.py).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from outreach.csvsafe import SafeCsvWriter
from outreach.roster.corrections import CALL_SHEET_COLUMNS, EDITABLE
from outreach.roster.coverage import people_served
from outreach.roster.gaps import ranked_offices
from outreach.roster.offices import CONTACT_FIELDS, Office, Roster
from outreach.us.counties import Counties

# The fields a sheet asks about: the contact fields a correction can set (mailing_address once
# the roster file carries it).
SHEET_FIELDS = tuple(f for f in CONTACT_FIELDS if f in EDITABLE)


@dataclass(frozen=True)
class SheetRow:
    """One value to check: `status` is `lead`, `unsourced` (a value without provenance),
    `missing` (no value) or `stale` (an officeholder not confirmed within the stale window;
    Office.officeholder_state)."""

    office: Office
    field: str
    status: str
    county: str
    people_served: int
    signers: int

    def cells(self) -> list[object]:
        source = self.office.provenance.get(self.field)
        lead = getattr(self.office, self.field)
        return [self.office.office_id, self.office.office_name, self.office.state, self.field,
                lead, self.status, source.source if source else "",
                source.source_url if source else "",
                source.as_of if source else
                (self.office.officeholder_as_of if self.field == "officeholder" else ""),
                self.office.phone, self.office.website, self.county, self.people_served,
                self.signers, "", "", ""]


def to_check(office: Office, day: date, stale_days: int) -> list[tuple[str, str]]:
    """(field, status) for each value of the office a volunteer should check: every field
    that is not verified, and an officeholder that is verified but no longer current."""
    found = []
    for name in SHEET_FIELDS:
        status = office.contact_status(name)
        if name == "officeholder" and office.officeholder and \
                office.officeholder_state(day, stale_days) == "stale":
            found.append((name, "stale"))
        elif status != "verified":
            found.append((name, status or ("unsourced" if getattr(office, name)
                                           else "missing")))
    return found


def contact_view(office: Office, day: date, stale_days: int) -> list[dict[str, str]]:
    """Each contact field of the office as the dashboard's Roster page shows it: the value,
    its status (verified, lead, unsourced, missing; an officeholder also current or stale),
    its source, and whether a correction can set it."""
    rows = []
    for name in CONTACT_FIELDS:
        source = office.provenance.get(name)
        value = getattr(office, name)
        status: str = office.contact_status(name) or ("unsourced" if value else "missing")
        as_of = source.as_of if source else ""
        if name == "officeholder":
            as_of = office.officeholder_confirmed
            if value:
                status = f"{status}, {office.officeholder_state(day, stale_days)}"
        rows.append({"field": name, "value": value, "status": status,
                     "source": source.source if source else "",
                     "source_url": source.source_url if source else "",
                     "as_of": as_of, "note": source.note if source else "",
                     "editable": "yes" if name in EDITABLE else ""})
    return rows


def main_county(office: Office, counties: Counties) -> str:
    """Where the office sits, as near as data/ tells: its most populous county ("Cook
    County, IL"); the roster has no county seats."""
    known = [counties[f] for f in office.county_fips if f in counties]
    if not known:
        return ""
    return max(known, key=lambda c: c.population).label


def call_sheet(roster: Roster, counties: Counties, served: Counter[str], stale_days: int, *,
               limit: int, state: str | None = None) -> list[SheetRow]:
    """The rows of the `limit` offices that matter most (most signers, then most people
    served) among those with something to check, in `state` if given."""
    people = people_served(roster, counties)
    rows: list[SheetRow] = []
    offices = 0
    for office, signers in ranked_offices(roster, served, people):
        if state and office.state != state:
            continue
        fields = to_check(office, roster.day, stale_days)
        if not fields:
            continue
        county = main_county(office, counties)
        rows.extend(SheetRow(office, name, status, county, people.get(office.office_id, 0),
                             signers) for name, status in fields)
        offices += 1
        if offices >= limit:
            break
    return rows


def sheet_csv(rows: Iterable[SheetRow]) -> str:
    """The call sheet as CSV, cells a spreadsheet would run as formulas escaped (csvsafe):
    the leads come from scraped pages."""
    out = io.StringIO()
    writer = SafeCsvWriter(out, list(CALL_SHEET_COLUMNS))
    for row in rows:
        writer.writerow(row.cells())
    return out.getvalue()
