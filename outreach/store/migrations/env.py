"""Alembic environment: runs migrations on the engine handed over by outreach.store.db."""

from alembic import context

from outreach.store.db import hold_schema_lock
from outreach.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    # Before alembic reads the revision: a process that waited finds the store migrated.
    hold_schema_lock(connection)
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
