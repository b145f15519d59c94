"""When the scheduler last planned each campaign (incrementally, and in full).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_runs") as batch:
        batch.add_column(sa.Column("planned_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("fully_planned_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("campaign_runs") as batch:
        batch.drop_column("fully_planned_at")
        batch.drop_column("planned_at")
