"""/packet/<token>: an office's delivery packet, the PDF an office digest links to (issue 17.5).

The packet lists the office's constituents by name and town, which is what the petition
asks to deliver to that office, and to nobody else: so the link is a 256-bit token made for
that office (outreach.campaigns.packets.issue_link), it expires (OUTREACH_PACKET_LINK_DAYS),
an organizer can revoke it (`outreach packet-links revoke`), and an unknown, expired or
revoked token all get the same 404. The PDF is made when asked, from the store as it is
then (names and towns only: the query behind it reads no email, phone or street), never
cached by a browser or proxy, and each download is counted on the link.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from outreach.campaigns.packets import build_packet
from outreach.errors import ConfigError
from outreach.store.packets import count_download, live_link_office
from outreach.web.deps import StateDep
from outreach.web.security import client_address

if TYPE_CHECKING:  # the PDF library (fpdf2, about 30 MB resident) loads with the first packet
    from outreach.campaigns.packet_documents import PacketFont

log = logging.getLogger("outreach.web")
router = APIRouter()
# A packet of a big office takes seconds of CPU: a few per minute is plenty for an office,
# and keeps one client from tying up the web process's threads.
PACKET_RATE = "10/minute"
GONE = ("This packet link is unknown, has expired or was revoked. Ask the campaign that sent "
        "it for a new one.")


def packet_font(configured: Path | None) -> PacketFont | None:
    """The font a packet served by the web app embeds: a bad OUTREACH_PACKET_FONT is logged
    and the page still serves, without accents (the CLI refuses it instead)."""
    from outreach.campaigns.packet_documents import find_font

    try:
        return find_font(configured)
    except ConfigError as error:  # the CLI refuses; a page still serves, without accents
        log.error("packet font: %s", error)
        return None


@router.get("/packet/{token}")
def packet(request: Request, state: StateDep, token: str) -> Response:
    if not state.limits.allow(PACKET_RATE, "packet", client_address(request)):
        raise HTTPException(429, "Too many packet downloads from your connection. Please "
                                 "wait a minute and try again.", headers={"Retry-After": "60"})
    now = state.clock()
    with state.engine.connect() as connection:
        office_id = live_link_office(connection, token, now)
    if office_id is None:
        raise HTTPException(404, GONE)
    try:
        office = state.geo.roster.office(office_id)
    except KeyError:  # the roster dropped the office since the link was made
        raise HTTPException(404, GONE) from None
    identity = state.identity()
    with state.engine.connect() as connection:
        found = build_packet(connection, office, organization=identity["organization"],
                             mailing_address=identity["mailing_address"], now=now)
    from outreach.campaigns.packet_documents import packet_pdf  # see PacketFont above

    document = packet_pdf(found, packet_font(state.settings.campaigns.packet_font))
    with state.engine.begin() as connection:
        count_download(connection, token, now)
    log.info("packet of %s downloaded (%d constituents)", office_id, found.count)
    return Response(document.data, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="packet-{office_id}.pdf"',
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow"})
