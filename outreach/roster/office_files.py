"""An organizer's CSV keyed by office_id (roster corrections, a call sheet, stances): opened
and read one way, so every such file answers a missing file, a missing office_id column and
its rows' line numbers alike."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from outreach.errors import RosterError

Rows = Iterator[tuple[int, dict[str, str]]]


@contextmanager
def office_rows(path: Path) -> Iterator[tuple[list[str], Rows]]:
    """The file's trimmed header and its rows as (line number, trimmed cells); RosterError
    naming the file when it is missing or has no office_id column. A BOM is read as Excel
    writes it (utf-8-sig)."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise RosterError([f"{path}: no such file"]) from None
    with handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        if "office_id" not in header:
            raise RosterError([f"{path}: line 1: no office_id column"])

        def rows() -> Rows:
            for raw in reader:
                yield reader.line_num, {k.strip(): (v or "").strip() for k, v in raw.items()
                                        if k}
        yield header, rows()
