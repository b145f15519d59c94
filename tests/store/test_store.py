"""Migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from outreach.store import db
from outreach.store.schema import metadata


def test_first_use_migrates_an_empty_database(empty_store_url):
    engine = db.open_store(empty_store_url)
    assert db.current_revision(engine) == db.head_revision(engine)
    assert {"signers", "signer_matches", "imports", "outbox"} <= \
        set(inspect(engine).get_table_names())


def test_migrations_match_the_declared_schema(store):
    with store.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_twice_is_a_no_op(empty_store_url):
    engine = db.make_engine(empty_store_url)
    head = db.head_revision(engine)
    assert db.upgrade(engine) == (None, head)
    assert db.upgrade(engine) == (head, head)


def test_picked_counties_stored_as_exact_become_chosen(empty_store_url):
    """Migration 0012: a county the signer picked was stored as `exact` before."""
    from alembic import command
    from sqlalchemy import text

    engine = db.make_engine(empty_store_url)
    command.upgrade(db.alembic_config(engine), "0010")
    with engine.begin() as connection:
        for signer_id, chosen in ((1, "13135"), (2, None)):
            connection.execute(text(
                "INSERT INTO signers (id, email_opt_in, sms_opt_in, signed_at, created_at, "
                "updated_at) VALUES (:id, true, false, :t, :t, :t)"),
                {"id": signer_id, "t": "2026-12-01 00:00:00+00:00"})
            connection.execute(text(
                "INSERT INTO signer_matches (signer_id, confidence, matched_at, chosen_county) "
                "VALUES (:id, 'exact', :t, :chosen)"),
                {"id": signer_id, "t": "2026-12-01 00:00:00+00:00", "chosen": chosen})
    db.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT signer_id, confidence FROM signer_matches "
                                       "ORDER BY signer_id")).all()
    assert [tuple(r) for r in rows] == [(1, "chosen"), (2, "exact")]  # geocoded stays exact


def test_matches_stored_before_the_shares_get_theirs_or_are_worked_out_again(empty_store_url):
    """Migration 0018: exact and chosen matches cover the whole address (share 1.0); answers
    from the ZIP were made without the shares, so they go (the next match makes them again),
    except where the signer picked their county; a city answer stays, without a share."""
    from alembic import command
    from sqlalchemy import text

    engine = db.make_engine(empty_store_url)
    command.upgrade(db.alembic_config(engine), "0017")
    stored = [(1, "exact", None), (2, "chosen", "13135"), (3, "zip", None),
              (4, "ambiguous", None), (5, "ambiguous", "13157"), (6, "city", None),
              (7, "none", None)]
    with engine.begin() as connection:
        for signer_id, confidence, chosen in stored:
            connection.execute(text(
                "INSERT INTO signers (id, email_opt_in, sms_opt_in, signed_at, created_at, "
                "updated_at) VALUES (:id, true, false, :t, :t, :t)"),
                {"id": signer_id, "t": "2026-12-01 00:00:00+00:00"})
            connection.execute(text(
                "INSERT INTO signer_matches (signer_id, confidence, matched_at, chosen_county) "
                "VALUES (:id, :confidence, :t, :chosen)"),
                {"id": signer_id, "confidence": confidence, "chosen": chosen,
                 "t": "2026-12-01 00:00:00+00:00"})
    db.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT signer_id, confidence, share FROM signer_matches "
                                       "ORDER BY signer_id")).all()
    assert [tuple(r) for r in rows] == [(1, "exact", 1.0), (2, "chosen", 1.0),
                                        (5, "ambiguous", None), (6, "city", None),
                                        (7, "none", None)]
