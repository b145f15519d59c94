"""Bounded input to intake (audit F7, F8, F26): cells of any size up to a limit, a row beyond it
rejected with its reason, a stray quote costing one line, a column cap, flat memory for wide
files, blank rows counted, mixed encodings warned, and an inbox that one bad file cannot block."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from outreach.cli import cli
from outreach.signers import intake as intake_module
from outreach.signers.inbox import process_inbox
from outreach.signers.intake import IntakeError, IntakeLimits, intake
from outreach.store.schema import signers

HEADER = "First Name,Email,Phone,Street,ZIP\n"
ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def emails(store: Engine) -> list[str]:
    with store.connect() as connection:
        return connection.execute(select(signers.c.email).order_by(signers.c.id)).scalars().all()


def names(store: Engine) -> dict[str, str]:
    with store.connect() as connection:
        return dict(connection.execute(select(signers.c.email, signers.c.first_name)).all())


def report(path: str | None) -> list[dict[str, str]]:
    assert path is not None
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def huge_field_file(tmp_path: Path, size: int, name: str = "huge_field.csv") -> Path:
    """The audit's F7 reproduction, with a street of `size` characters."""
    return write(tmp_path, name, HEADER + f"Ana,ana.huge@example.org,,{'x' * size},19102\n"
                 "Ben,ben.ok@example.org,,1 Main St,19102\n")


def test_a_field_over_128_kb_is_read_and_every_row_imported(tmp_path, store):
    summary = intake(huge_field_file(tmp_path, 200_000), store, workers=1)
    assert (summary.rows, summary.imported, summary.rejected) == (2, 2, 0)
    assert emails(store) == ["ana.huge@example.org", "ben.ok@example.org"]
    [warning] = report(summary.warnings_file)
    assert warning == {"line": "2", "warning": "street longer than 200 characters: cut"}


def test_a_field_over_the_limit_rejects_its_row_with_the_reason(tmp_path, store):
    summary = intake(huge_field_file(tmp_path, 2_000_000), store, workers=1)  # default: 1 MiB
    assert (summary.rows, summary.imported, summary.rejected) == (2, 1, 1)
    assert emails(store) == ["ben.ok@example.org"]
    [rejected] = report(summary.rejects_file)
    assert rejected["line"] == "2"
    assert rejected["reason"] == "Street longer than 1,048,576 characters"
    assert rejected["Email"] == "ana.huge@example.org"  # the row as it was, to fix and resend


def test_the_field_limit_is_a_setting(tmp_path, store):
    limits = IntakeLimits(max_field=1000)
    summary = intake(huge_field_file(tmp_path, 1001), store, workers=1, limits=limits)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert report(summary.rejects_file)[0]["reason"] == "Street longer than 1,000 characters"


def good_rows(count: int, start: int = 0) -> str:
    return "".join(f"P{i},p{i}@example.org,,{i} Main St,19102\n"
                   for i in range(start, start + count))


@pytest.mark.parametrize("limits", [IntakeLimits(), IntakeLimits(max_field=1000)],
                         ids=["quote-to-the-end", "quote-past-the-row-limit"])
def test_an_unterminated_quote_in_row_1_costs_that_row_alone(tmp_path, store, limits):
    """F7: the quote swallowed every row after it (or crashed the import); now the row it opens
    on is rejected with its line and the 30,000 rows after it are read again, and imported."""
    path = write(tmp_path, "quote.csv",
                 HEADER + 'Ana,"ana.quote@example.org,,1 Main St,19102\n' + good_rows(30_000))
    summary = intake(path, store, workers=1, limits=limits)
    assert (summary.rows, summary.imported, summary.rejected) == (30_001, 30_000, 1)
    [rejected] = report(summary.rejects_file)
    assert rejected["line"] == "2"
    assert rejected["reason"] in ("a quote opened on this line is never closed",
                                  "a quote opened on this line is not closed within "
                                  f"{limits.max_row:,} characters")


def test_quoted_line_breaks_still_make_one_row(tmp_path, store):
    path = write(tmp_path, "multiline.csv",
                 HEADER + 'Ana,ana@example.org,,"1 Main St\nApt 2",19102\n' + good_rows(2)
                 + 'Cy,"cy@example.org",,"3 Main\n\nSt",19102\n')
    summary = intake(path, store, workers=1)
    assert (summary.rows, summary.imported, summary.rejected, summary.blank_rows) == (4, 4, 0, 0)
    with store.connect() as connection:
        streets = connection.execute(select(signers.c.street).order_by(signers.c.id))
        assert streets.scalars().first() == "1 Main St Apt 2"


