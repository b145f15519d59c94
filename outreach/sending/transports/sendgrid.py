"""SendGrid v3 Mail Send: the request body built by the official `sendgrid` SDK's helpers
(`Mail(...).get()`, the SDK's own headers), sent over one keep-alive connection pool.

Why not `SendGridAPIClient.send`: its HTTP layer (python_http_client) builds a new urllib
opener and opens a new connection for every call (in production a TLS handshake per email,
and ~1 ms of CPU reading the proxy environment each time). The pool (urllib3, what requests is
built on) keeps `pool_size` connections open, one per sender thread, and never retries on its
own: a POST that may have arrived is never repeated below the worker (RFC 9110 9.2.2: POST is
not idempotent).

Only our opaque outbox id goes to SendGrid in custom_args (it keeps them); never names,
addresses or phone numbers beyond the recipient it needs. Outcomes are the SDK's error mapping
(https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send#responses): 429 and
5xx retry (honoring Retry-After), other 4xx fail at once with SendGrid's own error text.
Anything that goes wrong while a connection is being opened (refused, no route, a connect
timeout, the proxy's CONNECT refused, a TLS handshake refused, reset or cut short by EOF)
retries: the pool's connections mark every such error `_NotSent`, because no request byte is
written before `connect()` returns. A timeout or a broken connection after that is "unknown"
(it may have been accepted), including a kept-alive connection the server closed just as we
reused it (http.client's RemoteDisconnected): urllib3 drops connections it sees closed before
reusing them, and beyond that check it cannot say whether the server read our request before
closing, so it is not retried (RFC 9112 9.3.1: no automatic retry of a non-idempotent request
without a means to detect that it was never applied). SendGrid rows cannot be reconciled, so
an "unknown" is a message given up as possibly sent: only a surely-unsent one is retried.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from urllib.parse import unquote, urlsplit

import urllib3
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Content, CustomArg, Email, Header, Mail, ReplyTo, To
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util.ssl_match_hostname import CertificateError

from outreach.message import Message
from outreach.privacy import scrub
from outreach.sending.transports.base import DEFAULT_POOL_SIZE, SendResult

DEFAULT_BASE_URL = "https://api.sendgrid.com"
MAIL_SEND_PATH = "/v3/mail/send"
RESET_WAIT_CAP = 60.0  # seconds: the longest wait a 429's X-RateLimit-Reset may ask


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    """How long to wait after a 429 or 5xx: Retry-After when given (a 503 from a proxy or load
    balancer in front), else until X-RateLimit-Reset, which is what SendGrid's own 429 carries:
    the epoch second its refresh period ends ("Rate Limits", SendGrid v3 API reference,
    https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/rate-limits).
    By our clock, so never negative, and at most RESET_WAIT_CAP: a reset far off is a skewed
    clock or a daily quota, and the worker's backoff handles those."""
    after = _seconds(response.headers.get("Retry-After"))
    if after is not None:
        return after
    reset = _seconds(response.headers.get("X-RateLimit-Reset"))
    if reset is None:
        return None
    return min(RESET_WAIT_CAP, max(0.0, reset - time.time()))


def error_text(status: int, body: bytes | None) -> str:
    """"SendGrid HTTP 400: <its messages>", from SendGrid's documented error body
    {"errors": [{"message", "field", "help"}]}."""
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        text = "; ".join(str(e.get("message")) for e in errors if e.get("message"))
    except (ValueError, AttributeError):
        text = ""
    return f"SendGrid HTTP {status}" + (f": {text}" if text else "")


@lru_cache(maxsize=64)
def _address(value: str) -> tuple[str, str]:
    """parseaddr of a sender or reply-to: the same few strings for a whole blast."""
    return parseaddr(value)


class _NotSent(NewConnectionError):
    """A connection could not be opened: raised from `connect()`, before any byte of the
    request is written, so SendGrid cannot have it. As a NewConnectionError it takes urllib3's
    own path for a refused connection (and becomes a ProxyError when the proxy failed)."""

    def __init__(self, connection: HTTPConnection, cause: Exception):
        tls = isinstance(cause, (ssl.SSLError, CertificateError))
        self.what = f"TLS handshake failed ({type(cause).__name__})" if tls \
            else type(cause).__name__
        super().__init__(connection, f"could not connect: {self.what}")


class _ConnectOrNotSent(HTTPConnection):
    """urllib3 re-raises some failures of `connect()` as they came (a reset during the TLS
    handshake as a plain OSError, which urlopen then wraps as ProtocolError, like a break
    after the request), and others as SSLError like a TLS failure while reading the answer.
    Opening the connection (TCP, the proxy's CONNECT, the TLS handshake and certificate
    check) is all in `connect()`: whatever it raises is `_NotSent`."""

    def connect(self) -> None:
        try:
            super().connect()
        except NewConnectionError:
            raise
        except Exception as error:
            raise _NotSent(self, error) from error


