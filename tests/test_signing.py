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
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from outreach.campaigns import find_campaign
from outreach.signing import queue_pending_signings
from outreach.store.db import open_store
from outreach.store.schema import outbox, signers, submissions
from outreach.web import create_app
from tests.live_server import LiveServer
from tests.web_helpers import ROOT, web_settings

FORM = {"first_name": "Ana", "last_name": "Lopez", "street": "1421 Arch Street",
        "zip": "19102", "email_opt_in": "yes"}


@pytest.fixture
def server(store) -> Iterator[LiveServer]:
    web = LiveServer(lambda url: create_app(
        web_settings(url, OUTREACH_SESSION_SECRET="s" * 32, OUTREACH_SIGN_RATE="1000/minute"),
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
    with store.connect() as connection:  # one signer: the others' emails are evidence only
        stored = connection.execute(select(signers.c.email, signers.c.phone)).all()
    assert len(stored) == 1 and stored[0].phone == "+12155550190"
    assert count(store, submissions) == 4
