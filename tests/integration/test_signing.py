"""A signing is one durable unit (issue 14.2; security audit F5, F9): the signer, their
submission, match, referral code and petition steps commit together; simultaneous submissions
of one signer all get a redirect (the same one for the same browser session); a `kill -9` of
`outreach serve` mid-signing loses no welcome; signings whose steps could not be queued (a
broken campaign file) are queued by the scheduler's planning pass."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import select

from outreach.ops.scheduler import ACTIONS, Context, builtin_entries
from outreach.store.db import open_store
from outreach.store.schema import outbox, signer_matches, signers, submissions
from outreach.web import create_app
from tests.live_server import LiveServer
from tests.web_helpers import ROOT, web_settings

FORM = {"first_name": "Ana", "last_name": "Lopez", "street": "1421 Arch Street",
        "zip": "19102", "email_opt_in": "yes"}


@pytest.fixture
def server(store) -> Iterator[LiveServer]:
    web = LiveServer(lambda url: create_app(
        web_settings(url, OUTREACH_SESSION_SECRET="s" * 32, OUTREACH_SIGN_RATE="1000/minute",
                     OUTREACH_API_TOKEN="api-secret"),
        engine=store))
    yield web
    web.close()


def browser(url: str) -> tuple[requests.Session, str]:
    """A browser session that loaded the petition page: (its cookies, its form's CSRF token)."""
    session = requests.Session()
    page = session.get(url + "/", headers={"Accept": "text/html"}, timeout=30)
    return session, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def at_once(url: str, posts: list[tuple[requests.Session, dict[str, str]]]
            ) -> list[tuple[int, str]]:
    """POST /sign for each (session, form) at the same moment: (status, Location) each."""
    start = threading.Barrier(len(posts))

    def post(session: requests.Session, form: dict[str, str]) -> tuple[int, str]:
        start.wait()
        answer = session.post(url + "/sign", data=form, headers={"Accept": "text/html"},
                              allow_redirects=False, timeout=60)
        return answer.status_code, answer.headers.get("location", "")

    with ThreadPoolExecutor(len(posts)) as pool:
        return list(pool.map(lambda p: post(*p), posts))


def count(store, table) -> int:
    with store.connect() as connection:
        return len(connection.execute(select(table.c.id)).all())


def test_a_double_click_gets_the_same_thanks_page_twice(store, server):
    for trial in range(3):  # the audit saw [303, 500] in 5 trials of 5
        session, csrf = browser(server.url)
        form = {**FORM, "email": f"double{trial}@example.org", "csrf": csrf}
        answers = at_once(server.url, [(session, form), (session, form)])
        [(first, where), (second, again)] = answers
        assert (first, second) == (303, 303), answers
        assert where == again and where.startswith("/thanks/") and where != "/thanks/received"
        assert session.get(server.url + where, headers={"Accept": "text/html"},
                           timeout=30).status_code == 200
    assert count(store, signers) == 3 and count(store, submissions) == 6


def test_eight_browsers_with_one_new_email_all_get_a_redirect(store, server):
    browsers = [browser(server.url) for _ in range(8)]
    answers = at_once(server.url, [(session, {**FORM, "email": "crowd@example.org",
                                              "csrf": csrf}) for session, csrf in browsers])
    assert [status for status, _ in answers] == [303] * 8, answers
    places = [where for _, where in answers]
    assert places.count("/thanks/received") == 7  # only the first signer's browser: the code
    assert count(store, signers) == 1 and count(store, submissions) == 8


def test_one_phone_with_different_emails_at_once_all_get_a_redirect(store, server):
    browsers = [browser(server.url) for _ in range(4)]
    answers = at_once(server.url, [
        (session, {**FORM, "email": f"mobile{n}@example.org", "phone": "+1 215 555 0190",
                   "csrf": csrf}) for n, (session, csrf) in enumerate(browsers)])
    assert [status for status, _ in answers] == [303] * 4, answers
    with store.connect() as connection:  # four signatures; the number is stored once only
        stored = connection.execute(select(signers.c.email, signers.c.phone)).all()
    assert len(stored) == 4 and [s.phone for s in stored if s.phone] == ["+12155550190"]
    assert count(store, submissions) == 4


def test_an_organizers_platform_pushing_one_signer_twice_at_once_gets_two_answers(store,
                                                                                 server):
    """The same unique index under POST /api/signers (trusted: the newest row's name wins)."""
    start = threading.Barrier(4)

    def push(n: int) -> int:
        start.wait()
        return requests.post(server.url + "/api/signers", timeout=60,
                             headers={"Authorization": "Bearer api-secret"},
                             json=[{"email": "pushed@example.org", "first_name": f"P{n}",
                                    "zip": "19107"}]).status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(push, range(4))) == [200] * 4
    assert count(store, signers) == 1
    [steps] = welcomed(store).values()
    assert "welcome_email" in steps


