"""Operations: the metrics port, JSON logs, the optional outreach.toml, the scheduler guard."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outreach.config import ConfigError, Settings, secret_names, setting_names
from outreach.ops.metrics import serve_metrics
from outreach.sending.transports.files import FilesTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake
from outreach.store import outbox as box
from tests.web_helpers import ROOT


def test_metrics_show_queue_depth_and_provider_latency(tmp_path, store, roster):
    from outreach.campaigns.render import Renderer, Sender

    path = tmp_path / "s.csv"
    path.write_text("email,zip\n" + "".join(f"m{i}@example.org,19107\n" for i in range(5)))
    intake(path, store)
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "w", "email", "signer", str(i + 1),
                                                "welcome", {}, now) for i in range(5)], now)
        box.enqueue(connection, [box.NewMessage("mj", "later", "email", "signer", "1",
                                                "welcome", {}, now + timedelta(days=3))], now)
    Worker(store, {"email": FilesTransport(tmp_path / "out", "email")},
           Renderer(store, roster, ROOT / "templates",
                    Sender("A <a@x-campaign.org>", "+1", "Org", "PO Box 1")),
           options=WorkerOptions(concurrency=2)).run(once=True)
    server = serve_metrics(0, store)  # `outreach run|serve --metrics-port`
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics",
                                    timeout=10) as response:
            assert response.status == 200
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'outreach_outbox_messages{channel="email",state="sent"} 5.0' in text
    assert 'outreach_outbox_messages{channel="email",state="queued"} 1.0' in text
    assert 'outreach_provider_latency_seconds_count{channel="email",provider="files"}' in text
    assert 'outreach_sends_total{channel="email",outcome="sent"}' in text


def test_json_logs_are_masked_too():
    code = ("import logging; from outreach.privacy import install_log_masking; "
            "install_log_masking(json_lines=True); "
            "logging.getLogger('outreach.x').warning('bounce for %s', 'ana.lopez@example.org')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["message"] == "bounce for a***@example.org"
    assert record["level"] == "WARNING" and record["logger"] == "outreach.x"


def test_config_file_values_with_the_environment_winning(tmp_path: Path):
    config = tmp_path / "outreach.toml"
    config.write_text('database_url = "postgresql+psycopg://db.internal/outreach"\n'
                      'email_rate = 50\nsms_transport = "twilio"\norganization = "File Org"\n')
    settings = Settings.from_env({"OUTREACH_CONFIG": str(config),
                                  "OUTREACH_ORGANIZATION": "Env Org"})
    assert settings.store.database_url == "postgresql+psycopg://db.internal/outreach"
    assert settings.send.email_rate == 50.0 and settings.send.sms_transport == "twilio"
    assert settings.campaigns.organization == "Env Org"
    config.write_text('twilio_auth_token = "abc"\n')
    with pytest.raises(ConfigError, match="secrets come from the environment"):
        Settings.from_env({"OUTREACH_CONFIG": str(config)})
    with pytest.raises(ConfigError, match="no such file"):
        Settings.from_env({"OUTREACH_CONFIG": str(tmp_path / "missing.toml")})


def test_the_sample_deploy_config_loads():
    settings = Settings.from_env({"OUTREACH_CONFIG": str(ROOT / "deploy" / "outreach.toml")})
    assert settings.store.database_url.startswith("postgresql")


@pytest.mark.parametrize(("line", "variable"), [
    ('smtp_url = "smtp://mailer:hunter2@smtp.example.org:587"', "OUTREACH_SMTP_URL"),
    ('database_url = "postgresql+psycopg://outreach:dbpass@db.internal/outreach"',
     "OUTREACH_DATABASE_URL"),
    ('database_url = "postgresql+psycopg://db.internal/outreach?password=dbpass"',
     "OUTREACH_DATABASE_URL"),
    ('sendgrid_base_url = "https://api.example.org/?api_key=abc"', "OUTREACH_SENDGRID_BASE_URL"),
])
def test_credentials_inside_a_url_are_refused_in_the_config_file(tmp_path: Path, line: str,
                                                                  variable: str):
    config = tmp_path / "outreach.toml"
    config.write_text(line + "\n")
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"OUTREACH_CONFIG": str(config)})
    message = str(refused.value)
    key = line.split(" = ")[0]
    assert message == (f"{config}: {key}: a password inside the URL: secrets come from the "
                       f"environment ({variable}), never from a file")
    assert "hunter2" not in message and "dbpass" not in message and "abc" not in message
    # The same URL from the environment is how it is given.
    url = line.split(" = ")[1].strip('"')
    assert Settings.from_env({variable: url}).value(variable) == url


def test_a_key_that_is_not_a_setting_is_refused_with_the_nearest_one(tmp_path: Path):
    config = tmp_path / "outreach.toml"
    config.write_text('databse_url = "sqlite:///x.sqlite3"\n')
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"OUTREACH_CONFIG": str(config)})
    assert str(refused.value) == f"{config}: databse_url: not a setting; did you mean database_url?"
    config.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match=r"colour: not a setting$"):
        Settings.from_env({"OUTREACH_CONFIG": str(config)})


def test_the_secrets_example_lists_every_secret_setting():
    import re

    example = (ROOT / "deploy" / "secrets.env.example").read_text(encoding="utf-8")
    assigned = set(re.findall(r"^(OUTREACH_\w+)=", example, re.MULTILINE))
    shown = set(re.findall(r"^#\s*(OUTREACH_\w+)=", example, re.MULTILINE))
    assert set(secret_names()) <= assigned
    assert {"OUTREACH_SESSION_SECRET", "OUTREACH_ADMIN_PASSWORD_HASH",
            "OUTREACH_API_TOKEN"} <= set(secret_names())
    assert assigned | shown <= setting_names()  # no stale or misspelt name
    assert {"OUTREACH_DATABASE_URL", "OUTREACH_SMTP_URL"} <= shown  # URLs with a password
