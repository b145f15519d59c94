"""Organizer sessions, security headers, /metrics and per-client rate limits: the security
audit's F11, F12, F18 and F20, each reproduced through FastAPI's test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from outreach.web import create_app
from outreach.web.security import client_address, hash_password
from tests.web_helpers import HTML, PASSWORD, PUBLIC, ROOT, Clock, csrf_of, web_settings

COOKIE = "outreach_session"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


def make_app(store, password_hash: str, clock: Clock, public: str = PUBLIC, **extra: str):
    settings = web_settings(public, OUTREACH_ADMIN_PASSWORD_HASH=password_hash,
                            OUTREACH_SESSION_SECRET="s" * 32, **extra)
    return create_app(settings, engine=store, clock=clock)


@pytest.fixture
def client(store, password_hash, clock):
    with TestClient(make_app(store, password_hash, clock), base_url=PUBLIC) as test_client:
        yield test_client


def login(client: TestClient, password: str = PASSWORD) -> int:
    return client.post("/admin/login", data={"password": password, "next": "/admin",
                                             "csrf": csrf_of(client, "/admin/login")},
                       headers=HTML, follow_redirects=False).status_code


def opens_dashboard(client: TestClient, cookie: str) -> bool:
    """Whether a copy of the cookie, sent from another browser, opens an organizer page."""
    other = TestClient(client.app, base_url=PUBLIC)
    answer = other.get("/admin/campaigns/marijuana_justice/progress", follow_redirects=False,
                       headers={"Cookie": f"{COOKIE}={cookie}"})
    return answer.status_code == 200


# --- F11: sessions ---------------------------------------------------------------------------
def test_a_cookie_kept_after_logout_no_longer_opens_the_dashboard(client):
    assert login(client) == 303
    kept = client.cookies[COOKIE]
    assert opens_dashboard(client, kept)
    token = csrf_of(client, "/admin")
    answer = client.post("/admin/logout", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert not opens_dashboard(client, kept)  # audit F11: it still did (200)


def test_a_new_organizer_password_ends_every_session(store, password_hash, clock):
    with TestClient(make_app(store, password_hash, clock), base_url=PUBLIC) as before:
        assert login(before) == 303
        kept = before.cookies[COOKIE]
        assert opens_dashboard(before, kept)
    changed = make_app(store, hash_password("a brand new organizer password"), clock)
    with TestClient(changed, base_url=PUBLIC) as after:  # restarted with the new hash
        assert not opens_dashboard(after, kept)
        assert login(after) == 403  # and the old password is refused
        assert login(after, "a brand new organizer password") == 303


def test_a_session_ends_at_its_maximum_age_however_often_it_is_used(client, clock):
    assert login(client) == 303
    kept = client.cookies[COOKIE]
    for _ in range(13):  # used every 55 minutes for 11 h 55 min: never idle for an hour
        clock.now += timedelta(minutes=55)
        assert opens_dashboard(client, kept)
    clock.now += timedelta(minutes=55)  # 12 h 50 min after the login
    assert not opens_dashboard(client, kept)
    assert login(client) == 303  # a fresh login works


def test_an_idle_session_ends_and_the_limits_are_settings(store, password_hash, clock):
    app = make_app(store, password_hash, clock, OUTREACH_ADMIN_SESSION_MAX_AGE="600",
                   OUTREACH_ADMIN_SESSION_IDLE="120")
    with TestClient(app, base_url=PUBLIC) as client:
        assert login(client) == 303
        kept = client.cookies[COOKIE]
        clock.now += timedelta(seconds=110)
        assert opens_dashboard(client, kept)
        clock.now += timedelta(seconds=125)  # idle for more than 120 s
        assert not opens_dashboard(client, kept)
        assert login(client) == 303
        kept = client.cookies[COOKIE]
        for _ in range(6):
            clock.now += timedelta(seconds=100)
        assert not opens_dashboard(client, kept)


def test_the_cookie_carries_a_token_the_store_keeps_only_hashed(client, store):
    from sqlalchemy import select

    from outreach.store.schema import admin_sessions

    assert login(client) == 303
    cookie = client.cookies[COOKIE]
    with store.connect() as connection:
        hashes = connection.execute(select(admin_sessions.c.token_hash)).scalars().all()
    assert len(hashes) == 1 and len(hashes[0]) == 64
    assert hashes[0] not in cookie


# --- F12: headers ----------------------------------------------------------------------------
PUBLIC_PAGES = ("/", "/thanks/received", "/admin/login", "/u/x", "/api/lookup?address=19102",
                "/static/site.js", "/healthz")


def test_every_page_carries_the_security_headers(client):
    for path in PUBLIC_PAGES:
        headers = client.get(path, headers=HTML, follow_redirects=False).headers
        csp = headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp, path
        assert headers.get("x-frame-options") == "DENY", path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "same-origin", path
        assert headers.get("strict-transport-security", "").startswith("max-age="), path


def test_no_hsts_when_the_public_url_is_plain_http(store, password_hash, clock):
    with TestClient(make_app(store, password_hash, clock, "http://127.0.0.1:8765")) as client:
        headers = client.get("/", headers=HTML).headers
    assert "strict-transport-security" not in headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_organizer_pages_are_never_cached(client):
    assert "no-store" in client.get("/admin/login", headers=HTML).headers["cache-control"]
    assert login(client) == 303
    for path in ("/admin", "/admin/campaigns/marijuana_justice",
                 "/admin/campaigns/marijuana_justice/progress"):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "no-store", path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:",
                    re.IGNORECASE)


def test_pages_need_no_inline_script_or_style():
    """What the CSP (no 'unsafe-inline') would block: none in any template, none in the
    dashboard's server-drawn charts."""
    from outreach.web.charts import bars_svg, columns_svg

    templates = sorted((ROOT / "templates" / "web").rglob("*.html"))
    assert len(templates) >= 8
    found = {str(p.relative_to(ROOT)): INLINE.findall(p.read_text()) for p in templates}
    assert {name: hits for name, hits in found.items() if hits} == {}
    charts = columns_svg([("12-01", 3)] * 6, "t") + bars_svg([("PA", 3)], "t")
    assert not INLINE.search(charts)
    # the one-button forms that had style="display:inline" keep their look from the sheet
    assert "form.inline" in (ROOT / "outreach" / "web" / "static" / "site.css").read_text()


