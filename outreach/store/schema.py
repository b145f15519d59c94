"""Tables (SQLAlchemy Core). Their evolution is in migrations/versions/, numbered and reviewed.

The same schema runs on SQLite (the embedded default) and PostgreSQL (several workers, several
hosts); nothing here may depend on one of them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

signers = Table(
    "signers",
    metadata,
    Column("id", Integer, primary_key=True),
    # The address as given (domain lower-cased) and its case-folded dedupe key.
    Column("email", String(254)),
    Column("email_key", String(254)),
    Column("phone", String(16)),  # E.164
    Column("phone_type", String(16)),  # mobile | landline | voip | unknown
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("street", String(200)),
    Column("city", String(100)),
    Column("state", String(2)),
    Column("zip", String(5)),
    Column("email_opt_in", Boolean, nullable=False),
    Column("sms_opt_in", Boolean, nullable=False),
    Column("source", String(200)),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("signers_email_key", "email_key", unique=True),
    Index("signers_phone", "phone", unique=True),
)

# What `outreach match` derived from a signer's address: recomputable, so kept apart from what
# the signer told us. No row means "not matched yet" (intake deletes it when the address changes).
signer_matches = Table(
    "signer_matches",
    metadata,
    Column("signer_id", Integer, ForeignKey("signers.id", ondelete="CASCADE"),
           primary_key=True),
    Column("county_fips", String(5)),
    Column("time_zone", String(40)),
    Column("felony_office_id", String(80)),
    Column("misdemeanor_office_id", String(80)),
    Column("office_ids", Text),  # ';'-separated: every office certain for the address
    Column("candidate_counties", Text),  # ';'-separated when confidence is ambiguous
    Column("confidence", String(10), nullable=False),  # exact | zip | city | ambiguous | none
    Column("matched_at", DateTime(timezone=True), nullable=False),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file_name", String(500), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("rows", Integer),
    Column("imported", Integer),
    Column("duplicates", Integer),
    Column("rejected", Integer),
)
