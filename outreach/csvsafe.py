"""CSV files the engine writes (rejects, warnings, exports), safe to open in a spreadsheet.

A cell starting with =, +, -, @ (or a tab or carriage return) is a formula to Excel, LibreOffice
and Google Sheets: a signer named "=HYPERLINK(...)" could run one on an organizer's machine.
Such cells get a leading apostrophe (OWASP "CSV Injection"), in every file this module writes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeCsvWriter:
    """A csv.writer whose every cell goes through escape_cell."""

    def __init__(self, handle: TextIO, header: Sequence[str]):
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow([escape_cell(h) for h in header])

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([escape_cell(v) for v in row])

