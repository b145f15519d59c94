"""Masking signers' contact details wherever text leaves the engine (logs, errors, reports).

Providers echo the recipient in their error texts ("The 'To' number +12155550100 is not a valid
phone number"); those texts are stored and shown to organizers, so they are scrubbed first.
"""

from __future__ import annotations

import logging
import re


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


_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)")
_STREET = re.compile(r"\b\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][\w'.]*\s+){1,4}"
                     r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Dr|Drive|Ln|Lane|Way|"
                     r"Ct|Court|Pl|Place|Ter|Terrace|Pkwy|Parkway|Hwy|Highway)\b\.?")


def mask_text(text: str) -> str:
    """Any email, phone number or street address in free text, masked."""
    text = _EMAIL.sub(lambda m: mask(m.group(0)), text)
    text = _STREET.sub("[street address]", text)
    return _PHONE.sub(lambda m: mask(re.sub(r"[^\d+]", "", m.group(0))), text)


class MaskingFilter(logging.Filter):
    """Masks contact details in every log record, whatever the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = mask_text(message), None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def install_log_masking(level: int = logging.WARNING, json_lines: bool = False) -> None:
    """Log to stderr through the masking filter (every handler of the root logger); with
    json_lines, one JSON object per record (OUTREACH_LOG_FORMAT=json, for log shippers)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if json_lines:
            from pythonjsonlogger.json import JsonFormatter

            handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                               rename_fields={"levelname": "level",
                                                              "name": "logger"}))
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
