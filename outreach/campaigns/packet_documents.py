"""A delivery packet as a PDF, and a state's packets as one archive (issue 17.5).

PDFs are made with fpdf2 (PyPI `fpdf2`, LGPL-3.0, used unmodified as a library): pure
Python and made for generating PDFs, it embeds a subset of a TrueType font with a ToUnicode
map, so accented and non-Latin names print and `pdftotext` reads them back (reportlab would
also do; fpdf2 is the smaller dependency, with no C extension of its own). The font is DejaVu
Sans from Debian's `fonts-dejavu-core` (Bitstream Vera licence with DejaVu's public-domain
changes: free to embed and redistribute; data/README.md), or the one OUTREACH_PACKET_FONT
names; without either, the packet falls back to a built-in font, prints the accents Latin-1
lacks without them, and says so on its first page. Table rows are placed with text(), six
times faster than fpdf2's cell() and ten times its table(): an office with 100,000
constituents takes seconds, not minutes.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, cast

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from outreach.campaigns.packets import (
    NO_COMMENTS,
    Format,
    Packet,
    display_name,
    iso_day,
    packet_csv,
)
from outreach.csvsafe import SafeCsvWriter
from outreach.errors import ConfigError
from outreach.roster.offices import Office
from outreach.roster.stances import DEMAND_TEXT, DEMANDS

DEBIAN_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FALLBACK_NOTE = ("Names are printed without the accents the built-in PDF font lacks: no "
                 "Unicode font was found (install Debian's fonts-dejavu-core, or set "
                 "OUTREACH_PACKET_FONT to a TrueType font).")
PAGES_TOTAL = "{pages_total}"
UNPRINTABLE = "(written in a script this font cannot print)"
INDEX_COLUMNS = ("office_id", "office_name", "officeholder", "mailing_address", "email",
                 "constituents", "first_signed", "last_signed", "file")


@dataclass(frozen=True)
class PacketFont:
    """The TrueType files a packet embeds (the bold is the regular one where none exists)."""

    regular: Path
    bold: Path


def find_font(configured: Path | None) -> PacketFont | None:
    """The configured font (an error if it is missing: a typo must not quietly drop
    accents), else DejaVu Sans where Debian puts it, else None (the built-in fallback)."""
    if configured is not None and not configured.is_file():
        raise ConfigError(f"OUTREACH_PACKET_FONT={str(configured)!r}: no such file (a "
                          "TrueType .ttf font, e.g. "
                          f"{DEBIAN_DEJAVU} of Debian's fonts-dejavu-core)")
    regular = configured or (DEBIAN_DEJAVU if DEBIAN_DEJAVU.is_file() else None)
    if regular is None:
        return None
    bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
    return PacketFont(regular, bold if bold.is_file() else regular)


def _latin1_char(char: str) -> str | None:
    """What the built-in PDF fonts can print of a character: itself if Latin-1, else its
    base letter with the first accent Latin-1 has ("ễ" -> "ê"), else None."""
    if ord(char) < 256:
        return char
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    with_mark = unicodedata.normalize("NFC", base + marks[0]) if marks else base
    if len(with_mark) == 1 and ord(with_mark) < 256:
        return with_mark
    return base if ord(base) < 256 else None


def _latin1(text: str) -> str:
    return "".join(_latin1_char(c) or "?" for c in text)


_PUNCTUATION = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2019": "'", "\u201c": '"',
                              "\u201d": '"', "\u2022": "-", "\u2026": "..."})


class _PacketPdf(FPDF):
    """US Letter pages with a running title, page numbers and, while a table runs, its
    headings repeated at the top of each page."""

    def __init__(self, font: PacketFont | None, title: str, footer_text: str):
        super().__init__(orientation="portrait", unit="mm", format="Letter")
        self.unicode = font is not None
        self.family = "PacketSans" if font else "helvetica"
        if font is not None:
            self.add_font(self.family, "", str(font.regular))
            self.add_font(self.family, "B", str(font.bold))
        self.running_title = title
        self.footer_text = footer_text
        # Wider than any page count's digits: fpdf2 reserves the alias's width for them.
        self.alias_nb_pages(PAGES_TOTAL)
        self.headings: tuple[tuple[str, float], ...] = ()
        self.unprintable_rows = 0  # table rows with a value the font has no glyphs for
        self.set_font(self.family, "", 10)
        # The characters the embedded font has glyphs for (fpdf2 leaves out the others
        # with a warning: a name in a script the font lacks would print as nothing).
        cmap = getattr(self.current_font, "cmap", None)
        self.glyphs: frozenset[int] | None = frozenset(cmap) if font is not None and cmap \
            else None
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)

    def text_of(self, text: str) -> str:
        return text if self.unicode else _latin1(text.translate(_PUNCTUATION))

    def printable(self, text: str) -> bool:
        """Whether every character prints (with its accents dropped, for the fallback)."""
        if self.glyphs is not None:
            return all(ord(c) in self.glyphs or c.isspace() for c in text)
        return self.unicode or all(_latin1_char(c) is not None
                                   for c in text.translate(_PUNCTUATION))

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_font(self.family, "", 8)
            self.cell(0, 5, self.text_of(self.running_title), new_x=XPos.LMARGIN,
                      new_y=YPos.NEXT)
            self.ln(2)
        if self.headings:
            self.table_headings()

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.family, "", 8)
        self.cell(0, 5, self.text_of(f"{self.footer_text}  Page {self.page_no()} of "
                                     f"{PAGES_TOTAL}"), align="C")

    def table_headings(self) -> None:
        self.set_font(self.family, "B", 9)
        for text, width in self.headings:
            self.cell(width, 6, self.text_of(text), border="B")
        self.ln(7)
        self.set_font(self.family, "", 9)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(self.family, "B", 12)
        self.multi_cell(0, 6, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.family, "", 10)

    def paragraph(self, text: str, size: float = 10, height: float = 5) -> None:
        self.set_font(self.family, "", size)
        self.multi_cell(0, height, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def fits(self, text: str, width: float) -> bool:
        """Whether a text fits a column: by its length first (no glyph of the font is wider
        than one em), measured only when that cannot tell, which is rare."""
        room = width - 2 * self.c_margin
        return len(text) * self.font_size <= room or self.get_string_width(text) <= room

    def row(self, values: Sequence[str], height: float = 5) -> None:
        """One table row: each value placed at its column (text(), six times faster than
        cell()) when every one fits, else wrapped columns side by side; a row that would
        cross the page's bottom margin starts the next page."""
        if not all(self.printable(v) for v in values):
            self.unprintable_rows += 1
            values = [v if self.printable(v) else UNPRINTABLE for v in values]
        texts = [self.text_of(v) for v in values]
        widths = [w for _, w in self.headings]
        if all(self.fits(t, w) for t, w in zip(texts, widths, strict=True)):
            if self.get_y() + height > self.page_break_trigger:
                self.add_page()  # header() repeats the headings
            top, left = self.get_y(), self.l_margin
            for text, width in zip(texts, widths, strict=True):
                if text:
                    self.text(left + self.c_margin, top + 0.7 * height, text)
                left += width
            self.set_y(top + height)
            return
        lines = [len(cast("list[str]", self.multi_cell(w, height, t, dry_run=True,
                                                       output="LINES")))
                 for t, w in zip(texts, widths, strict=True)]
        needed = max(lines) * height
        if self.get_y() + needed > self.page_break_trigger:
            self.add_page()
        top, left = self.get_y(), self.l_margin
        for text, width in zip(texts, widths, strict=True):
            self.set_xy(left, top)
            self.multi_cell(width, height, text)
            left += width
        self.set_xy(self.l_margin, top + needed)

    def rows_table(self, headings: Sequence[tuple[str, float]],
                   rows: Iterable[Sequence[str]]) -> None:
        self.headings = tuple(headings)
        if self.get_y() + 20 > self.page_break_trigger:
            self.add_page()  # header() prints the headings
        else:
            self.table_headings()
        for values in rows:
            self.row(values)
        self.headings = ()


