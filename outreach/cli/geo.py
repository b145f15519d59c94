"""`outreach lookup`: who prosecutes at one address."""

from __future__ import annotations

from datetime import date

import click

from outreach.cli.common import _print_json, clear_errors, date_option, json_option
from outreach.config import Settings
from outreach.geo.current import build_geo
from outreach.geo.locate import Lookup


@click.command()
@click.argument("address")
@date_option(help="The roster as in force on this day (default today).")
@json_option
@clear_errors
def lookup(address: str, on: date | None, as_json: bool) -> None:
    """The prosecutor office(s) for one U.S. address, ZIP code, or "City, ST"."""
    answer = build_geo(Settings.from_env(), on).lookup(address)
    if as_json:
        _print_json(answer.to_dict())
    else:
        click.echo(format_lookup(answer))


def format_lookup(answer: Lookup) -> str:
    where = answer.county_name or "several counties"
    lines = [f"{answer.input} -> {where} ({answer.state}); confidence: {answer.confidence}"
             + (f", via {answer.source}" if answer.source != "offline" else "")]
    if answer.geocoder_note:
        lines.append(f"  note: {answer.geocoder_note}")
    if answer.confidence == "ambiguous":
        for candidate in answer.candidates:
            names = "; ".join(o["office_name"] for o in candidate.offices)
            lines.append(f"  candidate {candidate.county_fips} {candidate.county_name}: {names}")
    for office in answer.offices:
        contact = office["phone"] or office["website"] or "no contact on file"
        holder = f", {office['officeholder']}" if office["officeholder"] else ""
        lines.append(f"  {office['office_name']} [{office['handles']}, {office['selection']}]"
                     f"{holder} - {contact}")
    return "\n".join(lines)
