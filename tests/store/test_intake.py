"""Intake: every row imported, merged or rejected with its reason; any CSV shape; no injection."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from outreach.errors import AddressError
from outreach.signers.intake import IntakeError, inspect_file, intake
from outreach.store.schema import imports, signers

HEADER = "first_name,last_name,email,phone,address,city,state,zip"


def write(tmp_path: Path, text: str, *, name: str = "signers.csv",
          encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def stored(store: Engine) -> list[dict]:
    with store.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(signers)
                                                             .order_by(signers.c.id))]


def rejects(summary) -> list[dict[str, str]]:
    with open(summary.rejects_file, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_clean_file_is_imported_and_normalized(tmp_path, store):
    path = write(tmp_path, HEADER + "\n"
                 "  Ana  María ,López,Ana.Lopez@Example.COM,(215) 555-0100,1421 Arch St,"
                 "Philadelphia,Pennsylvania,19102-1234\n")
    summary = intake(path, store)
    assert (summary.rows, summary.imported, summary.duplicates, summary.rejected) == (1, 1, 0, 0)
    assert summary.rejects_file is None
    [row] = stored(store)
    assert row["first_name"] == "Ana María" and row["last_name"] == "López"
    assert row["email"] == "Ana.Lopez@example.com"  # domain lower-cased, local part kept
    assert row["email_key"] == "ana.lopez@example.com"
    assert row["phone"] == "+12155550100"
    assert (row["state"], row["zip"]) == ("PA", "19102")


def test_consent_defaults_email_yes_sms_no(tmp_path, store):
    path = write(tmp_path, HEADER + "\nAna,L,ana@example.com,2155550100,,,,\n")
    intake(path, store)
    [row] = stored(store)
    assert row["email_opt_in"] is True
    assert row["sms_opt_in"] is False  # texting needs prior express consent


@pytest.mark.parametrize(("email_cell", "sms_cell", "expected"), [
    ("no", "yes", (False, True)),
    ("0", "1", (False, True)),
    ("TRUE", "FALSE", (True, False)),
    ("x", "", (True, False)),
    ("", "maybe", (True, False)),  # unreadable consent is never consent
])
def test_explicit_consent_values_win(tmp_path, store, email_cell, sms_cell, expected):
    path = write(tmp_path, "email,phone,email_opt_in,sms_opt_in\n"
                 f"ana@example.com,2155550100,{email_cell},{sms_cell}\n")
    summary = intake(path, store)
    [row] = stored(store)
    assert (row["email_opt_in"], row["sms_opt_in"]) == expected
    assert summary.warnings == (1 if sms_cell == "maybe" else 0)


@pytest.mark.parametrize(("row", "reason"), [
    ("Bob,B,bob@example,,,,,", "email not valid"),
    ("Bob,B,,12345,,,,", "phone not a valid number"),
    ("Bob,B,,call me,,,,", "phone not a phone number"),
    ("Bob,B,,,1 Main St,Austin,TX,78701", "no email and no phone"),
    ("Bob,B,bob@example.ca,,1 Main,Toronto,ON,M5V 2T6", "not a U.S. state or DC: ON"),
    ("Bob,B,bob@example.ca,,1 Main,Sometown,,M5V 2T6", "not a U.S. address: Canadian postal"),
    ("Bob,B,bob@example.com,,1 Calle,San Juan,PR,00901", "address in PR, which has no county"),
    ("Bob,B,bob@example.com,,1 Main,Austin,TX,78701,extra", "row has 9 fields, the header 8"),
    ("Bob,B," + "x" * 250 + "@example.com,,,,,", "email longer than 254 characters"),
])
def test_each_reject_reason_is_written_with_its_line(tmp_path, store, row, reason):
    path = write(tmp_path, HEADER + "\nAna,L,ana@example.com,,,,,\n" + row + "\n")
    summary = intake(path, store)
    assert (summary.rows, summary.imported, summary.rejected) == (2, 1, 1)
    [rejected] = rejects(summary)
    assert rejected["line"] == "3"
    assert reason in rejected["reason"]
    assert Path(summary.rejects_file) == tmp_path / "signers.rejects.csv"


def test_country_column_outside_the_us_is_rejected(tmp_path, store):
    path = write(tmp_path, "email,city,country\na@example.com,Paris,France\n"
                 "b@example.com,Austin,USA\nc@example.com,Boston,\n")
    summary = intake(path, store)
    assert (summary.imported, summary.rejected) == (2, 1)
    assert rejects(summary)[0]["reason"] == "not a U.S. address: country France"


def test_invalid_email_beside_a_valid_phone_keeps_the_signer_with_a_warning(tmp_path, store):
    path = write(tmp_path, HEADER + "\nAna,L,ana@,2155550100,,,,\n")
    summary = intake(path, store)
    assert (summary.imported, summary.warnings) == (1, 1)
    [row] = stored(store)
    assert row["email"] is None and row["phone"] == "+12155550100"
    warnings = Path(summary.warnings_file).read_text(encoding="utf-8")
    assert "2,email not valid" in warnings and "kept the phone" in warnings


def test_quoted_cell_spanning_lines_keeps_true_line_numbers(tmp_path, store):
    path = write(tmp_path, HEADER + '\nAna,L,ana@example.com,,"1 Main St\nApt 2",,,\n'
                 "Bob,B,not-an-email,,,,,\n")
    summary = intake(path, store)
    assert rejects(summary)[0]["line"] == "4"
    assert stored(store)[0]["street"] == "1 Main St Apt 2"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"])
def test_encodings(tmp_path, store, encoding):
    text = "first_name,email\nJosé,jose@example.com\nZoë,zoe@example.com\n"
    if encoding == "cp1252":
        text = "first_name,email\nJosé “Pepe”,jose@example.com\n"
    summary = intake(write(tmp_path, text, encoding=encoding), store)
    assert summary.rejected == 0
    assert stored(store)[0]["first_name"] in ("José", "José “Pepe”")


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters(tmp_path, store, delimiter):
    text = delimiter.join(["Email", "Zip", "City"]) + "\n" + \
        delimiter.join(["a@example.com", "19107", "Philadelphia"]) + "\n"
    summary = intake(write(tmp_path, text), store)
    assert summary.delimiter == delimiter and summary.imported == 1
    assert stored(store)[0]["zip"] == "19107"


def test_header_aliases_in_any_case(tmp_path, store):
    path = write(tmp_path, "Given Name,SURNAME,E-mail Address,Cell Phone,Street Address,"
                 "Town,State,Postal Code,Text Opt-In,Date Signed,UTM Source\n"
                 "Ana,López,ana@example.com,215-555-0100,1 Main St,Athol,MA,01331,yes,"
                 "2026-03-01T12:00:00Z,twitter\n")
    summary = intake(path, store)
    assert set(summary.columns) == {"first_name", "last_name", "email", "phone", "street",
                                    "city", "state", "zip", "sms_opt_in", "signed_at", "source"}
    [row] = stored(store)
    assert (row["first_name"], row["last_name"], row["city"], row["zip"]) == \
        ("Ana", "López", "Athol", "01331")
    assert row["sms_opt_in"] is True and row["source"] == "twitter"
    assert row["signed_at"].strftime("%Y-%m-%d %H:%M") == "2026-03-01 12:00"


def test_full_name_column_is_split(tmp_path, store):
    intake(write(tmp_path, "Name,Email\nMaría José Pérez,mj@example.com\n"), store)
    [row] = stored(store)
    assert (row["first_name"], row["last_name"]) == ("María", "José Pérez")


def test_zip_codes_that_lost_their_leading_zero_get_it_back(tmp_path, store):
    intake(write(tmp_path, "email,zip\na@example.com,2134\nb@example.com,501\n"), store)
    assert [r["zip"] for r in stored(store)] == ["02134", "00501"]


def test_a_zip_code_no_state_has_is_stored_without_zip_and_warned(tmp_path, store, geo):
    """The tryout: 00000 and 99999 imported in silence, though `outreach lookup 00000` says
    it is no ZIP code and the signer could never be matched. A signer with a good email is
    still a signer: kept, without the ZIP, as a ZIP not 5 digits is, the warning saying why."""
    path = write(tmp_path, HEADER + "\n"
                 "Ana,L,ana@example.com,,,,,00000\n"
                 "Ben,K,ben@example.com,,,Boise,ID,99999\n"
                 "Cy,M,cy@example.com,,,,,83702\n")
    summary = intake(path, store, reports_dir=tmp_path / "reports")
    assert (summary.imported, summary.rejected, summary.warnings) == (3, 0, 2)
    assert [(r["email"], r["zip"]) for r in stored(store)] == [
        ("ana@example.com", None), ("ben@example.com", None), ("cy@example.com", "83702")]
    with open(summary.warnings_file, encoding="utf-8", newline="") as handle:
        warned = [(r["line"], r["warning"]) for r in csv.DictReader(handle)]
    reason = "ZIP code not one of the 50 states or DC: stored without ZIP"
    assert warned == [("2", reason), ("3", reason)]
    with pytest.raises(AddressError, match="not a ZIP code of the 50 states or DC"):
        geo.lookup("00000")  # the lookup's own answer, which the warning repeats


def test_formula_cells_are_stored_as_text_and_escaped_in_every_csv_written(tmp_path, store):
    path = write(tmp_path, HEADER + "\n"
                 "=HYPERLINK(\"http://evil\"),+SUM(A1),ana@example.com,,@home,-Town,,\n"
                 "=cmd|' /C calc'!A0,x,not-an-email,,,,,\n")
    summary = intake(path, store)
    [row] = stored(store)
    assert row["first_name"] == '=HYPERLINK("http://evil")'  # the data is kept as typed
    [rejected] = rejects(summary)
    assert rejected["first_name"] == "'=cmd|' /C calc'!A0"
    for cell in rejected.values():
        assert not cell.startswith(("=", "+", "-", "@"))


def test_html_in_names_stays_plain_text(tmp_path, store):
    intake(write(tmp_path, "first_name,email\n<script>alert(1)</script>,a@example.com\n"),
           store)
    assert stored(store)[0]["first_name"] == "<script>alert(1)</script>"


def test_extremely_long_fields_are_cut_with_a_warning(tmp_path, store):
    path = write(tmp_path, "first_name,email,address\n" + "N" * 5000 +
                 ",a@example.com," + "S" * 100_000 + "\n")
    summary = intake(path, store)
    [row] = stored(store)
    assert len(row["first_name"]) == 100 and len(row["street"]) == 200
    assert summary.warnings == 2


def test_duplicates_within_the_file_merge_newest_wins_nothing_erased(tmp_path, store):
    path = write(tmp_path, "first_name,last_name,email,phone,city,signed_at\n"
                 "Ana,López,ana@example.com,,Austin,2026-01-01\n"
                 "Ana,,ANA@example.com,2155550100,,2026-02-01\n"
                 "Anita,,,2155550100,Dallas,2025-12-01\n")
    summary = intake(path, store)
    assert (summary.imported, summary.duplicates) == (1, 2)
    [row] = stored(store)
    assert row["last_name"] == "López"  # the newest row had none: not erased
    assert row["phone"] == "+12155550100"
    assert row["first_name"] == "Ana" and row["city"] == "Austin"  # the oldest row lost


def test_reimporting_the_same_file_imports_nothing(tmp_path, store):
    path = write(tmp_path, HEADER + "\nAna,L,ana@example.com,2155550100,,,,\n"
                 "Bob,B,bob@example.com,,,,,\nBad,Row,nope,,,,,\n")
    first = intake(path, store)
    again = intake(path, store)
    assert (first.imported, first.duplicates, first.rejected) == (2, 0, 1)
    assert (again.rows, again.imported, again.duplicates, again.rejected) == (3, 0, 2, 1)
    assert len(stored(store)) == 2
    with store.connect() as connection:
        assert connection.execute(select(imports.c.imported)).scalars().all() == [2, 0]


def test_newer_phone_for_a_known_email_updates_the_signer(tmp_path, store):
    intake(write(tmp_path, "email,phone,city,signed_at\n"
                           "ana@example.com,2155550100,Austin,2026-01-01\n"), store)
    summary = intake(write(tmp_path, "email,phone,signed_at\n"
                                     "ana@example.com,(512) 555-0199,2026-05-01\n",
                           name="newer.csv"), store)
    assert (summary.imported, summary.duplicates) == (0, 1)
    [row] = stored(store)
    assert row["phone"] == "+15125550199" and row["city"] == "Austin"


def test_older_row_fills_gaps_but_never_overwrites(tmp_path, store):
    intake(write(tmp_path, "email,first_name,signed_at\nana@example.com,Ana,2026-05-01\n"),
           store)
    intake(write(tmp_path, "email,first_name,last_name,phone,signed_at\n"
                           "ana@example.com,Anita,López,2155550100,2026-01-01\n",
                 name="older.csv"), store)
    [row] = stored(store)
    assert (row["first_name"], row["last_name"]) == ("Ana", "López")
    assert row["phone"] == "+12155550100"  # the stored signer had no phone: filled


def test_hostile_file_accounts_for_every_row(tmp_path, store):
    lines = [HEADER]
    lines += [f"P{i},Q,p{i}@example.com,,1 Main,Austin,TX,78701" for i in range(30)]
    lines += ["P1,Q,P1@EXAMPLE.COM,2155550101,,,,"] * 3  # duplicates
    lines += ['"unterminated,x,y@example.com,,,,,', ",,,,,,,", "only,one"]
    lines += ["=1+1,@x,-y,+z,,,,", "a,b,c,d,e,f,g,h,i,j,k", "\x00bad,,z@example.com,,,,,"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    summary = intake(path, store)
    assert summary.rows == summary.imported + summary.duplicates + summary.rejected
    assert summary.imported == len(stored(store))


def test_pool_and_inline_paths_agree(tmp_path, store_url):
    from outreach.store.db import open_store

    rows = [HEADER] + [f"N{i},L,n{i}@example.com,215555{i:04d},,Austin,TX,7870{i % 10}"
                       for i in range(300)] + ["Bad,,nope,,,,,"]
    path = write(tmp_path, "\n".join(rows) + "\n")
    summary = intake(path, open_store(store_url), chunk_rows=64, workers=2)
    assert (summary.rows, summary.imported, summary.rejected) == (301, 300, 1)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"\n\nemail\n", "the first line is empty"),
    (b"name,city\nAna,Austin\n", "no email column and no phone column"),
    (b"email\n", "a header but no signer rows"),
    (b"email,phone\n" + b"\x00" * 200, "not text"),
    (b"PK\x03\x04\x14\x00\x06\x00", "spreadsheet \\(Excel\\) file"),
])
def test_unusable_files_get_one_clear_line(tmp_path, store, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(IntakeError, match=message):
        intake(path, store)


def test_missing_file(tmp_path):
    with pytest.raises(IntakeError, match="no such file"):
        inspect_file(tmp_path / "absent.csv")
