"""The petition page, signing, the thanks page, the public API and the organizer dashboard,
through FastAPI's test client (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from outreach.signers.match import match as rematch
from outreach.store import workers
from outreach.store.runs import run_states, set_run_state
from outreach.store.schema import outbox, signer_matches, signers
from outreach.web import admin, create_app
from outreach.web.security import hash_password
from tests.heartbeats import age_worker
from tests.web_helpers import web_settings

PUBLIC = "https://act.example.org"
PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html"}
PHILADELPHIA = {"first_name": "Ana", "last_name": "Lopez", "email": "ana@example.org",
                "phone": "", "street": "1421 Arch Street", "zip": "19102",
                "email_opt_in": "yes"}


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def client(store, password_hash):
    settings = web_settings(PUBLIC, OUTREACH_ADMIN_PASSWORD_HASH=password_hash,
                            OUTREACH_API_TOKEN="api-secret", OUTREACH_SESSION_SECRET="s" * 32)
    with TestClient(create_app(settings, engine=store), base_url=PUBLIC) as test_client:
        yield test_client


def csrf_of(client: TestClient, path: str = "/") -> str:
    page = client.get(path, headers=HTML)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign(client: TestClient, **fields: str):
    return client.post("/sign", data={**PHILADELPHIA, **fields, "csrf": csrf_of(client)},
                       headers=HTML, follow_redirects=False)


def test_the_petition_page_has_the_demands_and_unticked_consent_boxes(client):
    page = client.get("/", headers=HTML).text
    assert "Expunge" in page and "Drop" in page and "treatment" in page
    boxes = re.findall(r'<input type="checkbox"[^>]*>', page)
    assert len(boxes) == 2 and not any("checked" in b for b in boxes)
    assert "Reply STOP to cancel" in page and 'name="website"' in page
    for name in ("first_name", "email", "phone", "street", "zip"):
        assert f'<label for="{name}"' in page  # every field has its label


def test_every_page_footer_shows_the_campaigns_own_postal_address(client, store):
    """The tryout: a developer placeholder in the footer although the campaign sets one."""
    campaign = "Marijuana Justice Campaign, PO Box 0000, Washington, DC 20001"
    for path in ("/", "/thanks/received", "/admin/login", "/u/no-such-token"):
        footer = client.get(path, headers=HTML).text.rsplit("<footer", 1)[1]
        assert campaign in footer, path
        assert "OUTREACH_MAILING_ADDRESS" not in footer and "PO Box 1," not in footer


def test_signing_names_the_philadelphia_da_and_queues_the_welcome(client, store):
    answer = sign(client)
    assert answer.status_code == 303
    code = answer.headers["location"].rsplit("/", 1)[1]
    thanks = client.get(answer.headers["location"], headers=HTML).text
    assert "Philadelphia District Attorney" in thanks
    assert 'href="tel:+12156868000"' in thanks
    assert f"{PUBLIC}/?ref={code}" in thanks
    assert "ana@example.org" not in thanks  # the page lives at a shareable address
    with store.connect() as connection:
        steps = {r.step: r.state for r in connection.execute(select(outbox))}
        consent = connection.execute(select(signers.c.email_opt_in,
                                            signers.c.sms_opt_in)).one()
    assert steps["welcome_email"] == "queued" and "call_your_da" in steps
    assert "welcome_sms" not in steps  # no phone, no text
    assert tuple(consent) == (True, False)


def test_a_validation_error_keeps_the_input(client, store):
    answer = sign(client, email="ana@", street="1421 Arch Street")
    assert answer.status_code == 422
    assert 'id="email-error"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="Ana"' in answer.text and 'value="1421 Arch Street"' in answer.text
    texts = sign(client, sms_opt_in="yes")  # texts asked for, no number given
    assert "Enter a mobile number" in texts.text
    with store.connect() as connection:
        assert connection.execute(select(signers.c.id)).all() == []


def test_a_zip_code_no_state_has_is_a_field_error_and_stores_nothing(client, store):
    """The tryout: ZIP 00000 was thanked ("we will write to you when we know") and stored,
    a signer no match could ever place; `outreach lookup 00000` knows it is no ZIP code."""
    for typed in ("00000", "99999-1234"):
        answer = sign(client, zip=typed)
        assert answer.status_code == 422
        assert 'id="zip-error"' in answer.text
        assert "not a ZIP code of the 50 states or DC" in answer.text
        assert f'value="{typed}"' in answer.text  # kept for correcting
    assert sign(client, zip="83702").status_code == 303  # Boise: a ZIP we know
    with store.connect() as connection:
        assert connection.execute(select(signers.c.zip)).scalars().all() == ["83702"]


def test_a_forged_post_without_the_csrf_token_is_refused(client, store):
    answer = client.post("/sign", data=PHILADELPHIA, headers=HTML, follow_redirects=False)
    assert answer.status_code == 403
    other = TestClient(client.app, base_url=PUBLIC)  # a token from another session
    answer = other.post("/sign", data={**PHILADELPHIA, "csrf": csrf_of(client)},
                        headers=HTML, follow_redirects=False)
    assert answer.status_code == 403
    with store.connect() as connection:
        assert connection.execute(select(signers.c.id)).all() == []


def test_thirty_posts_a_minute_from_one_address_are_throttled(client):
    token = csrf_of(client)
    codes = [client.post("/sign", data={**PHILADELPHIA, "email": f"p{i}@example.org",
                                        "csrf": token}, follow_redirects=False).status_code
             for i in range(30)]
    assert codes[:10] == [303] * 10
    assert codes[10:] == [429] * 20


def test_the_honeypot_stores_nothing(client, store):
    answer = sign(client, website="http://spam.example")
    assert answer.status_code == 303 and answer.headers["location"] == "/thanks/received"
    with store.connect() as connection:
        assert connection.execute(select(signers.c.id)).all() == []


def test_an_ambiguous_zip_asks_for_the_county(client, store, geo, by_zip):
    answer = sign(client, email="amb@example.org", street="", zip="30517")  # GA, 4 counties
    thanks = client.get(answer.headers["location"], headers=HTML).text
    assert "Which county do you live in?" in thanks
    # Likeliest first, each with its share of the ZIP (HUD: Jackson County has most homes).
    listed = re.findall(r'name="county" value="(\d{5})" required> ([^<]+?) <span class="hint">'
                        r'\(about (\d+)% of your ZIP code\)', thanks)
    shares = geo.data.shares["30517"]
    assert [fips for fips, _, _ in listed] == sorted(shares.hud, key=lambda f: -shares.hud[f])
    assert listed[0][:2] == ("13157", "Jackson County, GA")
    assert [int(p) for _, _, p in listed] == [round(100 * shares.hud[f]) for f, _, _ in listed]
    county = listed[1][0]  # not the likeliest: the signer's word decides
    code = answer.headers["location"].rsplit("/", 1)[1]
    chosen = client.post(f"/thanks/{code}/county",
                         data={"county": county, "csrf": csrf_of(client)}, headers=HTML,
                         follow_redirects=False)
    assert chosen.status_code == 303
    with store.connect() as connection:
        match = connection.execute(select(signer_matches)).one()
    assert match.county_fips == county and match.felony_office_id
    assert match.confidence == "chosen"  # their word, not a geocoded street address
    assert match.share == 1.0
    rematch(store, geo, rematch_all=True, by_zip=by_zip)  # a roster change: everyone again
    with store.connect() as connection:
        again = connection.execute(select(signer_matches)).one()
    assert (again.county_fips, again.confidence) == (county, "chosen")  # the choice holds
    stranger = TestClient(client.app, base_url=PUBLIC)  # only the signer's browser may
    refused = stranger.post(f"/thanks/{code}/county",
                            data={"county": county, "csrf": csrf_of(stranger)}, headers=HTML)
    assert refused.status_code == 403


def test_a_zip_that_crosses_a_county_line_lets_its_signer_say_they_live_in_the_other_part(
        client, store, geo):
    # Athens 30601: Clarke County holds 97.8% of it, enough to answer from the ZIP; the
    # Oglethorpe and Jackson parts have their own prosecutors.
    answer = sign(client, email="athens@example.org", street="", zip="30601")
    code = answer.headers["location"].rsplit("/", 1)[1]
    thanks = client.get(answer.headers["location"], headers=HTML).text
    assert "Which county do you live in?" not in thanks  # answered, not asked
    assert "Not in Clarke County, GA?" in thanks
    listed = re.findall(r'name="county" value="(\d{5})"', thanks)
    assert listed == [f for f in geo.data.shares["30601"].counties() if f != "13059"]
    assert listed[0] == "13195"  # Madison: the likelier of the other two
    stranger = TestClient(client.app, base_url=PUBLIC)  # another browser sees no form
    assert "Not in" not in stranger.get(answer.headers["location"], headers=HTML).text
    with store.connect() as connection:
        before = connection.execute(select(signer_matches)).one()
    assert (before.county_fips, before.confidence) == ("13059", "zip")
    for county in ("13121", "13059"):  # Fulton is not in the ZIP; Clarke is the answer given
        refused = client.post(f"/thanks/{code}/county",
                              data={"county": county, "csrf": csrf_of(client)},
                              headers=HTML, follow_redirects=False)
        assert refused.status_code == 400
    chosen = client.post(f"/thanks/{code}/county",
                         data={"county": "13195", "csrf": csrf_of(client)}, headers=HTML,
                         follow_redirects=False)
    assert chosen.status_code == 303
    with store.connect() as connection:
        after = connection.execute(select(signer_matches)).one()
    assert (after.county_fips, after.confidence) == ("13195", "chosen")
    assert after.felony_office_id != before.felony_office_id  # Madison is another circuit
    assert "Not in" not in client.get(f"/thanks/{code}", headers=HTML).text  # said once
    # A ZIP wholly in one county offers nothing to correct.
    one = sign(client, email="philly@example.org", zip="19107")
    assert "Not in" not in client.get(one.headers["location"], headers=HTML).text


def test_api_pushes_signers_with_a_token_and_looks_up_addresses(client, store):
    records = [{"First Name": "Bo", "Email Address": "bo@example.org", "Zip": "19107"},
               {"email": "not-an-email", "zip": "19107"},
               {"email": "BO@example.org", "zip": "19107"}]
    assert client.post("/api/signers", json=records).status_code == 401
    assert client.post("/api/signers", json=records,
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.post("/api/signers?source=partner", json={"signers": records},
                         headers={"Authorization": "Bearer api-secret"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["imported"], body["duplicate"], body["rejected"]) == (1, 1, 1)
    assert body["results"][1]["reason"].startswith("email not valid")
    assert "bo@example.org" not in answer.text
    with store.connect() as connection:
        assert connection.execute(select(signers.c.source)).scalars().all() == ["partner"]
        assert connection.execute(select(outbox.c.step).where(
            outbox.c.step == "welcome_email")).scalars().all() == ["welcome_email"]
    lookup = client.get("/api/lookup", params={"address": "1421 Arch Street, Philadelphia, "
                                                          "PA 19102"}).json()
    assert lookup["county_fips"] == "42101"
    assert lookup["offices"][0]["office_name"] == "Philadelphia District Attorney"
    assert client.get("/api/lookup", params={"address": "nowhere at all"}).status_code == 400


def test_an_api_signer_with_a_zip_code_no_state_has_is_kept_without_it_and_warned(client,
                                                                                  store):
    answer = client.post("/api/signers", json=[{"email": "zz@example.org", "zip": "00000"}],
                         headers={"Authorization": "Bearer api-secret"})
    [result] = answer.json()["results"]
    assert result == {"index": 0, "outcome": "imported", "warnings": [
        "ZIP code not one of the 50 states or DC: stored without ZIP"]}
    with store.connect() as connection:
        assert connection.execute(select(signers.c.zip)).scalars().all() == [None]


def _admin_routes() -> list[tuple[str, str]]:
    """Every organizer route: the login router may hold the login page only, everything
    else sits in the router that requires a session (checked here, then walked below)."""
    assert {r.path for r in admin.login_router.routes} == {"/admin/login"}
    routes = []
    for route in admin.pages.routes:
        concrete = route.path.replace("{name}", "marijuana_justice").replace(
            "{action}", "pause").replace("{office_id}", "pa-philadelphia")
        routes.extend((method, concrete) for method in sorted(route.methods or ()))
    return routes


def test_every_admin_route_redirects_to_login_without_a_session(client, store):
    routes = _admin_routes()
    assert len(routes) >= 6
    for method, path in routes:
        answer = client.request(method, path, headers=HTML, follow_redirects=False)
        assert answer.status_code == 303, (method, path)
        assert answer.headers["location"].startswith("/admin/login"), (method, path)
    with store.connect() as connection:
        assert run_states(connection) == {}  # nothing was paused or launched


def login(client: TestClient, password: str = PASSWORD):
    return client.post("/admin/login", data={"password": password, "next": "/admin",
                                             "csrf": csrf_of(client, "/admin/login")},
                       headers=HTML, follow_redirects=False)


def test_signers_by_state_counts_form_signers_under_their_matched_state(client, store):
    """The tryout: the form asks no state, so signers matched to Ada County, ID were counted
    under "?". A signer who gave none counts under the matched county's state, else (a ZIP
    split between counties) the ZIP's; "?" is left for those with neither."""
    for name, zip_code in (("ida", "83702"), ("ike", "83702"), ("gia", "30517")):
        assert sign(client, email=f"{name}@example.org", zip=zip_code).status_code == 303
    pushed = client.post("/api/signers", json=[{"email": "pat@example.org", "state": "PA"},
                                                {"email": "nobody@example.org"}],
                         headers={"Authorization": "Bearer api-secret"})
    assert pushed.json()["imported"] == 2
    assert login(client).status_code == 303
    dashboard = client.get("/admin", headers=HTML).text
    chart = dashboard.split('id="state-h"', 1)[1].split("</svg>", 1)[0]
    bars = re.findall(r'fill="#1a1a1a">([^<]+)</text><rect[^>]*/><text[^>]*>([\d,]+)</text>',
                      chart)
    assert sorted(bars) == [("?", "1"), ("GA", "1"), ("ID", "2"), ("PA", "1")]
    assert bars[0] == ("ID", "2")  # the most signers first