def test_a_line_with_no_end_is_rejected_and_the_next_row_read(tmp_path, store):
    path = write(tmp_path, "long_line.csv", HEADER + "Ana,ana@example.org,,"
                 + "y" * 5_000_000 + "\n" + good_rows(1))
    summary = intake(path, store, workers=1)
    assert (summary.rows, summary.imported, summary.rejected) == (2, 1, 1)
    [rejected] = report(summary.rejects_file)
    assert (rejected["line"], rejected["reason"]) == ("2", "row longer than 4,194,304 characters")


def test_a_header_line_over_128_kb(tmp_path, store):
    path = write(tmp_path, "long_header.csv", f"Email,{'h' * 200_000}\nana@example.org,1\n")
    assert intake(path, store, workers=1).imported == 1
    endless = write(tmp_path, "endless_header.csv", "Email," + "h" * 5_000_000 + "\n")
    with pytest.raises(IntakeError, match="header line is longer than 4,194,304 characters"):
        intake(endless, store, workers=1)


def wide_file(tmp_path: Path, rows: int, columns: int = 10_000) -> Path:
    """The audit's F8 file: `columns` two-character columns and an email column."""
    path = tmp_path / "wide.csv"
    cells = ",".join(["xx"] * columns)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(f"c{i}" for i in range(columns)) + ",Email\n")
        for i in range(rows):
            handle.write(f"{cells},w{i}@example.org\n")
    return path


def test_a_10000_column_file_is_refused_in_one_line(tmp_path, store):
    with pytest.raises(IntakeError) as refused:
        intake(wide_file(tmp_path, 3), store)
    assert "the header has 10,001 columns, more than the 1,000 read " \
           "(OUTREACH_INTAKE_MAX_COLUMNS)" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert intake(wide_file(tmp_path, 3), store,
                  limits=IntakeLimits(max_columns=20_000)).imported == 3


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="needs GNU time")
def test_a_wide_file_imports_with_flat_memory(tmp_path):
    """F8: 10,000 columns x 330 rows (10 MB) peaked at 512 MB, growing with the file (5.5 GB for
    200 MB), since every row's 10,000 cells were kept; now a row is kept as one string."""
    path = wide_file(tmp_path, 330)
    env = {**os.environ, "OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'wide.sqlite3'}",
           "OUTREACH_INTAKE_MAX_COLUMNS": "20000", "OUTREACH_REPORTS_DIR": str(tmp_path)}
    outreach = Path(sys.executable).with_name("outreach")
    subprocess.run([outreach, "db", "upgrade"], env=env, check=True, capture_output=True)
    done = subprocess.run(["/usr/bin/time", "-f", "%M", outreach, "intake", str(path), "--json"],
                          env=env, capture_output=True, text=True, check=True)
    assert '"imported": 330' in done.stdout
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib // 1024} MiB"


def test_blank_rows_are_counted_so_rows_and_blank_rows_make_the_data_lines(tmp_path, store):
    body = ("Ana,ana@example.org,,1 Main St,19102\n,,,,\n\n  , ,,,\n"
            "Ben,ben@example.org,,,19102\n,,,,")
    path = write(tmp_path, "blank.csv", HEADER + body)
    summary = intake(path, store, workers=1)
    assert (summary.rows, summary.blank_rows, summary.imported) == (2, 4, 2)
    assert summary.rows + summary.blank_rows == len(body.splitlines())
    assert summary.to_dict()["blank_rows"] == 4
    only_blank = write(tmp_path, "only_blank.csv", HEADER + ",,,,\n,,,,\n")
    with pytest.raises(IntakeError, match=r"no signer rows \(2 blank\)"):
        intake(only_blank, store, workers=1)


def test_the_text_report_says_how_many_blank_rows(tmp_path, store_url, monkeypatch):
    monkeypatch.setenv("OUTREACH_DATABASE_URL", store_url)
    monkeypatch.setenv("OUTREACH_REPORTS_DIR", str(tmp_path))
    path = write(tmp_path, "blank.csv", HEADER + "Ana,ana@example.org,,,19102\n,,,,\n")
    done = CliRunner().invoke(cli, ["intake", str(path)])
    assert done.exit_code == 0, done.output
    assert "1 row: 1 imported, 0 duplicates merged, 0 rejected, 1 blank row skipped" \
        in done.output


def test_a_mixed_encoding_file_is_read_line_by_line_with_a_warning(tmp_path, store):
    """F26: a UTF-8 row then a Windows-1252 row was read all as Windows-1252: "ZoÃ«"."""
    data = (HEADER + "Zoë,zoe.utf8@example.org,,1 Main St,19102\n").encode() \
        + "Zoë,zoe.cp1252@example.org,,2 Main St,19102\n".encode("cp1252") \
        + "Zoë,zoe.again@example.org,,3 Main St,19102\n".encode()
    summary = intake(write(tmp_path, "mixed.csv", data), store, workers=1)
    assert (summary.imported, summary.encoding) == (3, "utf-8")
    assert set(names(store).values()) == {"Zoë"}
    [warning] = report(summary.warnings_file)
    assert warning["line"] == "3"
    assert warning["warning"].startswith("not UTF-8 like the rest of the file")


