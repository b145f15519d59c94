"""The public form's submissions kept as evidence, and SMS double opt-in confirmations.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("signer_id", sa.Integer, sa.ForeignKey("signers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("submitted", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("submissions_signer", "signer_id"),
    )
    op.create_table(
        "sms_confirmations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("signer_id", sa.Integer, sa.ForeignKey("signers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Index("sms_confirmations_phone", "phone"),
        sa.Index("sms_confirmations_signer", "signer_id"),
    )


def downgrade() -> None:
    op.drop_table("sms_confirmations")
    op.drop_table("submissions")
