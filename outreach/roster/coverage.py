"""What the roster covers and what it lacks: the `outreach roster check` report, the people
each office serves, and the officeholder entries too old to trust."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date

from outreach.config import default_of
from outreach.roster.offices import Office, Roster, as_of_end
from outreach.us.counties import Counties

__all__ = ["COVERAGE_FIELDS", "as_of_end", "coverage_report", "people_served",
           "population_coverage", "stale_officeholders"]

# What `coverage.population` weighs: the contact fields, the officeholder only where a message
# may name them today (Office.officeholder_state).
COVERAGE_FIELDS = ("phone", "email", "website", "officeholder_current", "mailing_address")
STALE_DAYS: int = default_of("OUTREACH_ROSTER_STALE_DAYS")


def _shares(roster: Roster, counties: Counties) -> dict[str, list[tuple[Office, float]]]:
    """county FIPS -> (office, the part of the county's people credited to it) for every
    office in force there. A county's people are split equally among the offices of the same
    role there (felony offices among felony offices; misdemeanor-only offices among the
    offices that prosecute misdemeanors there): data/ has no town populations, so a county
    split by town (Connecticut's judicial districts, Worcester's Athol) and a county shared by
    two district attorneys (Texas) are shared alike. data/README.md says what that costs."""
    found: dict[str, list[tuple[Office, float]]] = defaultdict(list)
    for fips, offices in roster.by_county.items():
        if fips not in counties:
            continue
        people = counties[fips].population
        felony = [o for o in offices if o.prosecutes_felonies]
        misdemeanor = [o for o in offices if o.prosecutes_misdemeanors]
        found[fips].extend((o, people / len(felony)) for o in felony)
        found[fips].extend((o, people / len(misdemeanor)) for o in misdemeanor
                           if not o.prosecutes_felonies)
    return found


def people_served(roster: Roster, counties: Counties) -> dict[str, int]:
    """office_id -> the 2020 Census population it serves (its equal part of each county it
    shares, `_shares`): what `roster gaps` and the call sheet rank by after signers."""
    served: defaultdict[str, float] = defaultdict(float)
    for parts in _shares(roster, counties).values():
        for office, people in parts:
            served[office.office_id] += people
    return {office.office_id: round(served[office.office_id]) for office in roster.offices}


def population_coverage(roster: Roster, counties: Counties,
                        stale_days: int = STALE_DAYS) -> dict[str, float]:
    """field -> the share (0..1, 4 decimals) of the U.S. population (the 50 states and DC,
    2020 Census) whose felony office has it: a lead counts (a message may use it), an
    officeholder only if current on the roster's day. Where several felony offices serve a
    county, each carries its equal part of the county (`_shares`); a county without a felony
    office counts as uncovered."""
    total = counties.population
    covered: defaultdict[str, float] = defaultdict(float)
    for parts in _shares(roster, counties).values():
        for office, people in parts:
            if not office.prosecutes_felonies:
                continue
            for name in COVERAGE_FIELDS:
                has = office.officeholder_state(roster.day, stale_days) == "current" \
                    if name == "officeholder_current" else bool(getattr(office, name))
                if has:
                    covered[name] += people
    return {name: round(covered[name] / total, 4) if total else 0.0
            for name in COVERAGE_FIELDS}


def _missing(offices: Iterable[Office], attribute: str) -> int:
    return sum(1 for office in offices if not getattr(office, attribute))


def coverage_report(roster: Roster, counties: Counties,
                    stale_days: int = STALE_DAYS) -> dict[str, object]:
    """What the roster covers and what it lacks: the `outreach roster check` report (counts
    of offices, and `coverage.population`: shares of the people served)."""
    felony_counties = {f for o in roster.offices if o.prosecutes_felonies for f in o.county_fips}
    misdemeanor_counties = {f for o in roster.offices if o.prosecutes_misdemeanors
                            for f in o.county_fips}
    split_counties = sorted({f for o in roster.offices for f in o.places})
    no_contact = [o.office_id for o in roster.offices if not (o.email or o.phone or o.website)]
    return {
        "offices": len(roster),
        "states": len({o.state for o in roster.offices}),
        "offices_per_state": dict(sorted(Counter(o.state for o in roster.offices).items())),
        "felony_offices": sum(1 for o in roster.offices if o.prosecutes_felonies),
        "misdemeanor_only_offices": sum(1 for o in roster.offices if o.handles == "misdemeanor"),
        "appointed_offices": sum(1 for o in roster.offices if o.selection == "appointed"),
        "counties_total": len(counties),
        "counties_uncovered": sorted(set(counties.by_fips) - felony_counties),
        "counties_without_misdemeanor_office": sorted(set(counties.by_fips)
                                                      - misdemeanor_counties),
        "counties_split_by_place": split_counties,
        "offices_without_email": _missing(roster.offices, "email"),
        "offices_without_phone": _missing(roster.offices, "phone"),
        "offices_without_website": _missing(roster.offices, "website"),
        "offices_without_officeholder": _missing(roster.offices, "officeholder"),
        "offices_without_any_contact": len(no_contact),
        "offices_to_verify": sum(1 for o in roster.offices if "verify" in o.notes.lower()),
        "offices_with_stale_officeholder": sum(
            1 for o in roster.offices if o.officeholder_state(roster.day, stale_days) == "stale"),
        "coverage": {"population": population_coverage(roster, counties, stale_days)},
    }


def stale_officeholders(roster: Roster, today: date, max_age_days: int) -> list[Office]:
    """Offices whose officeholder a message may not name on `today` (no name, or one not
    confirmed within `max_age_days`: Office.officeholder_state): the nightly check's list of
    entries to verify, and the offices whose messages address them by title."""
    return [o for o in roster.offices
            if o.officeholder_state(today, max_age_days) != "current"]
