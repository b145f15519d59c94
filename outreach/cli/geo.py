"""`outreach lookup`: who prosecutes at one address."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from outreach.cli.common import _print_json, clear_errors, date_option, json_option
from outreach.config import Settings
from outreach.geo.current import build_geo
from outreach.geo.locate import Lookup
from outreach.roster.offices import Roster


@click.command()
@click.argument("address")
@date_option(help="The roster as in force on this day (default today).")
@json_option
@clear_errors
def lookup(address: str, on: date | None, as_json: bool) -> None:
    """The prosecutor office(s) for one U.S. address, ZIP code, or "City, ST"."""
    settings = Settings.from_env()
    geo = build_geo(settings, on)
    answer = geo.lookup(address)
    statuses = officeholder_statuses(geo.roster, settings.data.roster_stale_days)
    if as_json:
        payload: dict[str, Any] = answer.to_dict()
        for office in [*payload["offices"],
                       *(o for c in payload["candidates"] for o in c["offices"])]:
            office["officeholder_status"] = statuses.get(office["office_id"], "missing")
        _print_json(payload)
    else:
        click.echo(format_lookup(answer, statuses))


def officeholder_statuses(roster: Roster, stale_days: int) -> dict[str, str]:
    """office_id -> current, stale or missing on the roster's day (Office.officeholder_state):
    a lookup shows the stored name, and says when messages would not use it."""
    return {o.office_id: o.officeholder_state(roster.day, stale_days) for o in roster.offices}


def percent(share: float) -> str:
    """0.977832 -> "97.8%"; never "100.0%" for a share short of the whole."""
    shown = f"{share:.1%}"
    return ">99.9%" if shown == "100.0%" and share < 1 else shown


def format_lookup(answer: Lookup, statuses: dict[str, str] | None = None) -> str:
    where = answer.county_name or "several counties"
    share = ""
    if answer.share is not None and answer.confidence == "zip":
        share = f", {percent(answer.share)} of the ZIP"
    elif answer.share is not None and answer.confidence == "ambiguous":  # the office is known
        share = f"; its felony office has {percent(answer.share)} of the ZIP"
    lines = [f"{answer.input} -> {where} ({answer.state}); confidence: {answer.confidence}"
             + share + (f", via {answer.source}" if answer.source != "offline" else "")]
    if answer.geocoder_note:
        lines.append(f"  note: {answer.geocoder_note}")
    if answer.confidence == "ambiguous":
        for candidate in answer.candidates:
            names = "; ".join(o["office_name"] for o in candidate.offices)
            part = f" ({percent(candidate.share)})" if candidate.share is not None else ""
            lines.append(f"  candidate {candidate.county_fips} {candidate.county_name}{part}: "
                         f"{names}")
    for office in answer.offices:
        contact = office["phone"] or office["website"] or "no contact on file"
        stale = (statuses or {}).get(office["office_id"]) == "stale"
        holder = f", {office['officeholder']}" if office["officeholder"] else ""
        if office["officeholder"] and stale:
            holder += (f" (stale: confirmed {office.get('officeholder_as_of') or 'never'}; "
                       "messages use the title)")
        lines.append(f"  {office['office_name']} [{office['handles']}, {office['selection']}]"
                     f"{holder} - {contact}")
    return "\n".join(lines)
