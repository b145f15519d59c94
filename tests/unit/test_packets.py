"""Delivery packets as documents: every name survives into the PDF's text, whatever its
script, or is marked and counted where the font cannot print it; CSV cells cannot run."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from outreach.campaigns.packet_documents import (
    DEBIAN_DEJAVU,
    FALLBACK_NOTE,
    UNPRINTABLE,
    find_font,
    packet_pdf,
)
from outreach.campaigns.packets import NO_COMMENTS, Packet, packet_csv
from outreach.errors import ConfigError
from outreach.roster.offices import Office
from outreach.roster.stances import DEMAND_TEXT, OfficeStance, StanceStatement
from outreach.store.packets import Constituent
from tests.pdf_text import one_line, pdf_text

OFFICE = Office("pa-philadelphia", "PA", "Philadelphia District Attorney", "District Attorney",
                "county", ("42101",), "elected", "felony_and_misdemeanor",
                officeholder="Larry Krasner",
                mailing_address="3 S Penn Square, Philadelphia, PA 19107")
STATED = StanceStatement("pa-philadelphia", "expunge", "yes", "https://phillyda.org/expunge",
                         date(2026, 10, 1), "expungement clinics", "cli:test")


def person(first: str, last: str, city: str = "Philadelphia", day: int = 2) -> Constituent:
    return Constituent(first, last, city, datetime(2026, 11, day, 15, tzinfo=UTC))


def packet(*people: Constituent, comments: tuple[str, ...] = ()) -> Packet:
    return Packet(OFFICE, "MJ Campaign", "PO Box 1, Philadelphia, PA 19101", people,
                  OfficeStance("pa-philadelphia", {"expunge": STATED}), (STATED,),
                  datetime(2026, 12, 1, tzinfo=UTC), comments=comments)


def dejavu():
    font = find_font(None)
    if font is None:
        pytest.skip(f"no {DEBIAN_DEJAVU} (Debian package fonts-dejavu-core)")
    return font


def test_accented_greek_and_vietnamese_names_survive_extraction():
    names = [("José", "Muñoz"), ("Nguyễn", "Văn An"), ("Zoë", "Ø'Brien-Łukasz"),
             ("Σωκράτης", "Παπαδόπουλος"), ("Анна", "Кузнецова")]
    document = packet_pdf(packet(*(person(first, last, day=i + 2)
                                   for i, (first, last) in enumerate(names))),
                          dejavu())
    text = pdf_text(document.data)
    for first, last in names:
        assert f"{first} {last}" in text
    assert document.unprintable_names == 0
    assert FALLBACK_NOTE.split(":")[0] not in one_line(text)


def test_the_pdf_has_the_demands_the_stance_history_the_count_and_the_days():
    document = packet_pdf(packet(person("Ana", "Ruiz", day=2), person("Bo", "Li", day=9)),
                          dejavu())
    text = one_line(pdf_text(document.data))
    for demand in DEMAND_TEXT.values():
        assert demand[1:] in text
    assert "2 constituents of your jurisdiction signed the petition between November 2, " \
           "2026 and November 9, 2026" in text
    assert "Your office's recorded position: yes (stated October 1, 2026; " \
           "https://phillyda.org/expunge)" in text
    assert "2026-10-01 expunge yes https://phillyda.org/expunge (expungement clinics)" in text
    assert "To District Attorney Larry Krasner, Philadelphia District Attorney" in text
    assert "3 S Penn Square, Philadelphia, PA 19107" in text
    assert NO_COMMENTS in text


def test_comments_print_when_a_form_collected_them():
    text = one_line(pdf_text(packet_pdf(packet(person("Ana", "Ruiz"),
                                               comments=("Please act this year",)),
                                        dejavu()).data))
    assert "Please act this year" in text and NO_COMMENTS not in text


def test_a_name_in_a_script_the_font_lacks_is_marked_and_counted_not_dropped():
    document = packet_pdf(packet(person("王", "小明"), person("Ana", "Ruiz")), dejavu())
    text = one_line(pdf_text(document.data))
    assert document.unprintable_names == 1
    assert UNPRINTABLE in text and "Ana Ruiz" in text
    assert "2 constituents" in text
    assert "1 row has a name or town in a script this PDF's font cannot print" in text


def test_without_a_unicode_font_names_keep_their_latin1_accents_and_the_pdf_says_so():
    document = packet_pdf(packet(person("José", "Muñoz"), person("Nguyễn", "Văn An"),
                                 person("王", "小明")), None)
    text = one_line(pdf_text(document.data))
    assert FALLBACK_NOTE in text
    assert "José Muñoz" in text and "Nguyên Van An" in text
    assert document.unprintable_names == 1


def test_a_configured_font_that_is_missing_is_an_error_naming_the_setting(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"OUTREACH_PACKET_FONT=.*no such file"):
        find_font(tmp_path / "Missing.ttf")


def test_many_constituents_run_onto_pages_with_the_headings_repeated():
    people = [person("Ana", f"Lee{i:04d}") for i in range(400)]
    text = pdf_text(packet_pdf(packet(*people), dejavu()).data)
    assert all(f"Ana Lee{i:04d}" in text for i in range(400))
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= 5
    assert all("Name" in page and "Town" in page for page in pages[2:] if page.strip())
    assert f"Page 3 of {len([p for p in pages if p.strip()])}" in text


def test_csv_escapes_formula_names_and_holds_no_contact_column():
    rows = list(csv.reader(io.StringIO(packet_csv(packet(
        person('=HYPERLINK("http://evil.example","x")', "Evil"), person("+1", "-2", "@town"))))))
    assert rows[0] == ["office_id", "first_name", "last_name", "town", "signed_on"]
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells
    assert {"'+1", "'-2", "'@town"} <= set(cells)
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


def test_the_summary_a_command_prints_has_counts_and_days_never_names():
    found = packet(person("Zelda", "Quixote", day=3))
    summary = found.summary()
    assert summary["constituents"] == 1 and summary["first_signed"] == "2026-11-03"
    assert "Zelda" not in json.dumps(summary) and "Quixote" not in json.dumps(summary)
