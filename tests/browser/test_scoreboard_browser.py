"""The public scoreboard in headless Chromium (issue 17, "Done when"): /prosecutors shows the
map and the table, a county of a committed office is drawn in the committed color (read from
the element's computed fill), and screenshots go to test-artifacts/. Skips without Chromium,
unless OUTREACH_TEST_BROWSER=required (as .ci/run sets)."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from outreach.cli import cli
from outreach.config import Settings
from outreach.geo.current import build_geo
from outreach.signers.intake import intake
from outreach.signers.match import match
from tests.browser import test_browser
from tests.web_helpers import ROOT

# The other browser tests' fixtures: the browser, the live site and the phone-sized page
# (which fails the test on any refusal by the Content-Security-Policy).
chromium, site, page = test_browser.chromium, test_browser.site, test_browser.page
shot = test_browser.shot

SOURCE = "https://phillyda.org/news/marijuana-policy"


def _css_fill(selector: str) -> str:
    """The committed fill, as the stylesheet gives it (so the test follows a color change)."""
    css = (ROOT / "outreach" / "web" / "static" / "scoreboard.css").read_text()
    color = re.search(rf"\.{selector} \{{ fill: #([0-9a-f]{{6}})", css).group(1)
    return "rgb({}, {}, {})".format(*(int(color[i:i + 2], 16) for i in (0, 2, 4)))


def test_the_scoreboard_draws_a_committed_county_in_the_committed_color(site, page, tmp_path):
    url, engine = site
    database = str(engine.url)
    answer = CliRunner().invoke(cli, [
        "stance", "set", "pa-philadelphia", "--expunge", "yes", "--drop", "yes", "--divert",
        "yes", "--source", SOURCE], env={"OUTREACH_DATABASE_URL": database,
                                          "OUTREACH_DATA_DIR": str(ROOT / "data")})
    assert answer.exit_code == 0, answer.output
    signers = Path(tmp_path / "signers.csv")
    signers.write_text("email,zip\n" + "".join(f"p{i}@example.org,19107\n" for i in range(6)))
    intake(signers, engine)
    match(engine, build_geo(Settings.from_env({"OUTREACH_DATA_DIR": str(ROOT / "data")})))

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url + "/prosecutors")
    chart = page.locator("#county-map")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 1000 and box["height"] > 600  # drawn, full width
    assert page.locator("#county-map path[id^=county-]").count() == 3142
    philadelphia = page.locator("#county-42101")
    committed = _css_fill("s-committed")
    assert philadelphia.evaluate("e => getComputedStyle(e).fill") == committed
    unknown = page.locator("#county-42003")  # Allegheny: nothing recorded
    assert unknown.evaluate("e => getComputedStyle(e).fill") == _css_fill("s-unknown")
    assert philadelphia.locator("title").text_content() == \
        "Philadelphia County, PA: committed to all three; 6 signers"
    assert page.locator("#legend").inner_text().count("count") == 4
    shot(page, "scoreboard")

    table = page.locator("#scoreboard")
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 100
    page.select_option("#state-filter", "PA")
    page.click("form.filter button")
    page.wait_for_url("**/prosecutors?state=PA*")
    row = page.locator("#office-pa-philadelphia")
    assert row.is_visible()
    assert row.locator("td").nth(3).inner_text() == "Yes source"
    page.click("#scoreboard th >> text=Signers")
    page.wait_for_url("**sort=signers**")
    assert page.locator("#scoreboard tbody tr").first.get_attribute("id") == \
        "office-pa-philadelphia"
    shot(page, "scoreboard-table")

    page.set_viewport_size({"width": 420, "height": 900})  # a phone, as the others
    page.goto(url + "/prosecutors/pa-philadelphia")
    assert page.locator('meta[property="og:title"]').get_attribute("content") == \
        "Where the Philadelphia District Attorney stands"
    assert page.locator("#signers").inner_text() == "6"
    shot(page, "scoreboard-office")
