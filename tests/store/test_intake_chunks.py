"""Where intake cuts its chunks changes nothing: a file imported in chunks of 2 rows stores the
same signers, merges the same rows and reports the same warnings as one read in one chunk, and
as its rows imported one by one (separate imports: the store decides who is who)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, select

from outreach.signers.intake import intake, intake_records
from outreach.store.schema import imports, signers

COMPARED = ("email_key", "phone", "phone_type", "first_name", "last_name", "city",
            "signed_at", "email_opt_in", "sms_opt_in", "referred_by")


def import_in_chunks(store: Engine, path: Path, chunk_rows: int
                     ) -> tuple[tuple[int, ...], list[tuple], list[str]]:
    """(summary counts, stored signers, warnings file lines) of one import into an empty store,
    emptied again after."""
    summary = intake(path, store, chunk_rows=chunk_rows, workers=1)
    warnings = Path(summary.warnings_file).read_text().splitlines() if summary.warnings_file \
        else []
    with store.begin() as connection:
        rows = sorted(tuple(str(r._mapping[c]) for c in COMPARED)
                      for r in connection.execute(select(signers)))
        connection.execute(delete(signers))
        connection.execute(delete(imports))
    counts = (summary.rows, summary.imported, summary.duplicates, summary.rejected,
              summary.warnings)
    assert summary.rows == summary.imported + summary.duplicates + summary.rejected
    assert summary.imported == len(rows)
    return counts, rows, warnings


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "signers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_row_linking_two_signers_is_handled_alike_in_one_chunk_and_across_two(tmp_path, store):
    """Found in the 200,000-row benchmark file (169,853 signers in chunks of 25,000, 169,852
    in chunks of 50,000): a newer row of Femi's carries the phone Grace signed with. Read in
    one chunk, the three rows became one signer and Grace's email was gone without a word."""
    path = write(tmp_path, ["first_name,email,phone,signed_at",
                            "Femi,femi@example.com,,2026-01-01",
                            "Grace,grace@example.com,2155550100,2026-01-02",
                            "Femi,femi@example.com,(215) 555-0100,2026-10-28"])
    split = import_in_chunks(store, path, chunk_rows=2)
    whole = import_in_chunks(store, path, chunk_rows=100)
    assert whole == split
    counts, rows, warnings = whole
    assert counts == (3, 2, 1, 0, 1)
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("femi@example.com", "None", "Femi"),
        ("grace@example.com", "+12155550100", "Grace")]  # the phone stays with its signer
    assert warnings[1:] == ["4,phone belongs to another signer: not changed"]


def test_rows_out_of_date_order_link_signers_as_they_would_one_by_one(tmp_path, store):
    """Rows are taken in file order, as separate chunks take them, not by date: the
    phone-only signer of line 3 exists before line 4 names it beside Ana's email."""
    path = write(tmp_path, ["first_name,email,phone,signed_at",
                            "Ana,ana@example.com,,2026-03-01",
                            ",,2155550100,2026-01-01",
                            "Ana,ana@example.com,2155550100,2026-02-01"])
    results = {chunk_rows: import_in_chunks(store, path, chunk_rows) for chunk_rows in (1, 100)}
    assert results[100] == results[1]
    assert results[1][0][1] == 2  # two signers: the store never merges two it holds


def test_any_chunk_size_stores_what_row_by_row_import_stores(tmp_path, store):
    """Rows drawn from a few emails and phones, dates in no order, so that rows repeat,
    link, change and conflict with each other in every way: every chunk size agrees.

    Every row is dated (an undated one is dated by its import) and says its consent: a signer
    stored without one holds the default, which an older row cannot replace, where an older
    row in the same chunk still fills the gap (see test_consent_an_older_row_gives...)."""
    rng = random.Random(18)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["first_name,last_name,email,phone,city,sms_opt_in,ref,signed_at"]
    for i in range(60):
        email = rng.choice(["", "", "a@example.com", "b@example.com", "c@example.com",
                            "A@EXAMPLE.COM", "d@example.com"])
        phone = rng.choice(["", "", "2155550100", "(215) 555-0101", "2155550102",
                            "2155550103"])
        if not email and not phone:
            email = f"only{i}@example.com"
        when = start + timedelta(days=rng.randrange(60), hours=i)
        lines.append(",".join([rng.choice(["", "Ana", "Ben", f"N{i}"]),
                               rng.choice(["", "Lee", f"L{i}"]), email, phone,
                               rng.choice(["", "Austin", f"C{i}"]),
                               rng.choice(["yes", "no"]), "",
                               when.isoformat()]))
    path = write(tmp_path, lines)
    reference = import_in_chunks(store, path, chunk_rows=1)
    assert reference[0][4] > 0  # the file does hold rows that link two signers
    for chunk_rows in (2, 3, 7, 100):
        assert import_in_chunks(store, path, chunk_rows) == reference, chunk_rows