class _ConnectOrNotSentHTTPS(_ConnectOrNotSent, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _ConnectOrNotSent


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _ConnectOrNotSentHTTPS


def _proxy_with_credentials(proxy: str) -> tuple[str, dict[str, str]]:
    """The proxy URL without its user:password, and those as Proxy-Authorization (Basic),
    which urllib's ProxyHandler (the SDK's) sent and urllib3's ProxyManager does not: it never
    reads credentials from the URL. Percent-escapes in them are undone, as urllib does; the
    URL kept (and shown in urllib3's errors and logs) then holds no password."""
    url = urllib3.util.parse_url(proxy)
    if not url.auth:
        return proxy, {}
    user, _, password = url.auth.partition(":")
    headers = urllib3.make_headers(proxy_basic_auth=f"{unquote(user)}:{unquote(password)}")
    return url._replace(auth=None).url, headers


def pool_for(base_url: str, size: int, timeout: float) -> urllib3.PoolManager:
    """A keep-alive pool to `base_url`, through the proxy the environment names for it, as
    the SDK's urllib opener would (HTTPS_PROXY with its credentials, NO_PROXY), read once
    rather than per call."""
    host = urlsplit(base_url).hostname or ""
    proxy = urllib.request.getproxies().get(urlsplit(base_url).scheme)
    timeouts = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.PoolManager
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_url, proxy_headers = _proxy_with_credentials(proxy)
        pool = urllib3.ProxyManager(proxy_url, proxy_headers=proxy_headers, maxsize=size,
                                    block=False, retries=False, timeout=timeouts)
    else:
        pool = urllib3.PoolManager(maxsize=size, block=False, retries=False, timeout=timeouts)
    pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return pool


class SendGridTransport:
    name = "sendgrid"
    reaches_people = True
    channel = "email"
    can_reconcile = False

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0,
                 pool_size: int = DEFAULT_POOL_SIZE):
        sdk = SendGridAPIClient(api_key=api_key, host=base_url.rstrip("/"))
        # The SDK's own headers (Authorization, its User-Agent, Accept), as it would send them.
        self.headers = {**sdk.client.request_headers, "Content-Type": "application/json"}
        self.url = base_url.rstrip("/") + MAIL_SEND_PATH
        self.pool = pool_for(self.url, max(1, pool_size), timeout)

    def warm_up(self) -> None:
        """Nothing to do ahead: connections open on first use and stay open."""

    def build(self, message: Message) -> Mail:
        name, address = _address(message.sender)
        mail = Mail(from_email=Email(address, name or None), to_emails=To(message.to),
                    subject=message.subject)
        mail.add_content(Content("text/plain", message.text))
        if message.html:
            mail.add_content(Content("text/html", message.html))
        if message.reply_to:
            reply_name, reply_address = _address(message.reply_to)
            mail.reply_to = ReplyTo(reply_address, reply_name or None)
        for header, value in message.headers.items():
            mail.add_header(Header(header, value))
        mail.add_custom_arg(CustomArg("outreach_id", str(message.outbox_id)))
        return mail

    def send(self, message: Message) -> SendResult:
        body = json.dumps(self.build(message).get()).encode()
        try:
            response = self.pool.request("POST", self.url, body=body, headers=self.headers,
                                         redirect=False, retries=False)
        except _NotSent as error:
            return SendResult("retry", error=f"SendGrid unreachable: {error.what}")
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                urllib3.exceptions.ProxyError) as error:
            # Never reached SendGrid (refused, no route, no proxy): safe to retry.
            return SendResult("retry", error=f"SendGrid unreachable: {type(error).__name__}")
        except urllib3.exceptions.ReadTimeoutError:
            return SendResult("unknown", error="SendGrid did not answer in time")
        except (urllib3.exceptions.HTTPError, OSError) as error:
            # Connected, so the request may have left: ProtocolError (a reset, the server
            # closing a reused connection), SSLError while writing or reading, and the like.
            return SendResult("unknown", error=f"connection to SendGrid broke: "
                                               f"{type(error).__name__}")
        status = response.status
        if 200 <= status < 300:
            return SendResult("sent", provider_message_id=response.headers.get("X-Message-Id"))
        text = scrub(error_text(status, response.data), message.to)
        if status == 429 or status >= 500:
            return SendResult("retry", error=text, retry_after=_retry_after(response))
        return SendResult("failed", error=text)

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        # SendGrid's Email Activity API is a paid add-on and lags by minutes: it cannot tell.
        return None
