"""Tables (SQLAlchemy Core). Their evolution is in migrations/versions/, numbered and reviewed.

The same schema runs on SQLite (the embedded default) and PostgreSQL (several workers, several
hosts); nothing here may depend on one of them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
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
    Column("referral_code", String(16)),  # the signer's share link: PUBLIC_URL/?ref=CODE
    Column("referred_by", Integer),  # the signer whose link brought this one
    Column("unsubscribe_token", String(32)),  # 128 random bits: the link is the credential
    Index("signers_email_key", "email_key", unique=True),
    Index("signers_phone", "phone", unique=True),
    Index("signers_referral_code", "referral_code", unique=True),
    Index("signers_unsubscribe_token", "unsubscribe_token", unique=True),
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
    # ';'-separated when confidence is ambiguous, likeliest (largest share) first
    Column("candidate_counties", Text),
    # exact | chosen (picked by the signer) | zip | city | ambiguous | none
    Column("confidence", String(10), nullable=False),
    # How much of the ZIP the matched county (or felony office) holds, 0-1 (Lookup.share);
    # 1.0 for exact and chosen; empty where the office is in doubt or nothing measured it.
    Column("share", Float),
    Column("matched_at", DateTime(timezone=True), nullable=False),
    # The county the signer picked where the ZIP spans several: rematches keep it; a changed
    # address deletes the row, and with it the choice.
    Column("chosen_county", String(5)),
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
    Column("sha256", String(64)),  # the file's content: the inbox imports each file once
    Index("imports_sha256", "sha256"),
)

# Every message the engine will ever send, one row each (DESIGN invariant 1). The row holds what
# to render (template + context ids), never the rendered text: a message re-rendered at send time
# sees the latest opt-outs and roster. The idempotency key makes planning repeatable. Its states:
# store/outbox.py's OutboxState.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(300), nullable=False),
    Column("campaign", String(100), nullable=False),
    Column("step", String(100), nullable=False),
    Column("channel", String(10), nullable=False),  # email | sms
    Column("recipient_kind", String(10), nullable=False),  # signer | office
    Column("recipient_id", String(80), nullable=False),
    Column("template", String(200), nullable=False),
    Column("context", Text, nullable=False),  # JSON of ids (signer, office, campaign...)
    Column("state", String(10), nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=False),  # due; retry_at for retries
    Column("attempts", Integer, nullable=False),
    Column("claimed_by", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("provider_message_id", String(100)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # What the provider told us afterwards (webhooks): delivered, undelivered, opened...
    Column("delivery_status", String(20)),
    Column("delivery_updated_at", DateTime(timezone=True)),
    Index("outbox_idempotency_key", "idempotency_key", unique=True),
    Index("outbox_due", "state", "not_before"),
    Index("outbox_provider_message_id", "provider_message_id"),
)

# Every provider event we acted on, once: SendGrid retries webhooks for a day (a retry may carry
# a new sg_event_id) and Twilio may call twice, so an event is keyed by what it says
# (our message, the event, its time), and a second copy changes nothing.
message_events = Table(
    "message_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedupe_key", String(300), nullable=False),
    Column("provider", String(20), nullable=False),  # twilio | sendgrid
    Column("outbox_id", Integer),  # None: a message we cannot tie to the outbox
    Column("event", String(40), nullable=False),
    Column("error_code", String(20)),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("message_events_dedupe_key", "dedupe_key", unique=True),
    Index("message_events_outbox_id", "outbox_id"),
)

# A campaign step's channel held back automatically (e.g. a spike of carrier spam filtering):
# its rows wait in the queue until an organizer resumes the campaign. Lifting keeps the entry.
send_holds = Table(
    "send_holds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("campaign", String(100), nullable=False),
    Column("step", String(100), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("lifted_at", DateTime(timezone=True)),
)

# Addresses nobody may message again on a channel, whatever the campaign: provider signals
# (Twilio 21610) now; STOP keywords, unsubscribe links and organizer imports with compliance.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(10), nullable=False),  # email | sms
    Column("address", String(254), nullable=False),  # lower-cased email or E.164 phone
    Column("source", String(50), nullable=False),  # e.g. twilio-21610, sms-stop, unsubscribe
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # An organizer's removal is kept as evidence: the entry stays, marked removed.
    Column("removed_at", DateTime(timezone=True)),
    Column("removed_reason", Text),
    Index("suppressions_address", "channel", "address", unique=True),
)

# A launched campaign's switch: active, paused (its queued rows wait) or cancelled (withdrawn).
campaign_runs = Table(
    "campaign_runs",
    metadata,
    Column("campaign", String(100), primary_key=True),
    Column("state", String(10), nullable=False),
    Column("launched_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The scheduler's planning passes: the last one, and the last over the whole audience.
    Column("planned_at", DateTime(timezone=True)),
    Column("fully_planned_at", DateTime(timezone=True)),
)

# One row per scheduled job run, keyed by the fire time it serves: two schedulers on two hosts
# that both wake for the 03:00 run insert the same key, and only the first runs the job.
scheduler_runs = Table(
    "scheduler_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", String(100), nullable=False),
    Column("fire_time", DateTime(timezone=True), nullable=False),
    Column("host", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Index("scheduler_runs_job_fire_time", "job", "fire_time", unique=True),
)

# Organizers' corrections to the shipped roster (`outreach roster import`), laid over
# data/prosecutors.csv wherever the roster loads. Never updated or deleted: the newest row of an
# (office, field) wins, the older ones are its history; each carries where it came from.
roster_corrections = Table(
    "roster_corrections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("office_id", String(80), nullable=False),
    Column("field", String(40), nullable=False),
    Column("value", Text, nullable=False),
    Column("old_value", Text),
    Column("source_url", String(500), nullable=False),
    Column("as_of", String(10), nullable=False),
    Column("file_name", String(300)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("roster_corrections_office", "office_id"),
)

# Where each prosecutor stands on each of the petition's three demands (issue 17): every
# statement kept with its source, its date and who recorded it; the latest-dated one of an
# office's demand is its stance (outreach.roster.stances).
office_stances = Table(
    "office_stances",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("office_id", String(80), nullable=False),
    Column("demand", String(10), nullable=False),  # expunge | drop | divert
    Column("stance", String(10), nullable=False),  # unknown | no | partial | yes
    Column("source_url", String(500), nullable=False),
    Column("stated_on", Date, nullable=False),  # the day the source dates the stance from
    Column("note", Text),
    Column("set_by", String(200), nullable=False),  # cli:USER | dashboard:ADMIN | import:FILE
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("office_stances_office", "office_id", "demand"),
)

# What signers said happened when they called their prosecutor from their call page (issue 17.3,
# `/call/<code>`). One row per signer, office and call day (the signer's local calendar day): a
# second outcome the same day replaces the first, so a person's clicks, or a stranger holding
# their share code, count as at most one call a day per office. "wrong_number" reports feed
# `outreach roster gaps`.
call_outcomes = Table(
    "call_outcomes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("office_id", String(80), nullable=False),
    Column("campaign", String(100)),  # the link's ?c=NAME; None: the thanks page, a bare link
    Column("signer_id", Integer, ForeignKey("signers.id", ondelete="CASCADE"), nullable=False),
    Column("outcome", String(20), nullable=False),  # spoke | voicemail | no_answer | wrong_number
    Column("call_day", Date, nullable=False),  # the dedupe key's day, in the signer's zone
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),  # the latest outcome's time
    Index("call_outcomes_once_a_day", "signer_id", "office_id", "call_day", unique=True),
    Index("call_outcomes_office", "office_id", "outcome"),
)

# Links to delivery packets (issue 17.5): an office digest links its office's packet (names
# and towns of its constituents, outreach.campaigns.packets) by a token of 256 random bits.
# The token is the credential, like an unsubscribe token: it expires, and an organizer can
# revoke it (`outreach packet-links revoke`); downloads are counted for the office's record.
packet_links = Table(
    "packet_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(64), nullable=False),
    Column("office_id", String(80), nullable=False),
    Column("issued_by", String(200), nullable=False),  # digest:CAMPAIGN | cli:USER
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("downloads", Integer, nullable=False),
    Column("last_download_at", DateTime(timezone=True)),
    Index("packet_links_token", "token", unique=True),
    Index("packet_links_office", "office_id"),
)

# How far each campaign's planning has read office_stances: the newest statement id it has
# acted on (its stance triggers fired, its stance-filtered audience re-planned). Statements
# after it are new to that campaign (outreach.campaigns.stances).
stance_marks = Table(
    "stance_marks",
    metadata,
    Column("campaign", String(100), primary_key=True),
    Column("stance_id", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One send budget per provider account (channel, transport, account id: never a secret), shared
# by every worker on every host: the next free send slot and the end of the provider's last
# Retry-After pause, in seconds since the epoch by the database's clock (store/rates.py).
send_budgets = Table(
    "send_budgets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("next_at", Float, nullable=False),
    Column("paused_until", Float, nullable=False),
)

# What the public form was sent, as sent: an unauthenticated submission never overwrites a stored
# signer (DESIGN invariant 10), so a re-signing is kept here as evidence instead. The values are
# personal data: they stay in the store, never in logs.
submissions = Table(
    "submissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("signer_id", Integer, ForeignKey("signers.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(200), nullable=False),
    Column("outcome", String(10), nullable=False),  # imported | duplicate (of a stored signer)
    Column("submitted", Text, nullable=False),  # JSON of the form's fields and boxes
    Column("received_at", DateTime(timezone=True), nullable=False),
    # SHA-256 of the browser session's CSRF token: a second submission from the session that
    # made the signer (a double click) sees the same thanks page as the first.
    Column("session_key", String(64)),
    # The signing that made the signer (outcome imported): when the petition campaign's steps
    # were queued for them, in the same transaction; empty while they wait for the planning
    # pass (the campaign's file did not load, the campaign was paused: outreach.signing).
    Column("steps_queued_at", DateTime(timezone=True)),
    Index("submissions_signer", "signer_id"),
    Index("submissions_pending", "steps_queued_at", "outcome"),
)

# SMS double opt-in: consent ticked on the web becomes the signer's only when the number answers
# YES to the confirmation text (CTIA Messaging Principles; carriers' recommendation). Pending
# while confirmed_at is empty; kept afterwards as the evidence of the consent.
sms_confirmations = Table(
    "sms_confirmations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("signer_id", Integer, ForeignKey("signers.id", ondelete="CASCADE"), nullable=False),
    Column("phone", String(16), nullable=False),  # E.164: the number asked, and that answers
    Column("source", String(200), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Index("sms_confirmations_phone", "phone"),
    Index("sms_confirmations_signer", "signer_id"),
)

# Organizer logins (audit F11): the session cookie carries a random token, the store only its
# SHA-256, so logout (revoked_at), a maximum age, an idle timeout and a new organizer password
# (the fingerprint no longer matches) each end a session on every web process.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("password_fingerprint", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# Worker processes and their heartbeats (store/workers.py): a worker whose beat is older than
# OUTREACH_WORKER_DEAD_SECONDS is declared dead by another (declared_dead_at/by, once), which
# gives its claims back to the queue and reconciles its `sending` rows. On PostgreSQL beat_at
# and the comparison use the server's clock, so a host whose clock is off cannot make a live
# worker look dead; a clean stop sets stopped_at.
workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(100), primary_key=True),  # outbox.claimed_by
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
    Column("declared_dead_at", DateTime(timezone=True)),
    Column("declared_dead_by", String(100)),
)
