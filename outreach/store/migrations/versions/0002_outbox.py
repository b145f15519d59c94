"""The outbox (one row per message, with its state machine) and the suppression list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("campaign", sa.String(100), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("recipient_kind", sa.String(10), nullable=False),
        sa.Column("recipient_id", sa.String(80), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("provider_message_id", sa.String(100)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("outbox_idempotency_key", "outbox", ["idempotency_key"], unique=True)
    op.create_index("outbox_due", "outbox", ["state", "not_before"])
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("suppressions_address", "suppressions", ["channel", "address"],
                    unique=True)


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("outbox")
