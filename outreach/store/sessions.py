"""Organizer sessions in the store (security audit F11).

A signed cookie alone cannot be taken back: a copy kept after logout, or from before a password
change, stays valid until it expires, and Starlette re-issues it on every response. So the
cookie carries only a random token and the session lives here, where logout revokes it, an
absolute maximum age and an idle timeout end it, and a fingerprint of the organizer password
hash it was opened under ends it when OUTREACH_ADMIN_PASSWORD_HASH changes. The store keeps
the token's SHA-256 only: a copy of the database does not open the dashboard.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from outreach.store.db import as_utc
from outreach.store.schema import admin_sessions

# last_seen_at is written at most this often: the campaign page polls every two seconds.
TOUCH_EVERY = timedelta(minutes=1)


def digest(value: str) -> str:
    """SHA-256, hex: how a session token, and the password hash it belongs to, are stored."""
    return hashlib.sha256(value.encode()).hexdigest()


def open_session(connection: Connection, token: str, password_fingerprint: str,
                 now: datetime) -> None:
    connection.execute(admin_sessions.insert().values(
        token_hash=digest(token), password_fingerprint=password_fingerprint,
        created_at=now, last_seen_at=now))


def session_is_live(connection: Connection, token: str, password_fingerprint: str,
                    now: datetime, max_age: timedelta, idle: timedelta | None) -> bool:
    """True if the session exists, is not revoked, was opened under this password, is younger
    than max_age and was used within idle (None: no idle limit); then it counts as used now."""
    key = digest(token)
    row = connection.execute(select(admin_sessions)
                             .where(admin_sessions.c.token_hash == key)).first()
    if row is None or row.revoked_at is not None \
            or row.password_fingerprint != password_fingerprint:
        return False
    last_seen = as_utc(row.last_seen_at)
    if now - as_utc(row.created_at) >= max_age or (idle is not None and now - last_seen >= idle):
        return False
    if now - last_seen >= TOUCH_EVERY:
        connection.execute(update(admin_sessions).where(admin_sessions.c.token_hash == key)
                           .values(last_seen_at=now))
    return True


def revoke_session(connection: Connection, token: str, now: datetime) -> None:
    connection.execute(update(admin_sessions)
                       .where(admin_sessions.c.token_hash == digest(token),
                              admin_sessions.c.revoked_at.is_(None))
                       .values(revoked_at=now))


def purge_sessions(connection: Connection, opened_before: datetime) -> int:
    """Forget sessions past any maximum age (called at each login: the table stays small)."""
    return connection.execute(delete(admin_sessions)
                              .where(admin_sessions.c.created_at < opened_before)).rowcount
