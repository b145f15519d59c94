"""The scheduler: one row per job run (exactly once per fire time, across hosts), and the
content hash of every imported file (a file dropped twice, or re-run after a crash, is known).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.add_column(sa.Column("sha256", sa.String(64)))
        batch.create_index("imports_sha256", ["sha256"])
    op.create_table(
        "scheduler_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.Text),
        sa.Index("scheduler_runs_job_fire_time", "job", "fire_time", unique=True),
    )


def downgrade() -> None:
    op.drop_table("scheduler_runs")
    with op.batch_alter_table("imports") as batch:
        batch.drop_index("imports_sha256")
        batch.drop_column("sha256")
