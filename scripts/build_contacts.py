"""Build the contact leads into the roster, every value with its own source and status.

Called by scripts/build_data.py on the rows it assembled from the jurisdiction files. Returns
the rows with the leads filled in (and Georgia's missing Solicitors-General added) and one
contact-sources row (office_id, field, value, status, source, source_url, as_of, note) for EVERY
non-empty contact value (offices.CONTACT_FIELDS), written to data/prosecutors.sources.csv, so
every value the roster ships has a source and a status (issue 16, item 3).

Sources, in the order they may fill an empty field (a later one never overwrites an earlier):
  jurisdictions  ../shared/reference/jurisdictions/*.csv, the roster's own rows; emails the
                 compilers wrote into a row's notes ("email: x@y") fill its empty email.
  curated        data/sources/contacts.csv (applied by build_prosecutors where the reference
                 is empty).
  pacga          contacts/ga_pacga_directory.csv: the Prosecuting Attorneys' Council of Georgia
                 directory (via github.com/enukenuk/georgia-prosecutors, commit c47ec6a):
                 phones, officeholders, mailing addresses; its 31 Solicitor-General offices the
                 roster lacked are added as misdemeanor offices.
  harvest        contacts/harvest_2026-12.csv: phones, emails, websites, officeholders read on
                 public pages in December 2026, each with its page.
  uspd           contacts/uspd_leads.csv: the U.S. Prosecutor Database (GPL-3.0 compilation,
                 2018-2020): phones, emails, websites only, never its names (stale).
  dotgov         contacts/dotgov_prosecutor_domains.csv: registered .gov domains (CC0), as
                 website leads where the office has none.

Status rule (data/README.md says the same):
  verified  read from a dated primary source:
            - a jurisdiction-file value of a row its compilers did not mark "verify" (they
              read it on the pages the row cites); an officeholder only with its
              officeholder_as_of date;
            - a PACGA directory value (the state prosecutors' council, about 2025), unless the
              directory row is doubtful (a "Vacant" holder, an address outside the office's
              counties);
            - a harvest value whose notes carry no caveat and whose page is the office's own
              (the page's host is the host of the office's website).
  lead      everything else: rows marked "verify", the curated file's entries that say
            "verify", harvest values with a caveat or read on someone else's page, every USPD
            value (volunteer-collected 2018-2020) and every .gov domain (a registration is no
            proof a site is served there).

A value already in the roster is never overwritten by a later source; where a later source
disagrees, the roster's value stays and nothing is recorded for it: the disagreements are
counted in the summary the build prints. The harvest's notes also flag roster rows that look
wrong; HARVEST_FLAGS below applies them (a rename, names cleared, rows marked "verify"), and the
build stops if the harvest file no longer says what a flag rests on.
"""

from __future__ import annotations

import collections
import csv
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
sys.path.insert(0, str(ROOT))

from outreach.roster.offices import (  # noqa: E402
    AS_OF,
    CONTACT_FIELDS,
    CONTACT_SOURCE_COLUMNS,
    contact_value_problem,
)
from outreach.us.quiet_hours import area_code_state  # noqa: E402

PACGA_URL = ("https://github.com/enukenuk/georgia-prosecutors/blob/"
             "c47ec6a9657543b571ea3c662470e8326ff3c7a9/database/init/02-prosecutors_insert.sql")
PACGA_AS_OF = "2025"  # "none stated; about 2025" (image links dated 2018-2025)
USPD_REPO = "https://github.com/billimarie/prosecutor-database"
# The commit of each USPD file the reference was read from (HEAD, or an older commit holding
# the file where HEAD no longer has it: PA and NE).
USPD_COMMITS = {
    "district-attorneys-pa.json": "1efcc6210447ea47c954ed29cec575f8ac03971e",
    "ne-da.json": "ac717716866109ced8c88b747fdf0e4cc0f448c5",
}
USPD_HEAD = "7a41938ea726f9f9016eb6f8884df13f929211af"
USPD_AS_OF = "2018"  # collected 2018-2020: the oldest year, so staleness is not understated
USPD_NOTE = ("U.S. Prosecutor Database (volunteer-collected 2018-2020), GPL-3.0 compilation: "
             "Copyright the prosecutor-database contributors, github.com/billimarie/"
             "prosecutor-database; file {file}")
