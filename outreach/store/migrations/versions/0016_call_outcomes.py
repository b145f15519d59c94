"""What signers report after calling their prosecutor from the call page (issue 17.3): one row
per signer, office and local call day. A new table: no existing row changes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_outcomes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("office_id", sa.String(80), nullable=False),
        sa.Column("campaign", sa.String(100)),
        sa.Column("signer_id", sa.Integer, sa.ForeignKey("signers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("call_day", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("call_outcomes_once_a_day", "signer_id", "office_id", "call_day", unique=True),
        sa.Index("call_outcomes_office", "office_id", "outcome"),
    )


def downgrade() -> None:
    op.drop_table("call_outcomes")