def test_login_dashboard_preview_launch_and_progress(client, store):
    sign(client)
    assert login(client, "wrong").status_code == 403
    assert login(client).status_code == 303
    dashboard = client.get("/admin", headers=HTML).text
    assert "Signers by state" in dashboard and "<svg" in dashboard
    assert "ana@example.org" not in dashboard
    campaign = client.get("/admin/campaigns/marijuana_justice", headers=HTML).text
    assert "Plan preview" in campaign and "a***@example.org" in campaign
    token = csrf_of(client, "/admin/campaigns/marijuana_justice")
    unconfirmed = client.post("/admin/campaigns/marijuana_justice/launch",
                              data={"confirm": "", "csrf": token}, headers=HTML)
    assert unconfirmed.status_code == 400
    launched = client.post("/admin/campaigns/marijuana_justice/launch",
                           data={"confirm": "marijuana_justice", "grace_minutes": "0",
                                 "csrf": token}, headers=HTML, follow_redirects=False)
    assert launched.status_code == 303
    progress = client.get("/admin/campaigns/marijuana_justice/progress").json()
    assert progress["run"] == "active" and progress["total"] >= 3
    assert client.post("/admin/campaigns/marijuana_justice/pause",
                       data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/admin/campaigns/marijuana_justice/progress").json()["run"] == "paused"
    set_run_state(store, "marijuana_justice", "cancelled", datetime.now(UTC))
    for action, data in (("launch", {"confirm": "marijuana_justice", "grace_minutes": "0"}),
                         ("resume", {})):
        refused = client.post(f"/admin/campaigns/marijuana_justice/{action}",
                              data={**data, "csrf": token}, headers=HTML)
        assert refused.status_code == 409 and "was cancelled on" in refused.text, action
    assert client.get("/admin/campaigns/marijuana_justice/progress").json()["run"] == \
        "cancelled"
    # The SMS confirmation texts have no campaign file, yet a hold on them can be lifted.
    lifted = client.post("/admin/campaigns/_consent/resume", data={"csrf": token},
                         follow_redirects=False)
    assert lifted.status_code == 303 and lifted.headers["location"] == "/admin"
    assert client.post("/admin/campaigns/_consent/cancel", data={"csrf": token},
                       follow_redirects=False).status_code == 404


def test_healthz_and_the_dashboard_count_the_sending_workers_by_heartbeat(client, store):
    """What `outreach report` lists, as counts: a monitor sees a dead worker without a shell
    on the host. The public /healthz names no host or worker, and stays 200."""
    none = {"live": 0, "late": 0, "dead": 0}
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "workers": none}
    for worker_id in ("w-live", "w-late", "w-dead", "w-stopped"):
        workers.register(store, worker_id, "sender-7.internal", 4242, datetime.now(UTC))
    workers.mark_stopped(store, "w-stopped", datetime.now(UTC))
    age_worker(store, "w-late", timedelta(seconds=15))  # half of the 30 s limit: late
    age_worker(store, "w-dead", timedelta(minutes=5))
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok",
                             "workers": {"live": 1, "late": 1, "dead": 1}}
    assert "sender-7" not in answer.text and "w-" not in answer.text
    assert login(client).status_code == 303
    line = re.search(r'<p id="workers"[^>]*>(.*?)</p>', client.get("/admin", headers=HTML).text)
    assert line is not None and "live 1 · late 1 · dead 1" in line.group(1)
    assert 'class="error"' in line.group(0)  # a dead worker stands out