def test_consent_an_older_row_gives_fills_a_gap_only_while_its_signer_is_unstored(tmp_path,
                                                                                   store):
    """The one field where the cut still matters, kept on purpose: in one chunk an older row's
    explicit consent fills the newer row's blank (an opt-out is never outvoted by a default);
    once the signer is stored the default is a value like any (the store does not tell a
    default from an answer), as it is for a later import."""
    path = write(tmp_path, ["email,email_opt_in,sms_opt_in,signed_at",
                            "ana@example.com,,,2026-02-01",
                            "ana@example.com,no,yes,2026-01-01"])
    [whole] = import_in_chunks(store, path, chunk_rows=100)[1]
    [split] = import_in_chunks(store, path, chunk_rows=1)[1]
    assert (whole[7], whole[8]) == ("False", "True")
    assert (split[7], split[8]) == ("True", "False")


HOUSEHOLD = ["first_name,last_name,email,phone,zip,sms_opt_in,signed_at",
             "Alice,Ng,alice@example.org,215-555-0142,19102,yes,2026-01-01",
             "Bob,Ng,bob@example.org,215-555-0142,19102,yes,2026-01-02"]


def test_two_emails_sharing_a_phone_are_two_signers_however_the_file_is_cut(tmp_path, store):
    """A household's number: Bob's row merged into Alice (the phone's signer) and her email
    was lost, reported as "1 duplicates merged". The email says who signs: Bob is a new
    signer, without the phone, which stays Alice's (never texted for Bob)."""
    path = write(tmp_path, HOUSEHOLD)
    results = {chunk_rows: import_in_chunks(store, path, chunk_rows) for chunk_rows in (1, 100)}
    assert results[100] == results[1]
    counts, rows, warnings = results[1]
    assert counts == (2, 2, 0, 0, 1)
    assert [(r[0], r[1], r[3], r[8]) for r in rows] == [
        ("alice@example.org", "+12155550142", "Alice", "True"),
        ("bob@example.org", "None", "Bob", "True")]  # his consent kept, with no number to text
    assert warnings[1:] == ["3,phone belongs to another signer: not changed"]


def test_two_emails_sharing_a_phone_stay_two_signers_across_imports(tmp_path, store):
    """Alice in one import, Bob with her number in the next: the stored signer with another
    email keeps the phone and her email; Bob is imported without the phone."""
    first = write(tmp_path, HOUSEHOLD[:2])
    intake(first, store, workers=1)
    second = tmp_path / "second.csv"
    second.write_text("\n".join([HOUSEHOLD[0], HOUSEHOLD[2]]) + "\n", encoding="utf-8")
    summary = intake(second, store, workers=1)
    assert (summary.rows, summary.imported, summary.duplicates, summary.warnings) == (1, 1, 0, 1)
    assert Path(summary.warnings_file).read_text().splitlines()[1:] == [
        "2,phone belongs to another signer: not changed"]
    with store.connect() as connection:
        stored = sorted((r.email_key, r.phone, r.first_name)
                        for r in connection.execute(select(signers)))
    assert stored == [("alice@example.org", "+12155550142", "Alice"),
                      ("bob@example.org", None, "Bob")]


def test_a_shared_phone_still_merges_rows_without_email_and_fills_a_phone_only_signer(
        tmp_path, store):
    """The rule is for an email beside another email's phone only: a row without email is its
    phone's signer, and a phone-only signer takes the first email its phone comes with (then
    holds that email, so a third person's email beside the phone is a new signer)."""
    path = write(tmp_path, ["first_name,email,phone,signed_at",
                            "Pat,,2155550142,2026-01-01",
                            "Pat,pat@example.org,2155550142,2026-01-02",
                            "Pat,,(215) 555-0142,2026-01-03",
                            "Sam,sam@example.org,2155550142,2026-01-04"])
    results = {chunk_rows: import_in_chunks(store, path, chunk_rows) for chunk_rows in (1, 100)}
    assert results[100] == results[1]
    counts, rows, warnings = results[1]
    assert counts == (4, 2, 2, 0, 1)
    assert [(r[0], r[1], r[3]) for r in rows] == [("pat@example.org", "+12155550142", "Pat"),
                                                  ("sam@example.org", "None", "Sam")]
    assert warnings[1:] == ["5,phone belongs to another signer: not changed"]


def test_pushed_records_sharing_a_phone_are_two_signers_too(store):
    """POST /api/signers (trusted records) follows the file's rule, in one batch and after."""
    alice, bob = ({"first_name": name, "email": f"{name.lower()}@example.org",
                   "phone": "215-555-0142"} for name in ("Alice", "Bob"))
    together = intake_records([alice, bob], store, source="partner")
    assert [(r.outcome, r.warnings) for r in together] == [
        ("imported", []), ("imported", ["phone belongs to another signer: not changed"])]
    assert together[0].signer_id != together[1].signer_id
    [again] = intake_records([{**bob, "email": "carol@example.org"}], store, source="partner")
    assert (again.outcome, again.warnings) == (
        "imported", ["phone belongs to another signer: not changed"])
    with store.connect() as connection:
        stored = sorted((r.email_key, r.phone) for r in connection.execute(select(signers)))
    assert stored == [("alice@example.org", "+12155550142"), ("bob@example.org", None),
                      ("carol@example.org", None)]
