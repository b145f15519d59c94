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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row

from outreach.campaigns.definitions import CONFIRM_CAMPAIGN
from outreach.store import outbox as box
from outreach.store import suppressions

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


def opt_out(connection: Connection, channel: str, address: str, source: str, reason: str,
            now: datetime) -> int:
    """Suppress the address, clear the consent, withdraw pending messages; returns how many
    messages were withdrawn. Idempotent: a second STOP changes nothing.

    In the caller's transaction: a webhook commits its dedupe record with the opt-out, so a
    crash before the commit loses both and the provider's retry applies it (DESIGN 9)."""
    return opt_out_many(connection, channel, [OptOut(address, source, reason)], now)


@dataclass(frozen=True)
class OptOut:
    """One address's opt-out: `source` says who or what asked (sms-stop, sendgrid-bounce...)."""

    address: str
    source: str
    reason: str


def opt_out_many(connection: Connection, channel: str, entries: Sequence[OptOut],
                 now: datetime) -> int:
    """opt_out for many addresses with a constant number of statements (a webhook batch):
    one suppression executemany, one signer look-up, then the consent update and the
    withdrawal (suppressions.opt_out_signers). The same as calling opt_out for each entry in
    order: an address given twice keeps its first source, as its suppression does."""
    first: dict[str, OptOut] = {}
    for entry in entries:
        first.setdefault(suppressions.address_key(channel, entry.address), entry)
    if not first:
        return 0
    # In address order: two PostgreSQL transactions suppressing overlapping addresses wait for
    # each other instead of deadlocking.
    suppressions.suppress_each(connection, channel, [(first[key].address, first[key].source,
                                                      first[key].reason) for key in sorted(first)],
                               now)
    found = suppressions.signer_ids_among(connection, channel, [e.address for e in first.values()])
    reasons: dict[int, str] = {}
    for key, entry in first.items():
        for signer_id in found.get(key, []):
            reasons.setdefault(signer_id, f"opted out ({entry.source})")
    return suppressions.opt_out_signers(connection, channel, reasons, now)


def request_sms_confirmation(connection: Connection, signer_id: int, phone: str,
                             source: str, now: datetime) -> bool:
    """The form's SMS box ticked for this signer's stored number: record the pending request
    and queue its one confirmation text (through the outbox, so the worker's suppression list,
    gate and quiet hours apply to it as to every text). The signer's consent stays off until
    the number answers YES. True if a confirmation text was queued now: False for a request
    already pending (its text is queued or sent), so nobody can have a number texted twice by
    re-submitting the form. The text is keyed by the request, not only the signer: a signer
    whose number changed is asked on the new number too."""
    request_id = suppressions.pending_request(connection, signer_id, phone)
    if request_id is None:
        request_id = suppressions.add_request(connection, signer_id, phone, source, now)
    message = box.NewMessage(CONFIRM_CAMPAIGN, CONFIRM_STEP, "sms", "signer", str(signer_id),
                             CONFIRM_TEMPLATE, {"request": request_id}, now,
                             key_suffix=f"request-{request_id}")
    return box.enqueue(connection, [message], now) == 1


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
    confirmed = suppressions.confirm_requests(connection, phone, now)
    if confirmed:
        suppressions.set_consent(connection, confirmed, "sms", True, now)
    lifted = suppressions.unsuppress(connection, "sms", phone, reason, now)
    ids = sorted(set(confirmed))
    if lifted:
        ids = suppressions.signer_ids_at(connection, "sms", phone)
        suppressions.set_consent(connection, ids, "sms", True, now)
    return OptIn(ids, bool(confirmed), lifted)


def _signer_by_token(engine: Engine, token: str) -> Row[Any, Any] | None:
    """(id, email) of the signer an unsubscribe token names, or None."""
    if not token or len(token) > 64:
        return None
    with engine.connect() as connection:
        return suppressions.signer_by_token(connection, token)


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
