"""One send budget per provider account, shared by every worker on every host (issue 18.2): a
row per budget key holding the next free send slot and the end of a provider's Retry-After
pause, both in seconds since the epoch by the database's clock (SQLite: the one host's). A new
table: no existing row changes.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_budgets",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("paused_until", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_budgets")
