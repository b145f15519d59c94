"""The county a signer picked on the thanks page (their ZIP spans several): kept across
rematches, dropped with the match when their address changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signer_matches") as batch:
        batch.add_column(sa.Column("chosen_county", sa.String(5)))


def downgrade() -> None:
    with op.batch_alter_table("signer_matches") as batch:
        batch.drop_column("chosen_county")