DOTGOV_URL = ("https://github.com/cisagov/dotgov-data/blob/"
              "4ee64196503d34bcaff8b508444b0f7552f97d71/current-full.csv")
DOTGOV_AS_OF = "2026-08-22"
HARVEST_READ = "2026-12"  # when the harvest read its pages (archived copies)

# Words in a harvest row's notes that make its values leads: a division's line, an old or
# undated page, a third-party copy, a number that may be something else, a "verify".
HARVEST_CAVEAT = re.compile(
    r"verify|division|victim|subpoena|witness|media|hotline|\bold\b|older|stale|undated|"
    r"may be|may have|might|possibly|probably|likely|appears|not confirmed|third-party|"
    r"mirror|staging|preview|copy|covid|not labell?ed|unlabell?ed|moved|left office|"
    r"leave office|leaving|retire|resign|step(?:s|ped)? down|outdated|wrong|sub-?page|"
    r"folder of|domain of|rather than|accreditation|public-records|records request|job|"
    r"inferred|inconsistent|low-quality|aggregator|check",
    re.IGNORECASE)

# Roster rows the harvest's notes flag (SOURCES.md: a rename, prosecutors gone or leaving).
# office_id -> (the phrase of the harvest notes or snippet it rests on, what the build does).
HARVEST_FLAGS: dict[str, tuple[str, str]] = {
    "ct-fairfield": ("renamed the Bridgeport Judicial District", "rename"),
    "ny-erie-county-da": ("leave office at the end of March", "clear"),
    "ny-monroe-county-da": ("step down effective Aug. 31", "verify"),
    "sc-circuit-13": ("announced his retirement", "verify"),
    "tx-galveston-county-cda": ("early retirement", "verify"),
    "nj-passaic-prosecutor": ("current holder not confirmed", "verify"),
    "tx-montgomery-county-da": ("District Attorney Brett Ligon", "verify"),
}
BRIDGEPORT_NAME = "State's Attorney for the Judicial District of Bridgeport (formerly Fairfield)"


@dataclass(frozen=True)
class Lead:
    """One contact value offered to one office, with where it comes from."""

    office_id: str
    field: str
    value: str
    status: str
    source: str
    source_url: str
    as_of: str
    note: str

    def row(self) -> dict[str, str]:
        return {"office_id": self.office_id, "field": self.field, "value": self.value,
                "status": self.status, "source": self.source, "source_url": self.source_url,
                "as_of": self.as_of, "note": self.note}


@dataclass
class Summary:
    """What the build did, printed by build_data.py: counts by (source, field)."""

    added: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    agreed: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    differed: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    rejected: list[str] = field(default_factory=list)  # values not used, and why
    new_offices: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for source in ("jurisdictions", "curated", "pacga", "harvest", "uspd", "dotgov"):
            parts = []
            for name in CONTACT_FIELDS:
                key = (source, name)
                if self.added[key] or self.agreed[key] or self.differed[key]:
                    parts.append(f"{name} +{self.added[key]} (agreed {self.agreed[key]}, "
                                 f"differed {self.differed[key]})")
            if parts:
                out.append(f"  {source}: " + "; ".join(parts))
        out.append(f"  new offices: {len(self.new_offices)} ({', '.join(self.new_offices)})")
        out.extend(f"  flag: {line}" for line in self.flags)
        out.extend(f"  not used: {line}" for line in self.rejected)
        return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone).removeprefix("1")[:10]


def _same(name: str, a: str, b: str) -> bool:
    """Whether two values of a field say the same (phones by digits, URLs by host and path,
    names by their letters)."""
    if name == "phone":
        return _digits(a) == _digits(b)
    if name == "website":
        def key(url: str) -> str:
            parts = urlsplit(url.lower())
            return parts.netloc.removeprefix("www.") + parts.path.rstrip("/")
        return key(a) == key(b)
    if name == "officeholder":
        return _name_key(a) == _name_key(b)
    return a.strip().lower() == b.strip().lower()


