"""Worker heartbeats: a row per worker process, so that a dead worker's claims go back to the
queue and its interrupted sends are reconciled within seconds, not when its 5-minute lease ends
(issue 18.3). A new table: no existing row changes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
        sa.Column("declared_dead_at", sa.DateTime(timezone=True)),
        sa.Column("declared_dead_by", sa.String(100)),
    )


def downgrade() -> None:
    op.drop_table("workers")
