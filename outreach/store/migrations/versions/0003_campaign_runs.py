"""Campaign runs (pause, cancel) and referral codes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_runs",
        sa.Column("campaign", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("signers") as batch:
        batch.add_column(sa.Column("referral_code", sa.String(16)))
        batch.add_column(sa.Column("referred_by", sa.Integer))
        batch.create_index("signers_referral_code", ["referral_code"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("signers") as batch:
        batch.drop_index("signers_referral_code")
        batch.drop_column("referred_by")
        batch.drop_column("referral_code")
    op.drop_table("campaign_runs")
