"""One-line U.S. addresses read into their parts: a street address, "City, ST", or a ZIP."""

from __future__ import annotations

import re
from dataclasses import dataclass

import usaddress

from outreach.errors import AddressError
from outreach.us.states import STATE_NAMES

_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")
# "City, ST" / "City, State 12345": no street part. usaddress, trained on street addresses,
# misreads some of these ("La Jolla, CA" -> a landmark "La" in "Jolla").
_CITY_STATE = re.compile(r"^(?P<city>[^,\d]+),\s*(?P<state>[A-Za-z][A-Za-z .]*?)\.?"
                         r"(?:\s+(?P<zip>\d{5}(?:-?\d{4})?))?$")


@dataclass(frozen=True)
class ParsedAddress:
    street: str
    city: str
    state: str
    zip: str


def _state_code(raw: str) -> str:
    text = " ".join(re.sub(r"[.,]", " ", raw).lower().split())
    if len(text) == 2:
        return text.upper()
    if text in STATE_NAMES:
        return STATE_NAMES[text]
    raise AddressError(f"{raw.strip()!r} is not a U.S. state")


def parse_address(text: str) -> ParsedAddress:
    """Split a one-line U.S. address (street address, "City, ST", or a bare ZIP)."""
    text = " ".join(text.split())
    if not text:
        raise AddressError("the address is empty")
    if match := _ZIP.match(text):
        return ParsedAddress("", "", "", match.group(1))
    if match := _CITY_STATE.match(text):
        return ParsedAddress("", match["city"].strip().title(), _state_code(match["state"]),
                             (match["zip"] or "")[:5])
    try:
        tagged, _ = usaddress.tag(text)
    except usaddress.RepeatedLabelError:
        raise AddressError("the address has parts we cannot tell apart (two ZIPs or two "
                           "states?): write it as 'street, city, ST ZIP'") from None
    zip_raw = tagged.get("ZipCode", "").strip()
    zip_code = ""
    if zip_raw:
        match = _ZIP.match(zip_raw)
        if not match:
            raise AddressError("the ZIP code is not 5 digits (or ZIP+4)")
        zip_code = match.group(1)
    state = _state_code(tagged["StateName"]) if tagged.get("StateName") else ""
    street_parts = [v for k, v in tagged.items()
                    if k.startswith(("AddressNumber", "StreetName", "Occupancy", "USPSBox"))]
    city = " ".join(tagged.get("PlaceName", "").replace(",", " ").split()).title()
    if not (zip_code or city):
        raise AddressError("no ZIP code and no city found: give a ZIP code, 'City, ST' or a "
                           "full street address")
    return ParsedAddress(" ".join(street_parts), city, state, zip_code)
