"""The organizers' side of the global opt-out list: add, remove, list, import.

Addresses are normalized the way intake normalizes them (lower-cased email, E.164 phone), so
"Ana@Example.org" and "ana@example.org", "(215) 555-0100" and "+12155550100" are one entry.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from outreach.errors import SuppressionError
from outreach.signers.fields import check_email, check_phone
from outreach.store import suppressions as store


@dataclass(frozen=True)
class Address:
    channel: str  # email | sms
    value: str


def normalize_address(raw: str) -> Address:
    text = raw.strip()
    if "@" in text:
        checked = check_email(text)
        if checked.value is None:
            raise SuppressionError(f"not an email address: {checked.error}")
        return Address("email", checked.value.lower())
    checked = check_phone(text)
    if checked.value is None:
        raise SuppressionError(f"neither an email address nor a phone number ({checked.error})")
    return Address("sms", checked.value)


def add(engine: Engine, raw: str, source: str, reason: str, now: datetime) -> Address:
    address = normalize_address(raw)
    store.suppress(engine, address.channel, address.value, source, reason, now)
    return address


def remove(engine: Engine, raw: str, reason: str, now: datetime) -> bool:
    address = normalize_address(raw)
    with engine.begin() as connection:
        return store.unsuppress(connection, address.channel, address.value, reason, now)


def import_file(engine: Engine, path: Path, source: str, reason: str,
                now: datetime) -> dict[str, object]:
    """Every cell of an email/phone column (any header naming one) goes on the list; the rest
    is reported by line, not dropped in silence."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise SuppressionError(f"{path}: no such file") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = [c for c in reader.fieldnames or []
                   if any(w in c.lower() for w in ("email", "phone", "mobile", "cell"))]
        if not columns:
            raise SuppressionError(f"{path}: no email or phone column in the header")
        added, problems = 0, []
        for row in reader:
            for column in columns:
                if not (row.get(column) or "").strip():
                    continue
                try:
                    add(engine, row[column], source, reason, now)
                    added += 1
                except SuppressionError as error:
                    problems.append({"line": reader.line_num, "column": column,
                                     "reason": str(error)})
    return {"added": added, "problems": problems}
