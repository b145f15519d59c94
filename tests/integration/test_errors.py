"""Errors are one line, never a traceback (issue 14.8; tryout step 70, security audit F21,
F24): bad database URLs, campaign files with mistakes, the dashboard's launch form, and a
database that goes away under a running `outreach run`."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from outreach.campaigns.definitions import CampaignError, load_campaign
from outreach.campaigns.planner import plan_active_campaigns
from outreach.cli import cli
from outreach.cli import sending as cli_module
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store.db import open_store
from outreach.store.runs import run_states, set_run_state
from outreach.store.schema import outbox
from outreach.testing.providers import ProviderStandIn, RunningProviders
from outreach.web import create_app
from outreach.web.security import hash_password
from tests.integration.test_run import _env, _start, _wait
from tests.store.test_campaigns import VALID
from tests.web_helpers import web_settings

ROOT = Path(__file__).resolve().parents[2]


def outreach(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The installed command, as an operator runs it (a fresh process: no test's state)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    return subprocess.run([sys.executable, "-m", "outreach.cli", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


# --- the database URL (tryout step 70) ------------------------------------------------------
@pytest.mark.parametrize(("url", "expected"), [
    ("postgres://postgres@127.0.0.1:5432/outreach", "'postgres' is not a database"),
    ("postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:5432/no_such_database_here",
     'database "no_such_database_here" does not exist'),
    ("postgresql+psycopg://postgres@127.0.0.1:1/outreach", "(connection refused)"),
    ("", "OUTREACH_DATABASE_URL is empty"),
    ("sqlite:////nonexistent-folder/sub/outreach.sqlite3", "unable to open database file"),
    ("sqlite:///", "names no file"),  # sqlite:///$DB with DB unset: an in-memory store
    ("sqlite://", "names no file"),
    ("sqlite://outreach.sqlite3", "three slashes"),  # the path read as a host name
    (f"sqlite:///{ROOT / 'README.md'}", "names a file that is not a SQLite database"),
])
def test_a_bad_database_url_is_one_line_without_a_traceback(url, expected):
    done = outreach("report", OUTREACH_DATABASE_URL=url)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("outreach: error: ") and expected in lines[0]
    assert "s3cret-pw" not in done.stderr  # the URL's password is never printed
    if url.startswith("postgresql"):
        assert "OUTREACH_DATABASE_URL" in lines[0]  # says what to fix


# --- the data folder -------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (["lookup", "19102"], "no zip_county.csv, zip_shares.csv, ct_towns.csv, counties.csv"),
    (["roster", "check"], "counties.csv: no such counties file"),
])
def test_a_data_folder_without_the_data_files_is_one_line_naming_the_folder(tmp_path, args,
                                                                            expected):
    """An operator's OUTREACH_DATA_DIR that names the wrong folder is their setting to fix,
    not "unexpected FileNotFoundError ... (a bug)" as it was answered."""
    done = outreach(*args, OUTREACH_DATA_DIR=str(tmp_path),
                    OUTREACH_DATABASE_URL=f"sqlite:///{tmp_path / 'o.sqlite3'}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"outreach: error: {tmp_path}") and expected in lines[0]
    assert "a bug" not in lines[0]


@pytest.mark.parametrize("args", [["roster", "gaps"], ["report"]])
def test_a_reader_that_left_the_pipe_is_no_error(tmp_path, args):
    """`outreach report | head -1`: the reader is gone before the command writes. That is no
    bug to report: nothing on stderr, and the exit status of a process SIGPIPE ended."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    done = subprocess.run([sys.executable, "-m", "outreach.cli", *args], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, timeout=120,
                          env={**clean, "OUTREACH_DATABASE_URL":
                               f"sqlite:///{tmp_path / 'o.sqlite3'}"})
    os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 128 + signal.SIGPIPE