def test_dashboard_launch_refuses_a_template_that_raises_as_the_cli_does(
        store, password_hash, tmp_path):
    """One launch check for both paths: every message is rendered before anything is
    queued, so the dashboard refuses (409, plan's one line) what `outreach launch` refuses."""
    import shutil

    from tests.web_helpers import ROOT

    templates, jobs = tmp_path / "templates", tmp_path / "jobs"
    shutil.copytree(ROOT / "templates", templates)
    shutil.copytree(ROOT / "jobs", jobs)
    (templates / "email" / "hello.subject.txt").write_text("Hello")
    (templates / "email" / "hello.txt").write_text("Dear {{ signer.first_name }},\n"
                                                   "Your DA: {{ prosecutor_name }}\n")
    (jobs / "spring.toml").write_text(
        'name = "spring"\n[sender]\norganization = "O"\nemail_from = "O <o@o-campaign.org>"\n'
        'mailing_address = "1 Main St, T"\n[[steps]]\nname = "hello"\nchannel = "email"\n'
        'to = "supporters"\ntemplate = "hello"\n')
    settings = web_settings(PUBLIC, OUTREACH_ADMIN_PASSWORD_HASH=password_hash,
                            OUTREACH_SESSION_SECRET="s" * 32,
                            OUTREACH_TEMPLATES_DIR=str(templates), OUTREACH_JOBS_DIR=str(jobs))
    with TestClient(create_app(settings, engine=store), base_url=PUBLIC) as client:
        sign(client)
        assert login(client).status_code == 303
        token = csrf_of(client, "/admin/campaigns/spring")
        refused = client.post("/admin/campaigns/spring/launch",
                              data={"confirm": "spring", "grace_minutes": "0", "csrf": token},
                              headers=HTML, follow_redirects=False)
        assert refused.status_code == 409
        assert ("campaign spring, step hello, template email/hello.txt line 2: "
                "&#39;prosecutor_name&#39; is undefined" in refused.text
                or "'prosecutor_name' is undefined" in refused.text)
        assert "ana@example.org" not in refused.text  # the recipient masked
        progress = client.get("/admin/campaigns/spring/progress").json()
        assert progress["total"] == 0 and progress["run"] != "active"


