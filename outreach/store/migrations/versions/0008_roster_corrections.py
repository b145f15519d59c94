"""Organizers' roster corrections, each with its source, kept as history (newest wins).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("office_id", sa.String(80), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("old_value", sa.Text),
        sa.Column("source_url", sa.String(500), nullable=False),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("file_name", sa.String(300)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("roster_corrections_office", "office_id"),
    )


def downgrade() -> None:
    op.drop_table("roster_corrections")
