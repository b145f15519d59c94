"""A match carries its share (issue 16): how much of the signer's ZIP code the matched county,
or the matched felony office's counties, hold (HUD residential addresses and Geocorr 2020
population, the lower of the two; data/zip_shares.csv), so a campaign can require a minimum.

Matches stored before: a county the signer picked (`chosen`) or the Census Geocoder placed
(`exact`) covers the whole address: share 1.0. Answers from the ZIP (`zip`, `ambiguous`) were
worked out without the shares, which now resolve many ZIPs the old table called ambiguous and
put some single-county answers in doubt: those rows are deleted (a match is recomputable: no
row means "not matched yet"), and the next `outreach match` (the scheduler's runs every
minute) works them out again with their share. A row with a county the signer picked is
always kept. City answers keep no share (none is measured for a city).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signer_matches") as batch:
        batch.add_column(sa.Column("share", sa.Float))
    op.execute("UPDATE signer_matches SET share = 1.0 WHERE confidence IN ('exact', 'chosen')")
    op.execute("DELETE FROM signer_matches WHERE confidence IN ('zip', 'ambiguous') "
               "AND chosen_county IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("signer_matches") as batch:
        batch.drop_column("share")