# --- the Roster page and names that are current or absent ----------------------------------
DA_SOURCE = "https://phillyda.org/about"


def _store_correction(store, field: str, value: str, as_of: str) -> None:
    from outreach.roster.corrections import Change, apply_import

    apply_import(store, [Change(2, "pa-philadelphia", field, "", value, DA_SOURCE, as_of)],
                 "fix.csv", datetime.now(UTC))


def test_the_roster_page_ranks_gaps_and_takes_a_correction_only_with_its_source(client, store):
    from outreach.store.schema import roster_corrections

    sign(client)  # one Philadelphia signer: their office leads the gaps
    assert login(client).status_code == 303
    roster = client.get("/admin/roster", headers=HTML).text
    rows = re.findall(r'<a href="/admin/roster/([a-z0-9-]+)">', roster)
    assert rows[0] == "pa-philadelphia"
    assert rows[1] == "ca-los-angeles-da"  # no signer: the most people served next
    assert "People served (2020 Census)" in roster and "officeholder stale" in roster
    assert "/admin/roster/tx-harris-county-da" in \
        client.get("/admin/roster?region=TX", headers=HTML).text
    office = client.get("/admin/roster/pa-philadelphia", headers=HTML).text
    assert "(215) 686-8000" in office and "the Philadelphia District Attorney" in office
    assert re.search(r"<td>officeholder</td><td>Larry Krasner</td><td>verified, stale</td>",
                     office)
    token = csrf_of(client, "/admin/roster/pa-philadelphia")
    form = {"field": "phone", "value": "(215) 686-8001", "verified_on": "2026-11-30",
            "csrf": token}
    unsourced = client.post("/admin/roster/pa-philadelphia", data={**form, "source_url": ""},
                            headers=HTML, follow_redirects=False)
    assert unsourced.status_code == 400
    assert "source_url: required for every change" in unsourced.text
    assert 'value="(215) 686-8001"' in unsourced.text  # what was typed is kept
    forged = client.post("/admin/roster/pa-philadelphia",
                         data={**form, "source_url": DA_SOURCE, "csrf": "forged"},
                         headers=HTML, follow_redirects=False)
    assert forged.status_code == 403
    with store.connect() as connection:
        assert connection.execute(select(roster_corrections)).all() == []
    saved = client.post("/admin/roster/pa-philadelphia", data={**form, "source_url": DA_SOURCE},
                        headers=HTML, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/admin/roster/pa-philadelphia?saved=changed"
    after = client.get(saved.headers["location"], headers=HTML).text
    assert "(215) 686-8001" in after and "Saved (changed)" in after
    assert f'href="{DA_SOURCE}"' in after  # the history shows where the value came from
    # The same value again, checked on the phone: a verification, kept with its date.
    confirmed = client.post("/admin/roster/pa-philadelphia",
                            data={**form, "value": "215-686-8001", "verified_on": "2026-12-01",
                                  "source_url": DA_SOURCE}, headers=HTML,
                            follow_redirects=False)
    assert confirmed.headers["location"].endswith("saved=verified")
    with store.connect() as connection:
        stored = connection.execute(select(roster_corrections)
                                    .order_by(roster_corrections.c.id)).all()
    assert [(r.field, r.value, r.old_value, r.as_of, r.file_name) for r in stored] == [
        ("phone", "(215) 686-8001", "(215) 686-8000", "2026-11-30", "dashboard"),
        ("phone", "(215) 686-8001", "(215) 686-8001", "2026-12-01", "dashboard")]


def test_the_thanks_page_names_the_prosecutor_only_while_the_name_is_current(client, store):
    today = datetime.now(UTC).date()
    long_ago = (today - timedelta(days=800)).isoformat()
    _store_correction(store, "officeholder_as_of", long_ago, long_ago)
    answer = sign(client)
    stale = client.get(answer.headers["location"], headers=HTML).text
    heading = re.search(r'<h2 id="da-h">(.*?)</h2>', stale).group(1)
    assert heading == "Your prosecutor is the Philadelphia District Attorney"
    assert "Krasner" not in stale
    assert "to ask\n        the Philadelphia District Attorney to expunge" in stale
    _store_correction(store, "officeholder_as_of", today.isoformat(), today.isoformat())
    client.app.state.outreach.current.expire()
    current = client.get(answer.headers["location"], headers=HTML).text
    heading = re.search(r'<h2 id="da-h">(.*?)</h2>', current).group(1)
    assert heading == "Your prosecutor is Larry Krasner, the Philadelphia District Attorney"
