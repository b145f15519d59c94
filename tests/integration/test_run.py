"""Long-running processes, as operators run them: `outreach run` stopped mid-blast and
restarted, and two `outreach scheduler` instances sharing one PostgreSQL database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from outreach.signers.intake import intake
from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.runs import set_run_state
from outreach.store.schema import imports, outbox, scheduler_runs
from outreach.testing.providers import ProviderStandIn, RunningProviders

ROOT = Path(__file__).resolve().parents[2]
QUICK_SCHEDULE = """
[[job]]
name = "inbox"
action = "inbox"
interval = "1s"
[[job]]
name = "match"
action = "match"
interval = "1s"
[[job]]
name = "plan"
action = "plan"
interval = "1s"
[[job]]
name = "maintain"
action = "maintain"
interval = "1s"
[[job]]
name = "roster_check"
action = "roster_check"
cron = "0 3 * * *"
enabled = false
"""
TWO_SCHEDULERS = """
[[job]]
name = "inbox"
action = "inbox"
interval = "1s"
[[job]]
name = "maintain"
action = "maintain"
interval = "2s"
""" + "".join(f"""[[job]]
name = "{name}"
action = "{name}"
interval = "1m"
enabled = false
""" for name in ("match", "plan", "roster_check"))
CAMPAIGN = """
name = "blast"
[sender]
organization = "MJ Campaign"
email_from = "MJ Campaign <team@mj-campaign.org>"
mailing_address = "PO Box 1, Philadelphia, PA 19101"
[audience]
confidence = ["exact", "zip", "city", "ambiguous", "none"]
[[steps]]
name = "welcome_email"
channel = "email"
to = "supporters"
template = "welcome"
"""


def _jobs(tmp_path: Path, schedule: str = QUICK_SCHEDULE) -> Path:
    jobs = tmp_path / "jobs"
    jobs.mkdir(exist_ok=True)
    (jobs / "schedule.toml").write_text(schedule)
    (jobs / "blast.toml").write_text(CAMPAIGN)
    return jobs


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_DATA_DIR": str(ROOT / "data"),
            "OUTREACH_TEMPLATES_DIR": str(ROOT / "templates"),
            "OUTREACH_JOBS_DIR": str(_jobs(tmp_path)),
            "OUTREACH_INBOX_DIR": str(tmp_path / "inbox"),
            "OUTREACH_PUBLIC_URL": "https://mj.example", **extra}


def _drop(inbox: Path, name: str, emails: list[str]) -> None:
    """A settled file in the inbox (written a while ago, as a finished upload is)."""
    inbox.mkdir(exist_ok=True)
    path = inbox / name
    path.write_text("email,zip\n" + "".join(f"{e},19107\n" for e in emails))
    old = time.time() - 60
    os.utime(path, (old, old))


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "outreach.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def _wait(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_run_survives_sigterm_mid_blast_and_imports_the_downtime_inbox_once(tmp_path):
    database = f"sqlite:///{tmp_path / 'o.sqlite3'}"
    engine = open_store(database)
    first = [f"s{i}@example.org" for i in range(150)]
    path = tmp_path / "signers.csv"
    path.write_text("email,zip\n" + "".join(f"{e},19107\n" for e in first))
    intake(path, engine)
    set_run_state(engine, "blast", "active", datetime.now(UTC))
    providers = RunningProviders(ProviderStandIn())
    env = _env(tmp_path, database, OUTREACH_EMAIL_TRANSPORT="sendgrid",
               OUTREACH_SENDGRID_API_KEY=providers.standin.sendgrid_key,
               OUTREACH_SENDGRID_BASE_URL=providers.url, OUTREACH_EMAIL_RATE="40")
    log = tmp_path / "run.log"
    try:
        process = _start(["run", "--concurrency", "4", "--health-every", "1"], env, log)
        _wait(lambda: len(providers.standin.emails) >= 40, 60, "the blast to start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        stopped_at = len(providers.standin.emails)
        assert stopped_at < 150  # it was stopped mid-blast
        with engine.connect() as connection:
            states = box.state_counts(connection)
        assert states["claimed"] == states["sending"] == 0  # released, none in doubt
        late = [f"late{i}@example.org" for i in range(5)]
        _drop(tmp_path / "inbox", "late.csv", late)  # arrives while nothing runs

        process = _start(["run", "--concurrency", "4", "--health-every", "1"], env, log)
        _wait(lambda: len(providers.standin.emails) >= 155, 90, "every welcome to be sent")
        time.sleep(1.5)  # a few more scheduler rounds: nothing more may go out
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        providers.close()
    emails = providers.standin.emails
    assert len(emails) == 155 and providers.standin.duplicates("email", "outreach_id") == 0
    assert {e["to"] for e in emails} == set(first) | set(late)
    with engine.connect() as connection:
        assert box.state_counts(connection)["sent"] == 155
        files = Counter(connection.execute(select(imports.c.file_name)).scalars())
    assert files["late.csv"] == 1
    assert (tmp_path / "inbox" / "processed" / "late.csv").exists()
    assert "health: queue" in log.read_text()
    assert "; workers live 1" in log.read_text()  # its own heartbeat
    assert "setup plugin" not in log.read_text()  # alembic's nine lines of start-up noise
    assert "stopped: " in log.read_text() and "stopped: \n" not in log.read_text()


@pytest.mark.postgres
def test_two_schedulers_on_postgresql_run_each_due_job_once(tmp_path, postgres_server):
    engine = create_engine(postgres_server)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    engine = open_store(postgres_server)
    for n in range(6):
        _drop(tmp_path / "inbox", f"batch{n}.csv", [f"b{n}x{i}@example.org" for i in range(3)])
    env = _env(tmp_path, postgres_server)
    (tmp_path / "jobs" / "schedule.toml").write_text(TWO_SCHEDULERS)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    schedulers = [_start(["scheduler"], env, log) for log in logs]

    def both_ran_a_while() -> bool:
        """Both took a maintain run, and eight fire times (16 s) passed since the first:
        counted from the store, not from the start, which takes seconds on a busy machine
        (a fixed 16 s sleep saw one run, or signalled them before their handlers were set)."""
        with engine.connect() as connection:
            runs = connection.execute(select(scheduler_runs.c.fire_time, scheduler_runs.c.host)
                                      .where(scheduler_runs.c.job == "maintain")).all()
        times = [r.fire_time for r in runs]
        return len({r.host for r in runs}) == 2 and \
            (max(times) - min(times)).total_seconds() >= 14 if times else False

    try:
        _wait(both_ran_a_while, 120, "both schedulers to run the maintain job for 16 s")
    finally:
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=60) for process in schedulers]
    assert codes == [0, 0]
    with engine.connect() as connection:
        files = Counter(connection.execute(select(imports.c.file_name)).scalars())
        runs = connection.execute(select(scheduler_runs.c.job, scheduler_runs.c.fire_time,
                                         scheduler_runs.c.host)
                                  .where(scheduler_runs.c.job == "maintain")).all()
        waiting = connection.execute(select(outbox.c.id)).all()
    assert files == {f"batch{n}.csv": 1 for n in range(6)}  # each file imported once
    fire_times = sorted(r.fire_time for r in runs)
    assert len(fire_times) >= 3
    seconds = [int((t - fire_times[0]).total_seconds()) for t in fire_times]
    assert seconds == list(range(0, 2 * len(seconds), 2))  # each fire time once, no gap
    assert len({r.host for r in runs}) == 2  # both schedulers took part
    raced = sum(log.read_text().count("already ran elsewhere")
                + log.read_text().count("is running on another host") for log in logs)
    assert raced > 0  # they did race for the same runs: the claim or the lock said no
    assert waiting == []
    engine.dispose()
