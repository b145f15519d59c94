"""Signer files -> validated, normalized, deduplicated signers in the store, plus a rejects file.

Every data row of the input ends in exactly one of: imported (a new signer), duplicate (merged
into a signer already stored or earlier in the file: the newest row wins for the fields it has,
and never erases one), or rejected (written to `<input>.rejects.csv` with its line number and the
reason). Rows that are imported with a caveat (a field cut to length, an unreadable email beside a
valid phone...) are listed in `<input>.warnings.csv`. Neither file nor the log repeats a signer's
contact details beyond the rejected row itself, which the organizer already holds. (Beside the
input by default; `reports_dir` puts them elsewhere, as the CLI does: beside the store.)

Which column is which: an explicit mapping, then the export format recognized from the header
(outreach.import_formats: Action Network, ActionKit...), then the usual spellings; every column
left over is reported. A format's subscription statuses become consent and, for opt-outs,
suppressions, applied after the merge whatever the row's date.

The file is read in chunks bounded by rows and by characters, keeping only the mapped cells and
each row's text (for the rejects file), so memory stays flat in the file's length and width;
email and phone checks, the costly part, run in a process pool for large files. Bounded input
(audit F7, F8): a cell longer than `IntakeLimits.max_field` rejects its row; a row the csv reader
cannot split (longer than `max_row`, a quote never closed) is rejected by its first line and
reading resumes on the next one; a header of more than `max_columns` columns refuses the file.
A row of nothing but delimiters is counted as blank (`blank_rows`): `rows + blank_rows` is the
number of records after the header (physical lines, but for line breaks inside quoted cells).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import signal
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Container, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import accumulate, chain, count, repeat
from multiprocessing import get_context
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from outreach.config import default_of
from outreach.csvsafe import SafeCsvWriter
from outreach.errors import IntakeError
from outreach.signers import fields, formats
from outreach.store import signers as store
from outreach.store import suppressions as suppression_store
from outreach.store.signers import Identity

if TYPE_CHECKING:
    from outreach.config import Settings

CHUNK_ROWS = 50_000
CHUNK_CHARS = 16 << 20  # a chunk also ends after this many characters of rows (wide files)
MAX_FIELD: int = default_of("OUTREACH_INTAKE_MAX_FIELD")  # characters in one cell
MAX_COLUMNS: int = default_of("OUTREACH_INTAKE_MAX_COLUMNS")  # header columns
POOL_THRESHOLD_BYTES = 2_000_000  # below this a process pool costs more than it saves

# Canonical column -> the header spellings petition platforms use (compared case-insensitively,
# with spaces, dashes and dots read as underscores).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "first", "firstname", "given_name", "given", "fname",
                   "forename"),
    "last_name": ("last_name", "last", "lastname", "surname", "family_name", "lname"),
    "full_name": ("name", "full_name", "fullname", "signer", "signer_name"),
    "email": ("email", "email_address", "e_mail", "e_mail_address", "emailaddress", "mail"),
    "phone": ("phone", "phone_number", "mobile", "mobile_phone", "mobile_number", "cell",
              "cell_phone", "cellphone", "telephone", "tel", "sms", "sms_number"),
    "street": ("street", "address", "address1", "address_1", "street_address",
               "address_line_1", "addr", "street1", "street_1"),
    "street2": ("address2", "address_2", "address_line_2", "street2", "street_2", "apt",
                "unit"),
    "city": ("city", "town", "locality"),
    "state": ("state", "st", "state_code", "province", "region"),
    "zip": ("zip", "zipcode", "zip_code", "postal_code", "postcode", "postal", "zip5"),
    "country": ("country", "country_code"),
    "email_opt_in": ("email_opt_in", "email_optin", "email_consent", "opt_in_email",
                     "email_ok", "email_opt_in_status"),
    "sms_opt_in": ("sms_opt_in", "sms_optin", "sms_consent", "text_opt_in", "opt_in_sms",
                   "sms_ok", "text_ok", "texts_ok"),
    "source": ("source", "utm_source", "referrer", "campaign_source"),
    "signed_at": ("signed_at", "signed", "date_signed", "signature_date", "date", "created_at",
                  "created", "timestamp", "signup_date"),
    "ref": ("ref", "referral", "referral_code", "referrer", "referred_by"),
    # A platform's subscription statuses (see outreach.import_formats for what they mean).
    "email_status": ("email_status", "subscription_status", "email_subscription_status"),
    "sms_status": ("sms_status", "mobile_status", "sms_subscription_status",
                   "sms_opt_in_status"),
}
_ALIAS_TO_COLUMN = {alias: column for column, aliases in HEADER_ALIASES.items()
                    for alias in aliases}


@dataclass(frozen=True)
class IntakeLimits:
    """How much of a file intake reads (audit F7: one 200 KB cell crashed the import; F8: a
    10,000-column file took 5.5 GB)."""

    max_field: int = MAX_FIELD  # characters in a cell; a longer one rejects its row
    max_columns: int = MAX_COLUMNS  # columns in the header; more refuses the file

    @property
    def max_row(self) -> int:
        """Characters in one row, its quoted line breaks included: room for a cell at the
        limit and the others (and what one unclosed quote can swallow before it is caught)."""
        return max(4 * self.max_field, 1 << 20)

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeLimits:
        return cls(settings.intake.intake_max_field, settings.intake.intake_max_columns)


DEFAULT_LIMITS = IntakeLimits()


@dataclass
class IntakeSummary:
    format: str = formats.GENERIC.name  # the export format recognized from the header
    rows: int = 0
    blank_rows: int = 0  # records of nothing but delimiters or spaces: not signers, counted
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    warnings: int = 0
    warnings_file: str | None = None
    encoding: str = ""
    delimiter: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> header as in the file
    # canonical -> the further headers that fill its cells the first leaves empty (ActionKit's
    # home_phone behind mobile_phone), in order: used as well, so every header is in exactly
    # one of columns, fallback_columns and unmapped_columns.
    fallback_columns: dict[str, list[str]] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)  # headers no field took
    suppressed: int = 0  # addresses the export's statuses put on the suppression list

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FileShape:
    encoding: str
    delimiter: str
    header: list[str]
    columns: dict[str, int]  # canonical column -> position in the header
    format: str = formats.GENERIC.name
    unmapped: tuple[str, ...] = ()  # headers no field took, in file order
    # Further headers for a field, in order: they fill the cells its first one leaves empty
    # (an ActionKit home_phone where mobile_phone is blank).
    fallbacks: tuple[tuple[str, int], ...] = ()
    # UTF-8 but for some lines, read as Windows-1252 with a warning each (_detect_encoding).
    mixed_encoding: bool = False


_header_key = formats.header_key


def parse_mapping(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--map "Cell Phone=phone"` items (or a sidecar's lines) -> {header key: field}.

    Blank lines and `#` comments are skipped, so a sidecar file can explain itself."""
    mapping: dict[str, str] = {}
    for item in items:
        text = item.strip()
        if not text or text.startswith("#"):
            continue
        header, sep, target = text.rpartition("=")
        header, target = header.strip(), target.strip().lower()
        if not sep or not header:
            raise IntakeError(f"--map {text!r}: expected HEADER=FIELD, e.g. "
                              '"Cell Phone=phone"')
        if target not in HEADER_ALIASES:
            raise IntakeError(f"--map {text!r}: {target!r} is not a field; fields: "
                              + ", ".join(HEADER_ALIASES))
        mapping[_header_key(header)] = target
    return mapping


