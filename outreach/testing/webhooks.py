"""The providers calling us back, as they document it, for tests and the benchmarks: Twilio's
inbound-message and status-callback webhooks (form POSTs signed with X-Twilio-Signature) and
SendGrid's signed Event Webhook (a JSON array, ECDSA P-256 over timestamp + body).

Signing uses the providers' own code where they publish it (the `twilio` SDK's
RequestValidator.compute_signature); SendGrid publishes only the verifying half, so the signing
half here is the same ECDSA/SHA-256 with the `cryptography` package the SDK verifies with.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@dataclass
class TwilioCaller:
    """Twilio's side of our webhooks: signs with the account's auth token."""

    auth_token: str
    account_sid: str = "AC" + "0" * 32
    our_number: str = "+12155550199"

    def sign(self, url: str, params: dict[str, str]) -> str:
        signature: str = RequestValidator(self.auth_token).compute_signature(url, params)
        return signature

    def post(self, url: str, params: dict[str, str],
             signature: str | None = None) -> requests.Response:
        headers = {"X-Twilio-Signature": self.sign(url, params) if signature is None
                   else signature}
        return requests.post(url, data=params, headers=headers, timeout=10)

    def inbound(self, phone: str, body: str, **extra: str) -> dict[str, str]:
        """The parameters of a text from `phone` to our number."""
        return {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": self.account_sid,
                "From": phone, "To": self.our_number, "Body": body, "NumMedia": "0",
                "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
                **extra}

    def status(self, sid: str, phone: str, status: str,
               error_code: str | None = None) -> dict[str, str]:
        """A status callback for a message we sent."""
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid,
                  "From": self.our_number, "To": phone, "MessageStatus": status,
                  "SmsStatus": status, "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = error_code
        return params


@dataclass
class SendGridCaller:
    """SendGrid's side of the signed Event Webhook: a P-256 key pair of its own."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        """What SendGrid's settings page shows as the verification key (base64 DER)."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def sign(self, body: str, timestamp: str) -> str:
        signature = self.private_key.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def request(self, events: list[dict[str, object]],
                timestamp: int | None = None) -> tuple[str, dict[str, str]]:
        body = json.dumps(events)
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return body, {"Content-Type": "application/json", SENDGRID_TIMESTAMP: stamp,
                      SENDGRID_SIGNATURE: self.sign(body, stamp)}

    def post(self, url: str, events: list[dict[str, object]],
             timestamp: int | None = None) -> requests.Response:
        body, headers = self.request(events, timestamp)
        return requests.post(url, data=body.encode(), headers=headers, timeout=10)

    @staticmethod
    def event(name: str, email: str, outreach_id: int | None, timestamp: int | None = None,
              **extra: object) -> dict[str, object]:
        """One event as SendGrid documents it; custom_args come back as top-level fields."""
        event = {"email": email, "timestamp": int(time.time()) if timestamp is None
                 else timestamp, "event": name, "sg_event_id": uuid.uuid4().hex,
                 "sg_message_id": uuid.uuid4().hex[:22] + ".filter0001", **extra}
        if outreach_id is not None:
            event["outreach_id"] = str(outreach_id)
        return event
