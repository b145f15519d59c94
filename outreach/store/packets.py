"""The statements behind delivery packets (issue 17.5): an office's constituents as a packet
shows them, how many each office has, and the packet links office digests carry.

A packet lists its signers' names and towns to their own prosecutor, which is the petition's
purpose; their emails, phones and streets are not the office's business. So the constituent
query selects first name, last name, city and signing time and nothing else: a packet cannot
leak a contact detail it never read. One statement per function, on the caller's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select, union, update

from outreach.store.db import as_utc, select_in
from outreach.store.schema import packet_links, signer_matches, signers


@dataclass(frozen=True)
class Constituent:
    """One signer as a packet shows them: the name as given and the town, nothing else."""

    first_name: str
    last_name: str
    city: str
    signed_at: datetime


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def constituents(connection: Connection, office_id: str, *,
                 signed_from: date | None = None, signed_to: date | None = None,
                 signer_ids: Sequence[int] | None = None) -> list[Constituent]:
    """The signers matched to this office as their felony or misdemeanor prosecutor (each
    once), who signed on or after `signed_from` and on or before `signed_to` (UTC days), and,
    given `signer_ids` (a campaign's audience), only those; oldest signature first."""
    query = (select(signers.c.first_name, signers.c.last_name, signers.c.city,
                    signers.c.signed_at)
             .join(signer_matches, signer_matches.c.signer_id == signers.c.id)
             .where(or_(signer_matches.c.felony_office_id == office_id,
                        signer_matches.c.misdemeanor_office_id == office_id))
             .order_by(signers.c.signed_at, signers.c.id))
    if signed_from is not None:
        query = query.where(signers.c.signed_at >= _day_start(signed_from))
    if signed_to is not None:
        query = query.where(signers.c.signed_at < _day_start(signed_to + timedelta(days=1)))
    rows = connection.execute(query) if signer_ids is None else \
        select_in(connection, query, signers.c.id, sorted({int(i) for i in signer_ids}))
    found = [Constituent(row.first_name or "", row.last_name or "", row.city or "",
                         as_utc(row.signed_at)) for row in rows]
    if signer_ids is not None:  # chunks come back in chunk order: one order for all
        found.sort(key=lambda c: c.signed_at)
    return found


def constituent_counts(connection: Connection,
                       office_ids: Sequence[str] | None = None) -> dict[str, int]:
    """office id -> how many signers are matched to it (as felony or misdemeanor office, each
    signer once), for the offices with any (of these offices, or of all)."""
    pairs = union(
        select(signer_matches.c.signer_id,
               signer_matches.c.felony_office_id.label("office_id"))
        .where(signer_matches.c.felony_office_id.is_not(None)),
        select(signer_matches.c.signer_id,
               signer_matches.c.misdemeanor_office_id.label("office_id"))
        .where(signer_matches.c.misdemeanor_office_id.is_not(None))).subquery()
    query = select(pairs.c.office_id, func.count()).group_by(pairs.c.office_id)
    if office_ids is not None:
        query = query.where(pairs.c.office_id.in_(list(office_ids)))
    return {office_id: count for office_id, count in connection.execute(query)}


def insert_packet_link(connection: Connection, token: str, office_id: str, issued_by: str,
                       now: datetime, expires_at: datetime) -> None:
    connection.execute(packet_links.insert().values(
        token=token, office_id=office_id, issued_by=issued_by[:200], created_at=now,
        expires_at=expires_at, downloads=0))


def constituent_count(connection: Connection, office_id: str) -> int:
    """How many signers are matched to this office (felony or misdemeanor, each once)."""
    return connection.execute(
        select(func.count()).select_from(signer_matches)
        .where(or_(signer_matches.c.felony_office_id == office_id,
                   signer_matches.c.misdemeanor_office_id == office_id))).scalar_one()


def live_link(connection: Connection, office_id: str,
              expiring_after: datetime) -> Row[Any, Any] | None:
    """Token and expiry of this office's unrevoked link that expires last, if that is after
    `expiring_after` (None: no such link)."""
    return connection.execute(
        select(packet_links.c.token, packet_links.c.expires_at)
        .where(packet_links.c.office_id == office_id, packet_links.c.revoked_at.is_(None),
               packet_links.c.expires_at > expiring_after)
        .order_by(packet_links.c.expires_at.desc(), packet_links.c.id.desc())
        .limit(1)).first()


def live_link_office(connection: Connection, token: str, now: datetime) -> str | None:
    """The office whose packet this token opens now (None: no such token, or it expired or
    was revoked: a caller answers all three alike)."""
    return connection.execute(
        select(packet_links.c.office_id)
        .where(packet_links.c.token == token, packet_links.c.revoked_at.is_(None),
               packet_links.c.expires_at > now)).scalar()


def count_download(connection: Connection, token: str, now: datetime) -> None:
    connection.execute(update(packet_links).where(packet_links.c.token == token).values(
        downloads=packet_links.c.downloads + 1, last_download_at=now))


def revoke_links(connection: Connection, office_id: str | None, now: datetime) -> int:
    """Revoke the unrevoked links of this office (None: of every office); how many."""
    statement = update(packet_links).where(packet_links.c.revoked_at.is_(None))
    if office_id is not None:
        statement = statement.where(packet_links.c.office_id == office_id)
    return connection.execute(statement.values(revoked_at=now)).rowcount


def link_rows(connection: Connection, office_id: str | None = None) -> list[Row[Any]]:
    """Every link (of this office, or of all), newest first, without its token: a listing is
    no place to copy credentials from."""
    query = select(packet_links.c.id, packet_links.c.office_id, packet_links.c.issued_by,
                   packet_links.c.created_at, packet_links.c.expires_at,
                   packet_links.c.revoked_at, packet_links.c.downloads,
                   packet_links.c.last_download_at).order_by(packet_links.c.id.desc())
    if office_id is not None:
        query = query.where(packet_links.c.office_id == office_id)
    return list(connection.execute(query))
