"""Migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from outreach.store import db
from outreach.store.schema import metadata


def test_first_use_migrates_an_empty_database(store_url):
    engine = db.open_store(store_url)
    assert db.current_revision(engine) == db.head_revision(engine)
    assert {"signers", "signer_matches", "imports", "outbox"} <= \
        set(inspect(engine).get_table_names())


def test_migrations_match_the_declared_schema(store):
    with store.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_twice_is_a_no_op(store_url):
    engine = db.make_engine(store_url)
    head = db.head_revision(engine)
    assert db.upgrade(engine) == (None, head)
    assert db.upgrade(engine) == (head, head)
