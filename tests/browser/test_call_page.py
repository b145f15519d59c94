"""The call page in Chromium: from the thanks page to the call page, a press of an outcome
button, and the thank-you (screenshot test-artifacts/call.png). The fixtures are the browser
suite's own."""

from __future__ import annotations

from sqlalchemy import select

from outreach.store.schema import call_outcomes
from tests.browser.test_browser import chromium, page, shot, sign, site  # noqa: F401  (fixtures)


def test_a_signer_calls_and_logs_a_voicemail(site, page):  # noqa: F811
    url, engine = site
    page.goto(url + "/")
    sign(page, first_name="Ana", last_name="Lopez", email="ana.caller@example.org",
         street="1421 Arch Street", zip="19102")
    page.wait_for_url("**/thanks/**")
    page.click("#call-page-link")
    page.wait_for_url("**/call/**")
    assert page.locator("a[href='tel:+12156868000']").count() == 1
    assert "expunge past marijuana convictions" in page.locator(".script").inner_text()
    assert "Ana" not in page.locator("main").inner_text()
    shot(page, "call")
    page.click("button[value='voicemail']")
    page.wait_for_url("**logged=1**")
    assert "your call is counted" in page.locator("#thanks").inner_text()
    shot(page, "call-logged")
    with engine.connect() as connection:
        logged = connection.execute(select(call_outcomes.c.office_id,
                                           call_outcomes.c.outcome)).all()
    assert [tuple(r) for r in logged] == [("pa-philadelphia", "voicemail")]
