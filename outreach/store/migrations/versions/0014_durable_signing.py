"""A signing is one durable unit (issue 14.2, security audit F5 and F9): the form's
submissions know the browser session that sent them and whether the signing's petition steps
were queued.

Submissions stored before this revision are taken as queued: whether their steps were is not
known, and queueing a campaign's steps now for every earlier web signer would send them steps
added to the campaign since.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("session_key", sa.String(64)))
        batch.add_column(sa.Column("steps_queued_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE submissions SET steps_queued_at = received_at WHERE outcome = 'imported'")
    op.create_index("submissions_pending", "submissions", ["steps_queued_at", "outcome"])


def downgrade() -> None:
    op.drop_index("submissions_pending", "submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("steps_queued_at")
        batch.drop_column("session_key")
