"""Delivery packets: the petition, delivered to one prosecutor as a document (issue 17.5).

A packet holds what the petition asks (its three demands), how many of the office's own
constituents signed and who they are (first and last name as given, and town: never an
email, a phone or a street, which the store query behind it does not even read), the days
they signed, the comments they left (the form collects none today: the packet says so), and
the office's recorded positions on each demand with their history. Printed and mailed, it is
the delivery that always arrives: ActionKit's guide to petition delivery calls printed
delivery the only method with 100% deliverability, and almost no office publishes an email.

This module reads a packet from the store, writes its CSV (through outreach.csvsafe, so a
signer who typed a formula as their name cannot run it in an organizer's spreadsheet) and
issues the links office digests carry. The PDF and the state archive are
outreach.campaigns.packet_documents, apart because the PDF library takes a second to import
and the worker, which renders digests with these links, never needs it.
"""

from __future__ import annotations

import io
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection

from outreach.campaigns.definitions import Campaign
from outreach.csvsafe import SafeCsvWriter
from outreach.roster.offices import Office
from outreach.roster.stances import (
    OfficeStance,
    StanceStatement,
    current_stances,
    history,
)
from outreach.store.db import as_utc
from outreach.store.packets import (
    Constituent,
    constituent_counts,
    constituents,
    insert_packet_link,
    live_link,
)

Format = Literal["pdf", "csv"]
FORMATS: tuple[Format, ...] = ("pdf", "csv")
# Said where comments would be: the petition form (templates/web/petition.html) and the
# signer files (outreach.signers.fields) have no comment field, and the store keeps none.
NO_COMMENTS = ("The petition form does not ask for comments, so this packet has none: "
               "each name below signed the three demands above.")
CSV_COLUMNS = ("office_id", "first_name", "last_name", "town", "signed_on")


@dataclass(frozen=True)
class Packet:
    """One office's packet, as every format renders it."""

    office: Office
    organization: str
    mailing_address: str  # the organization's, as its letters carry it
    constituents: tuple[Constituent, ...]
    stance: OfficeStance
    history: tuple[StanceStatement, ...]
    generated_at: datetime
    signed_from: date | None = None
    signed_to: date | None = None
    campaign: str | None = None
    # The signers' own words, when a form collects them (none does yet: see NO_COMMENTS).
    comments: tuple[str, ...] = field(default=())

    @property
    def count(self) -> int:
        return len(self.constituents)

    @property
    def first_signed(self) -> date | None:
        return min(c.signed_at for c in self.constituents).date() if self.constituents \
            else None

    @property
    def last_signed(self) -> date | None:
        return max(c.signed_at for c in self.constituents).date() if self.constituents \
            else None

    def listed(self) -> list[Constituent]:
        """The constituents by town, then last and first name: how an office reads a list of
        its residents (case and accents aside, so "Émile" sorts with "Emile")."""
        return sorted(self.constituents, key=lambda c: (_sort_key(c.city),
                                                        _sort_key(c.last_name),
                                                        _sort_key(c.first_name)))

    def summary(self) -> dict[str, object]:
        """Counts and dates only, never a name: what a command prints about a packet."""
        return {"office_id": self.office.office_id, "office_name": self.office.office_name,
                "constituents": self.count,
                "first_signed": iso_day(self.first_signed),
                "last_signed": iso_day(self.last_signed),
                "signed_from": iso_day(self.signed_from), "signed_to": iso_day(self.signed_to),
                "campaign": self.campaign, "stance": self.stance.summary,
                "stance_statements": len(self.history)}


def iso_day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _sort_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def audience_ids(connection: Connection, campaign: Campaign) -> list[int]:
    """The signer ids of a campaign's audience (its filters, outreach.campaigns.audience):
    a packet `--campaign C` holds only these. Only the ids leave this function. The frames'
    modules (pandas) load here: the worker renders packet links through this module and
    never needs them."""
    from outreach.campaigns.audience import select_audience
    from outreach.store.signers import audience_frame

    chosen = select_audience(audience_frame(connection), campaign)
    return [int(i) for i in chosen["id"]]


def build_packet(connection: Connection, office: Office, *, organization: str,
                 mailing_address: str, now: datetime, signed_from: date | None = None,
                 signed_to: date | None = None, audience: Sequence[int] | None = None,
                 campaign: str | None = None) -> Packet:
    """The office's packet from the store: its constituents (only those of `audience`, the
    signer ids of `campaign`'s audience, when given; signed between the two days, inclusive,
    when given) and its stance history."""
    people = constituents(connection, office.office_id, signed_from=signed_from,
                          signed_to=signed_to, signer_ids=audience)
    stance = current_stances(connection, [office.office_id]).get(
        office.office_id, OfficeStance(office.office_id))
    return Packet(office, organization, mailing_address, tuple(people), stance,
                  tuple(history(connection, [office.office_id])), now, signed_from,
                  signed_to, campaign)


def offices_with_constituents(connection: Connection, offices: Sequence[Office]
                              ) -> list[tuple[Office, int]]:
    """(office, constituents) for those of these offices anyone signed in, in order."""
    counts = constituent_counts(connection, [o.office_id for o in offices])
    return [(o, counts[o.office_id]) for o in offices if counts.get(o.office_id)]


# --- links: the office digest's way to its packet -------------------------------------------

@dataclass(frozen=True)
class PacketLink:
    token: str
    expires_at: datetime


def issue_link(connection: Connection, office_id: str, *, now: datetime, lifetime: timedelta,
               issued_by: str, reuse: bool = True) -> PacketLink:
    """A link token that opens this office's packet until it expires (`lifetime` from now).

    256 random bits: the token is the credential, as an unsubscribe token is, and a link
    that could be guessed would hand out names. Every digest to an office in the second half
    of a link's life gets a new one (`reuse`: the live one while it has more than half its
    lifetime left), so a daily digest does not mint a link a day, and the newest digest's link
    always has at least half its lifetime left."""
    if reuse:
        found = live_link(connection, office_id, now + lifetime / 2)
        if found is not None:
            return PacketLink(found.token, as_utc(found.expires_at))
    token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    insert_packet_link(connection, token, office_id, issued_by, now, expires_at)
    return PacketLink(token, expires_at)


# --- formats --------------------------------------------------------------------------------

def display_name(person: Constituent) -> str:
    return " ".join(p for p in (person.first_name.strip(), person.last_name.strip()) if p) \
        or "(no name given)"


def packet_csv(packet: Packet) -> str:
    """The constituents as CSV (one row each: office, first and last name, town, the day they
    signed), formula cells escaped."""
    handle = io.StringIO()
    writer = SafeCsvWriter(handle, CSV_COLUMNS)
    for person in packet.listed():
        writer.writerow((packet.office.office_id, person.first_name, person.last_name,
                         person.city, person.signed_at.date().isoformat()))
    return handle.getvalue()


