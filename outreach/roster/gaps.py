"""`outreach roster gaps`: the offices that serve the most signers and lack a contact (or have
a phone their callers reported wrong).

Data in, report out: the caller (the CLI, the dashboard) reads the audience and the bounced
offices from the store and picks the campaign's audience, so the roster layer needs neither
campaigns nor SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date

import pandas as pd

from outreach.roster.coverage import people_served
from outreach.roster.offices import Office, Roster
from outreach.us.counties import Counties

# What `missing` may list, in this order. The officeholder is "missing" without a name and
# "stale" with a name not confirmed within OUTREACH_ROSTER_STALE_DAYS (messages then address
# the office by title): finding a name and confirming one are different calls.
MISSING_LABELS = ("phone", "email", "officeholder missing", "officeholder stale",
                  "number reported wrong")


def signers_served(frame: pd.DataFrame) -> Counter[str]:
    """office_id -> the signers of `frame` (with felony_office_id and misdemeanor_office_id)
    matched to it, as felony or as misdemeanor office."""
    served = Counter(frame["felony_office_id"].dropna())
    served.update(frame["misdemeanor_office_id"].dropna())
    return served


def ranked_offices(roster: Roster, served: Counter[str],
                   people: dict[str, int]) -> list[tuple[Office, int]]:
    """(office, signers) for every office in force, and every office out of force that still
    has signers (matched before it ended), most signers first, then most people served: where
    a contact reaches the most people who asked, and then the most who could ask."""
    offices = {o.office_id: o for o in roster.offices}
    for office_id in served:
        if office_id not in offices:
            try:
                offices[office_id] = roster.office(office_id)
            except KeyError:
                continue  # matched to an office the roster no longer knows
    return sorted(((o, served[o.office_id]) for o in offices.values()),
                  key=lambda pair: (-pair[1], -people.get(pair[0].office_id, 0),
                                    pair[0].office_id))


def missing_labels(office: Office, day: date, stale_days: int,
                   wrong_number_reports: int = 0) -> list[str]:
    """What `roster gaps` says the office lacks (MISSING_LABELS); `wrong_number_reports`:
    callers who reported its phone wrong since the phone was last set."""
    holder = office.officeholder_state(day, stale_days)
    return [label for label, lacking in (
        ("phone", not office.phone), ("email", not office.email),
        ("officeholder missing", holder == "missing"),
        ("officeholder stale", holder == "stale"),
        ("number reported wrong", bool(office.phone and wrong_number_reports))) if lacking]


def gaps(frame: pd.DataFrame, roster: Roster, bounced: set[str], stale_days: int, day: date,
         *, counties: Counties, campaign: str | None = None,
         wrong_numbers: Mapping[str, int] | None = None) -> dict[str, object]:
    """Offices that lack a phone, an email or a current officeholder, ranked by how many
    matched signers of `frame` (the audience, with its felony_office_id and
    misdemeanor_office_id) they serve, then by the people they serve (2020 Census,
    `people_served`): the contacts worth finding first. Offices no signer is matched to
    follow, by people served. `bounced`: the offices whose email bounced; `campaign`: the name
    the report gives the audience (None: every signer); `wrong_numbers`: office -> callers who
    reported its phone wrong on their call page since it was last corrected
    (outreach.campaigns.calls), listed as "number reported wrong"."""
    wrong_numbers = wrong_numbers or {}
    served = signers_served(frame)
    people = int(frame["felony_office_id"].notna().sum())
    population = people_served(roster, counties)
    ranked: list[dict[str, object]] = []
    covered: Counter[str] = Counter()
    for office, count in ranked_offices(roster, served, population):
        holder = office.officeholder_state(day, stale_days)
        for label, present in (("phone", office.phone), ("email", office.email),
                               ("website", office.website),
                               ("current officeholder", holder == "current")):
            if present and office.prosecutes_felonies:
                covered[label] += count
        missing = missing_labels(office, day, stale_days,
                                 wrong_numbers.get(office.office_id, 0))
        if missing:
            ranked.append({"office_id": office.office_id, "office_name": office.office_name,
                           "state": office.state, "signers": count,
                           "people_served": population.get(office.office_id, 0),
                           "missing": missing, "officeholder": holder,
                           "email_bounced": office.office_id in bounced,
                           "number_reported_wrong": wrong_numbers.get(office.office_id, 0),
                           "website": office.website})
    return {"signers_matched": people, "campaign": campaign,
            "share_covered": {label: round(covered[label] / people, 4) if people else 0.0
                              for label in ("phone", "email", "website",
                                            "current officeholder")},
            "offices": ranked}
