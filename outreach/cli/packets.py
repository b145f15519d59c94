"""`outreach packet` and `outreach packet-links ...`: delivery packets for prosecutors' offices
(outreach.campaigns.packets, .packet_documents) and the links office digests carry to them."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Connection

from outreach.campaigns.definitions import find_campaign
from outreach.campaigns.packets import (
    FORMATS,
    Format,
    Packet,
    audience_ids,
    build_packet,
    issue_link,
    offices_with_constituents,
)
from outreach.cli.common import DATE, _print_json, _store, _to_date, clear_errors, json_option
from outreach.config import Settings
from outreach.errors import InputError
from outreach.ops.wiring import campaign_sender, default_sender
from outreach.roster.corrections import effective_roster
from outreach.roster.offices import Office, Roster
from outreach.store.db import as_utc
from outreach.store.packets import link_rows, revoke_links

if TYPE_CHECKING:
    from outreach.campaigns.packet_documents import Document, PacketFont


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container: still say it was the CLI
        return "unknown"


def _office(roster: Roster, office_id: str) -> Office:
    try:
        return roster.office(office_id)
    except KeyError:
        raise InputError(f"no office {office_id!r} in the roster (`outreach lookup ADDRESS` "
                         "names an address's offices)") from None


def _write(output: Path, data: bytes) -> None:
    if str(output) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as error:
        raise InputError(f"{output}: cannot write it ({error.strerror})") from None


def _warn_unprintable(document: Document, where: str) -> None:
    if document.unprintable_names:
        click.echo(f"warning: {where}: {document.unprintable_names} names or towns are in a "
                   "script the PDF's font cannot print (marked in the PDF; the CSV has them)",
                   err=True)


@click.command("packet")
@click.argument("office_id", required=False)
@click.option("--state", help="Every office of this state (USPS code) with constituents, as "
                              "one zip of packets and an index.csv.")
@click.option("--campaign", help="Only this campaign's audience (its filters).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="pdf", show_default=True,
              help="PDF to print and deliver, or CSV of the names and towns.")
@click.option("--output", type=click.Path(path_type=Path),
              help="Where to write it (`-`: standard output); default packet-OFFICE_ID.FORMAT, "
                   "or packets-STATE.zip.")
@click.option("--from", "signed_from", type=DATE, callback=_to_date,
              help="Only signatures from this day (YYYY-MM-DD, UTC).")
@click.option("--to", "signed_to", type=DATE, callback=_to_date,
              help="Only signatures through this day (YYYY-MM-DD, UTC).")
@json_option
@clear_errors
def packet_command(office_id: str | None, state: str | None, campaign: str | None, fmt: Format,
                   output: Path | None, signed_from: date | None, signed_to: date | None,
                   as_json: bool) -> None:
    """Write an office's delivery packet: the petition's three demands, how many of its
    constituents signed, their names and towns (never an email, phone or street), the days
    they signed and the office's recorded positions; or, with --state, every office's."""
    if (office_id is None) == (state is None):
        raise click.UsageError("give an OFFICE_ID or --state, not both")
    if signed_from and signed_to and signed_from > signed_to:
        raise click.UsageError(f"--from {signed_from} is after --to {signed_to}")
    # Here, not at the top: the PDF library takes about a second to import, and every other
    # `outreach` command would pay it.
    from outreach.campaigns.packet_documents import find_font, packet_document

    settings = Settings.from_env()
    font = find_font(settings.campaigns.packet_font) if fmt == "pdf" else None
    if fmt == "pdf" and font is None:
        click.echo("warning: no Unicode font found (Debian's fonts-dejavu-core, or "
                   "OUTREACH_PACKET_FONT): accents outside Latin-1 are dropped, as the PDF "
                   "says", err=True)
    chosen = find_campaign(settings.campaigns.jobs_dir, campaign) if campaign else None
    sender = campaign_sender(settings, chosen) if chosen else default_sender(settings)
    engine = _store()
    roster = effective_roster(settings, engine=engine)
    now = datetime.now(UTC)
    with engine.connect() as connection:
        audience = audience_ids(connection, chosen) if chosen else None

        def packet_of(office: Office) -> Packet:
            return build_packet(connection, office, organization=sender.organization,
                                mailing_address=sender.mailing_address, now=now,
                                signed_from=signed_from, signed_to=signed_to,
                                audience=audience, campaign=chosen.name if chosen else None)

        if office_id is not None:
            packet = packet_of(_office(roster, office_id))
            document = packet_document(packet, fmt, font)
            target = output or Path(f"packet-{office_id}.{fmt}")
            _write(target, document.data)
            _warn_unprintable(document, office_id)
            report: dict[str, Any] = {"file": str(target), "format": fmt,
                                      **packet.summary(),
                                      "unprintable_names": document.unprintable_names}
        else:
            report = _state_archive(connection, roster, str(state).upper(), packet_of, fmt,
                                    font, output)
    if as_json:
        _print_json(report)
    elif office_id is not None:  # beside a packet written to standard output: stderr
        click.echo(_described(report), err=report["file"] == "-")
    else:
        click.echo(f"wrote {report['file']}: {len(report['offices'])} offices of "
                   f"{report['state']} with constituents, {report['constituents']:,} "
                   "constituents in all, and index.csv")


def _described(report: dict[str, Any]) -> str:
    days = (f", signed {report['first_signed']} to {report['last_signed']}"
            if report["constituents"] else "")
    where = "" if report["file"] == "-" else f"wrote {report['file']}: "
    return (f"{where}{report['constituents']:,} constituents of {report['office_name']}"
            f"{days}; stance {report['stance']}")


def _state_archive(connection: Connection, roster: Roster, state: str,
                   packet_of: Callable[[Office], Packet], fmt: Format, font: PacketFont | None,
                   output: Path | None) -> dict[str, Any]:
    offices = [o for o in roster.offices if o.state == state]
    if not offices:
        raise InputError(f"--state {state}: no office of that state in the roster (a USPS "
                         "code such as PA)")
    candidates = offices_with_constituents(connection, offices)
    packets = (p for p in (packet_of(o) for o, _ in candidates) if p.count)
    target = output or Path(f"packets-{state}.zip")
    if str(target) == "-":
        raise click.UsageError("--state writes a zip file: give --output FILE.zip")
    from outreach.campaigns.packet_documents import write_archive  # see packet_command

    try:
        with target.open("wb") as handle:
            entries = write_archive(packets, fmt, font, handle)
    except OSError as error:
        raise InputError(f"{target}: cannot write it ({error.strerror})") from None
    for entry in entries:
        if entry.unprintable_names:
            click.echo(f"warning: {entry.office.office_id}: {entry.unprintable_names} names "
                       "or towns are in a script the PDF's font cannot print", err=True)
    return {"file": str(target), "state": state, "format": fmt,
            "constituents": sum(e.constituents for e in entries),
            "offices": [e.to_dict() for e in entries]}


@click.group("packet-links")
def packet_links() -> None:
    """The links to offices' packets that office digests carry (unguessable, expiring)."""


