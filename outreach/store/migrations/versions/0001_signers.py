"""Signers, their matches to prosecutor offices, and the record of imports.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254)),
        sa.Column("email_key", sa.String(254)),
        sa.Column("phone", sa.String(16)),
        sa.Column("phone_type", sa.String(16)),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("street", sa.String(200)),
        sa.Column("city", sa.String(100)),
        sa.Column("state", sa.String(2)),
        sa.Column("zip", sa.String(5)),
        sa.Column("email_opt_in", sa.Boolean, nullable=False),
        sa.Column("sms_opt_in", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(200)),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("signers_email_key", "signers", ["email_key"], unique=True)
    op.create_index("signers_phone", "signers", ["phone"], unique=True)
    op.create_table(
        "signer_matches",
        sa.Column("signer_id", sa.Integer, sa.ForeignKey("signers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("county_fips", sa.String(5)),
        sa.Column("time_zone", sa.String(40)),
        sa.Column("felony_office_id", sa.String(80)),
        sa.Column("misdemeanor_office_id", sa.String(80)),
        sa.Column("office_ids", sa.Text),
        sa.Column("candidate_counties", sa.Text),
        sa.Column("confidence", sa.String(10), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("rows", sa.Integer),
        sa.Column("imported", sa.Integer),
        sa.Column("duplicates", sa.Integer),
        sa.Column("rejected", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("imports")
    op.drop_table("signer_matches")
    op.drop_table("signers")