def _name_key(name: str) -> tuple[str, str]:
    """First and last name, without accents, initials, nicknames or suffixes: "Joseph T.
    Corradino" and "Joseph Corradino", "José Garza" and "Jose Garza" are one person."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\([^)]*\)", " ", text)
    words = [w for w in re.findall(r"[a-z']+", text)
             if len(w) > 1 and w not in ("jr", "sr", "ii", "iii", "iv")]
    return (words[0], words[-1]) if words else ("", "")


def _host(url: str) -> str:
    return urlsplit(url.strip().lower()).netloc.removeprefix("www.")


def _as_of(text: str) -> str:
    """The first date a free-text as-of gives ("2024-12-01 or later", "c. January 2023" ->
    2023); "" for an undated one."""
    if not text or text.lower().startswith("undated"):
        return ""
    for found in re.finditer(r"\d{4}(?:-\d{2}(?:-\d{2})?)?", text):
        candidate = found.group()
        while candidate and not AS_OF.match(candidate):
            candidate = candidate.rsplit("-", 1)[0] if "-" in candidate else ""
        if candidate:
            return candidate
    return ""


def display_name(printed: str) -> str:
    """A name the directory printed in capitals, as a letter would write it: "WILLIAM DONALD
    KELLY, JR." -> "William Donald Kelly, Jr.", "RANDY MCGINLEY" -> "Randy McGinley"."""
    if printed != printed.upper():
        return printed

    def word(token: str) -> str:
        if token.rstrip(".,") in ("II", "III", "IV", "V"):
            return token
        out = "-".join(part.capitalize() for part in token.lower().split("-"))
        if re.match(r"^Mc[a-z]", out):
            out = "Mc" + out[2].upper() + out[3:]
        return out

    return " ".join(word(token) for token in printed.split())


class Build:
    """The rows being filled, and one provenance entry per value."""

    def __init__(self, rows: list[dict[str, str]]):
        self.rows = rows
        self.by_id = {row["office_id"]: row for row in rows}
        self.sources: dict[tuple[str, str], Lead] = {}
        self.summary = Summary()

    def record(self, lead: Lead) -> None:
        """The provenance of a value already in the row."""
        assert self.by_id[lead.office_id][lead.field] == lead.value, lead
        self.sources[(lead.office_id, lead.field)] = lead

    def offer(self, lead: Lead) -> None:
        """Fill an empty field with a lead; a field with a value keeps it (counted)."""
        row = self.by_id[lead.office_id]
        problem = contact_value_problem(lead.field, lead.value)
        if problem:
            self.summary.rejected.append(f"{lead.source} {lead.office_id} {lead.field}: "
                                         f"{problem}")
            return
        key = (lead.source, lead.field)
        current = row[lead.field]
        if not current:
            row[lead.field] = lead.value
            if lead.field == "officeholder":
                row["officeholder_as_of"] = lead.as_of
            self.sources[(lead.office_id, lead.field)] = lead
            self.summary.added[key] += 1
        elif _same(lead.field, current, lead.value):
            self.summary.agreed[key] += 1
        else:
            self.summary.differed[key] += 1

    def add_office(self, row: dict[str, str], leads: Iterable[Lead]) -> None:
        self.rows.append(row)
        self.by_id[row["office_id"]] = row
        self.summary.new_offices.append(row["office_id"])
        for lead in leads:
            self.offer(lead)


# --- the roster's own values ----------------------------------------------------------------

def _jurisdiction_rows(reference: Path) -> dict[str, dict[str, str]]:
    return {row["office_id"]: row for path in sorted((reference / "jurisdictions").glob("*.csv"))
            for row in read_csv(path)}


def _contact_clause(notes: str) -> str:
    """The part of a row's notes that says where its contacts were read ("contact: ...")."""
    at = notes.lower().find("contact")
    return notes[at:at + 240].strip() if at >= 0 else ""