@packet_links.command("issue")
@click.argument("office_id")
@click.option("--days", type=click.IntRange(1, 366), help="How long it opens the packet "
              "(default OUTREACH_PACKET_LINK_DAYS).")
@json_option
@clear_errors
def links_issue(office_id: str, days: int | None, as_json: bool) -> None:
    """Make a new link to an office's packet, to send the office yourself. Whoever has it
    can read the names and towns of the office's constituents until it expires."""
    settings = Settings.from_env()
    public_url = settings.compliance.public_url
    if not public_url:
        raise InputError("OUTREACH_PUBLIC_URL is not set: a packet link points at the web "
                         "app's public address")
    engine = _store()
    _office(effective_roster(settings, engine=engine), office_id)
    lifetime = timedelta(days=days or settings.campaigns.packet_link_days)
    with engine.begin() as connection:
        link = issue_link(connection, office_id, now=datetime.now(UTC), lifetime=lifetime,
                          issued_by=f"cli:{_who()}", reuse=False)
    url = f"{public_url}/packet/{link.token}"
    if as_json:
        _print_json({"office_id": office_id, "url": url,
                     "expires_at": link.expires_at.isoformat()})
    else:
        click.echo(f"{url}\n(opens {office_id}'s packet until "
                   f"{link.expires_at:%Y-%m-%d %H:%M} UTC; "
                   f"`outreach packet-links revoke {office_id}` ends it sooner)")


@packet_links.command("list")
@click.argument("office_id", required=False)
@json_option
@clear_errors
def links_list(office_id: str | None, as_json: bool) -> None:
    """Every link issued (of this office, or of all), newest first; tokens are not shown."""
    now = datetime.now(UTC)
    with _store().connect() as connection:
        rows = link_rows(connection, office_id)
    links = []
    for row in rows:
        expires = as_utc(row.expires_at)
        state = "revoked" if row.revoked_at else "expired" if expires <= now else "live"
        links.append({"id": row.id, "office_id": row.office_id, "issued_by": row.issued_by,
                      "created_at": as_utc(row.created_at).isoformat(),
                      "expires_at": expires.isoformat(), "state": state,
                      "downloads": row.downloads,
                      "last_download_at": as_utc(row.last_download_at).isoformat()
                      if row.last_download_at else None})
    if as_json:
        _print_json({"links": links})
        return
    for link in links:
        click.echo(f"{link['id']}\t{link['office_id']}\t{link['state']}\t"
                   f"expires {link['expires_at'][:10]}\t{link['downloads']} downloads\t"
                   f"({link['issued_by']})")
    if not links:
        click.echo("no packet links issued")


@packet_links.command("revoke")
@click.argument("office_id", required=False)
@click.option("--all", "every", is_flag=True, help="Every office's links.")
@json_option
@clear_errors
def links_revoke(office_id: str | None, every: bool, as_json: bool) -> None:
    """End an office's packet links (or every office's) now: they answer 404 from then on,
    and the next digest to the office carries a new one."""
    if (office_id is None) == (not every):
        raise click.UsageError("give an OFFICE_ID or --all")
    with _store().begin() as connection:
        revoked = revoke_links(connection, office_id, datetime.now(UTC))
    if as_json:
        _print_json({"office_id": office_id, "revoked": revoked})
    else:
        click.echo(f"revoked {revoked} link(s)")
