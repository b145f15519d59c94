"""Each prosecutor's stance on the petition's three demands, with its source and history
(issue 17.1). A new table: no existing row changes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "office_stances",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("office_id", sa.String(80), nullable=False),
        sa.Column("demand", sa.String(10), nullable=False),
        sa.Column("stance", sa.String(10), nullable=False),
        sa.Column("source_url", sa.String(500), nullable=False),
        sa.Column("stated_on", sa.Date, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("office_stances_office", "office_id", "demand"),
    )


def downgrade() -> None:
    op.drop_table("office_stances")
