"""Settings, a clock, shared constants and a store snapshot for the web tests."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from outreach.config import Settings
from outreach.geo.locate import Geo
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store.schema import message_events, outbox, send_holds, signers, suppressions

ROOT = Path(__file__).resolve().parent.parent
TWILIO_TOKEN = "test-token"
PUBLIC = "https://act.example.org"
PASSWORD = "correct horse battery staple"  # the organizer's, hashed by each module's fixture
HTML = {"Accept": "text/html"}
# A name, email, phone and street that cannot appear on a page by chance.
SIGNER = {"first_name": "Zorabel", "last_name": "Quixley", "email": "zorabel@example.org",
          "phone": "+12675550142", "street": "1421 Arch Street", "zip": "19102",
          "email_opt_in": "yes"}


class Clock:
    """The app's clock, moved by the test (`clock.now += timedelta(...)`): sessions' ages,
    call days and the scoreboard's cache are read from it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def web_settings(public_url: str, **extra: str) -> Settings:
    env = {"OUTREACH_PUBLIC_URL": public_url, "OUTREACH_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
           "OUTREACH_ORGANIZATION": "MJ Campaign",
           "OUTREACH_MAILING_ADDRESS": "PO Box 1, Philadelphia, PA 19101",
           "OUTREACH_DATA_DIR": str(ROOT / "data"),
           "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
           "OUTREACH_JOBS_DIR": str(ROOT / "jobs"), **extra}
    return Settings.from_env(env)


def snapshot(engine: Engine) -> dict[str, list]:
    """Everything a webhook could change, to prove a refused one changed nothing."""
    with engine.connect() as connection:
        return {table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
                for table in (signers, suppressions, outbox, message_events, send_holds)}


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token of the form on `path` (the page must answer 200)."""
    page = client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def sign(client: TestClient, **fields: str) -> str:
    """Sign through the petition form (SIGNER, with `fields` over it); the signer's code."""
    answer = client.post("/sign", data={**SIGNER, **fields, "csrf": csrf_of(client, "/")},
                         headers=HTML, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


SIGNER_COLUMNS = ["first_name", "last_name", "email", "phone", "address", "city", "state",
                  "zip", "signed_at"]


def seed_signers(path: Path, store: Engine, geo: Geo, by_zip: object,
                 rows: Iterable[Iterable[str]]) -> None:
    """Import rows of SIGNER_COLUMNS through the real intake, then match them."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SIGNER_COLUMNS)
        writer.writerows(rows)
    intake(path, store)
    match(store, geo, by_zip=by_zip)  # type: ignore[arg-type]