def jurisdiction_sources(build: Build, reference: Path) -> None:
    """Provenance of the values the jurisdiction files (and data/sources/contacts.csv) put in
    the roster, and the emails the compilers wrote into the notes."""
    reference_rows = _jurisdiction_rows(reference)
    curated = {row["office_id"]: row for row in read_csv(DATA / "sources" / "contacts.csv")}
    for row in build.rows:
        office_id = row["office_id"]
        marked = "verify" in row["notes"].lower()
        for name in CONTACT_FIELDS:
            value = row[name]
            if not value:
                continue
            ref_value = reference_rows.get(office_id, {}).get(name, "").strip()
            if value != ref_value and curated.get(office_id, {}).get(name) == value:
                text = curated[office_id]["source"]
                build.record(Lead(office_id, name, value,
                                  "lead" if "verify" in text.lower() else "verified",
                                  "curated", "", "", f"data/sources/contacts.csv: {text}"))
                build.summary.added[("curated", name)] += 1
                continue
            dated = name != "officeholder" or bool(row["officeholder_as_of"])
            status = "verified" if dated and not marked else "lead"
            why = "row marked verify" if marked else "" if dated else "undated"
            note = "; ".join(p for p in (why, _contact_clause(row["notes"])) if p)
            build.record(Lead(office_id, name, value, status, "jurisdictions", row["source_url"],
                              row["officeholder_as_of"] if name == "officeholder" else "",
                              note))
            build.summary.added[("jurisdictions", name)] += 1
        email = re.search(r"\bemail: ?([^\s;,)\"]+@[^\s;,)\"]+)", row["notes"])
        if email:
            build.offer(Lead(office_id, "email", email.group(1).rstrip("."),
                             "lead" if marked else "verified", "jurisdictions",
                             row["source_url"], "",
                             "given in the row's notes; " + _contact_clause(row["notes"])))


# --- the harvest's flags ---------------------------------------------------------------------

def apply_harvest_flags(build: Build, harvest: list[dict[str, str]]) -> set[str]:
    """Apply the renames and departures the harvest flags; return the offices whose
    officeholder, if any, stays a lead (a newer page disputes it)."""
    by_id = {row["office_id"]: row for row in harvest}
    disputed: set[str] = set()
    for office_id, (phrase, action) in HARVEST_FLAGS.items():
        seen = by_id.get(office_id)
        text = f"{seen['notes']} {seen['snippet']}" if seen else ""
        if phrase.lower() not in text.lower():
            raise SystemExit(f"harvest flag for {office_id} rests on {phrase!r}, which the "
                             "harvest file no longer says: review HARVEST_FLAGS")
        assert seen is not None
        row = build.by_id[office_id]
        said = f"harvest {HARVEST_READ} ({seen['source_url']}): {seen['notes']}"
        if action == "rename":
            old = row["office_name"]
            row["office_name"] = BRIDGEPORT_NAME
            row["notes"] += (f" Renamed: the Fairfield Judicial District became the Bridgeport "
                             f"Judicial District on 2024-01-01 (was {old!r}; {said})")
            build.summary.flags.append(f"{office_id}: office_name -> {BRIDGEPORT_NAME!r}")
        elif action == "clear":
            name = row["officeholder"]
            row["officeholder"] = row["officeholder_as_of"] = ""
            row["notes"] += (f" Officeholder {name!r} cleared: the prosecutor left or is leaving "
                             f"and no successor was seen - verify ({said})")
            build.summary.flags.append(f"{office_id}: officeholder {name!r} cleared, verify")
        else:
            kept = row["officeholder"]
            row["notes"] += (f" Officeholder to verify: {said}"
                             + (f" (roster keeps {kept!r}, from a dated source)" if kept
                                else ""))
            if kept:
                disputed.add(office_id)
            build.summary.flags.append(
                f"{office_id}: marked verify" + (f", officeholder {kept!r} kept as a lead"
                                                 if kept else " (no name in the roster)"))
    return disputed


# --- Georgia: the PACGA directory --------------------------------------------------------------