def test_a_recoded_row_that_is_rejected_gets_its_rejection_alone(tmp_path, store):
    """A rejected row is reported once, in the rejects file: nothing of it was stored, so no
    caveat about how it was stored belongs in the warnings file."""
    data = (HEADER + "Zoë,zoe.utf8@example.org,,1 Main St,19102\n").encode() \
        + "Zoë,not-an-email,,2 Main St,19102\n".encode("cp1252")
    summary = intake(write(tmp_path, "mixed.csv", data), store, workers=1)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert report(summary.rejects_file)[0]["line"] == "3"
    assert summary.warnings == 0 and summary.warnings_file is None


def test_bytes_no_encoding_reads_are_that_rows_error(tmp_path, store):
    data = (HEADER + "Zoë,zoe@example.org,,1 Main St,19102\n").encode() \
        + b"Zo\x81,bad@example.org,,2 Main St,19102\n" + good_rows(1).encode()
    summary = intake(write(tmp_path, "undecodable.csv", data), store, workers=1)
    assert (summary.rows, summary.imported, summary.rejected) == (3, 2, 1)
    [rejected] = report(summary.rejects_file)
    assert (rejected["line"], rejected["reason"]) == (
        "3", "bytes that are neither UTF-8 nor Windows-1252")
    assert rejected["First Name"] == "Zo\ufffd"


def test_a_lone_surrogate_in_a_utf16_file_is_that_rows_error(tmp_path, store):
    text = HEADER + "Ana,ana@example.org,,1 Main St,19102\nBo\ud83d,bo@example.org,,,19102\n"
    path = write(tmp_path, "utf16.csv", text.encode("utf-16", "surrogatepass"))
    summary = intake(path, store, workers=1)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert "surrogate" in report(summary.rejects_file)[0]["reason"]


# --- the inbox ---------------------------------------------------------------------------------
def drop(inbox: Path, name: str, data: str | bytes) -> None:
    inbox.mkdir(exist_ok=True)
    path = write(inbox, name, data)
    old = time.time() - 60
    os.utime(path, (old, old))


def test_the_audits_poison_file_no_longer_blocks_the_inbox(tmp_path, store):
    """F7: a_poison.csv (a 200 KB cell) raised on every run, stayed in processing/ and kept
    b_good.csv from ever being imported."""
    inbox = tmp_path / "inbox"
    shutil.copy(huge_field_file(tmp_path, 200_000), tmp_path / "a_poison.csv")
    drop(inbox, "a_poison.csv", (tmp_path / "a_poison.csv").read_bytes())
    drop(inbox, "b_good.csv", HEADER + "Cy,cy@example.org,,1 Main St,19102\n")
    results = process_inbox(store, inbox, settle_seconds=0)
    assert [(r.file, r.outcome) for r in results] == [("a_poison.csv", "imported"),
                                                      ("b_good.csv", "imported")]
    assert not list((inbox / "processing").iterdir())
    assert "cy@example.org" in emails(store)


def test_any_failure_files_the_file_away_and_the_next_is_imported(tmp_path, store,
                                                                  monkeypatch):
    """Whatever goes wrong with one file (here a bug that quotes a row in its message) sends
    it to failed/ with a one-line reason and no row data; the next file is imported."""
    real = intake_module.intake

    def buggy(path, *args, **kwargs):
        if path.name.startswith("a_"):
            raise KeyError("ana.private@example.org")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(intake_module, "intake", buggy)
    inbox = tmp_path / "inbox"
    drop(inbox, "a_poison.csv", HEADER + "Ana,ana.private@example.org,,,19102\n")
    drop(inbox, "b_good.csv", HEADER + "Cy,cy@example.org,,1 Main St,19102\n")
    results = process_inbox(store, inbox, settle_seconds=0)
    assert [r.outcome for r in results] == ["failed", "imported"]
    error = (inbox / "failed" / "a_poison.csv.error.txt").read_text()
    assert error == "unexpected KeyError while importing; the log has details\n"
    assert emails(store) == ["cy@example.org"]
    assert not list((inbox / "processing").iterdir())


def test_a_store_that_does_not_answer_leaves_the_file_for_the_next_run(tmp_path, store,
                                                                       monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    monkeypatch.setattr(intake_module, "intake", down)
    inbox = tmp_path / "inbox"
    drop(inbox, "a.csv", HEADER + "Cy,cy@example.org,,1 Main St,19102\n")
    with pytest.raises(OperationalError):
        process_inbox(store, inbox, settle_seconds=0)
    assert [p.name for p in (inbox / "processing").iterdir()] == ["a.csv"]
    assert not (inbox / "failed").exists()
