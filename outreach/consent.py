"""What recipients tell us about consent, applied to the store: STOP / START texts, unsubscribe
links, and providers' signals that an address must not be messaged again.

An opt-out takes effect at once and everywhere: the address goes on the global suppression list
(checked by every worker before every batch), the signer's consent flag is cleared, and every
message to them on that channel not yet handed to a provider is withdrawn, claimed ones included,
so a STOP that arrives mid-blast stops the texts already in a worker's hands too (a worker only
starts rows that are still `claimed`). A message whose provider call is already under way is the
one thing it cannot recall.
"""

from __future__ import annotations

import string
from datetime import datetime

from sqlalchemy import Engine, Row, select, update

from outreach.store import outbox as box
from outreach.store.schema import outbox, signers

# Twilio's standard opt-out keywords, and the two its Advanced Opt-Out adds (REVOKE, OPTOUT).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                        "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
_TRIM = string.whitespace + string.punctuation + "¡¿“”‘’"


def sms_keyword(body: str) -> str | None:
    """"stop", "start" or "help" when the whole message is one such word (any case, with
    surrounding spaces and punctuation); None otherwise: "we have got to STOP this bill" is a
    sentence, not an opt-out."""
    word = body.strip(_TRIM).upper()
    if not word or any(c.isspace() for c in word):
        return None
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def _signer_ids(engine: Engine, channel: str, address: str) -> list[int]:
    column = signers.c.phone if channel == "sms" else signers.c.email_key
    value = address if channel == "sms" else address.lower()
    with engine.connect() as connection:
        return list(connection.execute(select(signers.c.id).where(column == value)).scalars())


def _consent_column(channel: str) -> str:
    return "sms_opt_in" if channel == "sms" else "email_opt_in"


def opt_out(engine: Engine, channel: str, address: str, source: str, reason: str,
            now: datetime) -> int:
    """Suppress the address, clear the consent, withdraw pending messages; returns how many
    messages were withdrawn. Idempotent: a second STOP changes nothing."""
    box.suppress(engine, channel, address, source, reason, now)  # workers see this first
    ids = _signer_ids(engine, channel, address)
    if not ids:
        return 0
    with engine.begin() as connection:
        connection.execute(update(signers).where(signers.c.id.in_(ids))
                           .values({_consent_column(channel): False, "updated_at": now}))
        return connection.execute(
            update(outbox).where(outbox.c.channel == channel,
                                 outbox.c.recipient_kind == "signer",
                                 outbox.c.recipient_id.in_([str(i) for i in ids]),
                                 outbox.c.state.in_(("queued", "retry", "claimed")))
            .values(state="skipped", last_error=f"opted out ({source})", claimed_by=None,
                    lease_until=None, updated_at=now)).rowcount


def opt_in_sms(engine: Engine, phone: str, reason: str, now: datetime) -> bool:
    """A START/UNSTOP/YES text: lift the number's suppression and record consent (the person
    asked, in writing, from that number). True if a suppression was lifted."""
    lifted = box.unsuppress(engine, "sms", phone, reason, now)
    ids = _signer_ids(engine, "sms", phone)
    if ids:
        with engine.begin() as connection:
            connection.execute(update(signers).where(signers.c.id.in_(ids))
                               .values(sms_opt_in=True, updated_at=now))
    return lifted


def _signer_by_token(engine: Engine, token: str) -> Row | None:
    """(id, email) of the signer an unsubscribe token names, or None."""
    if not token or len(token) > 64:
        return None
    with engine.connect() as connection:
        return connection.execute(select(signers.c.id, signers.c.email)
                                  .where(signers.c.unsubscribe_token == token)).first()


def token_exists(engine: Engine, token: str) -> bool:
    return _signer_by_token(engine, token) is not None


def unsubscribe_by_token(engine: Engine, token: str, now: datetime) -> bool:
    """The unsubscribe link (GET confirmed, or RFC 8058 one-click POST): True if the token
    names a signer, who is then unsubscribed from all email."""
    signer = _signer_by_token(engine, token)
    if signer is None or not signer.email:
        return False
    opt_out(engine, "email", signer.email, "unsubscribe-link", "unsubscribe link", now)
    return True