def test_ctrl_c_during_an_intake_is_one_line_and_status_130(tmp_path):
    """Ctrl-C signals the whole process group: each pool worker printed a KeyboardInterrupt
    traceback, then click's "Aborted!" exited 1, the status the README gives bugs."""
    signers = tmp_path / "signers.csv"
    with signers.open("w") as handle:
        handle.write("first_name,last_name,email,zip\n")
        handle.writelines(f"Ana{i},Lee,ana.{i}@example.org,19102\n" for i in range(400_000))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "outreach.cli", "intake", str(signers)], start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**clean, "OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'o.sqlite3'}"})
    time.sleep(4)  # its pool is reading chunks by now (the whole file takes far longer)
    assert process.poll() is None, "the intake ended before the interrupt: use more rows"
    os.killpg(process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    _, err = process.communicate(timeout=60)
    assert err == "outreach: interrupted\n", err
    assert process.returncode == 128 + signal.SIGINT


@pytest.mark.parametrize("args", [["db", "upgrade"], ["worker", "--once"], ["match"],
                                  ["suppress", "list"], ["plan", "marijuana_justice"]])
def test_every_command_reports_an_unreachable_database_in_one_line(args):
    result = CliRunner().invoke(cli, args, env={
        "OUTREACH_DATABASE_URL": "postgresql+psycopg://outreach:pw@127.0.0.1:1/outreach",
        "OUTREACH_JOBS_DIR": str(ROOT / "jobs"), "OUTREACH_PUBLIC_URL": "https://x.example",
        "OUTREACH_MAILING_ADDRESS": "1 Main St"})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip() == (
        "outreach: error: cannot reach the database at postgresql+psycopg://outreach:***@"
        "127.0.0.1:1/outreach (connection refused): start it or fix OUTREACH_DATABASE_URL")


def test_an_unexpected_error_is_one_masked_line_and_the_traceback_is_on_request(
        tmp_path, monkeypatch):
    def broken(connection):  # type: ignore[no-untyped-def]
        raise RuntimeError("no report for ana.lopez@example.org\nsecond line")

    monkeypatch.setattr(cli_module, "outbox_report", broken)
    env = {"OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'o.sqlite3'}"}
    result = CliRunner().invoke(cli, ["report"], env=env)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "outreach: error: unexpected RuntimeError: no report for a***@example.org second line "
        "(a bug; run with OUTREACH_DEBUG=1 for the traceback)"]
    debug = CliRunner().invoke(cli, ["report"], env={**env, "OUTREACH_DEBUG": "1"})
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.output
    assert "ana.lopez" not in debug.output and "a***@example.org" in debug.output


# --- campaign files (security audit F21, tryout step 39) ------------------------------------
def write(folder: Path, text: str, name: str = "spring") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_mistake_of_a_campaign_file_comes_back_at_once(tmp_path):
    text = (VALID.replace('name = "spring"', 'name = "autumn"')
            .replace("[sender]", '[audience]\nstates = ["Virginia"]\n[sender]')
            .replace('template = "welcome"', 'template = "welcome"\ndelay = "2 days"'))
    path = write(tmp_path, text)
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert caught.value.problems == [
        f"{path}: audience.states: 'Virginia' is not a two-letter state code",
        f"{path}: steps[0].delay: '2 days' is not a duration like 3d, 12h or 30m",
        f"{path}: name: 'autumn' must match the file name 'spring'",
    ]
    assert "more)" not in str(caught.value)


@pytest.mark.parametrize(("delay", "message"), [
    ('"999999999999d"', "steps[0].delay: '999999999999d' is too long: at most 3650 days"),
    ('"3651d"', "steps[0].delay: '3651d' is too long: at most 3650 days"),
    ("86400000000", "steps[0].delay: too long: at most 3650 days"),
    ('"-1d"', "steps[0].delay: '-1d' is not a duration like 3d, 12h or 30m"),
    ("-60", "steps[0].delay: must not be negative"),
])
def test_a_delay_out_of_range_is_a_validation_error(tmp_path, delay, message):
    path = write(tmp_path, VALID.replace('template = "welcome"',
                                         f'template = "welcome"\ndelay = {delay}'))
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert str(caught.value) == f"{path}: {message}"


