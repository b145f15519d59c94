"""The public scoreboard through the app's test client: /prosecutors (the map and the table,
whole without script) and /prosecutors/<office_id> (shareable), counts under 5 shown as
"fewer than 5", sorting by links, 404s (issue 17.4). The browser test draws the same page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from outreach.roster import stances
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store.calls import record_outcome
from outreach.store.schema import signers
from outreach.web import create_app, scoreboard
from tests.web_helpers import HTML, PUBLIC, Clock, web_settings

SOURCE = "https://phillyda.org/news/marijuana-policy"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(store, clock):
    with TestClient(create_app(web_settings(PUBLIC), engine=store, clock=clock),
                    base_url=PUBLIC) as test_client:
        yield test_client


def add_signers(store, geo, by_zip, tmp_path: Path, zips: list[str]) -> None:
    """Signers through the real intake and matching, one per ZIP given."""
    path = tmp_path / f"signers-{len(list(tmp_path.glob('signers-*')))}.csv"
    path.write_text("first_name,last_name,email,zip\n" + "".join(
        f"Zed{i},Quartermain{i},zed{i}.{path.stem}@example.org,{z}\n"
        for i, z in enumerate(zips)))
    intake(path, store)
    match(store, geo, by_zip=by_zip)


def set_stance(store, office_id: str, on: str = "2026-11-30", **asked: str) -> None:
    with store.begin() as connection:
        current = stances.current_stances(connection)
        plan = stances.plan_changes(office_id, asked, SOURCE, on, "said at a forum",
                                    current=current, office_ids={office_id},
                                    today=NOW.date())
        assert plan.errors == []
        stances.record(connection, plan.changes, "cli:organizer-only", NOW)


def table_rows(page: str) -> list[str]:
    """The office ids of the table's rows, in order."""
    return re.findall(r'<tr id="office-([a-z0-9-]+)">', page)


