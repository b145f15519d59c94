"""Counts for the public scoreboard (/prosecutors): signers per county and per office, calls
per office. One GROUP BY each over the match table, whatever the number of signers; the web
layer keeps the answers for a minute and shows only the counts, never who.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from sqlalchemy import Connection, func, select

from outreach.store.schema import call_outcomes, signer_matches


def signers_by_county(connection: Connection, confidences: Collection[str]) -> dict[str, int]:
    """County FIPS -> signers matched to it with one of these confidences (an ambiguous
    address, between two counties, is counted in neither)."""
    county = signer_matches.c.county_fips
    return {fips: count for fips, count in connection.execute(
        select(county, func.count())
        .where(county.is_not(None), signer_matches.c.confidence.in_(list(confidences)))
        .group_by(county))}


def signers_by_office(connection: Connection) -> dict[str, int]:
    """Office id -> signers it prosecutes for: those whose felony office it is, plus those
    whose misdemeanor office it is (a signer whose office handles both counted once)."""
    felony, misdemeanor = signer_matches.c.felony_office_id, signer_matches.c.misdemeanor_office_id
    counts: Counter[str] = Counter()
    for office_id, count in connection.execute(
            select(felony, func.count()).where(felony.is_not(None)).group_by(felony)):
        counts[office_id] += count
    for office_id, count in connection.execute(
            select(misdemeanor, func.count())
            .where(misdemeanor.is_not(None),
                   (felony.is_(None)) | (felony != misdemeanor))
            .group_by(misdemeanor)):
        counts[office_id] += count
    return dict(counts)


def calls_by_office(connection: Connection) -> dict[str, int]:
    """Office id -> calls logged to it (one per signer, office and day: outreach.store.calls)."""
    office = call_outcomes.c.office_id
    return {office_id: count for office_id, count in connection.execute(
        select(office, func.count()).group_by(office))}
