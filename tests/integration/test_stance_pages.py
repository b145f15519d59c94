"""Issue 17's first "done when": once `pa-philadelphia` is recorded yes on all three demands
(with a source), a Philadelphia signer's thanks page and welcome email thank the DA, while a
Pittsburgh signer's press theirs. Signed on the real form, recorded with the real command,
sent by the real worker to the files transport."""

from __future__ import annotations

import email
import email.policy
import re

from click.testing import CliRunner
from fastapi.testclient import TestClient

from outreach.cli import cli
from outreach.ops.wiring import build_worker
from outreach.web import create_app
from tests.web_helpers import HTML, PUBLIC, ROOT

SOURCE = "https://phillyda.org/news/marijuana-policy"
PHILADELPHIA = {"first_name": "Victoria", "last_name": "Vance", "email": "victoria@example.org",
                "phone": "", "street": "1421 Arch Street", "zip": "19102",
                "email_opt_in": "yes"}
PITTSBURGH = {"first_name": "Pat", "last_name": "Park", "email": "pat@example.org",
              "phone": "", "street": "436 Grant Street", "zip": "15219", "email_opt_in": "yes"}


def sign(app, fields: dict[str, str]) -> tuple[TestClient, str]:
    """A browser of its own signs; its thanks page's address."""
    browser = TestClient(app, base_url=PUBLIC)
    page = browser.get("/", headers=HTML)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = browser.post("/sign", data={**fields, "csrf": csrf}, headers=HTML,
                          follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser, answer.headers["location"]


def stance_set(store_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["stance", "set", *args], env={
        "OUTREACH_DATABASE_URL": store_url, "OUTREACH_DATA_DIR": str(ROOT / "data")})


def welcome_emails(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """recipient -> the text of the welcome email the files transport wrote."""
    found = {}
    for path in sorted((settings.send.outbox_dir / "email").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if "thank you for standing up" in str(message["Subject"]):
            found[str(message["To"])] = message.get_body(("plain",)).get_content()
    return found


def prosecutor_card(page: str) -> str:
    return " ".join(page[page.index('id="your-prosecutor"'):page.index("share-h")].split())


def test_a_committed_da_is_thanked_and_one_who_has_not_is_pressed(store, store_url, settings,
                                                                  daytime):
    app = create_app(settings, engine=store)
    philadelphia, philadelphia_page = sign(app, PHILADELPHIA)
    pittsburgh, pittsburgh_page = sign(app, PITTSBURGH)
    before = prosecutor_card(philadelphia.get(philadelphia_page, headers=HTML).text)
    assert 'data-stance="unknown"' in before and "I'm calling to ask" in before

    recorded = stance_set(store_url, "pa-philadelphia", "--expunge", "yes", "--drop", "yes",
                          "--divert", "yes", "--source", SOURCE, "--on", "2026-12-01")
    assert recorded.exit_code == 0, recorded.output

    thanked = prosecutor_card(philadelphia.get(philadelphia_page, headers=HTML).text)
    assert 'data-stance="committed"' in thanked
    assert "They have committed to all three:" in thanked
    assert f'<a href="{SOURCE}" rel="noopener">source</a>' in thanked
    script = thanked[thanked.index('class="script"'):]
    assert "I'm calling to thank " in script and "for committing to expunge past marijuana " \
        "convictions, drop pending low-level marijuana cases and send non-violent drug " \
        "offenders to treatment and diversion instead of jail" in script
    pressed = prosecutor_card(pittsburgh.get(pittsburgh_page, headers=HTML).text)
    assert "Allegheny County District Attorney" in pressed
    assert 'data-stance="unknown"' in pressed
    assert "to thank" not in pressed and "have committed" not in pressed
    assert "I'm calling to ask" in pressed and "expunge past marijuana convictions" in pressed

    # The form queued each signer's welcome; the worker renders it now, with the stance.
    build_worker(settings, 1, engine=store).run(once=True)
    sent = welcome_emails(settings)
    assert set(sent) == {"victoria@example.org", "pat@example.org"}
    victoria = " ".join(sent["victoria@example.org"].split())
    assert "Your prosecutor is the Philadelphia District Attorney" in victoria
    assert f"Good news: your prosecutor has committed to all three ({SOURCE})" in victoria
    assert "Please thank them" in victoria and "is grateful for these three changes" in victoria
    pat = " ".join(sent["pat@example.org"].split())
    assert "Your prosecutor is the Allegheny County District Attorney" in pat
    assert "has not committed to any of the three yet" in pat
    assert "Call (412) 350-4400 and say you are a constituent who wants these three changes" \
        in pat
    assert "thank them" not in pat.lower()


def test_a_partial_commitment_names_the_demands_still_open(store, store_url, settings,
                                                           daytime):
    app = create_app(settings, engine=store)
    browser, page = sign(app, PITTSBURGH)
    assert stance_set(store_url, "pa-allegheny", "--drop", "yes", "--divert", "no", "--source",
                      SOURCE, "--on", "2026-12-01").exit_code == 0
    card = prosecutor_card(browser.get(page, headers=HTML).text)
    assert 'data-stance="partial"' in card
    assert "They have committed to drop pending low-level marijuana cases, but not yet to " \
           "expunge past marijuana convictions and send non-violent drug offenders to " \
           "treatment and diversion instead of jail" in card
    assert "I'm calling to thank the Allegheny County District Attorney for committing to drop " \
           "pending low-level marijuana cases, and to ask them to also expunge past marijuana " \
           "convictions and send non-violent drug offenders" in card
    build_worker(settings, 1, engine=store).run(once=True)
    pat = " ".join(welcome_emails(settings)["pat@example.org"].split())
    assert "Your prosecutor has committed to drop pending low-level marijuana cases " \
           f"({SOURCE}), but not yet to expunge past marijuana convictions and send " \
           "non-violent drug offenders to treatment and diversion instead of jail." in pat
    assert "wants them to expunge past marijuana convictions and send non-violent drug " \
           "offenders to treatment and diversion instead of jail too" in pat
