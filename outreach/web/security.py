"""Forms and sessions: CSRF tokens, per-IP rate limits, the organizer login.

Sessions are Starlette's signed cookies (itsdangerous), SameSite=Lax, Secure when the public
URL is https. A form carries the session's CSRF token; a POST without it (a forged cross-site
form) is refused. Organizer passwords are Argon2id hashes from the environment.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

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
    return request.client.host if request.client else "unknown"


def is_admin(request: Request) -> bool:
    return bool(request.session.get("admin"))


def bearer_token_ok(request: Request, expected: str | None) -> bool:
    given = request.headers.get("Authorization", "")
    return bool(expected) and given.startswith("Bearer ") and hmac.compare_digest(
        given[7:].encode(), str(expected).encode())


def session_options(public_url: str | None) -> dict[str, Any]:
    return {"same_site": "lax", "https_only": bool(public_url and
                                                    public_url.startswith("https://")),
            "max_age": 8 * 3600, "session_cookie": "outreach_session"}