def welcomed(store) -> dict[int, list[str]]:
    """signer id -> the petition steps queued for them."""
    with store.connect() as connection:
        rows = connection.execute(select(outbox.c.recipient_id, outbox.c.step).where(
            outbox.c.campaign == "marijuana_justice", outbox.c.recipient_kind == "signer"))
        steps: dict[int, list[str]] = {}
        for row in rows:
            steps.setdefault(int(row.recipient_id), []).append(row.step)
    return {k: sorted(v) for k, v in steps.items()}


def test_a_broken_campaign_file_keeps_the_signature_and_the_plan_job_queues_it_later(
        store, tmp_path):
    jobs = tmp_path / "jobs"
    shutil.copytree(ROOT / "jobs", jobs)
    campaign_file = jobs / "marijuana_justice.toml"
    good = campaign_file.read_text()
    settings = web_settings("https://act.example.org", OUTREACH_SESSION_SECRET="s" * 32,
                            OUTREACH_JOBS_DIR=str(jobs))
    client = TestClient(create_app(settings, engine=store), base_url="https://act.example.org")
    page = client.get("/", headers={"Accept": "text/html"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    # While the signer fills the form, an organizer saves the file with a typo.
    campaign_file.write_text(good.replace('name = "welcome_email"', 'name = welcome_email'))
    answer = client.post("/sign", data={**FORM, "email": "early@example.org", "csrf": csrf},
                         headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] != "/thanks/received"
    assert count(store, signers) == 1 and welcomed(store) == {}

    context = Context(settings, store, {e.name: e for e in builtin_entries(settings)})
    [plan] = [e for e in builtin_entries(settings) if e.action == "plan"]
    now = datetime.now(UTC)
    assert "petition" not in ACTIONS["plan"](context, plan, now)  # still broken: waits
    campaign_file.write_text(good)  # the organizer fixes the file
    assert "steps queued for 1 waiting signings" in ACTIONS["plan"](context, plan, now)
    [steps] = welcomed(store).values()
    assert "welcome_email" in steps and "call_your_da" in steps
    assert "petition" not in ACTIONS["plan"](context, plan, now)  # once


def test_kill_9_of_serve_during_100_signings_loses_no_welcome(store_url, tmp_path):
    """Audit F9: 60 concurrent signatures, kill -9, restart: 33 signers without any message,
    and nothing ever queued them."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OUTREACH_DATABASE_URL": store_url,
           "OUTREACH_DATA_DIR": str(ROOT / "data"),
           "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
           "OUTREACH_JOBS_DIR": str(ROOT / "jobs"), "OUTREACH_PUBLIC_URL": url,
           "OUTREACH_SESSION_SECRET": "s" * 32, "OUTREACH_SIGN_RATE": "10000/minute"}
    log = (tmp_path / "serve.log").open("ab")

    def serve() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "serve", "--port", str(port)], env=env,
            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    return process
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)

    process = serve()
    answered = threading.Semaphore(0)

    def signature(n: int) -> str:
        try:
            session, csrf = browser(url)
            answer = session.post(url + "/sign", data={**FORM, "email": f"k{n}@example.org",
                                                      "csrf": csrf},
                                  headers={"Accept": "text/html"}, allow_redirects=False,
                                  timeout=30)
            answered.release()
            return str(answer.status_code)
        except requests.RequestException as error:
            return type(error).__name__

    try:
        with ThreadPoolExecutor(100) as pool:
            outcomes = [pool.submit(signature, n) for n in range(100)]
            for _ in range(15):  # mid-way: some answered, the rest in flight or waiting
                assert answered.acquire(timeout=60)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            results = [o.result() for o in outcomes]
        process = serve()  # the store opens again after the crash, and takes signatures
        session, csrf = browser(url)
        after = session.post(url + "/sign", data={**FORM, "email": "after@example.org",
                                                 "csrf": csrf}, allow_redirects=False,
                             headers={"Accept": "text/html"}, timeout=30)
        assert after.status_code == 303
    finally:
        process.kill()
        process.wait(timeout=10)
    assert results.count("303") < 100, "the kill came too late to interrupt any signing"
    engine = open_store(store_url)
    with engine.connect() as connection:
        stored = connection.execute(
            select(signers.c.id, signers.c.email_opt_in, signers.c.referral_code,
                   signer_matches.c.confidence)
            .join(signer_matches, signer_matches.c.signer_id == signers.c.id, isouter=True)
        ).all()
    steps = welcomed(engine)
    engine.dispose()
    assert len(stored) >= results.count("303")
    assert all(row.email_opt_in for row in stored)
    missing = [row.id for row in stored if "welcome_email" not in steps.get(row.id, [])]
    assert missing == []  # every stored signer's welcome committed with them
    assert all(row.referral_code and row.confidence for row in stored)
