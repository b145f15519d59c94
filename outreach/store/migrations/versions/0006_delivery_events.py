"""Provider feedback: delivery status on the outbox, a deduplicated event log, send holds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("delivery_status", sa.String(20)))
        batch.add_column(sa.Column("delivery_updated_at", sa.DateTime(timezone=True)))
        batch.create_index("outbox_provider_message_id", ["provider_message_id"])
    op.create_table(
        "message_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedupe_key", sa.String(300), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("outbox_id", sa.Integer),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("error_code", sa.String(20)),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("message_events_dedupe_key", "dedupe_key", unique=True),
        sa.Index("message_events_outbox_id", "outbox_id"),
    )
    op.create_table(
        "send_holds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign", sa.String(100), nullable=False),
        sa.Column("step", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("send_holds")
    op.drop_table("message_events")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("outbox_provider_message_id")
        batch.drop_column("delivery_updated_at")
        batch.drop_column("delivery_status")