def resolve_columns(header: list[str], mapping: dict[str, str] | None = None
                    ) -> tuple[formats.ExportFormat, dict[str, int], tuple[str, ...],
                               tuple[tuple[str, int], ...]]:
    """(export format, field -> header position, headers left unused, fallbacks).

    An explicit mapping wins, then the detected format's own columns in its order of
    preference, then the generic spellings in header order; each header serves one field, and
    a field's further headers are its fallbacks ((field, position), in order)."""
    export = formats.detect(header)
    keys = [_header_key(name) for name in header]
    columns: dict[str, int] = {}
    fallbacks: list[tuple[str, int]] = []
    used: set[int] = set()

    def take(column: str, position: int) -> None:
        if position in used:
            return
        if column in columns:
            fallbacks.append((column, position))
        else:
            columns[column] = position
        used.add(position)

    for position, key in enumerate(keys):
        if mapping and key in mapping:
            take(mapping[key], position)
    first_position: dict[str, int] = {}
    for position, key in enumerate(keys):
        first_position.setdefault(key, position)
    for key, column in export.columns:
        if key in first_position:
            take(column, first_position[key])
    for position, key in enumerate(keys):
        if key in _ALIAS_TO_COLUMN:
            take(_ALIAS_TO_COLUMN[key], position)
    unmapped = tuple(name for position, name in enumerate(header)
                     if position not in used and name.strip())
    return export, columns, unmapped, tuple(fallbacks)


# Text a decoder could not read: surrogateescape's stand-ins for bytes that are not UTF-8, and
# lone UTF-16 surrogates (a JavaScript client that cut an emoji in half: audit F15). Neither
# can be stored (PostgreSQL and SQLite take UTF-8).
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED = re.compile("[\udc80-\udcff]")
_MULTIBYTE = re.compile("[^\x00-\x7f\udc80-\udcff]")  # a character UTF-8 needs 2+ bytes for
RECODED = "not UTF-8 like the rest of the file: read as Windows-1252 (check names' spelling)"
UNDECODABLE = "bytes that are neither UTF-8 nor Windows-1252"
LONE_SURROGATE = "a lone UTF-16 surrogate (half of an emoji?)"
_LINE_ENDS = ("\n", "\r")


