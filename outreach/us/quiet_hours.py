"""When a text or an office email may go out: U.S. quiet-hour rules and the time zones of a
number or an address, as pure functions of the clock (no store, no outreach imports beyond us/).

The sending gate (sending/compliance.py) applies them at send time and the planner's preview
(campaigns/planner.py) estimates them at plan time: one rule in one place below both, so the
preview cannot drift from what the gate will do.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import phonenumbers

from outreach.us.states import STATE_NAMES

FEDERAL_WINDOW = (time(8), time(21))
# Stricter state windows for texts, where the state's telephone-solicitation law sets one.
# Whether a law reaches non-commercial advocacy texts varies: stricter is the safe side.
STATE_WINDOWS: dict[str, tuple[time, time]] = {
    "FL": (time(8), time(20)),  # Fla. Stat. 501.059(8)(a) (Florida Telephone Solicitation Act)
    "OK": (time(8), time(20)),  # Okla. Stat. tit. 15, 775C.4 (Telephone Solicitation Act, 2022)
    "MD": (time(8), time(20)),  # Md. Code, Com. Law 14-4503 (Stop the Spam Calls Act, 2023)
    "WA": (time(8), time(20)),  # RCW 80.36.390(2)
}
US_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
            "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu")
OFFICE_HOURS = (time(9), time(17))  # Monday to Friday, the office's own time zone


def parse_windows(text: str) -> dict[str, tuple[time, time]]:
    """OUTREACH_SMS_WINDOWS, e.g. "TX=9-21,FL=8-20": organizers' own stricter rules."""
    windows = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        state, _, hours = part.partition("=")
        start, _, end = hours.partition("-")
        windows[state.strip().upper()] = (time(int(start)), time(int(end)))
    return windows


def _parse(phone: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return None


def _state_of(number: phonenumbers.PhoneNumber) -> str | None:
    # Imported on first use: the geocoding tables take half a second to import, which every
    # CLI command would pay at start-up for a module most commands never call.
    from phonenumbers import geocoder

    description = geocoder.description_for_number(number, "en")
    if ", " in description:
        return description.rsplit(", ", 1)[1]
    return STATE_NAMES.get(description.lower())


def area_code_state(phone: str) -> str | None:
    """The state a U.S. number's area code belongs to (None for non-geographic codes)."""
    number = _parse(phone)
    return _state_of(number) if number else None


@functools.cache
def _nanp_zones_by_area_code() -> dict[str, frozenset[str]]:
    """Every time zone any exchange of each North American area code lies in.

    libphonenumber's time-zone table maps prefixes, down to single exchanges, to IANA zones
    (423 is Central by default, but its Chattanooga and Tri-Cities exchanges are Eastern).
    A mobile keeps its number when its owner moves, so the exchange proves little; the whole
    area code's set of zones is the cautious answer. Built once (about 2,000 prefixes).
    """
    from phonenumbers.tzdata import TIMEZONE_DATA

    zones: dict[str, set[str]] = {}
    for prefix, names in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            zones.setdefault(prefix[1:4], set()).update(names)
    return {code: frozenset(names) for code, names in zones.items()}


def _zones_of(number: phonenumbers.PhoneNumber) -> frozenset[str]:
    """The time zones of the number's area code; empty when unknown or not geographic.

    Toll-free and personal-number codes (800, 500...) are listed for the whole of North
    America: that says nothing of where the person is, so it counts as unknown.
    """
    if number.country_code == 1:
        zones = _nanp_zones_by_area_code().get(
            phonenumbers.national_significant_number(number)[:3], frozenset())
    else:
        from phonenumbers import timezone

        zones = frozenset(timezone.time_zones_for_number(number))
    if not zones or "Etc/Unknown" in zones or set(US_ZONES) <= zones:
        return frozenset()
    return zones


def area_code_zones(phone: str) -> frozenset[str]:
    """The IANA time zones of a number's area code (empty: unknown, toll-free, unparseable)."""
    number = _parse(phone)
    return _zones_of(number) if number else frozenset()


def strictest_window(states: Sequence[str | None],
                     windows: dict[str, tuple[time, time]] = STATE_WINDOWS
                     ) -> tuple[time, time]:
    """The federal window narrowed by every named state's own rule."""
    chosen = [FEDERAL_WINDOW, *(windows[s] for s in states if s in windows)]
    return max(w[0] for w in chosen), min(w[1] for w in chosen)


def next_opening(now: datetime, zone: str, window: tuple[time, time],
                 weekdays_only: bool = False) -> datetime:
    """The next moment (now, if already inside) the window is open in `zone`."""
    tz = zoneinfo.ZoneInfo(zone)
    local = now.astimezone(tz)
    for days in range(0, 8):
        day = (local + timedelta(days=days)).date()
        if weekdays_only and day.weekday() >= 5:
            continue
        opening = datetime.combine(day, window[0], tz)
        closing = datetime.combine(day, window[1], tz)
        if local < closing:
            return max(opening, local).astimezone(now.tzinfo)
    raise ValueError("no opening within a week")


def opening_everywhere(now: datetime, zones: Sequence[str], window: tuple[time, time],
                       weekdays_only: bool = False) -> datetime:
    """The first moment from `now` at which the window is open in every one of the zones.

    Taking the latest of the zones' own next openings is not enough: at 21:30 Eastern the
    next Eastern opening (8:00) falls in Honolulu's night. So the candidate moves forward
    until every zone agrees (twice at most for U.S. zones, whose windows overlap daily).
    """
    candidate = now
    for _ in range(16):
        latest = max(next_opening(candidate, zone, window, weekdays_only) for zone in zones)
        if latest == candidate:
            return candidate
        candidate = latest
    raise ValueError("the windows of these time zones never overlap")


@dataclass(frozen=True)
class TextHours:
    """When a text to one recipient may go out: `window` must be open in each of `zones`."""

    zones: tuple[str, ...]
    window: tuple[time, time]

    def opening(self, now: datetime) -> datetime:
        """The first moment from `now` (now itself, if open) the text may go out."""
        return opening_everywhere(now, self.zones, self.window)


def text_hours(state: str | None, time_zone: str | None, phone: str,
               windows: dict[str, tuple[time, time]] = STATE_WINDOWS) -> TextHours:
    """The zones and window for this recipient: the one rule the gate and the plan share.

    The TCPA's hours are the called party's local time (47 CFR 64.1200(c)(1)); we cannot know
    whether the signer is at their address or where their area code is, so the text waits
    until it is allowed in both (the address's zone and every zone of the area code), under
    the strictest window of the address's state and the area code's state. Neither zone
    known: every U.S. zone.
    """
    number = _parse(phone)
    zones = set(_zones_of(number)) if number else set()
    if time_zone:
        zones.add(time_zone)
    window = strictest_window([state, _state_of(number) if number else None], windows)
    return TextHours(tuple(sorted(zones)) if zones else US_ZONES, window)
