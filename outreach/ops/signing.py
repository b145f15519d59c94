"""One signature on the public form as one durable unit (DESIGN invariant 9; audit F5, F9).

The signer, the submission kept as evidence, their match, referral code, the SMS confirmation
request and the petition campaign's steps (the welcome now, follow-ups on their delay) commit
in one transaction, through the same functions the CLI's steps call: a `kill -9` of the server
or a lost database connection leaves all of it or none of it (and a browser that got no
answer signs again). Two submissions of one new signer at once (a double click, one email in
eight browsers) meet at the unique email or phone index: the later one is merged into the
first (intake._store_rows) and answered like it.

A signing whose steps could not be queued with it (the campaign's file did not load; an
organizer paused the campaign) is stored all the same and marked pending on its submission:
the scheduler's planning pass queues it once it can (queue_pending_signings). The petition
campaign is normally never launched, so without this nothing would ever queue its welcome.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine

from outreach.campaigns.definitions import Campaign
from outreach.campaigns.planner import queue_for_signers
from outreach.errors import CampaignError
from outreach.geo.locate import Geo
from outreach.roster.offices import Roster
from outreach.sending.consent import request_sms_confirmation
from outreach.signers.intake import intake_records
from outreach.signers.match import match
from outreach.store import signers as store
from outreach.store.db import one_transaction
from outreach.store.signers import assign_referral_codes, record_submission

log = logging.getLogger("outreach.signing")
PENDING_BATCH = 500  # signings queued per transaction by the planning pass


def session_key(csrf_token: str) -> str:
    """What a submission keeps of the browser session that sent it: a hash of the session's
    CSRF token (the token itself would let whoever reads the table post as that browser)."""
    return hashlib.sha256(csrf_token.encode()).hexdigest()


@dataclass
class Signing:
    """What a submission became. `own`: this session made the signer (now, or with an
    earlier submission), so it may see the signer's thanks page and referral code."""

    outcome: str  # imported | duplicate | rejected
    signer_id: int | None = None
    reason: str | None = None
    code: str | None = None
    own: bool = False
    sms_confirmation: bool = False  # a confirmation text to the stored number queued now


def store_signature(engine: Engine, geo: Geo, by_zip: pd.DataFrame,
                    campaign: Callable[[], Campaign], record: dict[str, object], *,
                    source: str, submitted: Mapping[str, object], session: str,
                    sms_phone: str | None, now: datetime) -> Signing:
    """Store one untrusted form record with everything that follows from it, in one
    transaction. `submitted`: the form as sent (the evidence); `session`: session_key();
    `sms_phone`: the E.164 number whose SMS box was ticked (None: not ticked)."""
    with engine.begin() as connection:
        unit = one_transaction(connection)
        [result] = intake_records([record], unit, source=source, trusted=False,
                                  zips=geo.data.by_zip)
        if result.signer_id is None:
            return Signing(result.outcome, reason=result.reason or
                           "We could not store this signature.")
        signer_id = result.signer_id
        imported = result.outcome == "imported"
        own = imported or store.signed_in_session(connection, signer_id, session)
        queued = False
        if imported:
            # A re-signing changes nothing of a stored signer (intake._Merger): their match
            # and steps stand as they are.
            match(unit, geo, by_zip=by_zip, only=[signer_id])
            assign_referral_codes(connection, [signer_id])
            queued = _queue(unit, campaign, geo.roster, [signer_id], now)
        record_submission(connection, signer_id, source, result.outcome, submitted, now,
                          session_key=session, steps_queued_at=now if queued else None)
        stored = store.contact(connection, signer_id)
        # Only the stored number is asked, and only by the session that made the signer: a
        # number this request could not store is not the signer's, a stranger must not have
        # the signer's number texted, and a "we are texting you" shown exactly when a typed
        # number is the one stored for a typed email would tell anyone whose number it is.
        confirm = own and sms_phone is not None and sms_phone == stored.phone \
            and not stored.sms_opt_in \
            and request_sms_confirmation(connection, signer_id, sms_phone, source, now)
    return Signing(result.outcome, signer_id, code=stored.referral_code, own=bool(own),
                   sms_confirmation=confirm)


def _queue(unit: Engine, campaign: Callable[[], Campaign], roster: Roster,
           signer_ids: list[int], now: datetime) -> bool:
    """Queue the campaign's steps for these signers in the unit's transaction; False when they
    must wait (the campaign's file does not load, or the campaign is paused or cancelled)."""
    try:
        chosen = campaign()
    except CampaignError as error:  # the organizer's file: the signature is kept regardless
        log.warning("petition steps wait for the planning pass: %s", error)
        return False
    return bool(queue_for_signers(unit, chosen, roster, signer_ids, now))


def queue_confirmed(connection: Connection, campaign: Campaign | None, roster: Roster,
                    signer_ids: list[int], now: datetime) -> bool:
    """A YES/START turned these signers' SMS consent on: queue the petition texts held back
    for it in the YES's own transaction, with its dedupe record, so a crash or a lock timeout
    loses both and Twilio's retry applies them (DESIGN invariant 9); queued after the commit,
    a retry would be answered "duplicate" and the texts never queued. `campaign` is loaded by
    the caller before its transaction (None: its file did not load). When they cannot be
    queued now (no file, or the campaign is paused), the signers' signings are marked pending
    again, so the planning pass queues them (queue_pending_signings); a signer who never
    signed on the form (an import) is left to the organizer's next launch. True if queued."""
    if campaign is not None and queue_for_signers(one_transaction(connection), campaign,
                                                  roster, signer_ids, now):
        return True
    waiting = store.mark_signings_pending(connection, signer_ids)
    log.warning("SMS opt-in: the petition campaign's texts wait for the planning pass "
                "(%d of %d signers' signings marked pending)", waiting, len(signer_ids))
    return False


def pending_signings(engine: Engine, limit: int = PENDING_BATCH) -> list[int]:
    """Signers made by a signing whose petition steps are not queued yet, oldest first."""
    with engine.connect() as connection:
        return store.pending_signings(connection, limit)


def queue_pending_signings(engine: Engine, campaign: Callable[[], Campaign], roster: Roster,
                           now: datetime) -> int:
    """The planning pass's share of the petition: queue the steps of every signing that is
    still waiting for them (see the module docstring); how many signings were queued.
    Idempotent (the outbox's keys), so two passes, or a pass and a re-signing, queue each
    message once. A paused or cancelled campaign keeps them waiting."""
    done = 0
    while ids := pending_signings(engine):
        with engine.begin() as connection:
            assign_referral_codes(connection, ids)
            if not _queue(one_transaction(connection), campaign, roster, ids, now):
                break
            store.mark_signings_queued(connection, ids, now)
        done += len(ids)
    return done
