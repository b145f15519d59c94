"""SendGrid v3 Mail Send through the official `sendgrid` SDK.

Only our opaque outbox id goes to SendGrid in custom_args (it keeps them); never names,
addresses or phone numbers beyond the recipient it needs. Errors map to outcomes: 429 and 5xx
retry (honoring Retry-After), other 4xx fail at once with SendGrid's own error text, a timeout
after the request left is "unknown" (it may have been accepted).
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Content, CustomArg, Email, Header, Mail, ReplyTo, To

from outreach.message import Message
from outreach.privacy import scrub
from outreach.sending.transports.base import SendResult

DEFAULT_BASE_URL = "https://api.sendgrid.com"


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _error_text(error: HTTPError) -> str:
    try:
        errors = json.loads(error.body or b"{}").get("errors") or []
        text = "; ".join(str(e.get("message")) for e in errors if e.get("message"))
    except (ValueError, AttributeError):
        text = ""
    return f"SendGrid HTTP {error.status_code}" + (f": {text}" if text else "")


class SendGridTransport:
    name = "sendgrid"
    reaches_people = True
    channel = "email"
    can_reconcile = False

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0):
        self.client = SendGridAPIClient(api_key=api_key, host=base_url.rstrip("/"))
        self.client.client.timeout = timeout  # the SDK passes it on to every request

    def warm_up(self) -> None:
        """Nothing to do ahead: the client is built in __init__, each send is one request."""

    def build(self, message: Message) -> Mail:
        name, address = parseaddr(message.sender)
        mail = Mail(from_email=Email(address, name or None), to_emails=To(message.to),
                    subject=message.subject)
        mail.add_content(Content("text/plain", message.text))
        if message.html:
            mail.add_content(Content("text/html", message.html))
        if message.reply_to:
            reply_name, reply_address = parseaddr(message.reply_to)
            mail.reply_to = ReplyTo(reply_address, reply_name or None)
        for header, value in message.headers.items():
            mail.add_header(Header(header, value))
        mail.add_custom_arg(CustomArg("outreach_id", str(message.outbox_id)))
        return mail

    def send(self, message: Message) -> SendResult:
        try:
            response = self.client.send(self.build(message))
        except HTTPError as error:
            status = error.status_code
            text = scrub(_error_text(error), message.to)
            if status == 429 or status >= 500:
                retry_after = error.headers.get("Retry-After") if error.headers else None
                return SendResult("retry", error=text, retry_after=_seconds(retry_after))
            return SendResult("failed", error=text)
        except TimeoutError:
            return SendResult("unknown", error="SendGrid did not answer in time")
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                return SendResult("unknown", error="SendGrid did not answer in time")
            return SendResult("retry", error=f"SendGrid unreachable: {error.reason}")
        except (ConnectionError, OSError) as error:
            return SendResult("unknown", error=f"connection to SendGrid broke: "
                                               f"{type(error).__name__}")
        return SendResult("sent", provider_message_id=response.headers.get("X-Message-Id"))

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        # SendGrid's Email Activity API is a paid add-on and lags by minutes: it cannot tell.
        return None