# --- F18: /metrics ---------------------------------------------------------------------------
def test_metrics_on_the_public_port_need_the_organizer_login(client):
    answer = client.get("/metrics", follow_redirects=False)
    assert answer.status_code == 303  # audit F18: 200 with the queue and opt-out counts
    assert answer.headers["location"].startswith("/admin/login")
    assert "outreach_outbox_messages" not in answer.text
    assert login(client) == 303
    shown = client.get("/metrics")
    assert shown.status_code == 200 and "outreach_suppressions" in shown.text
    assert shown.headers["cache-control"] == "no-store"


# --- F20: rate limits per IPv6 /64 -----------------------------------------------------------
def _request(host: str) -> Request:
    return Request({"type": "http", "client": (host, 1234), "headers": []})


def test_clients_are_counted_by_ipv4_address_or_ipv6_slash_64():
    assert client_address(_request("203.0.113.7")) == "203.0.113.7"
    assert client_address(_request("2001:db8:1:2::1")) == "2001:db8:1:2::/64"
    assert client_address(_request("2001:db8:1:2:ffff:ffff:ffff:ffff")) == "2001:db8:1:2::/64"
    assert client_address(_request("2001:db8:1:3::1")) == "2001:db8:1:3::/64"
    assert client_address(_request("::ffff:203.0.113.7")) == "203.0.113.7"
    assert client_address(_request("testclient")) == "testclient"


def test_fifteen_wrong_passwords_from_one_ipv6_64_are_throttled(store, password_hash, clock):
    app = make_app(store, password_hash, clock)
    codes = []
    for last in range(1, 16):  # 2001:db8:1:2::1 ... ::f, as in the audit
        one = TestClient(app, base_url=PUBLIC, client=(f"2001:db8:1:2::{last:x}", 5000))
        codes.append(login(one, "wrong password"))
    assert codes[:10] == [403] * 10
    assert codes[10:] == [429] * 5  # audit F20: all 403
    neighbour = TestClient(app, base_url=PUBLIC, client=("2001:db8:1:3::1", 5000))
    assert login(neighbour, "wrong password") == 403  # the next /64 is someone else


def test_lookups_from_one_ipv6_64_share_one_limit(store, password_hash, clock):
    app = make_app(store, password_hash, clock)
    codes = []
    for last in range(1, 66):
        one = TestClient(app, base_url=PUBLIC, client=(f"2001:db8:9:9::{last:x}", 5000))
        codes.append(one.get("/api/lookup", params={"address": "19102"}).status_code)
    assert codes[:60] == [200] * 60 and codes[60:] == [429] * 5


def test_a_zero_maximum_session_age_is_refused():
    from outreach.config import ConfigError

    with pytest.raises(ConfigError, match="OUTREACH_ADMIN_SESSION_MAX_AGE"):
        web_settings(PUBLIC, OUTREACH_ADMIN_SESSION_MAX_AGE="0")
    assert web_settings(PUBLIC).web.admin_session_max_age == 12 * 3600
