"""Forms, sessions and headers: CSRF tokens, per-client rate limits, the organizer login,
the security headers every answer carries.

Sessions are Starlette's signed cookies (itsdangerous), SameSite=Lax, Secure when the public
URL is https. A form carries the session's CSRF token; a POST without it (a forged cross-site
form) is refused. Organizer passwords are Argon2id hashes from the environment; an organizer
login is a token in that cookie whose session lives in the store (store/sessions.py), so that
logout, a password change and a maximum age end it (audit F11).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outreach.config import Settings
from outreach.store.sessions import (
    digest,
    open_session,
    purge_sessions,
    revoke_session,
    session_is_live,
)

log = logging.getLogger("outreach.web")
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def csrf_token(request: Request) -> str:
    """This session's token, made on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        log.warning("form refused: missing or wrong CSRF token")
        raise HTTPException(403, "This form has expired or did not come from our page. "
                                 "Reload the page and try again.")


class RateLimits:
    """Moving-window limits per client address, in this process's memory (one web process;
    several would each allow the rate: put the limit in the proxy as well)."""

    def __init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, rate: str, *keys: str) -> bool:
        return self.limiter.hit(parse(rate), *keys)


def client_address(request: Request) -> str:
    """The client as every rate limit counts it: an IPv4 address as is, an IPv6 address by its
    /64. One IPv6 subscriber or server usually holds a whole /64 (RFC 6177 assigns /48 to /64
    per site; SLAAC hosts pick any address in it), so a per-address limit is one a client can
    step around 2**64 times (audit F20)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address (a test client, a Unix socket)
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


# --- organizer sessions ------------------------------------------------------------------------
ADMIN_TOKEN = "admin_session"  # the key of the login's token in the signed cookie


def start_admin_session(request: Request, engine: Engine, settings: Settings,
                        now: datetime) -> None:
    """A new session (and CSRF token) at every login; the browser's previous one is revoked."""
    end_admin_session(request, engine, now)
    token = secrets.token_urlsafe(32)
    with engine.begin() as connection:
        purge_sessions(connection, now - timedelta(seconds=settings.web.admin_session_max_age))
        open_session(connection, token, digest(str(settings.web.admin_password_hash)), now)
    request.session[ADMIN_TOKEN] = token


def end_admin_session(request: Request, engine: Engine, now: datetime) -> None:
    token = request.session.get(ADMIN_TOKEN)
    if token:
        with engine.begin() as connection:
            revoke_session(connection, str(token), now)
    request.session.clear()


def is_admin(request: Request, engine: Engine, settings: Settings, now: datetime) -> bool:
    """The cookie's token names a live session opened under the current organizer password."""
    token = request.session.get(ADMIN_TOKEN)
    if not token or not settings.web.admin_password_hash:
        return False
    idle = settings.web.admin_session_idle
    with engine.begin() as connection:
        return session_is_live(connection, str(token), digest(settings.web.admin_password_hash),
                               now, timedelta(seconds=settings.web.admin_session_max_age),
                               timedelta(seconds=idle) if idle else None)


def bearer_token_ok(request: Request, expected: str | None) -> bool:
    given = request.headers.get("Authorization", "")
    return bool(expected) and given.startswith("Bearer ") and hmac.compare_digest(
        given[7:].encode(), str(expected).encode())


def session_options(public_url: str | None) -> dict[str, Any]:
    return {"same_site": "lax", "https_only": bool(public_url and
                                                    public_url.startswith("https://")),
            "max_age": 8 * 3600, "session_cookie": "outreach_session"}


# --- headers -----------------------------------------------------------------------------------
# The pages load their script and style from /static and have no inline script, style or
# event-handler attribute (a test reads every template), so 'self' is all they need; a
# frame-ancestors of 'none' (and X-Frame-Options for browsers before CSP 2) stops the one-click
# dashboard and unsubscribe forms from being framed (clickjacking, audit F12).
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Unsubscribe and thanks-page addresses carry tokens and share codes: never to other sites.
    "Referrer-Policy": "same-origin",
}
# Two years, the HSTS preload list's minimum; not includeSubDomains: the organization's other
# subdomains are not ours to pin to https.
HSTS = "max-age=63072000"
PRIVATE_PATHS = ("/admin", "/metrics")  # organizer pages: no browser or proxy keeps a copy


class SecurityHeaders:
    """ASGI middleware: the headers above on every answer (a route's own value wins), HSTS when
    the public URL is https, Cache-Control: no-store on the organizer pages."""

    def __init__(self, app: ASGIApp, *, public_url: str | None) -> None:
        self.app = app
        self.headers = dict(SECURITY_HEADERS)
        if public_url and public_url.startswith("https://"):
            self.headers["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = scope["path"].startswith(PRIVATE_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
