"""Suppression removals are recorded, not erased.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("removed_reason", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("removed_reason")
        batch.drop_column("removed_at")