def _ga_counties(reference: Path) -> dict[str, str]:
    return {c["county_name"].removesuffix(" County").lower(): c["county_fips"]
            for c in read_csv(reference / "counties.csv") if c["state"] == "GA"}


def _mailing_address(person: dict[str, str]) -> tuple[str, str]:
    """(one-line address, the county its ZIP lies in) from the directory's street, city and
    ZIP, where the "city" cell often also holds the street's second line ("Suite 500
    Decatur"); ("", "") when the ZIP is no Georgia ZIP of that city."""
    import zipcodes  # build-time only dependency

    zip_code = person["zip"][:5]
    found = zipcodes.matching(zip_code) if re.fullmatch(r"\d{5}", zip_code) else []
    if not person["street"] or not found or found[0]["state"] != "GA":
        return "", ""
    city = found[0]["city"]
    cell = person["city"]
    if cell.replace(" ", "").lower() == city.replace(" ", "").lower():
        second = ""  # "Lafayette" for the USPS's "La Fayette"
    elif cell.lower().endswith(city.lower()):
        second = cell[: len(cell) - len(city)].strip(" ,")
    else:
        return "", ""
    parts = [person["street"].strip(" ,"), second, f"{city.title()}, GA {person['zip']}"]
    return ", ".join(p for p in parts if p), found[0]["county"].removesuffix(" County").lower()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def pacga(build: Build, reference: Path) -> None:
    """Georgia's DAs and Solicitors-General: their phones, names and mailing addresses, and
    the Solicitor-General offices the roster lacked, added as misdemeanor offices."""
    counties = _ga_counties(reference)
    georgia = [r for r in build.rows if r["state"] == "GA"]
    felony = {frozenset(r["county_fips"].split(";")): r for r in georgia
              if r["handles"] != "misdemeanor"}
    felony_by_circuit = {r["office_id"]: r for r in georgia if r["handles"] != "misdemeanor"}
    solicitors = {frozenset(r["county_fips"].split(";")): r for r in georgia
                  if r["handles"] == "misdemeanor"}
    for person in read_csv(reference / "contacts" / "ga_pacga_directory.csv"):
        names = [n.strip() for n in person["counties"].split(";")]
        fips = frozenset(counties[n.lower()] for n in names)
        doubts = []  # make the row's values leads
        remarks = []  # said in the note only
        if person["name"].lower() == "vacant":
            doubts.append("the directory lists the office as vacant")
        address, address_county = _mailing_address(person)
        if address and address_county not in {n.lower() for n in names}:
            doubts.append(f"its address lies in {address_county.title()} County, outside "
                          "the office's counties (a private office, or a row mixed up with a "
                          "neighbour's)")
        if person["street"] and not address:
            build.summary.rejected.append(
                f"pacga person {person['person_id']} address {person['street']!r}, "
                f"{person['city']!r}, {person['zip']!r}: not a Georgia ZIP of that city")
        office: dict[str, str] | None
        if person["position"] == "District Attorney":
            office = felony.get(fips) or felony_by_circuit.get(
                f"ga-{_slug(person['circuit'].split(';')[-1])}-circuit")
            if office is not None and frozenset(office["county_fips"].split(";")) != fips:
                remarks.append(f"the directory lists counties {person['counties']}")
        else:
            office = solicitors.get(fips) or next(
                (o for f, o in solicitors.items() if f < fips), None)
            if office is not None and frozenset(office["county_fips"].split(";")) != fips:
                doubts.append(f"the directory lists counties {person['counties']}, "
                              "which looks wrong")
        status = "lead" if doubts else "verified"
        note = (f"PACGA directory, person {person['person_id']} ({person['position']}, "
                f"{person['circuit']} Circuit); licence none stated"
                + (f"; printed {person['name']!r}" if display_name(person["name"]) !=
                   person["name"] else "")
                + "".join(f"; {r}" for r in remarks)
                + "".join(f"; {d} - verify" for d in doubts))
        if office is None:
            if person["position"] == "District Attorney":
                raise SystemExit(f"PACGA person {person['person_id']}: no roster office for "
                                 f"the {person['circuit']} Circuit DA")
            office = _new_solicitor(person, names, sorted(fips))
            build.add_office(office, [])
        values = {"phone": person["phone"], "mailing_address": address,
                  "officeholder": "" if person["name"].lower() == "vacant"
                  else display_name(person["name"])}
        for name, value in values.items():
            if value:
                build.offer(Lead(office["office_id"], name, value, status, "pacga", PACGA_URL,
                                 PACGA_AS_OF, note))


