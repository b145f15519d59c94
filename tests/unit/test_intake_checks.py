"""The cached, column-wise email and phone checks give the per-row libraries' answers.

Intake checks each distinct value once, asks email-validator about a domain once per domain and
phonenumbers for one type look-up (outreach.signers.fields): these tests hold each shortcut to
the plain per-row call it replaces, on a mixed sample (good, bad, repeated, Unicode, odd phone
formats, lengths at the limit) and on the platform exports in tests/fixtures/exports.
"""

from __future__ import annotations

import csv
import random
import unicodedata
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from outreach.signers import fields, intake

EXPORTS = Path(__file__).resolve().parent.parent / "fixtures" / "exports"


def email_per_row(raw: str) -> fields.Checked:
    """What intake asked for every row before the shortcuts: the library, whole."""
    if len(raw) > fields.MAX_EMAIL:
        return fields.Checked(None, error=f"email longer than {fields.MAX_EMAIL} characters")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as error:
        return fields.Checked(None, error=f"email not valid: {error}")
    return fields.Checked(result.normalized)


def phone_per_row(raw: str) -> fields.Checked:
    """is_valid_number, then number_type: the three look-ups check_phone folds into one."""
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return fields.Checked(None, error="phone not a phone number")
    if not phonenumbers.is_valid_number(number):
        return fields.Checked(None, error="phone not a valid number")
    return fields.Checked(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                          fields.PHONE_TYPES.get(phonenumbers.number_type(number), "unknown"))


LONG_LABEL = "d" * 60
EMAILS = [
    # plain, as most are; case kept before the @, folded after it
    "ana.lopez@example.org", "Ana.Lopez@Example.COM", "o'brien+petition@example.org",
    "x!#$%&'*+-/=?^_`{|}~@example.org", "a@b.co", "first.last.12@sub.example.co.uk",
    # RFC 2142 mailbox names: the library lowercases them
    "Postmaster@Example.org", "INFO@example.org", "info.desk@example.org",
    # Unicode: composed, decomposed (NFD), a leading combining mark, other scripts, IDN
    "chloé.garcía@example.org", "chloe\u0301@example.org", "\u0301chloe@example.org",
    "müller@müller.de", "用户@例子.广告", "ñandú@xn--mller-kva.de", "josé@EXAMPLE.org",
    "a\u200bb@example.org", "a\u00a0b@example.org", "a\ufe6bb@example.org",
    "a＠b.org", "a＠b@example.org", "a@b\u0301.org", "zoë@exam ple.org",
    "\u212bngstr\u00f6m@example.org", "\u2126mega@example.org", "\ufb01le@example.org",
    # not valid: the library's own error texts
    "", "not-an-email", "@example.org", "ana@", "ana@@example.org", "ana@example",
    "ana..lopez@example.org", ".ana@example.org", "ana.@example.org", "ana@-example.org",
    "ana@example-.org", "ana@example..org", "ana@localhost", "ana@example.test",
    "ana@[192.0.2.1]", "ana lopez@example.org", '"ana lopez"@example.org',
    '"ana"@example.org', "Ana López <ana@example.org>", "ana@example.org>",
    "ana@exa_mple.org", "ana@123.123.123.123", "ana@xn--zz.org", "ana@" + "d" * 64 + ".org",
    "a\\b@example.org", "a\"b@example.org", "ana@example.org\n", "ana@exam\nple.org",
    "ana@ex<ample.org", "ana@ex@ample.org",
    # lengths at the limit: characters, UTF-8 bytes, after the IDN domain is decoded
    "a" * 64 + "@" + ".".join([LONG_LABEL] * 3) + ".org",
    "a" * 60 + "@" + ".".join([LONG_LABEL] * 3) + ".org",
    "é" * 64 + "@" + ".".join([LONG_LABEL] * 2) + ".org",
    "é" * 30 + "@" + ".".join([LONG_LABEL] * 3) + ".org",
    "a" * 200 + "@example.org", "a" * 240 + "@example.org", "a" * 250 + "@ex.org",
    "a" * 190 + "@" + "xn--mller-kva." * 4 + "de", "a" * 230 + "@müller.de",
    "é" * 120 + "@example.org", "é" * 125 + "@example.org", "a" * 237 + "@müller.de",
    "a" * 240 + "@müller.de",
]
PHONES = [
    "(215) 555-0100", "215-555-0100", "215.555.0100", "2155550100", "+1 215 555 0100",
    "1 (215) 555-0100", "12155550100", "+12155550100", "  215 555 0100  ", "215 5550100 ",
    "(212) 555-1234", "212-555-1234 x99", "212-555-1234 ext. 12", "212-555-1234;ext=3",
    "1-800-FLOWERS", "800-555-0100", "900-555-0100", "+1 416 555 0199", "+1 787 555 0100",
    "+44 20 7946 0958", "+44 7700 900123", "011 44 20 7946 0958", "+52 55 1234 5678",
    "+61 4 1234 5678", "+800 1234 5678", "+1 242 555 0100", "+1 808 555 0100",
    "555-1234", "5551234", "123", "12", "1", "", "abc", "phone", "+", "++1 215 555 0100",
    "(((215))) 555----0100", "2 1 5 5 5 5 0 1 0 0", "215/555/0100", "tel:+1-215-555-0100",
    "215-555-01000", "215-555-010", "021-555-0100", "1215555010", "0000000000",
    "999-999-9999", "٢١٥٥٥٥٠١٠٠", "２１５５５５０１００", "+1 (215) 555-0100 (cell)",
    "9" * 30, "1" * 260, "(215) 555-0100\n(215) 555-0101",
]


