"""Webhook signatures: a request that does not prove it comes from the provider changes nothing.

Twilio signs the public URL it called plus the POST parameters (HMAC-SHA1 with the account's
auth token; X-Twilio-Signature), checked with the official SDK's RequestValidator. SendGrid
signs timestamp + raw body with ECDSA (X-Twilio-Email-Event-Webhook-Signature / -Timestamp),
checked with the official SDK's EventWebhook helper; a timestamp more than ten minutes away from
now is refused, so a captured request cannot be replayed later. What the headers alone can
refuse is refused before the body is read; the body's size is bounded before that (body_limit).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from twilio.request_validator import RequestValidator

log = logging.getLogger("outreach.web")

SENDGRID_MAX_AGE = timedelta(minutes=10)


def forbidden(why: str) -> HTTPException:
    log.warning("webhook refused: %s", why)
    return HTTPException(status_code=403, detail="signature check failed")


def public_url_of(request: Request, public_url: str | None) -> str:
    """The URL the provider called and signed: our public base URL + this route (+ query)."""
    if not public_url:
        raise forbidden("OUTREACH_PUBLIC_URL is not set, so no signature can be checked")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_url}{request.url.path}{query}"


async def twilio_params(request: Request) -> dict[str, str]:
    """The form parameters of a Twilio webhook whose signature is good (else 403)."""
    settings = request.app.state.outreach.settings
    if not settings.providers.twilio_auth_token:
        raise forbidden("OUTREACH_TWILIO_AUTH_TOKEN is not set")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:  # before the body is parsed (audit F6)
        raise forbidden("missing X-Twilio-Signature")
    form = await request.form()
    params = {key: str(value) for key, value in form.items()}
    url = public_url_of(request, settings.compliance.public_url)
    if not signature or not RequestValidator(settings.providers.twilio_auth_token).validate(
            url, params, signature):
        raise forbidden("bad or missing X-Twilio-Signature")
    return params


async def sendgrid_body(request: Request) -> bytes:
    """The raw body of a SendGrid Event Webhook whose signature and timestamp are good."""
    # The SDK's helper (with its HTTP client and ECDSA: about 9 MB resident) loads with the
    # first SendGrid webhook: a deployment that sends through SMTP never needs it.
    from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader

    state = request.app.state.outreach
    key = state.settings.providers.sendgrid_webhook_public_key
    if not key:
        raise forbidden("OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
    signature = request.headers.get(EventWebhookHeader.SIGNATURE, "")
    timestamp = request.headers.get(EventWebhookHeader.TIMESTAMP, "")
    # ASCII digits, at most 11 of them (year 5138): "²".isdigit() is true, and twenty 9s
    # overflow a datetime; either was a 500 before any check (audit F13).
    if not signature or not (timestamp.isascii() and timestamp.isdigit()) or \
            len(timestamp) > 11:
        raise forbidden("missing SendGrid signature or timestamp")
    age = state.clock() - datetime.fromtimestamp(int(timestamp), state.clock().tzinfo)
    if abs(age) > SENDGRID_MAX_AGE:
        raise forbidden(f"SendGrid timestamp {int(age.total_seconds())} s away from now")
    body = await request.body()  # only now: the headers cost nothing to check (audit F6)
    try:
        verifier = EventWebhook(key)
        good = verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, UnicodeDecodeError):
        good = False
    if not good:
        raise forbidden("bad SendGrid signature")
    return body


# Route parameters: a handler that names one of these only runs for a verified request.
TwilioParams = Annotated[dict[str, str], Depends(twilio_params)]
SendGridBody = Annotated[bytes, Depends(sendgrid_body)]
