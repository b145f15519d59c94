"""The roster of local prosecutor offices (data/prosecutors.csv): load, validate, index.

Every other step trusts the roster to answer "who prosecutes here?", so loading is strict: a row
that names an unknown state, a FIPS code that is not a county of that state, a duplicate id or a
value outside the allowed sets stops the load with the file, line and column at fault.

Every contact value (CONTACT_FIELDS) carries its own provenance (ContactSource): the roster's
contact sources file beside it (data/prosecutors.sources.csv, built by scripts/build_contacts.py)
says where each value comes from and whether it is `verified` or a `lead`; an organizer's
correction makes the field `verified`; a value with neither (an operator's own roster file) is a
`lead` resting on the row's own source_url. The file is checked as strictly as the roster: a
row naming an unknown office or field, a value that is not the roster's, or an unknown status
stops the load with its file, line and column.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast

from outreach.errors import RosterError
from outreach.us.compiled import cache_key, compiled, digest
from outreach.us.counties import Counties

ROSTER_COLUMNS = [
    "office_id",
    "state",
    "office_name",
    "title",
    "kind",
    "county_fips",
    "places",
    "selection",
    "handles",
    "officeholder",
    "officeholder_as_of",
    "email",
    "phone",
    "website",
    "source_url",
    "notes",
]
# Optional: the period a row is in force (YYYY-MM-DD, from inclusive, to exclusive), so a known
# redistricting is entered ahead of time and switches by itself.
DATE_COLUMNS = ["effective_from", "effective_to"]
# Optional columns: a roster file without them still loads (they read as empty).
OPTIONAL_COLUMNS = [*DATE_COLUMNS, "mailing_address"]
REQUIRED_VALUES = ("office_id", "state", "office_name", "title", "kind", "county_fips",
                   "selection", "handles", "source_url")
KINDS = ("county", "multi_county", "city", "state")
SELECTIONS = ("elected", "appointed")
HANDLES = ("felony_and_misdemeanor", "felony", "misdemeanor")

# The contact fields whose every value carries its own provenance (ContactSource).
CONTACT_FIELDS = ("phone", "email", "website", "officeholder", "mailing_address")
ContactStatus = Literal["verified", "lead"]
CONTACT_STATUSES: tuple[ContactStatus, ...] = ("verified", "lead")
# Whether a message may name the officeholder today: `current` (confirmed within the stale
# window), `stale` (a name, not confirmed within it, or only from a day still to come),
# `missing` (no name).
OfficeholderState = Literal["current", "stale", "missing"]
# OUTREACH_CONTACTS: `any` lets messages use leads (a lead phone beats none), `verified` only
# verified values of these fields (phone, email, website: what a message points a reader at).
ContactPolicy = Literal["any", "verified"]
CONTACT_POLICIES: tuple[ContactPolicy, ...] = ("any", "verified")
POLICY_FIELDS = ("phone", "email", "website")
# The contact sources file beside a roster file: FILE.csv -> FILE.sources.csv.
CONTACT_SOURCES_SUFFIX = ".sources.csv"
CONTACT_SOURCE_COLUMNS = ["office_id", "field", "value", "status", "source", "source_url",
                          "as_of", "note"]
ROSTER_SOURCE = "roster"  # ContactSource.source of a value the sources file does not list


@dataclass(frozen=True)
class ContactSource:
    """Where one contact value of one office comes from.

    `verified`: read from a dated primary source (the office's own page, a state directory) or
    set by an organizer's correction; `lead`: from a secondary or old source (a volunteer
    database, a registered domain), worth using where nothing better exists and worth checking.
    `source` is a short name of the data set ("jurisdictions", "pacga", "uspd", "dotgov",
    "harvest", "correction"); `as_of` the day (or month, or year) the source was read or dated.
    """

    value: str
    status: ContactStatus
    source: str
    source_url: str = ""
    as_of: str = ""  # YYYY, YYYY-MM or YYYY-MM-DD; empty: unknown
    note: str = ""


_OFFICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FIPS = re.compile(r"^\d{5}$")
AS_OF = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")


def as_of_start(as_of: str) -> date:
    """The first day an as-of date can mean: 2024 -> 2024-01-01, 2024-03 -> 2024-03-01."""
    parts = [int(p) for p in as_of.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def as_of_end(as_of: str) -> date:
    """The latest day an as-of date can mean: 2024 -> 2024-12-31, 2024-03 -> 2024-03-31."""
    parts = [int(p) for p in as_of.split("-")]
    if len(parts) == 3:
        return date(*parts)
    year, month = parts[0], parts[1] if len(parts) == 2 else 12
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


# The trimmings an office's name carries that a salutation drops: "(Alaska Department of
# Law)", "(Franklin, Richland, West Carroll Parishes)"; "... Prosecutor's Office"; "Office of
# the ..." / "Department of the ...".
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")
_OFFICE_SUFFIX = re.compile(r"['’]s\s+Office\b", re.IGNORECASE)
_OFFICE_OF = re.compile(r"^(?:the\s+)?(?:office|department)\s+of\s+(?:the\s+)?", re.IGNORECASE)


def normalize_place(name: str) -> str:
    """Fold a town/city name for comparison: "WEST  HAVEN", "West Haven" -> "west haven"."""
    return " ".join(re.sub(r"[.'’]", "", name).casefold().split())


@dataclass(frozen=True)
class Office:
    office_id: str
    state: str
    office_name: str
    title: str
    kind: str
    county_fips: tuple[str, ...]
    selection: str
    handles: str
    officeholder: str = ""
    officeholder_as_of: str = ""
    email: str = ""
    phone: str = ""
    website: str = ""
    source_url: str = ""
    notes: str = ""
    effective_from: str = ""  # YYYY-MM-DD, inclusive; empty: always was
    effective_to: str = ""  # YYYY-MM-DD, exclusive; empty: still is
    mailing_address: str = ""  # one line, as the source printed it
    # county FIPS -> the normalized places this office serves there; a county absent from this
    # map is served whole (or as "the rest of the county" where another office claims places).
    places: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)
    # contact field (CONTACT_FIELDS) -> where its value comes from; a field without a value
    # has no entry.
    provenance: Mapping[str, ContactSource] = field(default_factory=dict, compare=False)

    def contact_status(self, field_name: str) -> ContactStatus | None:
        """`verified`, `lead`, or None when the office has no value for the field."""
        found = self.provenance.get(field_name)
        return found.status if found and getattr(self, field_name) else None

    @property
    def officeholder_confirmed(self) -> str:
        """When the officeholder's name was last confirmed (an as-of, YYYY[-MM[-DD]], empty:
        never): the later of the row's `officeholder_as_of` and its provenance's as-of (a
        volunteer's check of an unchanged name dates the provenance, not the name)."""
        dates = [d for d in (self.officeholder_as_of,
                             getattr(self.provenance.get("officeholder"), "as_of", ""))
                 if d and AS_OF.match(d)]
        return max(dates, key=as_of_end, default="")

    def officeholder_state(self, today: date, stale_days: int) -> OfficeholderState:
        """Whether a message may name the officeholder on `today`.

        Prosecutors change at every election, by appointment and by resignation, so a name is
        only as good as its date: `current` when it was confirmed within `stale_days`
        (OUTREACH_ROSTER_STALE_DAYS) of `today`, counted from the last day its as-of can
        mean (2024-03 -> 2024-03-31); `stale` when it is older, undated, or dated after
        `today` (a DA-elect's name before their first day); `missing` without a name."""
        if not self.officeholder:
            return "missing"
        confirmed = self.officeholder_confirmed
        if not confirmed or as_of_start(confirmed) > today:
            return "stale"
        return "current" if (today - as_of_end(confirmed)).days <= stale_days else "stale"

    def current_officeholder(self, today: date, stale_days: int) -> str:
        """The officeholder's name if a message may use it on `today`, else "" (the message
        then addresses the office by title: `addressee`)."""
        return self.officeholder if self.officeholder_state(today, stale_days) == "current" \
            else ""

    @property
    def addressee(self) -> str:
        """The office's holder named by title alone, for a message that cannot name them:
        "the Cook County State's Attorney", "the State Attorney for the 13th Judicial Circuit"
        (from "Office of the State Attorney, 13th Judicial Circuit (Hillsborough)"), "the
        Atlantic County Prosecutor" (from "Atlantic County Prosecutor's Office")."""
        name = _PARENTHETICAL.sub("", self.office_name).strip()
        name = _OFFICE_OF.sub("", _OFFICE_SUFFIX.sub("", name)).strip()
        head, comma, rest = name.partition(", ")
        if comma and head.casefold() == self.title.casefold():
            # "District Attorney, 5th Judicial District": the title, then what it serves.
            rest = rest if rest.casefold().startswith("the ") else f"the {rest}"
            name = f"{head} for {rest}"
        if not name:
            name = self.title
        return name if name.casefold().startswith("the ") else f"the {name}"
    def usable(self, field_name: str, contacts: ContactPolicy = "any") -> str:
        """The field's value if a message may use it: with OUTREACH_CONTACTS=verified a phone,
        email or website that is not verified (a lead, or a value of unknown provenance) is
        not handed to readers or written to."""
        value: str = getattr(self, field_name)
        if contacts == "verified" and field_name in POLICY_FIELDS and \
                self.contact_status(field_name) != "verified":
            return ""
        return value

    def in_force(self, day: date) -> bool:
        iso = day.isoformat()
        return (not self.effective_from or self.effective_from <= iso) and \
            (not self.effective_to or iso < self.effective_to)

    @property
    def prosecutes_felonies(self) -> bool:
        return self.handles in ("felony", "felony_and_misdemeanor")

    @property
    def prosecutes_misdemeanors(self) -> bool:
        return self.handles in ("misdemeanor", "felony_and_misdemeanor")

    def roles(self) -> set[str]:
        return {r for r, on in (("felony", self.prosecutes_felonies),
                                ("misdemeanor", self.prosecutes_misdemeanors)) if on}

    def summary(self) -> dict[str, str]:
        """The fields a lookup answer shows for this office, and for each contact field its
        status (`verified` | `lead`, empty without a value) and source (`FIELD_status`,
        `FIELD_source`), so a reader of the answer knows which values to trust."""
        shown = {
            "office_id": self.office_id,
            "office_name": self.office_name,
            "title": self.title,
            "handles": self.handles,
            "selection": self.selection,
            "officeholder": self.officeholder,
            "officeholder_as_of": self.officeholder_confirmed,
            "phone": self.phone,
            "email": self.email,
            "website": self.website,
            "mailing_address": self.mailing_address,
        }
        for name in CONTACT_FIELDS:
            found = self.provenance.get(name) if getattr(self, name) else None
            shown[f"{name}_status"] = found.status if found else ""
            shown[f"{name}_source"] = found.source if found else ""
        return shown


@dataclass(frozen=True)
class OfficeChoice:
    """The offices for one county (and place, if known); `ambiguous` when the place decides.

    `certain` are the offices that serve the address whichever town it is in (all of `offices`
    unless ambiguous): a county-wide felony DA stays certain beside a city's misdemeanor office.
    """

    offices: tuple[Office, ...]
    ambiguous: bool
    certain: tuple[Office, ...] = ()

    @classmethod
    def decided(cls, offices: tuple[Office, ...]) -> OfficeChoice:
        return cls(offices, ambiguous=False, certain=offices)


@dataclass(frozen=True)
class Roster:
    offices: tuple[Office, ...]  # in force on `day`
    by_county: dict[str, tuple[Office, ...]]
    source: Path
    day: date = field(default_factory=date.today)
    # Every row, in force or not: a message queued to an office before it ended still renders.
    all_offices: tuple[Office, ...] = ()
    # OUTREACH_CONTACTS as this deployment loaded the roster: may messages, letters and their
    # plans use an office's lead phone, email or website (Office.usable)?
    contacts: ContactPolicy = "any"
    # What this roster was compiled from (files, code, corrections, day: load_roster with a
    # cache folder), so what is built from it can be cached under the same key; "" unknown.
    key: str = field(default="", compare=False)

    def __len__(self) -> int:
        return len(self.offices)

    @cached_property
    def _by_id(self) -> dict[str, Office]:
        return {office.office_id: office for office in self.all_offices or self.offices}

    def office(self, office_id: str) -> Office:
        """The office by id (KeyError if the roster no longer has it); the renderer asks this
        for every message, so it is a dictionary look-up, not a scan."""
        return self._by_id[office_id]

    def names_place(self, county_fips: str, place: str) -> bool:
        """Whether some office's town list for this county names the place."""
        wanted = normalize_place(place)
        offices = self.by_county.get(county_fips, ())
        return any(wanted in o.places.get(county_fips, ()) for o in offices)

    def offices_for(self, county_fips: str, place: str | None = None) -> OfficeChoice:
        """The offices that prosecute in a county, narrowed by town where an office splits it.

        A few offices serve only named towns of a county (Connecticut's judicial districts, Athol
        in Worcester County, the Bessemer Cutoff of Jefferson County AL). There the address's
        town picks the office; an office with no place list for that county serves the rest. Without
        a town, or with a town no list names and no office serving the rest, every candidate is
        returned and the choice is `ambiguous` rather than guessed.
        """
        candidates = self.by_county.get(county_fips, ())
        by_place = [o for o in candidates if county_fips in o.places]
        rest = [o for o in candidates if county_fips not in o.places]
        if not by_place:
            return OfficeChoice.decided(candidates)
        wanted = normalize_place(place) if place else ""
        chosen = [o for o in by_place if wanted and wanted in o.places[county_fips]]
        if chosen:
            covered = set().union(*(o.roles() for o in chosen))
            # Keep a county-wide office only for a role (felony/misdemeanor) the towns' lack.
            extra = [o for o in rest if not o.roles() <= covered]
            keep = set(chosen + extra)
            return OfficeChoice.decided(tuple(o for o in candidates if o in keep))
        if wanted and rest:
            return OfficeChoice.decided(tuple(rest))
        never_displaced = tuple(o for o in rest
                                if all(not o.roles() <= p.roles() for p in by_place))
        return OfficeChoice(candidates, ambiguous=True, certain=never_displaced)


def _parse_places(raw: str, counties: tuple[str, ...]) -> tuple[dict[str, frozenset[str]], str]:
    """Parse "09001:Shelton;09009:Ansonia|Derby" -> ({fips: places}, problem or "")."""
    places: dict[str, frozenset[str]] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        fips, sep, names = part.partition(":")
        if not sep or not _FIPS.match(fips) or not names.strip():
            return {}, f"{part!r} is not COUNTYFIPS:Town|Town"
        if fips not in counties:
            return {}, f"county {fips} is not one of this office's county_fips"
        places[fips] = frozenset(normalize_place(n) for n in names.split("|") if n.strip())
    return places, ""


def contact_value_problem(field_name: str, value: str) -> str:
    """Why a contact value cannot stand in the roster ("" when it can): the loader's, the
    corrections' and the data build's one check of a phone, email or website."""
    if not value:
        return ""
    if field_name == "email" and not _EMAIL.match(value):
        return f"{value!r} is not an email address"
    if field_name == "phone" and len(re.sub(r"\D", "", value).removeprefix("1")) != 10:
        return f"{value!r} is not a 10-digit U.S. phone number"
    if field_name in ("website", "source_url") and not _URL.match(value):
        return f"{value!r} is not an http(s) URL"
    return ""


def row_problems(row: dict[str, str], counties: Counties) -> list[tuple[str, str]]:
    """(column, problem) pairs for one roster row (the loader's and the corrections' check)."""
    problems: list[tuple[str, str]] = []
    for column in REQUIRED_VALUES:
        if not row[column]:
            problems.append((column, "is empty"))
    if problems:
        return problems
    if not _OFFICE_ID.match(row["office_id"]):
        problems.append(("office_id", f"{row['office_id']!r} is not lower-case-with-dashes"))
    state = row["state"]
    if state not in counties.states:
        problems.append(("state", f"{state!r} is not a U.S. state or DC"))
    for column, allowed in (("kind", KINDS), ("selection", SELECTIONS), ("handles", HANDLES)):
        if row[column] not in allowed:
            problems.append((column, f"{row[column]!r} is not one of {'|'.join(allowed)}"))
    for fips in row["county_fips"].split(";"):
        if not _FIPS.match(fips):
            problems.append(("county_fips", f"{fips!r} is not a 5-digit county FIPS code"))
        elif fips not in counties:
            problems.append(("county_fips", f"{fips} is not a county FIPS code"))
        elif state in counties.states and counties[fips].state != state:
            problems.append(("county_fips", f"{fips} ({counties[fips].name}) is in "
                                            f"{counties[fips].state}, not {state}"))
    if row["officeholder_as_of"] and not AS_OF.match(row["officeholder_as_of"]):
        problems.append(("officeholder_as_of", f"{row['officeholder_as_of']!r} is not YYYY, "
                                               "YYYY-MM or YYYY-MM-DD"))
    for column in ("email", "phone", "website", "source_url"):
        problem = contact_value_problem(column, row[column])
        if problem:
            problems.append((column, problem))
    if "\n" in row.get("mailing_address", ""):
        problems.append(("mailing_address", "must be one line"))
    for column in DATE_COLUMNS:
        if row.get(column) and not _DATE.match(row[column]):
            problems.append((column, f"{row[column]!r} is not a date YYYY-MM-DD"))
    if row.get("effective_from") and row.get("effective_to") and \
            row["effective_to"] <= row["effective_from"]:
        problems.append(("effective_to", "must be after effective_from"))
    return problems


def read_rows(path: Path) -> list[dict[str, str]]:
    """The roster file's rows, trimmed, every column present (the optional ones empty when
    the file lacks them); RosterError when the file cannot be read as a roster.

    Read with the csv module, as pandas' read_csv(dtype=str, keep_default_na=False) read it
    (a leading BOM dropped, blank lines skipped, a row longer than the header refused, the
    first of two same-named columns taken), but without pandas: a roster is rebuilt in the
    long-running processes (a correction stored, a new day's key, an upgrade's cold cache),
    which otherwise never import it (`outreach run`'s scheduler: ops/scheduler.py)."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise RosterError([f"{path}: no such roster file"]) from None
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise RosterError([f"{path}: not a readable CSV file: No columns to parse "
                                   "from file"])
            lines = []
            for cells in reader:
                if not cells:
                    continue
                if len(cells) > len(header):
                    raise RosterError([f"{path}: not a readable CSV file: Expected "
                                       f"{len(header)} fields in line {reader.line_num}, "
                                       f"saw {len(cells)}"])
                lines.append(cells)
        except (csv.Error, UnicodeDecodeError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() \
                else "unreadable"
            raise RosterError([f"{path}: not a readable CSV file: {first_line}"]) from None
    at: dict[str, int] = {}
    for position, name in enumerate(header):
        at.setdefault(name, position)
    missing = [c for c in ROSTER_COLUMNS if c not in at]
    if missing:
        raise RosterError([f"{path}: line 1: missing column(s) {', '.join(missing)}"])
    wanted = [(c, at.get(c)) for c in ROSTER_COLUMNS + OPTIONAL_COLUMNS]
    return [{column: cells[position].strip() if position is not None and position < len(cells)
             else "" for column, position in wanted} for cells in lines]


def contact_sources_path(roster_path: Path) -> Path:
    """The contact sources file that belongs to a roster file: prosecutors.csv ->
    prosecutors.sources.csv beside it (paired by name, so an operator's own roster in the same
    folder is never checked against the shipped file's sources)."""
    return roster_path.with_name(roster_path.stem + CONTACT_SOURCES_SUFFIX)


def read_contact_sources(path: Path, rows: list[dict[str, str]]
                         ) -> dict[str, dict[str, ContactSource]]:
    """office_id -> {field: ContactSource} from a contact sources file, checked against the
    roster file's rows (as shipped, before corrections): RosterError naming file, line and
    column for an unknown office or field, a value that is not the roster's, a bad status or
    date, or a second row for the same field."""
    cells = {row["office_id"]: row for row in rows}
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise RosterError([f"{path}: no such contact sources file"]) from None
    found: dict[str, dict[str, ContactSource]] = defaultdict(dict)
    problems: list[str] = []
    first_line: dict[tuple[str, str], int] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CONTACT_SOURCE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RosterError([f"{path}: line 1: missing column(s) {', '.join(missing)}"])
        for raw in reader:
            line = reader.line_num
            entry = {c: (raw.get(c) or "").strip() for c in CONTACT_SOURCE_COLUMNS}
            office_id, name, value = entry["office_id"], entry["field"], entry["value"]
            wrong: list[tuple[str, str]] = []
            if office_id not in cells:
                wrong.append(("office_id", f"no office {office_id!r} in the roster"))
            elif name not in CONTACT_FIELDS:
                wrong.append(("field", f"{name!r} is not one of {'|'.join(CONTACT_FIELDS)}"))
            elif not value:
                wrong.append(("value", "is empty (a field without a value has no source)"))
            elif value != cells[office_id][name]:
                wrong.append(("value", f"{value!r} is not the roster's {name} of {office_id} "
                                       f"({cells[office_id][name]!r})"))
            elif (office_id, name) in first_line:
                wrong.append(("field", f"second row for {office_id} {name} (first on line "
                                       f"{first_line[(office_id, name)]})"))
            if entry["status"] not in CONTACT_STATUSES:
                wrong.append(("status", f"{entry['status']!r} is not one of "
                                        f"{'|'.join(CONTACT_STATUSES)}"))
            if not entry["source"]:
                wrong.append(("source", "is empty"))
            if entry["source_url"] and not _URL.match(entry["source_url"]):
                wrong.append(("source_url", f"{entry['source_url']!r} is not an http(s) URL"))
            if entry["as_of"] and not AS_OF.match(entry["as_of"]):
                wrong.append(("as_of", f"{entry['as_of']!r} is not YYYY, YYYY-MM or "
                                       "YYYY-MM-DD"))
            problems.extend(f"{path}: line {line}: column {column}: {problem}"
                            for column, problem in wrong)
            if wrong:
                continue
            first_line[(office_id, name)] = line
            found[office_id][name] = ContactSource(
                value, cast(ContactStatus, entry["status"]), entry["source"],
                entry["source_url"], entry["as_of"], entry["note"])
    if problems:
        raise RosterError(problems)
    return dict(found)


def _provenance(row: dict[str, str], listed: Mapping[str, ContactSource],
                corrected: Mapping[str, ContactSource]) -> dict[str, ContactSource]:
    """Each contact value's source: the newest correction of the field, else the sources
    file's row for that very value, else the roster row itself (a lead)."""
    provenance: dict[str, ContactSource] = {}
    for name in CONTACT_FIELDS:
        value = row[name]
        if not value:
            continue
        for candidate in (corrected.get(name), listed.get(name)):
            if candidate is not None and candidate.value == value:
                provenance[name] = candidate
                break
        else:
            provenance[name] = ContactSource(
                value, "lead", ROSTER_SOURCE, row["source_url"],
                row["officeholder_as_of"] if name == "officeholder" else "",
                "in the roster file with no row in its contact sources file: resting on the "
                "row's own source")
    return provenance


def load_roster(path: Path, counties: Counties, *, on: date | None = None,
                overrides: Mapping[str, Mapping[str, str]] | None = None,
                corrected: Mapping[str, Mapping[str, ContactSource]] | None = None,
                contacts: ContactPolicy = "any", cache_dir: Path | None = None) -> Roster:
    """Read and validate the roster as in force on `on` (default today), with organizers'
    corrections laid over the file (roster/corrections.py: `overrides` their values,
    `corrected` their provenance) and each contact value's source from the contact sources
    file beside it, when there is one; raise RosterError naming file, line and column.

    With `cache_dir`, the validated offices are read from the compiled cache
    (outreach/us/compiled.py) when the files, the package's code, the counties and the
    corrections are those they were stored from; only the day's selection is made anew."""
    overrides = overrides or {}
    corrected = corrected or {}
    sources_file = contact_sources_path(path)
    day = on or date.today()
    key = ""
    if cache_dir is None or not Path(path).is_file():
        offices = _validated_offices(path, counties, overrides, corrected)
    else:
        sources = [path, *([sources_file] if sources_file.is_file() else [])]
        extra = digest((overrides, corrected, counties.by_fips))
        offices = compiled("roster", sources,
                           lambda: _validated_offices(path, counties, overrides, corrected),
                           directory=cache_dir, extra=extra)
        key = digest((cache_key(sources, extra), day, contacts))
    current = [o for o in offices if o.in_force(day)]
    by_county: dict[str, list[Office]] = defaultdict(list)
    # Felony prosecutors first: they are the campaign's main target wherever a county has both.
    for office in sorted(current, key=lambda o: (not o.prosecutes_felonies, o.office_id)):
        for fips in office.county_fips:
            by_county[fips].append(office)
    return Roster(tuple(current), {k: tuple(v) for k, v in by_county.items()}, path, day,
                  offices, contacts, key)


def _validated_offices(path: Path, counties: Counties,
                       overrides: Mapping[str, Mapping[str, str]],
                       corrected: Mapping[str, Mapping[str, ContactSource]]
                       ) -> tuple[Office, ...]:
    """Every row of the roster file as an Office, corrections laid over it, in force or not;
    RosterError with every problem found."""
    rows = read_rows(path)
    sources_file = contact_sources_path(path)
    listed = read_contact_sources(sources_file, rows) if sources_file.is_file() else {}

    problems: list[str] = []
    offices: list[Office] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        row.update(overrides.get(row["office_id"], {}))
        found = row_problems(row, counties)
        if row["office_id"] in seen:
            found.append(("office_id", f"duplicate id {row['office_id']!r} (first on "
                                       f"line {seen[row['office_id']]})"))
        seen.setdefault(row["office_id"], line)
        county_fips = tuple(row["county_fips"].split(";"))
        places, place_problem = _parse_places(row["places"], county_fips)
        if place_problem:
            found.append(("places", place_problem))
        problems.extend(f"{path}: line {line}: column {column}: {problem}"
                        for column, problem in found)
        if found:
            continue
        # Any: the text columns go to Office's str fields by name (provenance is not a column).
        values: dict[str, Any] = {c: row[c] for c in ROSTER_COLUMNS + OPTIONAL_COLUMNS
                                  if c not in ("county_fips", "places")}
        provenance = _provenance(row, listed.get(row["office_id"], {}),
                                 corrected.get(row["office_id"], {}))
        offices.append(Office(county_fips=county_fips, places=places, provenance=provenance,
                              **values))
    if problems:
        raise RosterError(problems)
    return tuple(offices)
