"""What recipients tell us about consent, applied to the store: STOP / START texts, unsubscribe
links, and providers' signals that an address must not be messaged again.

An opt-out takes effect at once and everywhere: the address goes on the global suppression list
(checked by every worker before every batch), the signer's consent flag is cleared, and every
message to them on that channel not yet handed to a provider is withdrawn, claimed ones included,
so a STOP that arrives mid-blast stops the texts already in a worker's hands too (a worker only
starts rows that are still `claimed`). A message whose provider call is already under way is the
one thing it cannot recall.

Consent is never created by an unauthenticated request alone (DESIGN invariant 10). SMS consent
ticked on the public form is a request: it becomes the signer's only when the number answers YES
to one confirmation text (double opt-in, as the CTIA Messaging Principles and the carriers
recommend for web opt-ins). An inbound YES/START confirms such a pending request or re-subscribes
a number that opted out; from any other number it changes nothing.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, Row, insert, select, update

from outreach.campaigns.definitions import CONFIRM_CAMPAIGN
from outreach.store import outbox as box
from outreach.store import suppressions
from outreach.store.schema import outbox, signers, sms_confirmations

# The confirmation text's outbox row (its campaign, CONFIRM_CAMPAIGN, is defined with the
# campaigns): one per confirmation request, i.e. per signer and number (the idempotency key),
# so nobody can have a number texted twice by re-submitting.
CONFIRM_STEP = "confirm"
CONFIRM_TEMPLATE = "confirm_opt_in"

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


def _signer_ids(connection: Connection, channel: str, address: str) -> list[int]:
    column = signers.c.phone if channel == "sms" else signers.c.email_key
    value = address if channel == "sms" else address.lower()
    return list(connection.execute(select(signers.c.id).where(column == value)).scalars())


def _consent_column(channel: str) -> str:
    return "sms_opt_in" if channel == "sms" else "email_opt_in"


def opt_out(connection: Connection, channel: str, address: str, source: str, reason: str,
            now: datetime) -> int:
    """Suppress the address, clear the consent, withdraw pending messages; returns how many
    messages were withdrawn. Idempotent: a second STOP changes nothing.

    In the caller's transaction: a webhook commits its dedupe record with the opt-out, so a
    crash before the commit loses both and the provider's retry applies it (DESIGN 9)."""
    suppressions.suppress_many(connection, channel, [(address, reason)], source, now)
    ids = _signer_ids(connection, channel, address)
    if not ids:
        return 0
    connection.execute(update(signers).where(signers.c.id.in_(ids))
                       .values({_consent_column(channel): False, "updated_at": now}))
    return connection.execute(
        update(outbox).where(outbox.c.channel == channel,
                             outbox.c.recipient_kind == "signer",
                             outbox.c.recipient_id.in_([str(i) for i in ids]),
                             outbox.c.state.in_(("queued", "retry", "claimed")))
        .values(state="skipped", last_error=f"opted out ({source})", claimed_by=None,
                lease_until=None, updated_at=now)).rowcount


def request_sms_confirmation(connection: Connection, signer_id: int, phone: str,
                             source: str, now: datetime) -> bool:
    """The form's SMS box ticked for this signer's stored number: record the pending request
    and queue its one confirmation text (through the outbox, so the worker's suppression list,
    gate and quiet hours apply to it as to every text). The signer's consent stays off until
    the number answers YES. True if a confirmation text was queued now: False for a request
    already pending (its text is queued or sent), so nobody can have a number texted twice by
    re-submitting the form. The text is keyed by the request, not only the signer: a signer
    whose number changed is asked on the new number too."""
    request_id = connection.execute(select(sms_confirmations.c.id).where(
        sms_confirmations.c.signer_id == signer_id, sms_confirmations.c.phone == phone,
        sms_confirmations.c.confirmed_at.is_(None))).scalar()
    if request_id is None:
        request_id = connection.execute(insert(sms_confirmations).values(
            signer_id=signer_id, phone=phone, source=source[:200], requested_at=now)
            .returning(sms_confirmations.c.id)).scalar_one()
    message = box.NewMessage(CONFIRM_CAMPAIGN, CONFIRM_STEP, "sms", "signer", str(signer_id),
                             CONFIRM_TEMPLATE, {"request": request_id}, now,
                             key_suffix=f"request-{request_id}")
    return box.enqueue(connection, [message], now) == 1


def pending_confirmations(connection: Connection,
                          signer_ids: list[int]) -> dict[tuple[int, str], int]:
    """(signer id, phone) -> request id of these signers' unanswered SMS confirmation
    requests."""
    if not signer_ids:
        return {}
    query = select(sms_confirmations.c.id, sms_confirmations.c.signer_id,
                   sms_confirmations.c.phone).where(
        sms_confirmations.c.signer_id.in_(signer_ids),
        sms_confirmations.c.confirmed_at.is_(None))
    return {(row.signer_id, row.phone): row.id for row in connection.execute(query)}


@dataclass
class OptIn:
    """What a YES/START text did: the signers whose SMS consent it turned on, and whether it
    lifted the number's suppression. Empty: the number had nothing to confirm or restore."""

    signer_ids: list[int] = field(default_factory=list)
    confirmed: bool = False
    lifted: bool = False


def opt_in_sms(connection: Connection, phone: str, reason: str, now: datetime) -> OptIn:
    """A START/UNSTOP/YES text from this number. It confirms the number's pending web opt-in
    (the YES of the double opt-in), or re-subscribes it if it had opted out (the suppression is
    lifted, its entry kept as evidence, and consent restored: the person asked, in writing, from
    that number). Anything else, a YES from a number that never asked or never opted out, changes
    nothing: a text to our number never creates consent on its own. In the caller's
    transaction, with the text's dedupe record."""
    confirmed = list(connection.execute(
        update(sms_confirmations)
        .where(sms_confirmations.c.phone == phone,
               sms_confirmations.c.confirmed_at.is_(None),
               sms_confirmations.c.signer_id.in_(
                   select(signers.c.id).where(signers.c.phone == phone)))
        .values(confirmed_at=now).returning(sms_confirmations.c.signer_id)).scalars())
    if confirmed:
        connection.execute(update(signers).where(signers.c.id.in_(confirmed))
                           .values(sms_opt_in=True, updated_at=now))
    lifted = suppressions.unsuppress(connection, "sms", phone, reason, now)
    ids = sorted(set(confirmed))
    if lifted:
        ids = _signer_ids(connection, "sms", phone)
        connection.execute(update(signers).where(signers.c.id.in_(ids))
                           .values(sms_opt_in=True, updated_at=now))
    return OptIn(ids, bool(confirmed), lifted)


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
    with engine.begin() as connection:
        opt_out(connection, "email", signer.email, "unsubscribe-link", "unsubscribe link", now)
    return True
