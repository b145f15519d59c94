"""Email through any SMTP server (the organization's own mail server, a relay), stdlib smtplib.

OUTREACH_SMTP_URL: smtp://user:password@host:587 (STARTTLS whenever the server offers it;
add ?starttls=required to refuse a server that does not) or smtps://host:465 (TLS from the
start). One connection per message: simple, and a relay's own pacing governs throughput.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlparse

from outreach.message import Message
from outreach.privacy import scrub
from outreach.sending.transports.base import SendOutcome, SendResult
from outreach.sending.transports.files import build_email


class SmtpTransport:
    name = "smtp"
    reaches_people = True
    channel = "email"
    can_reconcile = False

    def __init__(self, url: str, timeout: float = 30.0):
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps") or not parsed.hostname:
            raise ValueError("OUTREACH_SMTP_URL must look like smtp://user:pass@host:587 or "
                             "smtps://host:465")
        self.implicit_tls = parsed.scheme == "smtps"
        self.host = parsed.hostname
        self.port = parsed.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else None
        self.require_starttls = parse_qs(parsed.query).get("starttls") == ["required"]
        self.timeout = timeout

    def warm_up(self) -> None:
        """Nothing to load ahead: one connection per message, opened by send."""

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        connection.ehlo()
        if connection.has_extn("starttls"):
            connection.starttls(context=context)
            connection.ehlo()
        elif self.require_starttls:
            connection.quit()
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
        return connection

    def send(self, message: Message) -> SendResult:
        email = build_email(message)
        try:
            connection = self._connect()
        except (OSError, smtplib.SMTPException) as error:
            outcome: SendOutcome = ("failed" if isinstance(error, smtplib.SMTPNotSupportedError)
                                    else "retry")
            return SendResult(outcome, error=f"SMTP connection: {type(error).__name__}: {error}")
        try:
            if self.user:
                connection.login(self.user, self.password or "")
            refused = connection.send_message(email)
        except smtplib.SMTPResponseException as error:
            # RFC 5321: 4xx is transient, 5xx permanent.
            outcome = "retry" if 400 <= error.smtp_code < 500 else "failed"
            # smtplib passes the server's reply as bytes; typeshed also allows text.
            reply = error.smtp_error
            if isinstance(reply, bytes):
                reply = reply.decode(errors="replace")
            return SendResult(outcome, error=scrub(f"SMTP {error.smtp_code}: {reply}",
                                                   message.to))
        except smtplib.SMTPRecipientsRefused as error:
            code = next(iter(error.recipients.values()))[0]
            return SendResult("retry" if 400 <= code < 500 else "failed",
                              error=f"SMTP {code}: recipient refused")
        except (TimeoutError, smtplib.SMTPServerDisconnected) as error:
            return SendResult("unknown", error=f"SMTP {type(error).__name__} mid-message")
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.quit()
        if refused:
            return SendResult("failed", error="SMTP: recipient refused")
        return SendResult("sent", provider_message_id=email["Message-ID"])

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        return None  # SMTP cannot be asked what it accepted