def row_cells(page: str, office_id: str) -> list[str]:
    row = re.search(rf'<tr id="office-{office_id}">(.*?)</tr>', page, re.S)
    assert row, office_id
    return [unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def county_group(page: str, fips: str) -> str:
    """The stance class of the map group a county is drawn in."""
    position = page.index(f'id="county-{fips}"')
    return re.findall(r'<g class="s-([a-z_]+)">', page[:position])[-1]


def county_title(page: str, fips: str) -> str:
    found = re.search(rf'id="county-{fips}" d="[^"]*"><title>([^<]*)</title>', page)
    assert found, fips
    return unescape(found.group(1))


def test_the_page_is_a_map_and_a_table_without_any_script(client):
    answer = client.get("/prosecutors", headers=HTML)
    assert answer.status_code == 200
    page = answer.text
    assert "<script" not in page  # nothing to run: the server drew it all
    assert page.count('<path id="county-') == 3142  # every shape of the atlas
    assert '<ul class="legend"' in page
    for label in scoreboard.LEGEND.values():
        assert label in page  # the legend's words, not only its colors
    rows = table_rows(page)
    assert len(rows) == scoreboard.PAGE_SIZE and rows[0].startswith("ak-")  # by state
    assert "Offices 1–100 of " in page and "No calls recorded yet." in page
    assert "No prosecutor yet. Yours could be the first." in page
    assert 'href="/prosecutors?page=2#offices"' in page  # the next page is a link
    # Every county starts unknown, its hover text in words.
    assert county_group(page, "42101") == "unknown"
    assert county_title(page, "42101") == \
        "Philadelphia County, PA: not known yet; fewer than 5 signers"


def test_counts_under_five_read_fewer_than_five(client, store, geo, by_zip, tmp_path):
    add_signers(store, geo, by_zip, tmp_path, ["19102"] * 3 + ["15213"] * 6)
    page = client.get("/prosecutors?state=PA", headers=HTML).text
    philadelphia = row_cells(page, "pa-philadelphia")
    assert philadelphia[-2] == "fewer than 5"  # three signers: not "3"
    assert row_cells(page, "pa-allegheny")[-2] == "6"
    assert county_title(page, "42101").endswith("fewer than 5 signers")
    assert county_title(page, "42003").endswith("; 6 signers")  # Allegheny County
    office = client.get("/prosecutors/pa-philadelphia", headers=HTML).text
    assert re.search(r'id="signers">fewer than 5<', office)
    assert "Fewer than 5 constituents have signed" in office
    for text in (page, office):  # counts only, never who
        assert "Quartermain" not in text and "@example.org" not in text


def test_sorting_is_by_links_and_ranks_every_count_under_five_alike(client, store, geo,
                                                                     by_zip, tmp_path):
    add_signers(store, geo, by_zip, tmp_path, ["15213"] * 5 + ["19102"] * 4)
    set_stance(store, "pa-lancaster", expunge="yes", drop="yes", divert="yes")
    page = client.get("/prosecutors?state=PA", headers=HTML).text
    header = re.search(r'<th scope="col"[^>]*><a href="([^"]+)#offices">Signers', page)
    assert header and unescape(header.group(1)) == "/prosecutors?sort=signers&dir=desc&state=PA"
    by_signers = client.get(unescape(header.group(1)), headers=HTML).text
    rows = table_rows(by_signers)
    assert rows[0] == "pa-allegheny"  # 5 signers
    # Philadelphia's 4 rank with the zeros (alphabetical among them), not second.
    assert rows[1:3] == ["pa-adams", "pa-armstrong"]
    assert 'aria-sort="descending"' in by_signers
    again = unescape(re.search(r'<a href="([^"]+)#offices">Signers', by_signers).group(1))
    assert again == "/prosecutors?sort=signers&dir=asc&state=PA"  # a second click flips it
    assert table_rows(client.get(again, headers=HTML).text)[-1] == "pa-allegheny"
    by_expunge = table_rows(client.get("/prosecutors?sort=expunge&dir=desc&state=PA",
                                       headers=HTML).text)
    assert by_expunge[0] == "pa-lancaster"
    names = table_rows(client.get("/prosecutors?sort=office&state=PA", headers=HTML).text)
    assert names[0] == "pa-adams" and len(names) == 67  # Pennsylvania's 67 DAs on one page


def test_bad_table_addresses_are_refused_in_words(client):
    assert client.get("/prosecutors?sort=email", headers=HTML).status_code == 400
    assert client.get("/prosecutors?dir=sideways", headers=HTML).status_code == 400
    answer = client.get("/prosecutors?state=XX", headers=HTML)
    assert answer.status_code == 400 and "not a state of the roster" in answer.text
    assert client.get("/prosecutors?page=999", headers=HTML).status_code == 404
    assert client.get("/prosecutors?page=two", headers=HTML).status_code == 404
    assert client.get("/prosecutors?state=de&page=1", headers=HTML).status_code == 200


def test_a_committed_office_is_drawn_committed_at_once(client, store):
    assert county_group(client.get("/prosecutors", headers=HTML).text, "42101") == "unknown"
    set_stance(store, "pa-philadelphia", expunge="yes", drop="yes", divert="yes")
    set_stance(store, "pa-allegheny", expunge="partial")
    page = client.get("/prosecutors", headers=HTML).text  # within the cache's minute
    assert county_group(page, "42101") == "committed"
    assert county_group(page, "42003") == "partial"
    assert county_title(page, "42101").startswith("Philadelphia County, PA: committed to all")
    assert re.search(r'Committed to all three <span class="hint">\(1 county\)', page)
    named = re.search(r'<section aria-labelledby="committed-h".*?</section>', page, re.S).group(0)
    assert '<a href="/prosecutors/pa-philadelphia">Philadelphia District Attorney</a>' in named
    assert "Allegheny" not in named and "1 more has committed to part" in named
    cells = row_cells(client.get("/prosecutors?state=PA", headers=HTML).text,
                      "pa-philadelphia")
    assert cells[3:6] == ["Yes source"] * 3  # each demand's stance with its source


def test_the_office_page_is_shareable(client, store):
    set_stance(store, "pa-philadelphia", on="2026-01-15", expunge="no")
    set_stance(store, "pa-philadelphia", expunge="yes", drop="yes", divert="yes")
    answer = client.get("/prosecutors/pa-philadelphia", headers=HTML)
    assert answer.status_code == 200
    page = answer.text
    og = dict(re.findall(r'<meta property="og:([a-z_]+)" content="([^"]*)">', page))
    assert og["url"] == f"{PUBLIC}/prosecutors/pa-philadelphia"  # OUTREACH_PUBLIC_URL
    assert og["type"] == "website"
    assert og["title"] == "Where the Philadelphia District Attorney stands"
    assert unescape(og["description"]).startswith(
        "The Philadelphia District Attorney has committed to all three demands "
        "(expunge: yes; drop: yes; divert: yes).")
    assert f'<link rel="canonical" href="{PUBLIC}/prosecutors/pa-philadelphia">' in page
    for demand in ("expunge", "drop", "divert"):
        item = re.search(rf'<li id="demand-{demand}">(.*?)</li>', page, re.S).group(1)
        assert ">Yes<" in item and f'href="{SOURCE}"' in item and "2026-11-30" in item
    history = re.search(r'<table id="history">(.*?)</table>', page, re.S).group(1)
    assert history.count("<tr>") == 1 + 4  # the header, then every statement, newest first
    assert history.index("2026-11-30") < history.index("2026-01-15")
    assert "said at a forum" in history
    assert "organizer-only" not in page  # who recorded it is the dashboard's business
    assert '<a class="button" href="/">Sign the petition</a>' in page


def test_an_unknown_office_is_a_404(client):
    answer = client.get("/prosecutors/pa-nowhere", headers=HTML)
    assert answer.status_code == 404 and "no prosecutor" in answer.text
    assert client.get("/prosecutors/pa-nowhere").json() == {
        "detail": "We have no prosecutor's office at this address."}


def test_calls_show_once_calls_are_logged(client, store, clock, geo, by_zip, tmp_path):
    page = client.get("/prosecutors?state=PA", headers=HTML).text
    assert row_cells(page, "pa-philadelphia")[-1] == "none yet"
    assert "No calls recorded yet." in page
    add_signers(store, geo, by_zip, tmp_path, ["19102"] * 7 + ["15219"] * 2)
    with store.begin() as connection:
        ids = [row.id for row in connection.execute(select(signers.c.id).order_by(signers.c.id))]
        for signer_id in ids[:7]:
            record_outcome(connection, signer_id, "pa-philadelphia", None, "spoke",
                           NOW.date(), NOW)
        for signer_id in ids[7:]:
            record_outcome(connection, signer_id, "pa-allegheny", None, "voicemail",
                           NOW.date(), NOW)
    clock.now += timedelta(seconds=scoreboard.CACHE_SECONDS)  # the minute's counts expire
    page = client.get("/prosecutors?state=PA", headers=HTML).text
    assert row_cells(page, "pa-philadelphia")[-1] == "7"
    assert row_cells(page, "pa-allegheny")[-1] == "fewer than 5"
    assert "No calls recorded yet." not in page
    office = client.get("/prosecutors/pa-philadelphia", headers=HTML).text
    assert re.search(r'id="calls">7<', office)


def test_the_page_goes_gzipped_to_a_browser_that_takes_it(client):
    plain = client.get("/prosecutors", headers={**HTML, "Accept-Encoding": "identity"})
    assert plain.headers.get("content-encoding") is None
    packed = client.get("/prosecutors", headers={**HTML, "Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.num_bytes_downloaded < len(plain.content) / 3
    assert packed.content == plain.content  # the client unpacked it: the same page
    assert "frame-ancestors 'none'" in packed.headers["content-security-policy"]
