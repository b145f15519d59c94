"""Links to delivery packets (issue 17.5): an office digest links its office's packet by an
unguessable token that expires and can be revoked. A new table: no existing row changes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "packet_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("office_id", sa.String(80), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("downloads", sa.Integer, nullable=False),
        sa.Column("last_download_at", sa.DateTime(timezone=True)),
        sa.Index("packet_links_token", "token", unique=True),
        sa.Index("packet_links_office", "office_id"),
    )


def downgrade() -> None:
    op.drop_table("packet_links")