def export_cells() -> tuple[list[str], list[str]]:
    """Every email and phone cell of the platform exports (Action Network, ActionKit,
    EveryAction, Mobilize, Change.org), as the header maps them."""
    emails: list[str] = []
    phones: list[str] = []
    for path in sorted(EXPORTS.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        _, columns, _, fallbacks = intake.resolve_columns(rows[0])
        for row in rows[1:]:
            emails.extend(row[i].strip() for f, i in [*columns.items(), *fallbacks]
                          if f == "email")
            phones.extend(row[i].strip() for f, i in [*columns.items(), *fallbacks]
                          if f == "phone")
    return emails, phones


def test_the_exports_have_emails_and_phones_to_check():
    emails, phones = export_cells()
    assert len([e for e in emails if e]) > 20 and len([p for p in phones if p]) > 10


@pytest.mark.parametrize("raw", EMAILS + export_cells()[0])
def test_an_email_gets_the_answer_validate_email_gives_it(raw):
    assert fields.check_email(raw) == email_per_row(raw)


@pytest.mark.parametrize("raw", PHONES + export_cells()[1])
def test_a_phone_gets_the_answer_is_valid_number_and_number_type_give_it(raw):
    assert fields.check_phone(raw) == phone_per_row(raw)


def test_the_sample_has_both_outcomes_and_the_shortcut_takes_the_plain_addresses():
    assert {email_per_row(e).value is None for e in EMAILS} == {True, False}
    assert {phone_per_row(p).value is None for p in PHONES} == {True, False}
    assert fields._plain_email("chloé.garcía@example.org") == "chloé.garcía@example.org"
    assert fields._plain_email("Postmaster@Example.org") == "postmaster@example.org"
    # Not sure of these: the library answers them whole.
    assert fields._plain_email("chloe\u0301@example.org") is None  # not NFC
    assert fields._plain_email("ana@localhost") is None  # a domain it refuses
    assert fields._plain_email('"ana"@example.org') is None  # quoted


def test_a_domain_is_asked_about_once_whatever_the_address(monkeypatch):
    calls: list[str] = []
    ask = fields.validate_email

    def counting(raw: str, **options: object):
        calls.append(raw)
        return ask(raw, **options)

    monkeypatch.setattr(fields, "validate_email", counting)
    fields._domain_of.cache_clear()
    checked = [fields.check_email(f"signer.{i}@Gmail.com") for i in range(500)]
    assert calls == ["a@Gmail.com"]
    assert [c.value for c in checked] == [f"signer.{i}@gmail.com" for i in range(500)]


def test_a_column_gets_each_cells_answer_with_repeats_checked_once():
    cells = (EMAILS + EMAILS[::-1] + [EMAILS[0]] * 50)
    asked: list[str] = []

    def check(raw: str) -> fields.Checked:
        asked.append(raw)
        return fields.check_email(raw)

    column = pd.Series(cells, index=range(1000, 1000 + len(cells)), dtype="str")
    checked = fields.check_column(column, check)
    assert list(checked.index) == list(column.index)
    assert sorted(asked) == sorted(set(cells))
    expected = [email_per_row(raw) for raw in cells]
    assert list(checked["value"]) == [c.value for c in expected]
    assert list(checked["error"]) == [c.error or "" for c in expected]
    phones = fields.check_column(pd.Series(PHONES * 2, dtype="str"), fields.check_phone)
    assert list(zip(phones["value"], phones["kind"], phones["error"], strict=True)) == [
        (c.value, c.kind, c.error or "") for c in map(phone_per_row, PHONES * 2)]
    assert fields.check_column(pd.Series([], dtype="str"), fields.check_email).empty


def per_row_column(column: pd.Series, check) -> pd.DataFrame:
    """check_column as a loop over the cells, with the per-row library calls."""
    reference = email_per_row if check is fields.check_email else phone_per_row
    results = [reference(raw) for raw in column]
    return pd.DataFrame({"value": [c.value for c in results],
                         "kind": [c.kind for c in results],
                         "error": [c.error or "" for c in results]}, index=column.index)


def mixed_frame() -> pd.DataFrame:
    """A chunk as intake reads it: every email beside every kind of phone, repeated."""
    emails = EMAILS * 3
    phones = (PHONES * 6)[:len(emails)]
    records = [(f"First{i}", "Last", email, phone, "1 Main St", "Austin", "TX", "78701",
                f"2026-01-{1 + i % 28:02d}T10:00:00Z", "")  # the last: padding
               for i, (email, phone) in enumerate(zip(emails, phones, strict=True))]
    wanted = [(c, i) for i, c in enumerate(("first_name", "last_name", "email", "phone",
                                            "street", "city", "state", "zip", "signed_at"))]
    return intake._frame(records, list(range(2, 2 + len(records))), wanted)


def test_a_chunk_is_kept_rejected_and_warned_about_as_with_per_row_checks(monkeypatch):
    now = pd.Timestamp("2026-12-01", tz="UTC")
    frame = mixed_frame()
    fast = intake.prepare_chunk(frame.copy(), "test", now)
    monkeypatch.setattr(fields, "check_column", per_row_column)
    slow = intake.prepare_chunk(frame.copy(), "test", now)
    pd.testing.assert_frame_equal(fast.rows, slow.rows)
    pd.testing.assert_frame_equal(fast.rejected, slow.rejected)
    assert fast.warnings == slow.warnings
    assert len(fast.rows) and len(fast.rejected) and fast.warnings


def test_a_unicode_local_part_the_shortcut_takes_is_nfc_and_safe():
    for raw in EMAILS:
        plain = fields._plain_email(raw)
        if plain is not None:
            local = plain.rpartition("@")[0]
            assert unicodedata.is_normalized("NFC", local)
            assert plain == email_per_row(raw).value


# Every way _NANP_PLAIN lets a number be written, and some it does not (the library answers).
NANP_FORMS = ["{a}{e}{n}", "({a}) {e}-{n}", "({a}){e}-{n}", "{a}-{e}-{n}", "{a}.{e}.{n}",
              "{a} {e} {n}", "+1{a}{e}{n}", "+1 {a}-{e}-{n}", "+1 ({a}) {e}-{n}",
              "+1.{a}.{e}.{n}", "1{a}{e}{n}", "1 ({a}) {e}-{n}", "1-{a}-{e}-{n}",
              "1({a}){e}{n}", "({a} {e}-{n}", "{a}) {e}-{n}", "+ 1 {a} {e} {n}",
              "+1  {a} {e} {n}", "{a}--{e}{n}", "{a}{e}{n}0", "0{a}{e}{n}", "11{a}{e}{n}"]


def nanp_numbers() -> list[tuple[str, str, str]]:
    """(area code, exchange, line): every area code 200-999 (the states', Canada's, the
    Caribbean's, toll-free and premium ones, codes not in use), exchanges from 000 to 999,
    the regions' example numbers and their neighbours, and Barbados' and Jamaica's numbers,
    whose patterns read a seventh digit."""
    numbers = [(f"{area}", f"{(area * 7 + k * 311) % 1000:03d}", f"{(area * 13 + k) % 10_000:04d}")
               for area in range(200, 1000) for k in range(3)]
    # The metadata's example number of each type of each region of country code 1, and the
    # numbers one digit away from it in each of its first eight places: where the patterns
    # tell numbers apart.
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for desc in vars(metadata).values():
            example = getattr(desc, "example_number", None)
            if isinstance(example, str) and len(example) == 10:
                numbers += [(n[:3], n[3:6], n[6:]) for place in range(8) for digit in "0123456789"
                            if (n := example[:place] + digit + example[place + 1:])[0] in
                            "23456789"]
    numbers += [("246", "521", "0100"), ("246", "521", "1100"), ("246", "523", "0100"),
                ("876", "606", "0100"), ("876", "607", "0100"), ("658", "295", "1234"),
                ("555", "555", "0100"), ("800", "555", "0100"), ("900", "555", "0100")]
    return numbers


def test_a_plain_american_number_gets_the_answer_the_library_gives_it():
    for n, (area, exchange, line) in enumerate(nanp_numbers()):
        raw = NANP_FORMS[n % len(NANP_FORMS)].format(a=area, e=exchange, n=line)
        assert fields.check_phone(raw) == phone_per_row(raw), raw


def test_each_written_form_of_a_number_gets_the_librarys_answer():
    for area, exchange, line in nanp_numbers()[::97]:
        for form in NANP_FORMS:
            raw = form.format(a=area, e=exchange, n=line)
            assert fields.check_phone(raw) == phone_per_row(raw), raw


def test_a_plain_number_is_not_parsed_and_its_type_is_asked_once_per_six_digits(monkeypatch):
    parsed: list[str] = []
    parse = phonenumbers.parse
    monkeypatch.setattr(phonenumbers, "parse", lambda raw, *a, **k: parsed.append(raw) or
                        parse(raw, *a, **k))
    fields._nanp_kind.cache_clear()
    raws = [f"(215) 555-{i:04d}" for i in range(300)] + [f"+1 212 555 {i:04d}" for i in range(300)]
    checked = [fields.check_phone(raw) for raw in raws]
    assert parsed == []
    assert fields._nanp_kind.cache_info().misses == 2
    fields.check_phone("215-555-0100 x12")  # not plain: the library parses it
    assert parsed == ["215-555-0100 x12"]
    assert checked == [phone_per_row(raw) for raw in raws]


def test_the_installed_patterns_allow_the_shortcut_but_for_the_regions_read_further():
    wide = fields._nanp_regions()
    assert wide is not None
    assert wide.match("2465210100") and wide.match("8766060100")  # Barbados, Jamaica
    assert not wide.match("2155550100")
    assert fields._plain_nanp("(246) 521-0100") is None  # the library answers it whole


@pytest.mark.parametrize(("pattern", "whole", "width"), [
    (r"[2-9]\d{9}|3\d{6}", True, 1),  # the first digit, then only the length
    (r"983[2-57-9]\d{6}", True, 4),
    (r"(?:2(?:0[1-35-9]|1[02-9])|3(?:0[1-57-9]))[2-9]\d{6}", True, 4),
    (r"52[34][2-9]1[02-9]\d{4}", True, 6),
    (r"246521[0369]\d{3}", True, 7),
    (r"\d{1,2}5\d{3}", True, 3),  # \d5\d{3} or \d\d5\d{3}
    (r"5\d{3}6", True, 5),  # digits before a literal are read
    (r"8001|8[024]9", False, 4),  # matched at the start: its widest match
    (r"(?=1)\d{10}", True, None),  # a look-ahead reads on
    (r"1\d*", True, None),  # unbounded
    (r"(\d)\1\d{8}", True, None),  # a back-reference
    (r"^2\d{9}$", True, None),  # anchors
])
def test_the_pattern_reader_says_how_far_a_pattern_reads(pattern, whole, width):
    assert fields._deciding_width(pattern, whole) == width


def clean_per_cell(column: pd.Series) -> pd.Series:
    """clean_text's steps on every cell, as before the clean cells were let through."""
    return fields._clean_text(column)


def test_the_unclean_pattern_names_every_control_and_whitespace_character_but_the_space():
    """Checked on every code point, in Python's re and in pyarrow's RE2 alike (a lone space
    is at both ends of its cell)."""
    chars = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    expected = [char.isspace() or unicodedata.category(char) in ("Cc", "Zs", "Zl", "Zp")
                for char in chars]
    for dtype in ("str", object):
        found = pd.Series(chars, dtype=dtype).str.contains(fields._UNCLEAN, regex=True)
        assert found.tolist() == expected, dtype


def test_text_is_cleaned_as_every_cell_was():
    rng = random.Random(5)
    # Letters, spaces of every kind, controls, line breaks, format characters, emoji.
    alphabet = ["a", "Z", "é", "Ø", "用", "😀", " ", "  ", "\t", "\n", "\r", "\x00", "\x1c",
                "\x1f", "\x7f", "\x85", "\xa0", "\u1680", "\u2000", "\u2028", "\u2029",
                "\u202f", "\u3000", "\u200b", "\u180e", "\ufeff", "\u00ad", "-", "'", "<b>"]
    cells = ["", " ", "Ana", "Ana María", " Ana", "Ana ", "Ana  María", "1421 Arch St"]
    cells += ["".join(rng.choices(alphabet, k=rng.randint(0, 8))) for _ in range(20_000)]
    cells += [chr(code) for code in range(0x3000)]
    for dtype in ("str", object):
        column = pd.Series(cells, index=range(7, 7 + len(cells)), dtype=dtype)
        pd.testing.assert_series_equal(fields.clean_text(column), clean_per_cell(column))
    column = pd.Series(["Ana", None, " Ben ", float("nan")], dtype=object)
    pd.testing.assert_series_equal(fields.clean_text(column), clean_per_cell(column))
    clean = pd.Series(["Ana", "Ben"], dtype="str")
    pd.testing.assert_series_equal(fields.clean_text(clean), clean)
