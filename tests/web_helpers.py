"""Settings and a store snapshot for the web tests."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from outreach.config import Settings
from outreach.store.schema import message_events, outbox, send_holds, signers, suppressions

ROOT = Path(__file__).resolve().parent.parent
TWILIO_TOKEN = "test-token"


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
