"""What the roster covers and what it lacks: the `outreach roster check` report and the
officeholder entries too old to trust."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta

from outreach.roster.offices import Office, Roster
from outreach.us.counties import Counties


def _missing(offices: Iterable[Office], attribute: str) -> int:
    return sum(1 for office in offices if not getattr(office, attribute))


def coverage_report(roster: Roster, counties: Counties) -> dict[str, object]:
    """What the roster covers and what it lacks: the `outreach roster check` report."""
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
    }


def as_of_end(as_of: str) -> date:
    """The latest day an as-of date can mean: 2024 -> 2024-12-31, 2024-03 -> 2024-03-31."""
    parts = [int(p) for p in as_of.split("-")]
    if len(parts) == 3:
        return date(*parts)
    year, month = parts[0], parts[1] if len(parts) == 2 else 12
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def stale_officeholders(roster: Roster, today: date, max_age_days: int) -> list[Office]:
    """Offices whose officeholder data is undated or older than `max_age_days`: the nightly
    check's list of entries to verify before a message names the wrong prosecutor."""
    return [o for o in roster.offices if not o.officeholder_as_of
            or (today - as_of_end(o.officeholder_as_of)).days > max_age_days]
