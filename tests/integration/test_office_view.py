"""The dashboard's office view (/admin/roster/<office_id>, issue 17.6): its counts follow the
store (a signer, a call, a letter), its stance form records a stance only with a source and
the session's CSRF token (issue 17.1), and its packet download needs a login and gives the
constituents' names and towns, never their emails. Real app, real store (SQLite and
PostgreSQL)."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from outreach.store import outbox as box
from outreach.store.schema import office_stances, outbox, signers
from outreach.web import create_app
from outreach.web.security import hash_password
from tests.pdf_text import one_line, pdf_text
from tests.web_helpers import (
    HTML,
    PASSWORD,
    PUBLIC,
    Clock,
    csrf_of,
    seed_signers,
    sign,
    web_settings,
)

PHILADELPHIA = "pa-philadelphia"
OFFICE = f"/admin/roster/{PHILADELPHIA}"
DA_SOURCE = "https://phillyda.org/news/marijuana-policy"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def app(store, password_hash):
    settings = web_settings(PUBLIC, OUTREACH_SESSION_SECRET="s" * 32,
                            OUTREACH_ADMIN_PASSWORD_HASH=password_hash)
    return create_app(settings, engine=store, clock=Clock(datetime.now(UTC) - timedelta(hours=1)))


@pytest.fixture
def client(app):
    with TestClient(app, base_url=PUBLIC) as test_client:
        yield test_client


def organizer(app) -> TestClient:
    logged_in = TestClient(app, base_url=PUBLIC)
    answer = logged_in.post("/admin/login", data={
        "password": PASSWORD, "next": "/admin", "csrf": csrf_of(logged_in, "/admin/login")},
        headers=HTML, follow_redirects=False)
    assert answer.status_code == 303
    return logged_in


def shown(page: str, element_id: str) -> int:
    found = re.search(rf'<span id="{element_id}">([\d,]+)</span>', page)
    assert found, element_id
    return int(found.group(1).replace(",", ""))


def queue_letters(store, recipients: list[str], template: str = "office_letter") -> None:
    now = datetime.now(UTC)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage(
            "marijuana_justice", "letters", "email", "office", recipient, template,
            {"office_id": recipient.split("/")[0]}, now) for recipient in recipients], now)


def test_the_office_view_counts_follow_signers_calls_and_letters(client, app, store):
    admin = organizer(app)
    before = admin.get(OFFICE, headers=HTML).text
    assert shown(before, "constituents") == 0
    assert shown(before, "calls-total") == 0 and shown(before, "letters-total") == 0
    assert '<desc id="d-cols">0 in all</desc>' in before

    code = sign(client)
    sign(client, email="second@example.org", phone="+12675550143")
    press = client.post(f"/call/{code}", data={
        "office": PHILADELPHIA, "outcome": "spoke", "c": "marijuana_justice",
        "csrf": csrf_of(client, f"/call/{code}")}, headers=HTML, follow_redirects=False)
    assert press.status_code == 303
    with store.connect() as connection:
        ids = [row.id for row in connection.execute(select(signers.c.id))]
    # Two letters to Philadelphia; one to another office and one to an office whose id
    # begins alike, neither of which is Philadelphia's.
    queue_letters(store, [f"{PHILADELPHIA}/{ids[0]}", f"{PHILADELPHIA}/{ids[1]}",
                          f"pa-allegheny/{ids[0]}", f"{PHILADELPHIA}-municipal/{ids[0]}"])
    with store.begin() as connection:
        connection.execute(update(outbox).where(
            outbox.c.recipient_id == f"{PHILADELPHIA}/{ids[0]}").values(state="sent"))

    after = admin.get(OFFICE, headers=HTML).text
    assert shown(after, "constituents") == 2
    assert '<desc id="d-cols">2 in all</desc>' in after  # this week's column of the chart
    assert shown(after, "calls-total") == 1 and shown(after, "calls-spoke") == 1
    assert shown(after, "calls-no_answer") == 0
    assert shown(after, "letters-total") == 2
    assert shown(after, "letters-sent") == 1 and shown(after, "letters-queued") == 1
    assert "<td>office_letter</td>" in after.split('id="letters-by-template"', 1)[1]
    # Counts only: no signer's name, email or phone on the page.
    for private in ("zorabel@example.org", "second@example.org", "Zorabel", "Quixley",
                    "267-555-0142", "2675550142", "1421 Arch"):
        assert private not in after, private
    # The dashboard's calls table links to the office view.
    assert f'href="{OFFICE}"' in admin.get("/admin", headers=HTML).text


def test_the_stance_form_needs_a_source_and_the_csrf_token(app, store):
    admin = organizer(app)
    token = csrf_of(admin, OFFICE)
    form = {"expunge": "yes", "drop": "unknown", "divert": "partial", "stated_on": "2025-03-01",
            "note": "announced at a press conference", "csrf": token}
    unsourced = admin.post(f"{OFFICE}/stance", data={**form, "source_url": ""}, headers=HTML,
                           follow_redirects=False)
    assert unsourced.status_code == 400
    assert "column source_url: required" in unsourced.text
    assert 'value="announced at a press conference"' in unsourced.text  # the input is kept
    forged = admin.post(f"{OFFICE}/stance", data={**form, "source_url": DA_SOURCE,
                                                  "csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    stranger = TestClient(app, base_url=PUBLIC)
    anonymous = stranger.post(f"{OFFICE}/stance", data={**form, "source_url": DA_SOURCE},
                              follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/admin/login")
    with store.connect() as connection:
        assert connection.execute(select(office_stances)).all() == []

    saved = admin.post(f"{OFFICE}/stance", data={**form, "source_url": DA_SOURCE},
                       headers=HTML, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{OFFICE}?saved=stance"
    # An older statement, recorded later: kept in the history, the newer one still stands.
    admin.post(f"{OFFICE}/stance", data={**form, "expunge": "no", "divert": "partial",
                                         "stated_on": "2024-05-01", "note": "",
                                         "source_url": "https://example.org/2024"},
               headers=HTML, follow_redirects=False)
    with store.connect() as connection:
        stored = connection.execute(select(office_stances.c.demand, office_stances.c.stance,
                                           office_stances.c.set_by, office_stances.c.stated_on)
                                    .order_by(office_stances.c.id)).all()
    # Only the demands whose stance changed: drop stayed unknown, divert stayed partial.
    assert [(r.demand, r.stance, r.set_by, r.stated_on.isoformat()) for r in stored] == [
        ("expunge", "yes", "dashboard:admin", "2025-03-01"),
        ("divert", "partial", "dashboard:admin", "2025-03-01"),
        ("expunge", "no", "dashboard:admin", "2024-05-01")]
    page = admin.get(saved.headers["location"], headers=HTML).text
    assert "Saved (stance)" in page
    assert '<span id="stance-expunge">yes</span>' in page  # the newer statement stands
    assert '<span id="stance-drop">unknown</span>' in page
    history = page.split('id="stance-history"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td><td>(\w+)</td><td>(\w+)</td>", history)
    assert rows == [("2025-03-01", "divert", "partial"), ("2025-03-01", "expunge", "yes"),
                    ("2024-05-01", "expunge", "no")]  # newest stated first
    assert f'href="{DA_SOURCE}"' in history and "dashboard:admin" in history
    # Nothing changed: refused with a reason, nothing stored.
    same = admin.post(f"{OFFICE}/stance", data={**form, "source_url": DA_SOURCE},
                      headers=HTML, follow_redirects=False)
    assert same.status_code == 400 and "Nothing to record" in same.text
    # The scoreboard's office page links a logged-in organizer here, and only them.
    public = admin.get(f"/prosecutors/{PHILADELPHIA}", headers=HTML)
    assert f'href="{OFFICE}"' in public.text
    assert public.headers["cache-control"] == "private, no-store"
    anonymous_page = stranger.get(f"/prosecutors/{PHILADELPHIA}", headers=HTML)
    assert f'href="{OFFICE}"' not in anonymous_page.text
    assert anonymous_page.headers["cache-control"].startswith("public")


# (first, last, email, phone, street, city, zip, signed_at)
SIGNERS = [
    ("José", "Muñoz", "jose.munoz@example.org", "+12155550101", "1400 John F Kennedy Blvd",
     "Philadelphia", "19102", "2026-11-02T14:00:00Z"),
    ("Wilhelmina", "Okafor", "w.okafor@example.org", "+12155550102", "1500 Market Street",
     "Philadelphia", "19102", "2026-11-05T09:30:00Z"),
    ("Pat", "Pittman", "pat.pittman@example.org", "+14125550104", "414 Grant Street",
     "Pittsburgh", "15219", "2026-11-03T12:00:00Z"),
]


@pytest.fixture
def seeded(tmp_path, store, geo, by_zip):
    seed_signers(tmp_path / "signers.csv", store, geo, by_zip,
                 ([first, last, email, phone, street, city, "PA", zip_code, signed]
                  for first, last, email, phone, street, city, zip_code, signed in SIGNERS))


def test_the_packet_download_needs_a_login_and_has_names_not_emails(app, seeded):
    stranger = TestClient(app, base_url=PUBLIC)
    for fmt in ("pdf", "csv"):
        refused = stranger.get(f"{OFFICE}/packet?format={fmt}", follow_redirects=False)
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/admin/login")
    admin = organizer(app)
    assert f'href="{OFFICE}/packet?format=pdf"' in admin.get(OFFICE, headers=HTML).text
    answer = admin.get(f"{OFFICE}/packet?format=pdf")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert f'filename="packet-{PHILADELPHIA}.pdf"' in answer.headers["content-disposition"]
    text = one_line(pdf_text(answer.content))
    assert "José Muñoz" in text and "Wilhelmina Okafor" in text and "Philadelphia" in text
    assert "Pat Pittman" not in text  # Pittsburgh's prosecutor is another office
    assert "The 2 constituents" in text
    for _, _, email, phone, street, *_ in SIGNERS:
        assert email not in text and phone[2:] not in text and street not in text
    table = admin.get(f"{OFFICE}/packet?format=csv")
    assert table.status_code == 200 and table.headers["cache-control"] == "no-store"
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(table.text.splitlines()))
    assert sorted((r["first_name"], r["last_name"], r["town"]) for r in rows) == [
        ("José", "Muñoz", "Philadelphia"), ("Wilhelmina", "Okafor", "Philadelphia")]
    assert "@" not in table.text
    assert admin.get(f"{OFFICE}/packet?format=docx").status_code == 400
    assert admin.get("/admin/roster/no-such-office/packet").status_code == 404
