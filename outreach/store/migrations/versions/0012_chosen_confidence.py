"""A county the signer picked is stored with confidence `chosen`, not `exact` (which means the
Census Geocoder placed the street address): the matches stored before say so too.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE signer_matches SET confidence = 'chosen' "
               "WHERE chosen_county IS NOT NULL AND confidence = 'exact'")


def downgrade() -> None:
    op.execute("UPDATE signer_matches SET confidence = 'exact' WHERE confidence = 'chosen'")
