"""Masking signers' contact details wherever text leaves the engine (logs, errors, reports).

Providers echo the recipient in their error texts ("The 'To' number +12155550100 is not a valid
phone number"); those texts are stored and shown to organizers, so they are scrubbed first.
"""

from __future__ import annotations

import logging
import os
import re

KEPT_DIGITS = 2  # of a phone number, only the last two digits stay visible
PRIVATE_UMASK = 0o077  # files 0600, folders 0700


def mask(value: str) -> str:
    """ana.lopez@example.org -> a***@example.org; +12155550100 -> +*********00.

    Enough to tell two of a signer's addresses apart, not to reach them: the earlier
    +1215***0100 (country, area code and last four kept) left 1,000 candidate numbers
    (security audit F16). Any number, U.S. or international, shows at most its last two
    digits; a value with fewer than 7 digits shows none."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    digits = sum(c.isdigit() for c in value)
    if not digits:
        return "***"
    hidden = digits - KEPT_DIGITS if digits >= 7 else digits
    masked = []
    for character in value:
        if character.isdigit() and hidden:
            character, hidden = "*", hidden - 1
        masked.append(character)
    return "".join(masked)


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
# International (E.164, 7 to 15 digits after the +, as stored and as providers and databases
# echo them: +442079460958, +44 20 7946 0958), the U.S. national shapes, and a bare run of 11 to
# 15 digits (an international number without its +).
_PHONE = re.compile(r"(?<![\w+])(?:\+\d(?:[\s.()-]{0,2}\d){6,14}"
                    r"|(?:1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}"
                    r"|\d{11,15})(?!\w)")
_STREET = re.compile(r"\b\d{1,6}\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][\w'.]*\s+){1,4}"
                     r"(?:St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Dr|Drive|Ln|Lane|Way|"
                     r"Ct|Court|Pl|Place|Ter|Terrace|Pkwy|Parkway|Hwy|Highway)\b\.?")


def mask_text(text: str) -> str:
    """Any email, phone number or street address in free text, masked."""
    text = _EMAIL.sub(lambda m: mask(m.group(0)), text)
    text = _STREET.sub("[street address]", text)
    return _PHONE.sub(lambda m: mask(m.group(0)), text)


# The attributes every LogRecord has; any other one came from `extra=` and JSON logs print it.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


class MaskingFilter(logging.Filter):
    """Masks contact details in every log record, whatever the code that logged it and
    whatever formatter prints it: the one masking path for the text and the JSON format.

    The record leaves the filter with nothing unmasked left on it: the message with its
    arguments merged in, the traceback as masked text in `exc_text` with `exc_info` cleared
    (a formatter that re-formats `exc_info` itself, as python-json-logger does, printed the
    full `Key (email_key)=(...)` of a database error: security audit F4), the stack and any
    `extra=` text. Both formatters print `exc_text` when `exc_info` is gone."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_text(record.getMessage()), None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, mask_text(value))
        return True


def install_log_masking(level: int = logging.WARNING, json_lines: bool = False) -> None:
    """Log to stderr through the masking filter (every handler of the root logger); with
    json_lines, one JSON object per record (OUTREACH_LOG_FORMAT=json, for log shippers)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    # Alembic 1.16+ logs one INFO line per plugin it loads at every migration check ("setup
    # plugin alembic.autogenerate.schemas", nine of them): start-up noise, not our news.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(level, logging.WARNING))
    for handler in root.handlers:
        if json_lines:
            from pythonjsonlogger.json import JsonFormatter

            handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                               rename_fields={"levelname": "level",
                                                              "name": "logger"}))
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def private_files() -> None:
    """Every file and folder this process creates from now on is its user's alone (0600,
    0700): the store, its -wal and -shm, rejects reports, the outbox's .eml and sms.jsonl,
    the inbox's moved files and error notes all hold signers' contact details, and under
    the usual umask 022 any local user could read them (security audit F17).

    A process-wide umask rather than a mode at each writer: it also covers the files that
    libraries create themselves (SQLite gives -wal and -shm the main file's mode, pandas
    writes CSVs) and any writer added later. Set by the `outreach` command at start."""
    os.umask(PRIVATE_UMASK)



PUBLIC_COUNT_MINIMUM = 5


def public_count(count: int) -> str:
    """A count of people as a public page (the scoreboard) shows it: under 5 it reads "fewer
    than 5", so that a county's or an office's one or two signers cannot be picked out by
    whoever knows the neighbours (issue 17; the small-cell suppression public statistics use,
    as CDC WONDER shows no count under 10)."""
    return f"{count:,}" if count >= PUBLIC_COUNT_MINIMUM else \
        f"fewer than {PUBLIC_COUNT_MINIMUM}"


def public_rank(count: int) -> int:
    """The value a public table sorts a count by: every count under 5 ranks as 0, so the
    order of rows does not tell 0 from 4 where the cells do not."""
    return count if count >= PUBLIC_COUNT_MINIMUM else 0
