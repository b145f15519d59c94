"""SMS encoding and segment counting, as carriers bill them (and Twilio documents them).

GSM-7 (3GPP TS 23.038): basic characters cost 1 septet, the extension table ({ } [ ] ~ \\ ^ | €,
form feed) 2 (an escape and the character); 160 septets fit one message, 153 per segment once
split (the user-data header takes the rest). Any character outside GSM-7 makes the whole
message UCS-2: 70 UTF-16 code units in one message, 67 per segment, an emoji counting 2. A split
never cuts an escape pair or a surrogate pair: such a pair moves whole to the next segment.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Typographic characters that silently switch a message to UCS-2 (halving what fits), and the
# GSM-7 characters that read the same.
TYPOGRAPHIC = str.maketrans({
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "“": '"', "”": '"', "„": '"', "″": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "…": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "•": "-",
})

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PER_SEGMENT = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SmsSegments:
    encoding: str  # "GSM-7" | "UCS-2"
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    non_gsm_characters: tuple[str, ...] = ()  # what forced UCS-2, to show the organizer


def normalize_typography(text: str) -> str:
    """Curly quotes, dashes, ellipses and odd spaces -> their GSM-7 look-alikes."""
    return text.translate(TYPOGRAPHIC)


def _unit_costs(text: str) -> tuple[str, list[int], tuple[str, ...]]:
    outside = tuple(dict.fromkeys(c for c in text
                                  if c not in GSM7_BASIC and c not in GSM7_EXTENSION))
    if not outside:
        return "GSM-7", [2 if c in GSM7_EXTENSION else 1 for c in text], ()
    return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text], outside


def sms_segments(text: str) -> SmsSegments:
    """Encoding, segment count and length of a message as it will be sent."""
    encoding, costs, outside = _unit_costs(text)
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return SmsSegments(encoding, 1 if units else 0, units, outside)
    limit, segments, used = PER_SEGMENT[encoding], 1, 0
    for cost in costs:  # a 2-unit character (escape or surrogate pair) is never split
        if used + cost > limit:
            segments, used = segments + 1, 0
        used += cost
    return SmsSegments(encoding, segments, units, outside)
