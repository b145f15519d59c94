"""The pages in a real browser: Playwright driving Debian's Chromium against a live
`outreach` web app. Screenshots of the petition, thanks and dashboard pages are saved in
test-artifacts/ (OUTREACH_TEST_ARTIFACTS). Without Chromium these tests skip, unless
OUTREACH_TEST_BROWSER=required (as .ci/run sets, after installing it)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from outreach.campaigns.render import Renderer, Sender
from outreach.config import Settings
from outreach.geo.current import build_geo
from outreach.roster.offices import Roster, load_roster
from outreach.sending.transports.files import FilesTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.schema import outbox
from outreach.us.counties import load_counties
from outreach.web import create_app
from outreach.web.security import hash_password
from tests.live_server import LiveServer
from tests.web_helpers import ROOT, web_settings

CHROMIUM = os.environ.get("OUTREACH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("OUTREACH_TEST_ARTIFACTS", ROOT / "test-artifacts"))
PASSWORD = "correct horse battery staple"
# As the env notes describe: without the background-networking flags Chromium keeps trying
# to reach Google's hosts, which this machine's closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        reason = f"no Chromium at {CHROMIUM} (Debian package chromium)"
        if os.environ.get("OUTREACH_TEST_BROWSER") == "required":
            pytest.fail(reason + "; OUTREACH_TEST_BROWSER=required")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[str, object]]:
    engine = open_store(f"sqlite:///{tmp_path / 'web.sqlite3'}")
    settings_extra = {"OUTREACH_ADMIN_PASSWORD_HASH": hash_password(PASSWORD),
                      "OUTREACH_SESSION_SECRET": "s" * 32}
    server = LiveServer(lambda url: create_app(web_settings(url, **settings_extra),
                                               engine=engine))
    yield server.url, engine
    server.close()
    engine.dispose()


@pytest.fixture
def page(chromium):  # type: ignore[no-untyped-def]
    """A phone-sized page; the test fails if the Content-Security-Policy refused anything."""
    context = chromium.new_context(viewport={"width": 420, "height": 900})  # a phone
    new_page = context.new_page()
    refused: list[str] = []
    new_page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
    yield new_page
    context.close()
    assert refused == []


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign(page, **fields: str) -> None:  # type: ignore[no-untyped-def]
    """Type into the petition form as a person would, tick the email box, submit."""
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    page.check("#email_opt_in")
    page.click("#sign-button")


def test_a_philadelphia_resident_signs_and_meets_their_prosecutor(site, page, tmp_path):
    url, engine = site
    page.goto(url + "/")
    shot(page, "petition")
    sign(page, first_name="Ana", last_name="Lopez", email="ana.browser@example.org",
         street="1421 Arch Street", zip="19102")
    page.wait_for_url("**/thanks/**")
    heading = page.locator("#da-h").inner_text()
    assert "Philadelphia District Attorney" in heading
    call = page.locator("#call-link")
    assert call.get_attribute("href") == "tel:+12156868000"
    assert "(215) 686-8000" in call.inner_text()
    assert "/?ref=" in page.input_value("#share-url")
    shot(page, "thanks")
    with engine.connect() as connection:
        welcome = connection.execute(select(outbox).where(
            outbox.c.step == "welcome_email")).one()
    assert welcome.state == "queued"  # the welcome is in the outbox...
    transports = {"email": FilesTransport(tmp_path / "out", "email")}
    Worker(engine, transports, Renderer(engine, _roster(), ROOT / "templates",
                                        Sender("MJ <team@mj-campaign.org>", "+1", "MJ Campaign",
                                               "PO Box 1")),
           options=WorkerOptions(concurrency=1)).run(once=True)
    sent = [p.read_text() for p in (tmp_path / "out" / "email").glob("*.eml")]
    assert any("ana.browser@example.org" in m and "Philadelphia District Attorney" in m
               for m in sent)  # ...and goes out, naming the same prosecutor


def _roster() -> Roster:
    return load_roster(ROOT / "data" / "prosecutors.csv",
                       load_counties(ROOT / "data" / "counties.csv"))


def test_a_validation_error_keeps_what_was_typed(site, page):
    url, _ = site
    page.goto(url + "/")
    sign(page, first_name="Bo", email="bo@", street="350 Jay St", zip="11201")
    page.wait_for_selector("#email-error")
    assert "does not look right" in page.locator("#email-error").inner_text()
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    assert page.input_value("#first_name") == "Bo"
    assert page.input_value("#street") == "350 Jay St"
    assert page.input_value("#zip") == "11201"
    shot(page, "petition-error")


def test_the_dashboard_requires_login_and_shows_a_blast_progressing(site, page, tmp_path):
    url, engine = site
    signers = tmp_path / "signers.csv"
    signers.write_text("email,zip,state\n" + "".join(
        f"p{i}@example.org,{z},{s}\n" for i, (z, s) in
        enumerate([("19107", "PA"), ("60601", "IL"), ("78701", "TX"), ("10001", "NY")] * 6)))
    intake(signers, engine)
    match(engine, build_geo(Settings.from_env({"OUTREACH_DATA_DIR": str(ROOT / "data")})))
    page.goto(url + "/admin")
    assert "/admin/login" in page.url  # no session: the login page
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_url(url + "/admin")
    assert page.locator("#signers-total").inner_text() == "24"
    shot(page, "dashboard")

    page.goto(url + "/admin/campaigns/marijuana_justice")
    page.fill("#confirm", "marijuana_justice")
    page.fill("#grace_minutes", "0")
    page.click("#launch-button")
    page.wait_for_selector("#progress-bar")
    assert page.locator("#run-state").inner_text() == "active"
    with engine.begin() as connection:  # offices' mail waits for business hours: not here
        connection.execute(outbox.delete().where(outbox.c.recipient_kind == "office"))
        connection.execute(outbox.update().values(not_before=datetime.now(UTC)
                                                  - timedelta(seconds=1)))
    worker = Worker(engine, {"email": FilesTransport(tmp_path / "out", "email"),
                             "sms": FilesTransport(tmp_path / "out", "sms")},
                    Renderer(engine, _roster(), ROOT / "templates",
                             Sender("MJ <team@mj-campaign.org>", "+1", "MJ", "PO Box 1")),
                    options=WorkerOptions(concurrency=1, rates={"email": 8.0}))
    sending = threading.Thread(target=worker.run, kwargs={"once": True})
    sending.start()
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the page polls; no reload here
        seen.append(float(page.locator("#progress-bar").get_attribute("value") or 0))
        if seen[-1] >= 100:
            break
        page.wait_for_timeout(500)
    sending.join()
    assert seen[-1] == 100
    assert any(0 < value < 100 for value in seen)  # it moved while we watched
    assert "sent" in page.locator("#progress-text").inner_text()
    shot(page, "campaign-progress")
    with engine.connect() as connection:
        assert box.state_counts(connection)["sent"] > 0
