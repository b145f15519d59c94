"""How far each campaign's planning has read the stance statements: its stance triggers fire
once per new statement that makes an office match (issue 17.2). A new table: no existing row
changes.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stance_marks",
        sa.Column("campaign", sa.String(100), primary_key=True),
        sa.Column("stance_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stance_marks")