def _new_solicitor(person: dict[str, str], names: list[str], fips: list[str]) -> dict[str, str]:
    """A roster row for a Solicitor-General office the directory lists and the roster lacked
    (O.C.G.A. 15-18-60: each State Court has an elected solicitor-general)."""
    alphabetical = sorted(names)
    if len(names) == 1:
        office_name = f"Solicitor-General, State Court of {names[0]} County"
    else:
        office_name = (f"Solicitor-General, State Courts of {' and '.join(alphabetical)} "
                       "Counties")
    row = {
        "office_id": f"ga-{_slug('-'.join(alphabetical))}-solicitor-general",
        "state": "GA", "office_name": office_name, "title": "Solicitor-General",
        "kind": "county" if len(names) == 1 else "multi_county",
        "county_fips": ";".join(sorted(fips)), "places": "", "selection": "elected",
        "handles": "misdemeanor", "officeholder": "", "officeholder_as_of": "", "email": "",
        "phone": "", "website": "", "source_url": PACGA_URL, "mailing_address": "",
        "notes": ("Elected county prosecutor of misdemeanors/traffic in the State Court "
                  "(O.C.G.A. 15-18-60: each State Court has an elected solicitor-general unless "
                  "a local law has the DA serve). Added from the Prosecuting Attorneys' Council "
                  f"of Georgia directory (person {person['person_id']}, {person['circuit']} "
                  "Circuit; via enukenuk/georgia-prosecutors), about 2025."),
    }
    return row


# --- the harvest of public pages ---------------------------------------------------------------

def harvest_leads(build: Build, harvest: list[dict[str, str]], disputed: set[str]) -> None:
    """The harvest's values: verified where its notes carry no caveat and the page is the
    office's own, leads otherwise; an undated officeholder is not entered (the roster names
    a prosecutor only from a dated source)."""
    for seen in harvest:
        office_id = seen["office_id"]
        row = build.by_id[office_id]
        pages = [u.strip() for u in seen["source_url"].split("|") if u.strip()]
        own_hosts = {_host(u) for u in (seen["website"], row["website"]) if u}
        own = bool(pages) and _host(pages[0]) in own_hosts
        caveat = HARVEST_CAVEAT.search(seen["notes"])
        status = "verified" if own and not caveat else "lead"
        why = (f"caveat in its notes ({caveat.group()!r})" if caveat else
               "" if own else "page is not the office's own")
        note = f"harvest {HARVEST_READ}" + (f"; {why}" if why else "") + \
            f"; notes: {seen['notes'][:300]}"
        url = pages[0] if pages else ""
        for name in ("phone", "email", "website"):
            if seen[name]:
                build.offer(Lead(office_id, name, seen[name], status, "harvest", url,
                                 HARVEST_READ, note))
        if seen["contact_url"]:
            build.summary.rejected.append(f"harvest {office_id} contact page "
                                          f"{seen['contact_url']}: the roster has no such field")
        if seen["officeholder"]:
            as_of = _as_of(seen["officeholder_as_of"])
            if not as_of:
                build.summary.rejected.append(f"harvest {office_id} officeholder "
                                              f"{seen['officeholder']!r}: undated")
                continue
            name_status = "lead" if office_id in disputed or caveat or not own else "verified"
            build.offer(Lead(office_id, "officeholder", seen["officeholder"], name_status,
                             "harvest", url, as_of,
                             f"{note}; as of: {seen['officeholder_as_of']}"))


# --- the U.S. Prosecutor Database and the .gov registry -------------------------------------

