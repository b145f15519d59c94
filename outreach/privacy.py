"""Masking signers' contact details wherever text leaves the engine (logs, errors, reports).

Providers echo the recipient in their error texts ("The 'To' number +12155550100 is not a valid
phone number"); those texts are stored and shown to organizers, so they are scrubbed first.
"""

from __future__ import annotations


def mask(value: str) -> str:
    """ana.lopez@example.org -> a***@example.org; +12155550100 -> +1215***0100."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(value) > 7:
        return f"{value[:5]}***{value[-4:]}"
    return "***"


def scrub(text: str | None, *values: str) -> str | None:
    """The text with every occurrence of the given addresses masked."""
    if not text:
        return text
    for value in values:
        if value:
            text = text.replace(value, mask(value))
            if value.startswith("+1"):  # providers also print national formats
                text = text.replace(value[2:], mask(value[2:]))
    return text
