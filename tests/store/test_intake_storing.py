"""Duplicates merged straight through the driver (store.signers._driver_executemany) change the
stored signers and their matches exactly as the same statements through SQLAlchemy did."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, select

from outreach.signers.intake import intake
from outreach.store import signers as signer_store
from outreach.store.schema import signer_matches, signers

CSV = ("first_name,last_name,email,phone,address,city,state,zip,signed_at\n"
       "Ana,López,ana@example.org,(215) 555-0100,1 Arch St,Philadelphia,PA,19102,"
       "2026-03-01T10:00:00Z\n"
       "Ben,,ben@example.org,,,,PA,19103,2026-03-02T10:00:00Z\n"
       "Chloé,Kim,,(215) 555-0102,3 Oak St,Philadelphia,PA,19104,2026-03-03T10:00:00Z\n"
       "Dmitri,Lee,dmitri@example.org,(215) 555-0103,4 Elm St,Pittsburgh,PA,15222,"
       "2026-03-04T10:00:00Z\n")
NOW = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)


def merge(target: int, signed: str, **new: object) -> dict[str, object]:
    row: dict[str, object] = {f"new_{name}": None for name in signer_store.MERGED_FIELDS}
    row.update({f"new_{name}": value for name, value in new.items()})
    row.update(target_id=target, now=NOW, new_signed_at=pd.Timestamp(signed).to_pydatetime(),
               new_referred_by=new.get("referred_by"))
    return row


NEWER = [merge(1, "2026-06-01T00:00:00Z", street="9 New St", city="Philadelphia",
               phone="+12155550199", phone_type="unknown", email_opt_in=False),
         merge(2, "2026-06-02T00:00:00Z", first_name="Benjamin", sms_opt_in=True,
               referred_by=1),
         merge(4, "2026-06-04T00:00:00Z", street="4 Elm St", city="Pittsburgh", state="PA",
               zip="15222", source="web")]  # the same address: the match stays
OLDER = [merge(2, "2026-01-02T00:00:00Z", last_name="Brown", street="2 Pine St",
               city="Philadelphia", phone="+12155550101", phone_type="unknown"),
         merge(3, "2026-01-03T00:00:00Z", email="chloe@example.org",
               email_key="chloe@example.org", street="8 Other St", email_opt_in=True)]


def through_sqlalchemy(connection: Connection) -> None:
    """merge_signers as it was: each statement executed through SQLAlchemy."""
    keys = ["target_id", *(f"new_{name}" for name in signer_store.ADDRESS_FIELDS)]
    for rows, unmatch, update in ((NEWER, signer_store.UNMATCH_NEWER, signer_store.MERGE_NEWER),
                                  (OLDER, signer_store.UNMATCH_OLDER, signer_store.MERGE_OLDER)):
        connection.execute(unmatch, [{k: r[k] for k in keys} for r in rows])
        connection.execute(update, list(rows))


def state(connection: Connection) -> tuple[list[dict], list[int]]:
    rows = [dict(r._mapping) for r in connection.execute(select(signers)
                                                         .order_by(signers.c.id))]
    matched = list(connection.execute(select(signer_matches.c.signer_id)
                                      .order_by(signer_matches.c.signer_id)).scalars())
    return rows, matched


def test_merges_through_the_driver_store_what_sqlalchemy_stored(tmp_path: Path, store: Engine):
    path = tmp_path / "signers.csv"
    path.write_text(CSV, encoding="utf-8")
    assert intake(path, store).imported == 4
    matches = pd.DataFrame({"id": [1, 2, 3, 4], "county_fips": "42101", "time_zone": None,
                            "felony_office_id": "pa-philadelphia", "misdemeanor_office_id": None,
                            "office_ids": "pa-philadelphia", "candidate_counties": None,
                            "confidence": "exact", "share": 1.0})
    with store.begin() as connection:
        signer_store.save_matches(connection, matches, NOW)
    with store.connect() as connection:
        before = state(connection)
        connection.rollback()
        with connection.begin() as transaction:
            through_sqlalchemy(connection)
            expected = state(connection)
            transaction.rollback()
        assert state(connection) == before
        connection.rollback()
        with connection.begin():
            signer_store.merge_signers(connection, NEWER, OLDER)
            got = state(connection)
    assert got == expected
    rows, matched = got
    # The merges did change things: 1 and 2 moved (2 had no street: the older row fills it),
    # 3 keeps its street against an older row, 4 kept its address.
    assert rows != before[0] and matched == [3, 4]
    assert rows[0]["updated_at"] == NOW.replace(tzinfo=rows[0]["updated_at"].tzinfo)