def uspd_leads(build: Build, reference: Path) -> None:
    """Phones, emails and websites (never names) of the U.S. Prosecutor Database, all leads;
    a record whose ZIP is in another state (a same-named county elsewhere) is dropped, and a
    phone whose area code is another state's."""
    import zipcodes  # build-time only dependency

    for record in read_csv(reference / "contacts" / "uspd_leads.csv"):
        office_id = record["office_id"]
        if not office_id:
            continue
        state = build.by_id[office_id]["state"]
        file = record["src"].removeprefix("uspd:")
        zip_code = record["zip"][:5]
        found = zipcodes.matching(zip_code) if re.fullmatch(r"\d{5}", zip_code) else []
        if found and found[0]["state"] != state:
            build.summary.rejected.append(f"uspd {office_id}: record's ZIP {zip_code} is in "
                                          f"{found[0]['state']}, not {state}")
            continue
        commit = USPD_COMMITS.get(file, USPD_HEAD)
        url = f"{USPD_REPO}/blob/{commit}/{file}"
        note = USPD_NOTE.format(file=file)
        phone = record["phone"]
        extension = re.search(r"\s*(ext\.?|x)[:\s]*(\d+)\s*$", phone, re.IGNORECASE)
        if extension:
            phone = phone[: extension.start()].strip()
            note += f"; extension {extension.group(2)}"
        if phone and area_code_state(phone) not in (state, None):
            build.summary.rejected.append(f"uspd {office_id} phone {phone!r}: area code of "
                                          f"{area_code_state(phone)}, not {state}")
            phone = ""
        for name, value in (("phone", phone), ("email", record["email"]),
                            ("website", record["website"])):
            if value:
                build.offer(Lead(office_id, name, value, "lead", "uspd", url, USPD_AS_OF, note))


def dotgov_leads(build: Build, reference: Path) -> None:
    """A registered .gov domain named for the office, as a website lead where it has none."""
    for domain in read_csv(reference / "contacts" / "dotgov_prosecutor_domains.csv"):
        if domain["office_id"] and domain["website"]:
            build.offer(Lead(domain["office_id"], "website", domain["website"], "lead",
                             "dotgov", DOTGOV_URL, DOTGOV_AS_OF,
                             f".gov registry (CISA/GSA, CC0): {domain['domain']} registered "
                             f"to {domain['name']!r}; a registration is no proof a site is "
                             "served there"))


def add_contacts(rows: list[dict[str, str]], reference: Path
                 ) -> tuple[list[dict[str, str]], list[dict[str, str]], Summary]:
    """The rows with every lead built in, the contact-sources rows (one per non-empty contact
    value, sorted as the roster is) and what was done."""
    for row in rows:
        row.setdefault("mailing_address", "")
    build = Build(rows)
    harvest = read_csv(reference / "contacts" / "harvest_2026-12.csv")
    disputed = apply_harvest_flags(build, harvest)
    jurisdiction_sources(build, reference)
    for office_id in disputed:
        lead = build.sources[(office_id, "officeholder")]
        build.sources[(office_id, "officeholder")] = Lead(
            **{**lead.row(), "status": "lead",
               "note": f"{lead.note}; disputed by the harvest {HARVEST_READ}: verify"})
    pacga(build, reference)
    harvest_leads(build, harvest, disputed)
    uspd_leads(build, reference)
    dotgov_leads(build, reference)
    build.rows.sort(key=lambda r: (r["state"], r["office_id"]))
    order = {row["office_id"]: i for i, row in enumerate(build.rows)}
    missing = [(r["office_id"], n) for r in build.rows for n in CONTACT_FIELDS
               if r.get(n) and (r["office_id"], n) not in build.sources]
    if missing:
        raise SystemExit(f"contact values without a source: {missing[:5]}")
    sources = sorted(build.sources.values(),
                     key=lambda s: (order[s.office_id], CONTACT_FIELDS.index(s.field)))
    return build.rows, [s.row() for s in sources], build.summary


__all__ = ["CONTACT_SOURCE_COLUMNS", "add_contacts"]