def _detect_encoding(path: Path) -> tuple[str, bool]:
    """(encoding, mixed): UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 /
    Latin-1, read in blocks (flat memory).

    mixed: UTF-8 for the most part, but some lines are not (a file pasted together from two
    tools). Read as Windows-1252 as a whole, its UTF-8 "Zoë" became "ZoÃ«" without a word
    (audit F26); read as UTF-8, its other lines are read as Windows-1252, each with a warning."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
        if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
            raise IntakeError("this is a spreadsheet (Excel) file, not CSV: "
                              "save it as CSV and import that")
        if head.count(b"\x00") > len(head) // 100 and not head.startswith(
                (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise IntakeError("the file is not text (it is full of NUL bytes): export it as CSV")
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", False
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", False
        handle.seek(0)
        decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")(
            "surrogateescape")
        invalid = multibyte = False
        while True:
            block = handle.read(1 << 20)
            text = decoder.decode(block, final=not block)
            invalid = invalid or _ESCAPED.search(text) is not None
            multibyte = multibyte or _MULTIBYTE.search(text) is not None
            if not block:
                break
        if not invalid:
            return "utf-8", False
        if multibyte:
            return "utf-8", True
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("cp1252")()
        try:
            while block := handle.read(1 << 20):
                decoder.decode(block)
            return "cp1252", False
        except UnicodeDecodeError:
            return "latin-1", False


def _recode_mixed(line: str) -> tuple[str, str]:
    """A line of a mixed file: as UTF-8, else its bytes as Windows-1252 (with why)."""
    if not _ESCAPED.search(line):
        return line, ""
    try:
        return line.encode("utf-8", "surrogateescape").decode("cp1252"), RECODED
    except UnicodeDecodeError:
        return line, UNDECODABLE


def _check_surrogates(line: str) -> tuple[str, str]:
    return line, (LONE_SURROGATE if _SURROGATE.search(line) else "")


def _open(path: Path, encoding: str, mixed: bool
          ) -> tuple[TextIO, Callable[[str], tuple[str, str]] | None]:
    """The file as text, and what each line goes through: None where decoding already proved
    every line readable. UTF-16 passes lone surrogates through for the row to be rejected."""
    if mixed:
        return path.open(encoding=encoding, errors="surrogateescape", newline=""), _recode_mixed
    if encoding == "utf-16":
        return path.open(encoding=encoding, errors="surrogatepass", newline=""), \
            _check_surrogates
    return path.open(encoding=encoding, newline=""), None


def _allow_fields(limit: int) -> None:
    """Let the csv module read cells as long as a whole row may be (its default, 128 KiB, is
    a crash for a longer one: audit F7); the limits are ours, per row. Only ever raised."""
    if csv.field_size_limit() <= limit:
        csv.field_size_limit(limit + 1)


def inspect_file(path: Path, mapping: dict[str, str] | None = None,
                 default_mapping: dict[str, str] | None = None,
                 limits: IntakeLimits = DEFAULT_LIMITS) -> FileShape:
    """Encoding, delimiter and the meaning of each header cell, or an IntakeError.

    Every header `mapping` names must be in the file (a typo is an error, not a silent
    no-op); `default_mapping` (a standing setting) applies where the file has the header."""
    if not path.exists():
        raise IntakeError(f"{path}: no such file")
    if not path.is_file():
        raise IntakeError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise IntakeError(f"{path}: the file is empty")
    encoding, mixed = _detect_encoding(path)
    handle, recode = _open(path, encoding, mixed)
    with handle:
        first_line = handle.readline(limits.max_row + 1)
    if len(first_line) > limits.max_row:
        raise IntakeError(f"{path}: the header line is longer than {limits.max_row:,} "
                          "characters: is this a CSV file?")
    if recode is not None:
        first_line = _SURROGATE.sub("\ufffd", recode(first_line)[0])
    if not first_line.strip():
        raise IntakeError(f"{path}: the first line is empty: expected a header row")
    delimiter = max((",", ";", "\t"), key=first_line.count)
    _allow_fields(limits.max_row)
    header = next(csv.reader([first_line], delimiter=delimiter))
    if len(header) > limits.max_columns:
        raise IntakeError(f"{path}: the header has {len(header):,} columns, more than the "
                          f"{limits.max_columns:,} read (OUTREACH_INTAKE_MAX_COLUMNS)")
    if max(map(len, header)) > limits.max_field:
        raise IntakeError(f"{path}: a header cell is longer than {limits.max_field:,} "
                          "characters: is this a CSV file?")
    missing = sorted(set(mapping or {}) - {_header_key(name) for name in header})
    if missing:
        raise IntakeError(f"{path}: --map names a column the header does not have: "
                          + ", ".join(missing))
    export, columns, unmapped, fallbacks = resolve_columns(
        header, {**(default_mapping or {}), **(mapping or {})})
    if "email" not in columns and "phone" not in columns:
        raise IntakeError(f"{path}: no email column and no phone column in the header "
                          f"({len(header)} columns): nothing to reach a signer by; "
                          'name one with --map "HEADER=email"')
    return FileShape(encoding, delimiter, header, columns, export.name, unmapped, fallbacks,
                     mixed)


class _RowTooLong(Exception):
    """Raised through the csv reader: the row being read passed IntakeLimits.max_row."""


class _Lines:
    """The file's physical lines for the csv reader, keeping those of the row being read until
    the reader has split it (audit F7).

    A row the reader cannot split (longer than `limit` characters, a quote never closed, a csv
    error) is rejected by its first line alone and the lines after it are read again: one stray
    quote cannot swallow the rows that follow it. A line is read `limit` characters at most, so
    a line with no end cannot fill the memory. After the file's last line comes one empty
    "end" line: a row that takes it was still inside a quote when the file ended (the csv
    module, not strict, would return it without a word).
    """

    def __init__(self, handle: TextIO | _Source, limit: int,
                 recode: Callable[[str], tuple[str, str]] | None):
        self.handle, self.limit, self.recode = handle, limit, recode
        self.row: list[tuple[int, str, str]] = []  # (line number, text, note); 0: the end
        self.size = 0  # characters in self.row
        self._again: deque[tuple[int, str, str]] = deque()  # lines to read once more
        self._number = 0  # of the last line read from the file
        self._end_given = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        budget = self.limit - self.size + 1  # one more than fits tells a longer line
        if self._again:
            number, line, note = self._again.popleft()
            if not self._again and not line.endswith(_LINE_ENDS) and budget > len(line):
                rest, more = self._read(budget - len(line))  # its rest is still in the file
                line, note = line + rest, note or more
        else:
            line, note = self._read(budget)
            if not line:
                if self._end_given:
                    raise StopIteration
                self._end_given = True
                self.row.append((0, "", ""))
                return ""
            self._number += 1
            number = self._number
        self.row.append((number, line, note))
        self.size += len(line)
        if self.size > self.limit:
            raise _RowTooLong
        return line

    def _read(self, size: int) -> tuple[str, str]:
        line = self.handle.readline(size)
        return self.recode(line) if self.recode is not None and line else (line, "")

    def between_rows(self) -> bool:
        """Nothing of a row is pending: the next line starts one (see _Source.plain_lines)."""
        return not self.row and not self._again and not self._end_given

    def skip(self, count: int) -> int:
        """Count `count` lines read past this reader (plain ones); the number of the first."""
        first = self._number + 1
        self._number += count
        return first

    def lines_in_row(self) -> int:
        return sum(1 for number, _, _ in self.row if number)

    def unclosed(self) -> bool:
        """The row just split ran into the end of the file inside a quote."""
        return len(self.row) > 1 and self.row[-1][0] == 0

    def take(self) -> tuple[int, str, str] | None:
        """(first line, text, note) of the row just split; None for the end line alone."""
        row, self.row, self.size = self.row, [], 0
        if row[0][0] == 0:
            return None
        return row[0][0], "".join(text for _, text, _ in row), \
            next((note for _, _, note in row if note), "")

    def drop(self) -> tuple[int, str]:
        """Give up the row being read: (its first line's number, that line if whole, without
        its line end); the lines after the first are read again."""
        (number, first, _), rest = self.row[0], [entry for entry in self.row[1:] if entry[0]]
        if len(rest) < len(self.row) - 1:
            self._end_given = False  # the end line comes again after the lines read again
        if not rest and not first.endswith(_LINE_ENDS):  # a line too long: skip its rest
            while (piece := self.handle.readline(1 << 16)) and not piece.endswith(_LINE_ENDS):
                pass
            first = ""
        self._again.extendleft(reversed(rest))
        self.row, self.size = [], 0
        return number, first.rstrip("\r\n")


class _Source:
    """The file for _Lines, read in blocks; a block with no quote and one kind of line end
    is handed out as plain lines (`plain_lines`), split by str.split in C: one line is one
    row, its cells are split at the delimiter, exactly as the csv reader would split them.

    Any other block (a quote, which may span lines or stay open; a lone carriage return; a
    line over the row limit) is read line by line through `readline`, as before."""

    BLOCK = 1 << 20  # characters

    def __init__(self, handle: TextIO, limit: int):
        self.handle, self.limit = handle, limit
        self._pending = io.StringIO("", newline="")  # a block's lines not handed out plain
        self._pending_left = 0  # characters of it not read yet

    def readline(self, size: int) -> str:
        if not self._pending_left:
            return self.handle.readline(size)
        line = self._pending.readline(size)
        self._pending_left -= len(line)
        if self._pending_left or line.endswith(_LINE_ENDS) or len(line) >= size:
            return line
        return line + self.handle.readline(size - len(line))  # its rest is in the file

    def plain_lines(self) -> tuple[list[str], list[str]] | None:
        """(the next block's lines without their ends, their ends) if the block is plain;
        else None, and its lines come through readline. None at the end of the file too."""
        if self._pending_left:
            return None
        text = self.handle.read(self.BLOCK)
        if text and not text.endswith(_LINE_ENDS):
            text += self.handle.readline(self.limit + 1)  # the last line's rest, bounded
        if text.endswith("\r"):  # a "\r\n" cut in two would read as two lines
            position = self.handle.tell()
            if self.handle.read(1) == "\n":
                text += "\n"
            else:
                self.handle.seek(position)
        if not text:
            return None
        ending = "\r\n" if "\r" in text else "\n"
        if '"' not in text and (ending == "\n" or text.count("\r") == text.count("\n")
                                == text.count("\r\n")):
            lines = text.split(ending)
            ends = [ending] * len(lines)
            if lines[-1] == "":
                lines.pop()
                ends.pop()
            else:
                ends[-1] = ""  # the file's last line, without an end
            if max(map(len, lines)) + len(ending) <= self.limit:
                return lines, ends
        self._pending = io.StringIO(text, newline="")
        self._pending_left = len(text)
        return None


@dataclass
class _Plain:
    """Rows of a plain block (_Source.plain_lines): one line each, from line `first` on; its
    cells are the line split at the delimiter."""

    first: int
    lines: list[str]  # without their line ends
    texts: list[str]  # with them

    def rows(self, delimiter: str) -> Iterator[tuple[int, list[str] | None, str, str]]:
        return zip(count(self.first), (line.split(delimiter) for line in self.lines),
                   self.texts, repeat(""), strict=False)


def _rows(handle: TextIO, delimiter: str, limit: int,
          recode: Callable[[str], tuple[str, str]] | None
          ) -> Iterator[tuple[int, list[str] | None, str, str] | _Plain]:
    """(first line, cells, text, note) of every record, the header's included, or a _Plain
    block of them. cells is None for a row that cannot be split (note: why; text: its first
    line, if whole); else note says what decoding found ("" | RECODED | UNDECODABLE |
    LONE_SURROGATE)."""
    _allow_fields(limit)
    source = _Source(handle, limit) if recode is None else None
    lines = _Lines(source or handle, limit, recode)
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        if source is not None and lines.between_rows() and \
                (plain := source.plain_lines()) is not None:
            yield _Plain(lines.skip(len(plain[0])), plain[0],
                         [line + end for line, end in zip(*plain, strict=True)])
            continue
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _RowTooLong:
            reason = (f"a quote opened on this line is not closed within {limit:,} characters"
                      if lines.lines_in_row() > 1 else f"row longer than {limit:,} characters")
            number, first = lines.drop()
            yield number, None, first, reason
            continue
        except csv.Error as error:
            number, first = lines.drop()
            yield number, None, first, f"cannot be read as CSV: {error}"
            continue
        if lines.unclosed():
            number, first = lines.drop()
            yield number, None, first, "a quote opened on this line is never closed"
            continue
        taken = lines.take()
        if taken is not None:
            yield taken[0], cells, taken[1], taken[2]


def _cells(text: str, delimiter: str) -> list[str]:
    """A row's cells from its text, for the rejects file (undecodable characters as U+FFFD)."""
    if not text:
        return []
    try:
        return next(csv.reader(io.StringIO(_SURROGATE.sub("\ufffd", text)),
                               delimiter=delimiter), [])
    except csv.Error:
        return []


@dataclass
class _Rows:
    """A chunk's rows as read, in file order: runs of whole plain lines (a regular block's,
    see _regular), split at the delimiter and picked only where the frame is built, in the
    pool's worker (the reading process has the rest of intake to do), and runs of rows read
    one by one, their cells picked already."""

    delimiter: str
    wanted: list[tuple[str, int]]  # canonical column (or fallback) -> position in the header
    lines: list[int] = field(default_factory=list)  # the line each row starts on
    runs: list[tuple[bool, list[Any]]] = field(default_factory=list)  # (plain?, rows)

    def __len__(self) -> int:
        return len(self.lines)

    def add_lines(self, first: int, lines: list[str]) -> None:
        """Plain lines of a regular block, the first of them line `first`."""
        self.runs.append((True, lines))
        self.lines.extend(range(first, first + len(lines)))

    def add_row(self, line: int, cells: tuple[str, ...]) -> None:
        if not self.runs or self.runs[-1][0]:
            self.runs.append((False, []))
        self.runs[-1][1].append(cells)
        self.lines.append(line)

    def frame(self) -> pd.DataFrame:
        """Canonical columns as text, plus "line" (see _frame)."""
        pick_whole = itemgetter(*(i for _, i in self.wanted), 0)  # 0: for _frame to drop
        delimiter = self.delimiter
        records = chain.from_iterable(
            map(pick_whole, (line.split(delimiter) for line in rows)) if plain else rows
            for plain, rows in self.runs)
        return _frame(list(records), self.lines, self.wanted)


@dataclass
class _Chunk:
    rows: _Rows
    raws: list[str]  # the rows' text, by frame position (for the rejects file)
    malformed: list[tuple[int, str, str]]  # (line, reason, text) of rows rejected on reading
    blank_rows: int = 0
    warnings: list[tuple[int, str]] = field(default_factory=list)  # (line, text)

    @property
    def frame(self) -> pd.DataFrame:
        return self.rows.frame()


def _read_chunks(path: Path, shape: FileShape, chunk_rows: int,
                 limits: IntakeLimits = DEFAULT_LIMITS) -> Iterator[_Chunk]:
    """Rows in chunks of at most chunk_rows rows and about CHUNK_CHARS characters, with the
    line each row starts on (quoted cells may span lines). Only the mapped cells and each
    row's text are kept: a 10,000-column row is one string, not 10,000 (audit F8)."""
    width = len(shape.header)
    wanted = [*shape.columns.items(),
              *((f"{column}{_FALLBACK}{n}", position)
                for n, (column, position) in enumerate(shape.fallbacks))]
    pick = itemgetter(*(i for _, i in wanted), width)  # the extra index: a padding cell
    padding = [""] * (width + 1)
    handle, recode = _open(path, shape.encoding, shape.mixed_encoding)
    with handle:
        rows = _rows(handle, shape.delimiter, limits.max_row, recode)
        header = next(rows, None)
        if isinstance(header, _Plain):  # the first block's first row is the header
            rows = chain([_Plain(header.first + 1, header.lines[1:], header.texts[1:])], rows)
        records = _Rows(shape.delimiter, wanted)
        raws: list[str] = []
        malformed: list[tuple[int, str, str]] = []
        warnings: list[tuple[int, str]] = []
        blank = chars = 0

        def full() -> bool:
            return len(records) + len(malformed) >= chunk_rows or chars >= CHUNK_CHARS

        def chunk() -> _Chunk:
            nonlocal records, raws, malformed, warnings, blank, chars
            done = _Chunk(records, raws, malformed, blank, warnings)
            records, raws, malformed, warnings = _Rows(shape.delimiter, wanted), [], [], []
            blank = chars = 0
            return done

        for item in rows:
            if isinstance(item, _Plain) and _regular(item, width, limits.max_field,
                                                     shape.delimiter):
                # Every row whole and within bounds: taken in slices up to the chunk's end.
                start = 0
                while start < len(item.texts):
                    room = chunk_rows - len(records) - len(malformed)
                    ends = list(accumulate(map(len, item.texts[start:start + room]),
                                           initial=chars))[1:]
                    end = start + min(bisect_left(ends, CHUNK_CHARS) + 1, len(ends))
                    records.add_lines(item.first + start, item.lines[start:end])
                    raws.extend(item.texts[start:end])
                    chars = ends[end - start - 1]
                    start = end
                    if full():
                        yield chunk()
                continue
            for line, row, text, note in (item.rows(shape.delimiter) if isinstance(item, _Plain)
                                          else [item]):
                chars += len(text)
                if row is None:
                    malformed.append((line, note, text))
                elif not "".join(row).strip():
                    blank += 1  # only delimiters: no signer, but counted
                elif note and note != RECODED:
                    malformed.append((line, note, text))
                elif len(row) > width:
                    malformed.append((line, f"row has {len(row)} fields, the header {width}",
                                      text))
                elif max(map(len, row)) > limits.max_field:
                    longest = max(range(len(row)), key=lambda i: len(row[i]))
                    malformed.append((line, f"{shape.header[longest] or f'column {longest + 1}'}"
                                            f" longer than {limits.max_field:,} characters",
                                      text))
                else:
                    records.add_row(line, pick(row + padding[len(row):]))
                    raws.append(text)
                    if note:
                        warnings.append((line, note))
                if full():
                    yield chunk()
        if records or malformed or blank:
            yield chunk()


def _regular(block: _Plain, width: int, max_field: int, delimiter: str) -> bool:
    """Whether every row of the block has the header's width, no cell over max_field and a
    character that is not a delimiter or a space (taken as a whole by _read_chunks), read
    from the lines without splitting them: a line splits into one cell more than it has
    delimiters, and its cells joined are the line without them."""
    if not block.lines:
        return False
    delimiters = list(map(methodcaller("count", delimiter), block.lines))
    return min(delimiters) == max(delimiters) == width - 1 \
        and max(map(len, block.texts)) <= max_field \
        and all(map(str.strip, map(methodcaller("replace", delimiter, ""), block.lines)))


_FALLBACK = "#"  # "phone#0": a fallback column for phone, folded into it by _frame


def _frame(records: list[tuple[str, ...]], lines: list[int],
           wanted: list[tuple[str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=[*(c for c, _ in wanted), "_padding"], dtype=object)
    frame = frame.drop(columns="_padding")
    for name in [c for c in frame.columns if _FALLBACK in c]:
        column = name.partition(_FALLBACK)[0]
        frame[column] = frame[column].mask(frame[column].fillna("").str.strip() == "",
                                           frame[name])
        frame = frame.drop(columns=name)
    frame["line"] = lines
    return frame.fillna("")  # the fields the file lacks: added by prepare_chunk


def _first(reason: pd.Series, new: pd.Series) -> pd.Series:
    return reason.mask((reason == "") & (new != ""), new)


@dataclass
class _Prepared:
    rows: pd.DataFrame  # valid rows, normalized, ready to dedupe and store
    rejected: pd.DataFrame  # position, line, reason
    warnings: list[tuple[int, str]]  # (line, text)


def prepare_chunk(frame: pd.DataFrame, source: str, now: pd.Timestamp,
                  export_format: str = formats.GENERIC.name) -> _Prepared:
    """Check and normalize one chunk: the CPU-heavy part, run in a pool for large files.

    The frame holds the file's fields only (less to send to the pool); the others are
    added here, empty."""
    frame = frame.assign(**{c: "" for c in HEADER_ALIASES if c not in frame})
    frame = frame.astype({c: "str" for c in HEADER_ALIASES})
    emails = fields.check_column(frame["email"].str.strip(), fields.check_email)
    phones = fields.check_column(frame["phone"].str.strip(), fields.check_phone)
    return _normalize(frame, emails, phones, source, now, formats.BY_NAME[export_format])


def _prepare_rows(rows: _Rows, source: str, now: pd.Timestamp,
                  export_format: str = formats.GENERIC.name) -> _Prepared:
    """prepare_chunk for a file's chunk, its frame built here (in the pool's worker)."""
    return prepare_chunk(rows.frame(), source, now, export_format)


def _strictest(given: pd.Series, status: pd.Series) -> pd.Series:
    """A consent cell and a status column together: either saying no is no (an opt-out is
    never outvoted), either saying yes is yes, neither is unknown (None)."""
    agreed = given.where(given.notna(), status)
    return agreed.mask((given == False) | (status == False), False)  # noqa: E712


# Per-row results of a platform's status columns, used after the merge (then dropped):
# the email suppression reason, and whether the status withdrew email / SMS consent.
STATUS_COLUMNS = ("email_suppress", "email_status_off", "sms_status_off")


def _normalize(frame: pd.DataFrame, emails: pd.DataFrame, phones: pd.DataFrame,
               source: str, now: pd.Timestamp,
               export: formats.ExportFormat = formats.GENERIC) -> _Prepared:
    """Valid rows, rejected rows and warnings of one chunk, vectorized over its columns."""
    out = pd.DataFrame({"line": frame["line"]})
    warnings: list[tuple[int, str]] = []

    def warn(mask: pd.Series, text: pd.Series | str) -> None:
        texts = text if isinstance(text, pd.Series) else pd.Series(text, index=frame.index)
        warnings.extend(zip(frame["line"][mask], texts[mask], strict=True))

    first, last = fields.clean_text(frame["first_name"]), fields.clean_text(frame["last_name"])
    full_first, full_last = fields.split_full_name(fields.clean_text(frame["full_name"]))
    out["first_name"] = first.mask(first == "", full_first)
    out["last_name"] = last.mask(last == "", full_last)
    street = fields.clean_text(frame["street"] + " " + frame["street2"])
    out["street"], out["city"] = street, fields.clean_text(frame["city"])
    out["source"] = fields.clean_text(frame["source"]).mask(lambda s: s == "", source)
    out["ref"] = frame["ref"].str.strip().str.slice(0, 16)  # a share link's ?ref= code
    for column, limit in fields.MAX_LENGTHS.items():
        too_long = out[column].str.len() > limit
        if too_long.any():
            out[column] = out[column].str.slice(0, limit)
            warn(too_long, f"{column} longer than {limit} characters: cut")

    reason = pd.Series("", index=frame.index, dtype="string")
    reason = _first(reason, fields.country_problem(frame["country"]))
    out["state"] = fields.normalize_state(frame["state"])
    reason = _first(reason, fields.state_problem(out["state"]))
    out["zip"], zip_problem = fields.normalize_zip(frame["zip"])
    foreign_zip = zip_problem.str.startswith("not a U.S.")
    reason = _first(reason, zip_problem.where(foreign_zip, ""))
    warn((zip_problem != "") & ~foreign_zip, "ZIP code not 5 digits: stored without ZIP")

    email_value, email_error = emails["value"], emails["error"]
    phone_value, phone_type, phone_error = phones["value"], phones["kind"], phones["error"]
    email_given, phone_given = frame["email"].str.strip() != "", frame["phone"].str.strip() != ""
    email_ok, phone_ok = email_value.notna() & email_given, phone_value.notna() & phone_given
    unreachable = pd.Series("", index=frame.index).mask(
        ~email_ok & ~phone_ok,
        pd.Series("no email and no phone", index=frame.index)
        .mask(email_given & ~phone_given, email_error)
        .mask(~email_given & phone_given, phone_error)
        .mask(email_given & phone_given, email_error + "; " + phone_error))
    reason = _first(reason, unreachable)
    warn(email_given & ~email_ok & phone_ok, email_error + ": kept the phone")
    warn(phone_given & ~phone_ok & email_ok, phone_error + ": kept the email")
    out["email"] = email_value.where(email_ok, None)
    out["email_key"] = out["email"].str.lower().where(out["email"].notna(), None)
    out["phone"] = phone_value.where(phone_ok, None)
    out["phone_type"] = phone_type.where(phone_ok, None)

    statuses = {"email_opt_in": formats.read_email_status(export, frame["email_status"]),
                "sms_opt_in": formats.read_sms_status(export, frame["sms_status"])}
    for column, status in statuses.items():
        given, consent_warning = fields.parse_consent(frame[column])
        warn(consent_warning != "", consent_warning)
        warn(status.warning != "", status.warning)
        out[column] = _strictest(given, status.consent)
    email_status, sms_status = statuses["email_opt_in"], statuses["sms_opt_in"]
    out["email_suppress"] = email_status.suppress.where(email_ok & (email_status.suppress != ""),
                                                        None)
    out["email_status_off"] = (email_status.consent == False) & email_ok  # noqa: E712
    out["sms_status_off"] = (sms_status.consent == False) & phone_ok  # noqa: E712
    out["signed_at"], date_warning = fields.parse_signed_at(frame["signed_at"], now)
    warn(date_warning != "", date_warning)
    for column in ("first_name", "last_name", "street", "city", "state", "zip", "source",
                   "ref"):
        out[column] = out[column].astype(object).where(out[column] != "", None)

    rejected = pd.DataFrame({"line": frame["line"], "reason": reason})[reason != ""]
    if len(rejected) and warnings:  # nothing of a rejected row is stored: no caveat either
        refused = set(rejected["line"])
        warnings = [warning for warning in warnings if warning[0] not in refused]
    # Missing is None everywhere below (the database layer refuses NaN).
    text_columns = [c for c in out.columns
                    if c not in ("line", "signed_at", "email_status_off", "sms_status_off")]
    out[text_columns] = out[text_columns].astype(object).where(out[text_columns].notna(), None)
    return _Prepared(out[reason == ""], rejected, warnings)


UNKNOWN_ZIP = "ZIP code not one of the 50 states or DC: stored without ZIP"


def default_zips() -> frozenset[str]:
    """The ZIP codes of the data folder the environment's settings name (OUTREACH_DATA_DIR),
    for callers that pass none (as `outreach.geo.lookup()` answers from that folder)."""
    from outreach.config import Settings
    from outreach.geo.locate import zip_codes

    return zip_codes(Settings.from_env().data.data_dir)


def _drop_unknown_zips(prepared: _Prepared, zips: Container[str]) -> _Prepared:
    """Checked rows whose ZIP the geography does not know (00000, 99999, a territory's):
    a signer no match can place by it (`outreach lookup` says "not a ZIP code of the 50
    states or DC"). The row is kept, as one whose ZIP is not 5 digits is: without the ZIP
    (the matcher then tries the city and state, as for a signer who gave none) and with a
    warning. Run where the chunk is stored, not in the pool's workers: the set is loaded
    once per import, and looking 50,000 ZIPs up in it is milliseconds."""
    rows = prepared.rows
    unknown = pd.Series([z is not None and z not in zips for z in rows["zip"]],
                        index=rows.index, dtype=bool)
    if not unknown.any():
        return prepared
    warnings = [*prepared.warnings, *((int(line), UNKNOWN_ZIP)
                                      for line in rows["line"][unknown])]
    return _Prepared(rows.assign(zip=rows["zip"].where(~unknown, None)), prepared.rejected,
                     warnings)


class _Merger:
    """Dedupe against the store and within the file; newest row wins for the fields it has.

    Rows are taken one by one in file order, each against the signers stored and those the
    rows before it made, so where a file's chunks are cut changes nothing (and a file imports
    as its rows would one by one). The email says who signs, as on the public form: a row's
    email names its signer before its phone does, and a new email beside a phone whose signer
    has another email (a household's shared number) is a new signer, not that signer's new
    address, which would lose the first person's email. A row without email is its phone's
    signer, and a phone-only signer takes the first email its phone comes with. An email or
    phone another signer holds stays with that signer and the row's is dropped with a warning:
    two people are never made one (a shared household phone, a typo), and a row linking two
    signers is handled alike whether they are stored or earlier in its chunk.

    Untrusted rows (the public form: anyone may type anyone's email) change nothing of a
    stored signer they match (DESIGN invariant 10): not a contact (a stranger who knows a
    phone-only signer's number would attach their own email, and receive that signer's mail,
    unsubscribe link and offices' replies), not an address (it moves the signer to another
    prosecutor, and letters go out in the signer's name), not a name or consent. The caller
    keeps such a row as evidence (store.record_submission).
    """

    def __init__(self, by_email: dict[str, int], by_phone: dict[str, int],
                 trusted: bool = True):
        self.by_email = by_email
        self.by_phone = by_phone
        self.trusted = trusted

    def split(self, rows: pd.DataFrame, now: datetime,
              fetch: Callable[[list[int]], dict[int, Identity]]
              ) -> tuple[pd.DataFrame, list[dict[str, Any]], list[dict[str, Any]],
                         list[tuple[int, str]]]:
        """(new signers, merges where the row is newer, merges where older, warnings).

        Most rows are new and unrepeated: they pass through as a frame. Only rows that repeat
        an email or phone (stored, or elsewhere in the chunk) are walked one by one, in file
        order; a new signer among them is known by a provisional id (negative) until stored.
        """
        warnings: list[tuple[int, str]] = []
        if not self.trusted:
            rows = self._email_identifies(rows, warnings)
        # dict.get per value: pandas' map would rebuild a Series of the whole dict each chunk.
        known_email = pd.Series([self.by_email.get(k) for k in rows["email_key"]],
                                index=rows.index, dtype=object)
        known_phone = pd.Series([self.by_phone.get(k) for k in rows["phone"]],
                                index=rows.index, dtype=object)
        repeated = (rows["email_key"].notna() & rows["email_key"].duplicated(keep=False)) | \
                   (rows["phone"].notna() & rows["phone"].duplicated(keep=False))
        plain = known_email.isna() & known_phone.isna() & ~repeated
        stored_ids = pd.concat([known_email[~plain], known_phone[~plain]]).dropna()
        identities = fetch(sorted({int(i) for i in stored_ids}))
        pending: dict[int, dict[str, Any]] = {}  # provisional id -> the new signer's row
        newer_merges: list[dict[str, Any]] = []
        older_merges: list[dict[str, Any]] = []
        for row in _records(rows[~plain]):
            line = row.pop("line")
            owners = (self.by_email.get(row["email_key"]) if row["email_key"] else None,
                      self.by_phone.get(row["phone"]) if row["phone"] else None)
            target = owners[0] if owners[0] is not None else owners[1]
            if target is not None and owners[0] is None and row["email_key"] \
                    and identities[target].email_key:
                target = None  # a new email beside another email's phone: a new signer
            if target is None:
                target = -1 - len(pending)
                pending[target] = row
                identities[target] = Identity(None, None, row["signed_at"].to_pydatetime())
            elif target > 0 and not self.trusted:
                continue  # evidence only, see the class docstring
            for owner, fields_ in zip(owners, (("email", "email_key"), ("phone", "phone_type")),
                                      strict=True):
                if owner is not None and owner != target:
                    warnings.append((line, f"{fields_[0]} belongs to another signer: "
                                           "not changed"))
                    for name in fields_:
                        row[name] = None
            newer = self._take_keys(identities[target], target, row)
            if target < 0:
                if row is not pending[target]:
                    _fill(pending[target], row, newer)
                continue
            merge = {f"new_{name}": row[name] for name in store.MERGED_FIELDS}
            merge.update(new_ref=row.get("ref"), target_id=target, now=now,
                         new_signed_at=row["signed_at"].to_pydatetime())
            (newer_merges if newer else older_merges).append(merge)
        new = rows[plain].drop(columns=["line"])
        if pending:
            new = pd.concat([new, pd.DataFrame(list(pending.values()), columns=new.columns)],
                            ignore_index=True)
        return new, newer_merges, older_merges, warnings

    def _email_identifies(self, rows: pd.DataFrame, warnings: list[tuple[int, str]]
                          ) -> pd.DataFrame:
        """On the public form only the email says who signs: a new email with a phone another
        signer holds (a household's shared number, a volunteer typing their own) is a new
        signer without that phone, not a second signature of the phone's owner, which would
        be lost as "evidence only". The phone is kept in the submission, never texted."""
        emails = rows["email_key"]
        foreign = rows["phone"].notna() & (emails.isna() | emails.map(
            lambda key: self.by_email.get(key) is None)) & rows["phone"].map(
            lambda phone: self.by_phone.get(phone) is not None)
        if not foreign.any():
            return rows
        warnings.extend((int(line), "phone belongs to another signer: not stored")
                        for line in rows.loc[foreign, "line"])
        return rows.assign(phone=rows["phone"].mask(foreign, None),
                           phone_type=rows["phone_type"].mask(foreign, None))

    def _take_keys(self, signer: Identity, target: int, row: dict[str, Any]) -> bool:
        """Whether the row is newer than its signer (stored, or new in this chunk). Its email
        and phone become the signer's where it is newer or the signer has none (the keys move
        in the lookup tables at once, for the rows after it); otherwise they are cleared from
        the row: an older row never replaces an email or phone."""
        signed_at: datetime = row["signed_at"].to_pydatetime()
        newer = signed_at >= signer.signed_at
        for key, table, name in ((row["email_key"], self.by_email, "email_key"),
                                 (row["phone"], self.by_phone, "phone")):
            current = getattr(signer, name)
            if key and key != current and (newer or current is None):
                if current:
                    table.pop(current, None)
                table[key] = target
                setattr(signer, name, key)
            elif key != current:
                if name == "email_key":
                    row["email"] = row["email_key"] = None
                else:
                    row["phone"] = row["phone_type"] = None
        signer.signed_at = max(signer.signed_at, signed_at)
        return newer

    def reload(self, connection: Connection, email_keys: list[str], phones: list[str]) -> None:
        """Read these emails' and phones' owners again, as stored now (after a concurrent
        writer stored one of them: see _store_rows)."""
        for key in email_keys:
            self.by_email.pop(key, None)
        for key in phones:
            self.by_phone.pop(key, None)
        step = 1000  # a file's chunk holds 50,000: more bound parameters than SQLite takes
        for start in range(0, max(len(email_keys), len(phones)), step):
            by_email, by_phone = store.load_keys(connection, email_keys[start:start + step],
                                                 phones[start:start + step])
            self.by_email.update(by_email)
            self.by_phone.update(by_phone)

    def remember(self, new: pd.DataFrame, ids: list[int]) -> None:
        emails, phones = new["email_key"].notna().to_numpy(), new["phone"].notna().to_numpy()
        id_array = pd.Series(ids)
        self.by_email.update(zip(new["email_key"][emails], id_array[emails], strict=True))
        self.by_phone.update(zip(new["phone"][phones], id_array[phones], strict=True))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts of Python objects, as to_dict("records") gives them (a
    Timestamp, not datetime64), column by column: to_dict boxes every cell on its own."""
    names = [str(name) for name in frame.columns]
    columns = [frame[name].to_numpy(dtype=object).tolist() for name in frame.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _fill(signer: dict[str, Any], row: dict[str, Any], newer: bool) -> None:
    """A later row of a signer new in this chunk, merged as store.merge_signers merges one
    into a stored signer: a newer row's values win where it has them, an older one fills
    gaps; the first referral code keeps the credit."""
    for name in store.MERGED_FIELDS:
        if row[name] is not None and (newer or signer[name] is None):
            signer[name] = row[name]
    if newer:
        signer["signed_at"] = row["signed_at"]
    if signer["ref"] is None:
        signer["ref"] = row["ref"]


def _with_defaults(new: pd.DataFrame, now: datetime) -> pd.DataFrame:
    # Absent consent: email yes (CAN-SPAM allows it, with an unsubscribe in every message);
    # SMS no, since the TCPA requires prior express consent for texts.
    return new.assign(
        email_opt_in=new["email_opt_in"].map({True: True, False: False}).fillna(True)
        .astype(bool),
        sms_opt_in=new["sms_opt_in"].map({True: True, False: False}).fillna(False).astype(bool),
        created_at=now, updated_at=now)


class _Report:
    """The rejects and warnings files, opened on first use."""

    def __init__(self, path: Path, header: list[str], suffix: str, first: list[str]):
        self.path = path.with_name(f"{path.stem}.{suffix}.csv")
        self.header = [*first, *header]
        self.count = 0
        self._handle: TextIO | None = None
        self._writer: SafeCsvWriter | None = None

    def write(self, row: list[object]) -> None:
        if self._writer is None:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._writer = SafeCsvWriter(self._handle, self.header)
        self._writer.writerow(row)
        self.count += 1

    def close(self) -> str | None:
        if self._handle is not None:
            self._handle.close()
            return str(self.path)
        if self.path.exists():
            self.path.unlink()  # a stale report from an earlier run would mislead
        return None


def _store_rows(engine: Engine, merger: _Merger, rows: pd.DataFrame, started: datetime,
                fetch: Callable[[list[int]], dict[int, Identity]],
                export: formats.ExportFormat = formats.GENERIC
                ) -> tuple[pd.DataFrame, list[tuple[int, str]], int]:
    """Dedupe valid rows against the store and each other, then merge and insert them in one
    transaction, with the opt-outs the rows' statuses carry. Returns the new signers' rows,
    the merge warnings and how many addresses were put on the suppression list."""
    emails_off = list(rows["email_key"][rows["email_status_off"].astype(bool)].dropna())
    phones_off = list(rows["phone"][rows["sms_status_off"].astype(bool)].dropna())
    suppress = rows[rows["email_suppress"].notna()]
    suppressions = list({key: f"{reason} ({export.title} export)"
                         for key, reason in zip(suppress["email_key"],
                                                suppress["email_suppress"], strict=True)
                         if key}.items())
    rows = rows.drop(columns=list(STATUS_COLUMNS))
    for attempt in (1, 2):
        new, newer, older, merge_warnings = merger.split(rows, started, fetch)
        new = _with_defaults(new, started)
        codes = [c for c in new["ref"].dropna()] + [m["new_ref"] for m in newer + older
                                                    if m.get("new_ref")]
        with engine.connect() as connection:
            referrers = store.signer_ids_by_referral_code(connection, codes)
        new = new.assign(referred_by=new["ref"].map(referrers)).drop(columns=["ref"])
        for merge in newer + older:
            merge["new_referred_by"] = referrers.get(merge.pop("new_ref", None) or "")
        try:
            # A savepoint: a conflict below leaves the caller's transaction usable (the
            # petition form stores a signing in one, outreach.signing).
            with engine.begin() as connection, connection.begin_nested():
                # Merges first: one may free an email or phone that a new signer now takes.
                store.merge_signers(connection, newer, older)
                ids = store.insert_signers(connection, new)
                # A platform's status is its state as of the export, not as of the row's
                # date: an opt-out in it applies even where an older row loses the merge.
                store.withdraw_consent(connection, "email_opt_in", emails_off, started)
                store.withdraw_consent(connection, "sms_opt_in", phones_off, started)
                suppression_store.suppress_many(connection, "email", suppressions,
                                                export.suppression_source, started)
            break
        except IntegrityError:
            # The unique email or phone index: another writer stored one of these after the
            # keys were read (a double click, eight browsers with one email, a web signer
            # during an import; audit F5). Read the keys again and merge into that signer.
            if attempt == 2:
                raise
            with engine.connect() as connection:
                merger.reload(connection, list(rows["email_key"].dropna()),
                              list(rows["phone"].dropna()))
    merger.remember(new, ids)
    return new, merge_warnings, len(suppressions)


@dataclass
class RecordResult:
    """One pushed record's fate: imported or duplicate (with the signer it became), or
    rejected with the reason; warnings say what was stored with a caveat."""

    index: int
    outcome: str  # imported | duplicate | rejected
    signer_id: int | None = None
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


def describe_records(records: list[dict[str, object]],
                     mapping: dict[str, str] | None = None
                     ) -> tuple[formats.ExportFormat, dict[str, str], tuple[str, ...]]:
    """The pushed records' keys read as a file's header would be: (export format, key ->
    field, keys no field took)."""
    keys = list(dict.fromkeys(str(key) for record in records for key in record))
    keys = [_SURROGATE.sub("\ufffd", key) for key in keys]  # unmapped keys are answered
    export, columns, unmapped, fallbacks = resolve_columns(keys, mapping)
    key_columns = {keys[position]: column for column, position in columns.items()}
    key_columns.update((keys[position], column) for column, position in fallbacks)
    return export, key_columns, unmapped  # a field's preferred key first


def intake_records(records: list[dict[str, object]], engine: Engine, *,
                   source: str, mapping: dict[str, str] | None = None,
                   trusted: bool = True,
                   zips: Container[str] | None = None) -> list[RecordResult]:
    """Signers pushed one by one (the petition form, POST /api/signers) through the same checks,
    normalization and dedupe as a file. Keys may use any header spelling a file may, an
    export format's included (see describe_records).

    trusted=False (an unauthenticated request): a record matching a stored signer changes
    nothing of it (see _Merger: the caller keeps the record as evidence); SMS consent is never
    taken from the record (the web's needs a YES to a confirmation text:
    consent.request_sms_confirmation).

    `engine` may be outreach.store.db.one_transaction(connection): the records are then
    stored in the caller's transaction. `zips`: the ZIP codes the geography knows (a loaded
    Geo's `data.by_zip`; default: default_zips()), see _drop_unknown_zips.
    """
    started = datetime.now(UTC)
    export, key_columns, _ = describe_records(records, mapping)
    if not trusted:
        key_columns = {key: column for key, column in key_columns.items()
                       if column not in ("sms_opt_in", "sms_status")}
    wanted = [(column, position) for position, column in enumerate(HEADER_ALIASES)]
    values = [_record_values(record, key_columns) for record in records]
    # A value no database can store is its record's error, not the batch's (audit F15).
    broken = {line: why for line, record in enumerate(values, 1)
              if (why := _unstorable(record))}
    table = [(*(record.get(column, "") for column, _ in wanted), "")
             for line, record in enumerate(values, 1) if line not in broken]
    frame = _frame(table, [line for line in range(1, len(records) + 1) if line not in broken],
                   wanted)
    prepared = _drop_unknown_zips(prepare_chunk(frame, source, pd.Timestamp(started),
                                                export.name),
                                  default_zips() if zips is None else zips)
    rows = prepared.rows
    with engine.connect() as connection:
        merger = _Merger(*store.load_keys(connection, list(rows["email_key"].dropna()),
                                          list(rows["phone"].dropna())), trusted=trusted)

    def fetch(ids: list[int]) -> dict[int, Identity]:
        with engine.connect() as connection:
            return store.load_identities(connection, ids) if ids else {}

    results = {line: RecordResult(line - 1, "rejected", reason=reason)
               for line, reason in [*broken.items(),
                                    *prepared.rejected.itertuples(index=False)]}
    warnings = list(prepared.warnings)
    if len(rows):
        new, merge_warnings, _ = _store_rows(engine, merger, rows.copy(), started, fetch,
                                             export)
        warnings += merge_warnings
        new_keys = {*new["email_key"].dropna(), *new["phone"].dropna()}
        seen: set[int | None] = set()
        for line, email_key, phone in zip(rows["line"], rows["email_key"], rows["phone"],
                                          strict=True):
            signer_id = merger.by_email.get(email_key) if email_key else None
            signer_id = signer_id or (merger.by_phone.get(phone) if phone else None)
            fresh = ((email_key in new_keys) if email_key else (phone in new_keys)) \
                and signer_id not in seen  # two records of one new person: one import
            seen.add(signer_id)
            results[line] = RecordResult(line - 1, "imported" if fresh else "duplicate",
                                         signer_id=signer_id)
    for line, text in warnings:
        results[line].warnings.append(text)
    return [results[line] for line in sorted(results)]


def _unstorable(values: dict[str, str]) -> str:
    """Why a record's values cannot be stored ("" if they can)."""
    return next((f"{column}: {LONE_SURROGATE}" for column, value in values.items()
                 if _SURROGATE.search(value)), "")


def _record_values(record: dict[str, object], key_columns: dict[str, str]) -> dict[str, str]:
    """A pushed record's values under canonical column names (key_columns: key -> field)."""
    values: dict[str, str] = {}
    for key, column in key_columns.items():
        value = record.get(key)
        if value is not None and not str(values.get(column, "")).strip():
            values[column] = ("yes" if value else "no") if isinstance(value, bool) \
                else str(value)
    return values


def _prepared_chunks(path: Path, shape: FileShape, chunk_rows: int, workers: int,
                     source: str, now: pd.Timestamp, limits: IntakeLimits = DEFAULT_LIMITS
                     ) -> Iterator[tuple[_Chunk, _Prepared]]:
    """Chunks with their checked, normalized rows; a pool works ahead on the next chunks."""
    chunks = _read_chunks(path, shape, chunk_rows, limits)
    if workers <= 1:
        for chunk in chunks:
            yield chunk, _prepare_rows(chunk.rows, source, now, shape.format)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        ahead: list[tuple[_Chunk, Future[_Prepared]]] = []
        try:
            for chunk in chunks:
                with _interrupts_held():
                    ahead.append((chunk, pool.submit(_prepare_rows, chunk.rows, source, now,
                                                     shape.format)))
                if len(ahead) > workers:
                    done, future = ahead.pop(0)
                    yield done, future.result()
            for done, future in ahead:
                yield done, future.result()
        except BaseException:  # Ctrl-C, an error storing a chunk: the chunks ahead are moot
            pool.shutdown(cancel_futures=True)
            raise


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """SIGINT blocked while a submit may start a pool worker: Ctrl-C signals the whole process
    group, and each worker printed its own KeyboardInterrupt traceback (one still starting
    up, too, so a handler set by the worker comes too late). A blocked signal stays blocked
    across fork and exec (POSIX), so the workers never take it; here it waits until the
    block is lifted, so the importing process stops, and the pool with it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def intake(path: Path, engine: Engine, *, chunk_rows: int = CHUNK_ROWS,
           workers: int | None = None, source: str | None = None,
           sha256: str | None = None, mapping: dict[str, str] | None = None,
           default_mapping: dict[str, str] | None = None,
           reports_dir: Path | None = None,
           limits: IntakeLimits = DEFAULT_LIMITS,
           zips: Container[str] | None = None) -> IntakeSummary:
    """Import one signer file; see the module docstring for what happens to each row.

    mapping: header -> field for columns no known spelling covers (parse_mapping), see
    inspect_file for default_mapping; reports_dir: where the rejects and warnings files go
    (default: beside the input); limits: how long a cell, how wide a header; zips: the ZIP
    codes the geography knows (default: default_zips()), see _drop_unknown_zips."""
    path = Path(path)
    shape = inspect_file(path, mapping, default_mapping, limits)
    export = formats.BY_NAME[shape.format]
    if workers is None:
        large = path.stat().st_size >= POOL_THRESHOLD_BYTES
        workers = min(os.cpu_count() or 1, 4) if large else 1
    started = datetime.now(UTC)
    now = pd.Timestamp(started)
    summary = IntakeSummary(format=shape.format, encoding=shape.encoding,
                            delimiter=shape.delimiter,
                            columns={c: shape.header[i] for c, i in shape.columns.items()},
                            unmapped_columns=list(shape.unmapped))
    for column, position in shape.fallbacks:
        summary.fallback_columns.setdefault(column, []).append(shape.header[position])
    report_path = Path(reports_dir) / path.name if reports_dir else path
    if reports_dir:
        Path(reports_dir).mkdir(parents=True, exist_ok=True)
    rejects = _Report(report_path, shape.header, "rejects", ["line", "reason"])
    warnings = _Report(report_path, [], "warnings", ["line", "warning"])
    known_zips = default_zips() if zips is None else zips
    with engine.connect() as connection:
        merger = _Merger(*store.load_keys(connection))

    def fetch(ids: list[int]) -> dict[int, Identity]:
        if not ids:
            return {}
        with engine.connect() as connection:
            return store.load_identities(connection, ids)

    try:
        for chunk, prepared in _prepared_chunks(path, shape, chunk_rows, workers,
                                                source or path.name, now, limits):
            prepared = _drop_unknown_zips(prepared, known_zips)
            refused = set(prepared.rejected["line"])
            rows, row_warnings = prepared.rows, prepared.warnings + [
                warning for warning in chunk.warnings if warning[0] not in refused]
            summary.rows += len(chunk.rows) + len(chunk.malformed)
            summary.blank_rows += chunk.blank_rows
            for line, reason, text in chunk.malformed:
                rejects.write([line, reason, *_cells(text, shape.delimiter)])
            for position, (line, reason) in zip(prepared.rejected.index,
                                                prepared.rejected.itertuples(index=False),
                                                strict=True):
                rejects.write([line, reason, *_cells(chunk.raws[position], shape.delimiter)])
            new, merge_warnings, suppressed = _store_rows(engine, merger, rows, started,
                                                          fetch, export)
            summary.suppressed += suppressed
            summary.imported += len(new)
            summary.duplicates += len(rows) - len(new)
            for line, text in sorted(row_warnings + merge_warnings):
                warnings.write([line, text])
    finally:
        summary.rejected = rejects.count
        summary.rejects_file = rejects.close()
        summary.warnings = warnings.count
        summary.warnings_file = warnings.close()
    if summary.rows == 0:
        blank = f" ({summary.blank_rows:,} blank)" if summary.blank_rows else ""
        raise IntakeError(f"{path}: a header but no signer rows{blank}")
    counts = {"rows": summary.rows, "imported": summary.imported,
              "duplicates": summary.duplicates, "rejected": summary.rejected}
    with engine.begin() as connection:
        store.record_import(connection, path.name, started, counts, sha256)
    return summary