def _day(day: date | None) -> str:
    return f"{day:%B} {day.day}, {day.year}" if day else ""


def _signed_range(packet: Packet) -> str:
    asked = ""
    if packet.signed_from or packet.signed_to:
        asked = (" (this packet counts signatures "
                 + (f"from {_day(packet.signed_from)} " if packet.signed_from else "")
                 + (f"through {_day(packet.signed_to)}" if packet.signed_to else "on")
                 + ")")
    if not packet.count:
        return "No constituent of your jurisdiction has signed yet" + asked + "."
    first, last = _day(packet.first_signed), _day(packet.last_signed)
    when = f"on {first}" if first == last else f"between {first} and {last}"
    who = "constituent" if packet.count == 1 else "constituents"
    return f"{packet.count:,} {who} of your jurisdiction signed the petition {when}{asked}."


def _addressee(office: Office) -> str:
    if office.officeholder:
        return f"To {office.title} {office.officeholder}, {office.office_name}"
    return f"To the {office.office_name}"


@dataclass(frozen=True)
class Document:
    """A packet's file, and how many of its names the PDF's font could not print (each is
    counted and marked in the PDF; the CSV, plain text, has every one as typed)."""

    data: bytes
    unprintable_names: int = 0


def packet_pdf(packet: Packet, font: PacketFont | None) -> Document:
    """The packet as a PDF (US Letter): the demands with the office's current position on
    each, the count and the days, comments, the position history, the names and towns."""
    office = packet.office
    pdf = _PacketPdf(font, f"Petition delivery to the {office.office_name}",
                     f"{packet.organization}: names and towns only, contact details withheld.")
    pdf.set_title(f"Petition delivery: {office.office_name}")
    pdf.set_author(packet.organization)
    pdf.set_creator("outreach")
    pdf.set_creation_date(packet.generated_at)
    pdf.add_page()
    if font is None:
        pdf.paragraph(FALLBACK_NOTE, size=8, height=4)
        pdf.ln(2)
    pdf.set_font(pdf.family, "B", 16)
    pdf.multi_cell(0, 8, pdf.text_of(f"Petition delivery: {office.office_name}"),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(_addressee(office))
    if office.mailing_address:
        pdf.paragraph(office.mailing_address)
    pdf.paragraph(f"From {packet.organization}"
                  + (f", {packet.mailing_address}" if packet.mailing_address else "")
                  + f", {_day(packet.generated_at.date())}.")
    pdf.heading(_signed_range(packet))
    pdf.heading("They ask you to:")
    for number, demand in enumerate(DEMANDS, start=1):
        found = packet.stance.current.get(demand)
        position = (f"Your office's recorded position: {found.stance} (stated "
                    f"{_day(found.stated_on)}; {found.source_url})" if found else
                    "Your office's position: not recorded yet.")
        pdf.paragraph(f"{number}. {DEMAND_TEXT[demand][0].upper()}{DEMAND_TEXT[demand][1:]}.")
        pdf.set_x(pdf.l_margin + 5)
        pdf.set_font(pdf.family, "", 9)
        pdf.multi_cell(0, 4.5, pdf.text_of(position), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.heading("Comments")
    if packet.comments:
        for comment in packet.comments:
            pdf.paragraph(f"\u201c{comment}\u201d")
    else:
        pdf.paragraph(NO_COMMENTS)
    pdf.heading("Your office's recorded positions, oldest first")
    if packet.history:
        pdf.rows_table((("Stated", 26), ("Demand", 20), ("Position", 20),
                        ("Source and note", 114)),
                       ((s.stated_on.isoformat(), s.demand, s.stance,
                         s.source_url + (f" ({s.note})" if s.note else ""))
                        for s in packet.history))
    else:
        pdf.paragraph("None recorded yet. Tell us where your office stands: "
                      f"{packet.organization}"
                      + (f", {packet.mailing_address}" if packet.mailing_address else "") + ".")
    if packet.count:
        pdf.heading(f"The {packet.count:,} constituents, by town")
        pdf.unprintable_rows = 0
        pdf.rows_table((("Name", 88), ("Town", 62), ("Signed", 30)),
                       ((display_name(p), p.city, p.signed_at.date().isoformat())
                        for p in packet.listed()))
        unprintable = pdf.unprintable_rows
        if unprintable:
            rows = "row has" if unprintable == 1 else "rows have"
            pdf.paragraph(f"{unprintable:,} {rows} a name or town in a script this PDF's "
                          "font cannot print: counted above, and listed as typed in the "
                          "packet's CSV.", size=9, height=4.5)
        return Document(bytes(pdf.output()), unprintable)
    return Document(bytes(pdf.output()))


def packet_document(packet: Packet, fmt: Format, font: PacketFont | None) -> Document:
    """The packet in this format (a CSV is UTF-8 and prints every name)."""
    if fmt == "pdf":
        return packet_pdf(packet, font)
    return Document(packet_csv(packet).encode("utf-8"))


@dataclass(frozen=True)
class ArchiveEntry:
    """One office's line in an archive's index.csv."""

    office: Office
    constituents: int
    first_signed: date | None
    last_signed: date | None
    file: str
    unprintable_names: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"office_id": self.office.office_id, "constituents": self.constituents,
                "first_signed": iso_day(self.first_signed),
                "last_signed": iso_day(self.last_signed),
                "file": self.file, "unprintable_names": self.unprintable_names}


def write_archive(packets: Iterable[Packet], fmt: Format, font: PacketFont | None,
                  target: BinaryIO) -> list[ArchiveEntry]:
    """A zip of one packet per office (OFFICE_ID.pdf or .csv) and index.csv: each office's
    name, officeholder, postal address and email (to deliver it), its count and days. The
    packets are made one at a time, so memory holds one office's, not a state's."""
    entries: list[ArchiveEntry] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for packet in packets:
            name = f"{packet.office.office_id}.{fmt}"
            document = packet_document(packet, fmt, font)
            archive.writestr(name, document.data)
            entries.append(ArchiveEntry(packet.office, packet.count, packet.first_signed,
                                        packet.last_signed, name, document.unprintable_names))
        index = io.StringIO()
        writer = SafeCsvWriter(index, INDEX_COLUMNS)
        for entry in entries:
            office = entry.office
            writer.writerow((office.office_id, office.office_name, office.officeholder,
                             office.mailing_address, office.email, entry.constituents,
                             iso_day(entry.first_signed) or "", iso_day(entry.last_signed) or "",
                             entry.file))
        archive.writestr("index.csv", index.getvalue())
    return entries
