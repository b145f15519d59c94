"""Twilio Programmable Messaging through the official `twilio` SDK.

Errors map to outcomes: 429 and 5xx retry; 21610 (the recipient texted STOP to Twilio) fails
and suppresses the number; 21211 / 21614 (invalid / not a mobile number) and other 4xx fail at
once with Twilio's message; a timeout after the request left is "unknown", which
`find_sent` can settle by listing the messages sent to that number.

Reconciliation does not trust two clocks. Twilio's Message resource carries nothing of ours we
could read back (no metadata field; the StatusCallback URL is not returned by fetch or list),
so a message is recognised by what Twilio does return: the recipient (`To`, the list filter) and
the exact body, in the messages Twilio created from a day before the attempt (by our clock) on.
A day, because that is the granularity Twilio documents for its date filters (`DateSent` takes
GMT dates, YYYY-MM-DD) and it dwarfs any clock skew; and no `DateSent` filter at all, because a
message Twilio accepted but still holds in its queue has no `date_sent` yet and a filter on it
would hide exactly the message we are looking for. Newest first, the listing stops at the
first message created before that day. A message id already recorded for another outbox row
(the same text to the same number) is not ours.

Our own id rides in the status callback URL (`...?outreach_id=123`), so a callback for a send
the worker did not live to record still finds its outbox row (outreach.delivery).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from outreach.message import Message
from outreach.privacy import scrub
from outreach.sending.transports.base import DEFAULT_POOL_SIZE, SendResult

DEFAULT_BASE_URL = "https://api.twilio.com"
SUPPRESSING_CODES = {21610}  # "Attempt to send to unsubscribed recipient"
PERMANENT_CODES = {21211, 21614, 21610, 21408, 21612}
RECONCILE_MARGIN = timedelta(days=1)  # clock skew tolerated: far beyond any real one


# The twilio SDK ships no type information, so its client class is Any to mypy.
class _BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The SDK's own HTTP client (its `HttpClient` interface over a requests Session), aimed
    at another base URL (a stand-in, a proxy), its connections kept alive.

    The SDK mounts a pool of min(32, cores + 4) connections for https only; the worker's
    sender threads share this client, so a pool smaller than them opens (and drops) a new
    connection, in production a TLS handshake, for every call beyond it. Here both schemes get
    `pool_size` kept-alive connections, one per sender thread. The session's environment
    (proxies, CA bundle) is read once here instead of on every call (requests'
    merge_environment_settings scans os.environ each time): the same settings, for the one
    host this client talks to. Retries stay off (requests' default): a POST that may have
    arrived is never repeated below the worker."""

    def __init__(self, base_url: str, timeout: float, pool_size: int = DEFAULT_POOL_SIZE):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self._answers = threading.local()  # worker threads share one client
        for scheme in ("https://", "http://"):
            self.session.mount(scheme, HTTPAdapter(pool_connections=1,
                                                   pool_maxsize=max(1, pool_size)))
        environment = self.session.merge_environment_settings(self.base_url, {}, None, None,
                                                              None)
        self.session.proxies.update(environment["proxies"])
        self.session.verify = environment["verify"]
        self.session.trust_env = False

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        if url.startswith(DEFAULT_BASE_URL):
            url = self.base_url + url[len(DEFAULT_BASE_URL):]
        self._answers.headers = {}
        response = super().request(method, url, *args, **kwargs)
        self._answers.headers = dict(response.headers or {})
        return response

    def retry_after(self) -> float | None:
        """Retry-After of this thread's last answer (the SDK's exception does not carry it)."""
        value = getattr(self._answers, "headers", {}).get("Retry-After", "")
        return float(value) if value.isdigit() else None


class TwilioTransport:
    name = "twilio"
    reaches_people = True
    channel = "sms"
    can_reconcile = True  # the Messages list says what Twilio accepted

    def __init__(self, account_sid: str, auth_token: str, *, from_number: str | None = None,
                 messaging_service_sid: str | None = None, base_url: str = DEFAULT_BASE_URL,
                 status_callback: str | None = None, timeout: float = 10.0,
                 pool_size: int = DEFAULT_POOL_SIZE):
        if not (from_number or messaging_service_sid):
            raise ValueError("Twilio needs OUTREACH_TWILIO_FROM or "
                             "OUTREACH_TWILIO_MESSAGING_SERVICE_SID")
        self.http = _BaseUrlHttpClient(base_url, timeout, pool_size)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.sender = {"messaging_service_sid": messaging_service_sid} if messaging_service_sid \
            else {"from_": from_number}
        self.status_callback = status_callback

    def warm_up(self) -> None:
        """Load the SDK's lazily imported messaging modules before the first paced call: that
        first import takes tens of milliseconds, which would bunch the calls after it."""
        _ = self.client.messages

    def send(self, message: Message) -> SendResult:
        options = dict(self.sender)
        callback = self.status_callback_for(message.outbox_id)
        if callback:
            options["status_callback"] = callback
        try:
            created = self.client.messages.create(to=message.to, body=message.text, **options)
        except TwilioRestException as error:
            text = scrub(f"Twilio {error.status} error {error.code}: {error.msg}", message.to)
            if error.status == 429 or error.status >= 500:
                return SendResult("retry", error=text, retry_after=self.http.retry_after())
            return SendResult("failed", error=text, suppress=error.code in SUPPRESSING_CODES)
        except requests.exceptions.ConnectTimeout:
            return SendResult("retry", error="Twilio unreachable (connect timeout)")
        except requests.exceptions.Timeout:
            return SendResult("unknown", error="Twilio did not answer in time")
        except requests.exceptions.ConnectionError as error:
            # Refused before anything was sent: safe to retry. Broken later: it may have arrived.
            refused = "refused" in str(error).lower() or "newconnectionerror" in str(error).lower()
            return SendResult("retry" if refused else "unknown",
                              error=f"Twilio connection error ({type(error).__name__})")
        return SendResult("sent", provider_message_id=created.sid)

    def status_callback_for(self, outbox_id: int) -> str | None:
        """The status callback URL carrying our id (Twilio signs the full URL, query included,
        and our webhook checks the signature over the same)."""
        if not self.status_callback:
            return None
        joiner = "&" if "?" in self.status_callback else "?"
        return f"{self.status_callback}{joiner}{urlencode({'outreach_id': outbox_id})}"

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        """The sid of the message Twilio created to this number with this body (see the
        module's docstring for why no time filter is asked for)."""
        cutoff = since - RECONCILE_MARGIN
        for sent in self.client.messages.stream(to=message.to, page_size=100):
            if sent.date_created is not None and sent.date_created < cutoff:
                return None  # newest first: everything after this is older still
            sid = cast(str, sent.sid)  # the untyped SDK's MessageInstance.sid: "SM..." text
            if sent.body == message.text and not (taken and taken(sid)):
                return sid
        return None