@pytest.mark.parametrize(("content", "message"), [
    (b'name = "spring"\ndescription = ' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
     "not valid TOML: nested too deeply"),
    ('name = "spring"\n'.encode("utf-16"),
     "not UTF-8 text (it is UTF-16) (byte 0xff at position 0): save it as UTF-8"),
    (b'name = "spr\xe9ing"\n', "not UTF-8 text (byte 0xe9 at position 11): save it as UTF-8"),
])
def test_an_unreadable_campaign_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "spring.toml"
    path.write_bytes(content)
    with pytest.raises(CampaignError) as caught:
        load_campaign(path)
    assert str(caught.value) == f"{path}: {message}"


def test_outreach_plan_prints_each_problem_on_its_own_line(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    path = write(jobs, VALID.replace('channel = "email"', 'channel = "fax"')
                 .replace('template = "welcome"', 'template = "welcome"\ndelay = "999999999999d"'))
    result = CliRunner().invoke(cli, ["plan", "spring"], env={
        "OUTREACH_JOBS_DIR": str(jobs),
        "OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'o.sqlite3'}"})
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"outreach: error: {path}: steps[0].channel: Input should be 'email' or 'sms'",
        f"outreach: error: {path}: steps[0].delay: '999999999999d' is too long: at most "
        "3650 days"]


