"""Per-signer unsubscribe tokens (unguessable: the link itself is the credential).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signers") as batch:
        batch.add_column(sa.Column("unsubscribe_token", sa.String(32)))
        batch.create_index("signers_unsubscribe_token", ["unsubscribe_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("signers") as batch:
        batch.drop_index("signers_unsubscribe_token")
        batch.drop_column("unsubscribe_token")