def test_one_bad_campaign_does_not_stop_planning_the_others(tmp_path, store, geo, by_zip,
                                                            caplog):
    """The audit's reproduction: a_first and z_last launched, a new signer, then a_first
    edited to an impossible delay: z_last still queues the new signer's welcome."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    shipped = (ROOT / "jobs" / "marijuana_justice.toml").read_text()
    for name in ("a_first", "z_last"):
        write(jobs, shipped.replace('name = "marijuana_justice"', f'name = "{name}"', 1), name)
    now = datetime.now(UTC)
    for name in ("a_first", "z_last"):
        set_run_state(store, name, "active", now)

    def sign(who: str) -> None:
        path = tmp_path / f"{who}.csv"
        path.write_text(f"email,zip\n{who}@example.org,19107\n")
        intake(path, store)
        match(store, geo, by_zip=by_zip)

    sign("first")
    planned = plan_active_campaigns(store, jobs, geo.roster, now)
    assert set(planned) == {"a_first", "z_last"}
    sign("later")
    broken = shipped.replace('name = "marijuana_justice"', 'name = "a_first"', 1) \
        .replace('delay = "3d"', 'delay = "999999999999d"', 1)
    write(jobs, broken, "a_first")
    with caplog.at_level(logging.WARNING, logger="outreach.planner"):
        again = plan_active_campaigns(store, jobs, geo.roster, now + timedelta(minutes=1))
    assert "a_first" not in again
    assert again["z_last"]["welcome_email"]["queued_now"] == 1  # the new signer's welcome
    [warning] = [r.getMessage() for r in caplog.records if "a_first" in r.getMessage()]
    assert "\n" not in warning and "too long: at most 3650 days" in warning


# --- the dashboard's launch form (security audit F21) ---------------------------------------
PASSWORD = "correct horse battery staple"


@pytest.fixture
def organizer(store):
    settings = web_settings("https://act.example.org",
                            OUTREACH_ADMIN_PASSWORD_HASH=hash_password(PASSWORD),
                            OUTREACH_SESSION_SECRET="s" * 32)
    with TestClient(create_app(settings, engine=store),
                    base_url="https://act.example.org") as client:
        def csrf(path: str) -> str:
            page = client.get(path, headers={"Accept": "text/html"}).text
            return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]

        client.post("/admin/login", data={"password": PASSWORD, "next": "/admin",
                                          "csrf": csrf("/admin/login")},
                    follow_redirects=False)
        yield client, csrf("/admin/campaigns/marijuana_justice")


@pytest.mark.parametrize("grace", ["1000000000000000", "1e15", "-5", "ten", "10081"])
def test_the_launch_forms_grace_period_is_bounded(organizer, store, grace):
    client, token = organizer
    answer = client.post("/admin/campaigns/marijuana_justice/launch",
                         data={"confirm": "marijuana_justice", "grace_minutes": grace,
                               "csrf": token}, headers={"Accept": "text/html"})
    assert answer.status_code == 400
    assert "a whole number from 0 to 10080" in answer.text
    with store.connect() as connection:
        assert run_states(connection) == {}  # nothing was launched


# --- the database goes away under `outreach run` (security audit F24) -----------------------
@pytest.mark.postgres
def test_run_waits_for_a_lost_database_and_sends_every_message_once(tmp_path,
                                                                     postgres_server):
    """Connections terminated and refused for 3 s mid-blast, with sends in flight: the process
    logs one line per retry, carries on when the database is back, records the calls that
    ended during the outage, and sends every message exactly once."""
    reset = create_engine(postgres_server)
    with reset.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    reset.dispose()
    engine = open_store(postgres_server)
    count = 120
    path = tmp_path / "signers.csv"
    path.write_text("email,zip\n" + "".join(f"s{i}@example.org,19107\n" for i in range(count)))
    intake(path, engine)
    set_run_state(engine, "blast", "active", datetime.now(UTC))
    engine.dispose()
    database = postgres_server.rsplit("/", 1)[1]
    admin = create_engine(postgres_server.rsplit("/", 1)[0] + "/postgres",
                          isolation_level="AUTOCOMMIT")
    providers = RunningProviders(ProviderStandIn(latency=0.3))
    env = _env(tmp_path, postgres_server, OUTREACH_EMAIL_TRANSPORT="sendgrid",
               OUTREACH_SENDGRID_API_KEY=providers.standin.sendgrid_key,
               OUTREACH_SENDGRID_BASE_URL=providers.url)
    log = tmp_path / "run.log"
    process = _start(["run", "--concurrency", "8", "--health-every", "1"], env, log)
    try:
        _wait(lambda: len(providers.standin.emails) >= 20, 60, "the blast to start")
        with admin.connect() as connection:  # the database goes away
            connection.execute(text(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false"))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :name AND pid <> pg_backend_pid()"),
                               {"name": database})
        time.sleep(3)
        assert process.poll() is None  # still running, waiting for it
        with admin.connect() as connection:  # and comes back
            connection.execute(text(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"))
        engine = create_engine(postgres_server)

        def all_sent() -> bool:
            with engine.connect() as connection:
                return box.state_counts(connection)["sent"] == count

        _wait(all_sent, 90, "every message to be sent and recorded")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"))
        providers.close()
    accepted = [e["outreach_id"] for e in providers.standin.emails]
    assert len(accepted) == len(set(accepted)) == count  # every message once
    with engine.connect() as connection:
        states = dict(connection.execute(select(outbox.c.state, outbox.c.id)).all())
    assert set(states) == {"sent"}
    written = log.read_text()
    assert "Traceback" not in written, written
    assert "database unreachable while claiming" in written
    assert "database unreachable while recording" in written  # in-flight calls kept
    assert "database reachable again" in written
    engine.dispose()
    admin.dispose()


@pytest.mark.parametrize("url", ["postgresql:/user:s3cret@host/db",
                                 "postgresql//user:s3cret@host/db",
                                 "postgresql+psycopg://user:s3cret@host:5432/db",
                                 "mysql+nosuchdriver://user:s3cret@host/db"])
def test_a_database_password_is_never_printed_however_broken_the_url(url):
    from outreach.store.db import StoreError, open_store, shown_url

    assert "s3cret" not in shown_url(url)
    try:
        open_store(url).dispose()
    except StoreError as error:
        assert "s3cret" not in str(error)
    result = CliRunner().invoke(cli, ["report"], env={"OUTREACH_DATABASE_URL": url})
    assert result.exit_code == 2 and "s3cret" not in result.output


# --- a port another process holds (tryout) -------------------------------------------------
@pytest.mark.parametrize(("command", "option"), [("serve", "--port"),
                                                 ("run", "--metrics-port")])
def test_a_port_in_use_is_one_line_before_the_store_opens(tmp_path, command, option):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = outreach(command, option, str(port),
                        OUTREACH_DATABASE_URL=f"sqlite:///{tmp_path / 'o.sqlite3'}")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"outreach: error: cannot listen on 127.0.0.1:{port} ({option}): Address already in "
        f"use: another process holds it (an earlier start still running?); stop it or pick "
        f"another {option}")
    if command == "serve":  # stopped before the store (uvicorn's bind came after the roster)
        assert len(done.stderr.splitlines()) == 1
        assert not (tmp_path / "o.sqlite3").exists()
