"""The worker: every message sent once, or failed/unknown with a reason; paced; safe to stop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from outreach.campaigns.render import Renderer, Sender
from outreach.sending.gate import Decision, FunctionGate
from outreach.sending.transports.files import FilesTransport
from outreach.sending.transports.sendgrid import SendGridTransport
from outreach.sending.transports.twilio import TwilioTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store.reports import outbox_report
from outreach.store.runs import set_run_state
from outreach.store.schema import outbox
from outreach.testing.providers import ProviderStandIn, RunningProviders

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SENDER = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X",
                "https://mj.example")


@pytest.fixture
def providers() -> Iterator[RunningProviders]:
    running = RunningProviders(ProviderStandIn(stall_seconds=1.0))
    yield running
    running.close()


@pytest.fixture
def add_signers(geo, by_zip):
    def add(tmp_path: Path, store, count: int) -> None:
        rows = ["first_name,email,phone,zip,sms_opt_in"] + [
            f"N{i},n{i}@example.org,+1215555{i:04d},19107,yes" for i in range(count)]
        path = tmp_path / "signers.csv"
        path.write_text("\n".join(rows) + "\n")
        intake(path, store)
        match(store, geo, by_zip=by_zip)

    return add


def plan(store, count: int, channel: str = "email", step: str = "welcome") -> None:
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", step, channel, "signer", str(i + 1),
                                                "welcome", {}, now) for i in range(count)], now)


def make_worker(store, roster, transports, **options) -> Worker:
    options.setdefault("concurrency", 8)
    options.setdefault("backoff_base_seconds", 0.01)
    options.setdefault("backoff_cap_seconds", 0.05)
    return Worker(store, transports, Renderer(store, roster, TEMPLATES, SENDER),
                  options=WorkerOptions(**options))


def drain(*workers: Worker, deadline: float = 30.0) -> None:
    """Run the workers until nothing is queued or waiting for a retry."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with workers[0].engine.connect() as connection:
            counts = box.state_counts(connection)
        if counts["queued"] + counts["retry"] + counts["claimed"] + counts["sending"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"outbox not drained: {counts}")


def states(store) -> dict[int, tuple[str, str | None]]:
    with store.connect() as connection:
        return {r.id: (r.state, r.last_error) for r in
                connection.execute(select(outbox.c.id, outbox.c.state, outbox.c.last_error))}


def test_files_transport_sends_each_message_once(add_signers, tmp_path, store, roster):
    add_signers(tmp_path, store, 5)
    plan(store, 5)
    plan(store, 5, channel="sms")
    transports = {"email": FilesTransport(tmp_path / "out", "email"),
                  "sms": FilesTransport(tmp_path / "out", "sms")}
    worker = make_worker(store, roster, transports)
    stats = worker.run(once=True)
    assert stats["sent"] == 10
    assert len(list((tmp_path / "out" / "email").glob("*.eml"))) == 5
    assert len((tmp_path / "out" / "sms.jsonl").read_text().splitlines()) == 5
    text = next((tmp_path / "out" / "email").glob("*.eml")).read_text()
    assert "Philadelphia District Attorney" in text  # rendered from the signer's match
    plan(store, 5)  # planning again adds nothing, sending again sends nothing
    assert make_worker(store, roster, transports).run(once=True)["sent"] == 0


def test_two_workers_under_a_fault_mix_send_each_message_exactly_once(
        add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 150)
    plan(store, 150)
    providers.standin.random_faults = {"500": 0.10, "429": 0.05, "stall": 0.02}
    transport = SendGridTransport(providers.standin.sendgrid_key, providers.url, timeout=0.5)
    first = make_worker(store, roster, {"email": transport})
    second = make_worker(store, roster, {"email": transport})
    drain(first, second, deadline=90)
    final = states(store)
    accepted = [e["outreach_id"] for e in providers.standin.emails]
    assert len(accepted) == len(set(accepted))  # never twice
    for row_id, (state, error) in final.items():
        assert state in ("sent", "unknown", "failed"), (row_id, state)
        if state == "sent":
            assert str(row_id) in accepted
        else:
            assert error  # with a reason
    assert sum(1 for s, _ in final.values() if s == "sent") >= 120
    assert first.stats["retry"] + second.stats["retry"] > 0  # the faults did happen


def test_twilio_unsubscribed_number_is_suppressed_for_later_messages(
        add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 2)
    providers.standin.unsubscribed_numbers.add("+12155550000")
    plan(store, 2, channel="sms")
    transport = TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                                from_number="+12155550199", base_url=providers.url, timeout=1)
    make_worker(store, roster, {"sms": transport}).run(once=True)
    first = states(store)
    assert first[1][0] == "failed" and "21610" in first[1][1]
    assert first[2][0] == "sent"
    plan(store, 2, channel="sms", step="follow_up")
    make_worker(store, roster, {"sms": transport}).run(once=True)
    after = states(store)
    assert after[3] == ("skipped", "recipient is on the suppression list")
    assert after[4][0] == "sent"
    assert len(providers.standin.sms) == 2  # the STOPped number got nothing more


def test_lost_twilio_answer_is_reconciled_not_resent(
        add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 1)
    plan(store, 1, channel="sms")
    providers.standin.lose_next_answers(1)
    transport = TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                                from_number="+12155550199", base_url=providers.url,
                                timeout=0.5)
    make_worker(store, roster, {"sms": transport}).run(once=True)
    assert states(store)[1][0] == "sent"
    assert len(providers.standin.sms) == 1


def test_lost_sendgrid_answer_is_unknown_and_reported(
        add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 1)
    plan(store, 1)
    providers.standin.lose_next_answers(1)
    transport = SendGridTransport(providers.standin.sendgrid_key, providers.url, timeout=0.5)
    make_worker(store, roster, {"email": transport}).run(once=True)
    assert states(store)[1][0] == "unknown"
    with store.connect() as connection:
        report = outbox_report(connection)
    assert [r["id"] for r in report["attention"]] == [1]


def test_crashed_sends_are_reconciled(add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 3)
    plan(store, 2, channel="sms")
    plan(store, 1)
    twilio = TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                             from_number="+12155550199", base_url=providers.url, timeout=1)
    sendgrid = SendGridTransport(providers.standin.sendgrid_key, providers.url, timeout=1)
    worker = make_worker(store, roster, {"sms": twilio, "email": sendgrid})
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    rows = box.claim(store, "dead", 10, timedelta(minutes=5), datetime.now(UTC))
    for row in rows:
        box.start_sending(store, row.id, "dead", long_ago)
    # The dead worker had reached Twilio for the first SMS only.
    rendered = worker.renderer.render_batch(rows)
    twilio.send(rendered[rows[0].id])
    worker.maintain()
    final = states(store)
    assert final[rows[0].id][0] == "sent"  # Twilio has it: recorded, not re-sent
    assert final[rows[1].id][0] == "retry"  # Twilio does not: safe to send again
    assert final[rows[2].id] == ("unknown", "the worker stopped during the provider call; "
                                            "not re-sent")
    assert len(providers.standin.sms) == 1


def test_render_errors_fail_with_their_reason(add_signers, tmp_path, store, roster):
    add_signers(tmp_path, store, 1)
    now = datetime.now(UTC)
    with store.begin() as connection:
        box.enqueue(connection, [
            box.NewMessage("mj", "x", "email", "signer", "1", "no_such_template", {}, now),
            box.NewMessage("mj", "y", "email", "signer", "999", "welcome", {}, now)], now)
    make_worker(store, roster, {"email": FilesTransport(tmp_path, "email")}).run(once=True)
    final = states(store)
    assert final[1] == ("failed", "render: template email/no_such_template.txt not found")
    assert final[2] == ("failed", "render: signer 999 no longer exists")


def test_gate_can_defer_and_skip(add_signers, tmp_path, store, roster):
    add_signers(tmp_path, store, 2)
    plan(store, 2)
    later = datetime.now(UTC) + timedelta(hours=9)

    def gate(row, message, now):
        return Decision("defer", until=later) if row.id == 1 else Decision("skip",
                                                                        reason="opted out")

    worker = make_worker(store, roster, {"email": FilesTransport(tmp_path, "email")})
    worker.gate = FunctionGate(gate)
    worker.run(once=True)
    assert states(store) == {1: ("queued", None), 2: ("skipped", "opted out")}


def test_stop_finishes_in_flight_and_releases_the_rest(
        add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 40)
    plan(store, 40)
    providers.standin.latency = 0.2
    transport = SendGridTransport(providers.standin.sendgrid_key, providers.url, timeout=2)
    worker = make_worker(store, roster, {"email": transport}, concurrency=4, batch_size=40)
    thread = threading.Thread(target=worker.run)
    thread.start()
    time.sleep(0.5)
    worker.stop.set()
    thread.join(timeout=10)
    final = states(store)
    counts = {s: sum(1 for state, _ in final.values() if state == s) for s in
              ("sent", "queued", "claimed", "sending")}
    assert counts["claimed"] == counts["sending"] == 0
    assert counts["sent"] + counts["queued"] == 40 and counts["queued"] > 0
    assert counts["sent"] == len(providers.standin.emails)


@pytest.mark.timing
def test_sms_rate_is_held_without_429s(add_signers, tmp_path, store, roster, providers):
    add_signers(tmp_path, store, 20)
    plan(store, 20, channel="sms")
    providers.standin.sms_per_second = 10
    transport = TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                                from_number="+12155550199", base_url=providers.url, timeout=2)
    worker = make_worker(store, roster, {"sms": transport}, rates={"sms": 10}, concurrency=2)
    started = time.monotonic()
    drain(worker)
    elapsed = time.monotonic() - started
    assert len(providers.standin.sms) == 20
    assert providers.standin.answered[429] == 0
    assert elapsed >= 1.8  # 20 messages at 10 per second, evenly spaced


def test_sigterm_lets_the_worker_process_finish_in_flight_and_exit_0(
        add_signers, tmp_path, store_url, roster, providers):
    import os
    import signal
    import subprocess
    import sys

    from outreach.store.db import open_store

    store = open_store(store_url)
    add_signers(tmp_path, store, 60)
    plan(store, 60)
    providers.standin.latency = 0.3
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({"OUTREACH_DATABASE_URL": store_url, "OUTREACH_EMAIL_TRANSPORT": "sendgrid",
                "OUTREACH_SENDGRID_API_KEY": providers.standin.sendgrid_key,
                "OUTREACH_SENDGRID_BASE_URL": providers.url,
                "OUTREACH_PUBLIC_URL": "https://mj.example",
                "OUTREACH_MAILING_ADDRESS": "1 Main St, X",
                "OUTREACH_EMAIL_FROM": "MJ <team@mj-campaign.org>"})
    worker = subprocess.Popen([sys.executable, "-m", "outreach.cli", "worker", "--concurrency",
                               "4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 30
    while not providers.standin.emails and time.monotonic() < deadline:
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    final = states(store)
    by_state = {s: sum(1 for state, _ in final.values() if state == s) for s in
                ("sent", "queued", "claimed", "sending")}
    assert by_state["claimed"] == by_state["sending"] == 0
    assert by_state["sent"] == len(providers.standin.emails) > 0
    assert by_state["sent"] + by_state["queued"] == 60
    assert "released" in out


def test_two_worker_processes_never_send_a_row_twice(
        add_signers, tmp_path, store_url, roster, providers):
    import os
    import subprocess
    import sys

    from outreach.store.db import open_store

    store = open_store(store_url)
    add_signers(tmp_path, store, 1200)  # several claim batches (200 each): both get work
    plan(store, 1200)
    providers.standin.latency = 0.05  # a blast of seconds: the later process starts in time
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update({"OUTREACH_DATABASE_URL": store_url, "OUTREACH_EMAIL_TRANSPORT": "sendgrid",
                "OUTREACH_SENDGRID_API_KEY": providers.standin.sendgrid_key,
                "OUTREACH_SENDGRID_BASE_URL": providers.url,
                "OUTREACH_PUBLIC_URL": "https://mj.example",
                "OUTREACH_MAILING_ADDRESS": "1 Main St, X",
                "OUTREACH_EMAIL_FROM": "MJ <team@mj-campaign.org>"})
    command = [sys.executable, "-m", "outreach.cli", "worker", "--once", "--concurrency", "8",
               "--json"]
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    accepted = [e["outreach_id"] for e in providers.standin.emails]
    assert len(accepted) == len(set(accepted)) == 1200
    assert sum(o.get("sent", 0) for o in outputs) == 1200
    assert all(o.get("sent", 0) > 0 for o in outputs)  # both took part


# --- a full disk and a torn journal (security audit F10) -----------------------------------------
def _interrupted(store, worker: Worker, count: int) -> list:
    """`count` rows a dead worker left in `sending` an hour ago."""
    rows = box.claim(store, "dead", count, timedelta(minutes=5), datetime.now(UTC))
    for row in rows:
        box.start_sending(store, row.id, "dead", datetime.now(UTC) - timedelta(hours=1))
    return rows


def test_a_full_outbox_disk_is_a_retry_and_the_rest_goes_out_once_space_returns(
        add_signers, tmp_path, store, roster):
    from tests.full_disk import fill, small_disk

    add_signers(tmp_path, store, 40)
    plan(store, 40)
    plan(store, 40, channel="sms")
    with small_disk(tmp_path / "disk", 512) as disk:
        transports = {"email": FilesTransport(disk, "email"), "sms": FilesTransport(disk, "sms")}
        fill(disk, leave_bytes=40_000)  # room for some of the 80 messages, not all
        stats = make_worker(store, roster, transports, backoff_base_seconds=60,
                            backoff_cap_seconds=60).run(once=True)
        assert stats["errors"] == 0 and stats["retry"] > 0 and stats["sent"] > 0
        after = states(store)
        assert {s for s, _ in after.values()} == {"sent", "retry"}  # none stuck in `sending`
        assert {e for s, e in after.values() if s == "retry"} == {
            "outbox folder full (ENOSPC)"}
        assert not list((disk / "email").glob("*.tmp"))
        [json.loads(line) for line in (disk / "sms.jsonl").read_text().splitlines()]
        (disk / "filler").unlink()
        later = datetime.now(UTC) + timedelta(minutes=2)  # the retries are due
        worker = Worker(store, transports, make_worker(store, roster, {}).renderer,
                        options=WorkerOptions(concurrency=8), clock=lambda: later)
        worker.run(once=True)
        assert {s for s, _ in states(store).values()} == {"sent"}
        journal = [json.loads(line)["outbox_id"]
                   for line in (disk / "sms.jsonl").read_text().splitlines()]
        assert len(journal) == len(set(journal)) == 40
        assert len(list((disk / "email").glob("*.eml"))) == 40


def test_a_torn_sms_journal_line_does_not_stop_the_worker(add_signers, tmp_path, store, roster):
    add_signers(tmp_path, store, 3)
    plan(store, 3, channel="sms")
    out = tmp_path / "out"
    transports = {"sms": FilesTransport(out, "sms")}
    worker = make_worker(store, roster, transports)
    rows = _interrupted(store, worker, 3)
    rendered = worker.renderer.render_batch(rows)
    transports["sms"].send(rendered[rows[0].id])  # the dead worker wrote the first whole,
    with (out / "sms.jsonl").open("a") as journal:  # and died halfway through the second
        journal.write(json.dumps({"outbox_id": rows[1].id, "to": "+12155550001"})[:20])
    stats = worker.run(once=True)
    assert stats["reconciled_sent"] == 1 and stats["reconciled_retry"] == 2
    assert {s for s, _ in states(store).values()} == {"sent"}
    first, torn, *rest = (out / "sms.jsonl").read_text().splitlines()
    assert not torn.endswith("}")  # the torn line stays, on a line of its own
    assert sorted(json.loads(line)["outbox_id"] for line in [first, *rest]) == \
        sorted(r.id for r in rows)


def test_one_rows_reconcile_error_does_not_stop_maintain(
        add_signers, tmp_path, store, roster, providers, caplog):
    add_signers(tmp_path, store, 3)
    plan(store, 3, channel="sms")
    twilio = TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                             from_number="+12155550199", base_url=providers.url, timeout=1)
    worker = make_worker(store, roster, {"sms": twilio})
    rows = _interrupted(store, worker, 3)
    twilio.send(worker.renderer.render_batch(rows)[rows[2].id])
    providers.standin.fail_next_lists(1)  # Twilio's list fails for the first row only
    with caplog.at_level("WARNING", logger="outreach.worker"):
        done = worker.maintain()
    assert done == {"reconcile_errors": 1, "reconciled_retry": 1, "reconciled_sent": 1}
    assert [states(store)[r.id][0] for r in rows] == ["sending", "retry", "sent"]
    assert any(f"could not reconcile outbox row {rows[0].id}" in r.getMessage()
               for r in caplog.records)
    assert all("+1215555" not in r.getMessage() for r in caplog.records)
    assert worker.maintain() == {"reconciled_retry": 1}  # the next pass settles it


def _holds(store) -> list[tuple[str, str, str, str]]:
    with store.connect() as connection:
        return [(h["campaign"], h["step"], h["channel"], h["reason"])
                for h in outbox_report(connection)["holds"]]


def test_a_raising_template_holds_its_step_while_another_campaign_sends(
        add_signers, tmp_path, store, roster, providers):
    """DESIGN invariant 11 (the audit's F3): a ZeroDivisionError in an organizer's edit fails
    its row with the reason and holds its step; the same worker delivers the other
    campaign's mail; after the fix a resume sends the held step, the failed row included."""
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "email" / "bomb.subject.txt").write_text("Share")
    bomb = templates / "email" / "bomb.txt"
    bomb.write_text("Dear {{ signer.first_name }},\n"
                    "{{ 100 / (signer.first_name|length - signer.first_name|length) }}\n")
    add_signers(tmp_path, store, 3)
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("tplbomb", "share", "email", "signer", str(i),
                                                "bomb", {}, now) for i in (1, 2, 3)], now)
    plan(store, 3)  # campaign mj, step welcome
    transport = SendGridTransport(providers.standin.sendgrid_key, providers.url, timeout=2)
    worker = Worker(store, {"email": transport}, Renderer(store, roster, templates, SENDER),
                    options=WorkerOptions(concurrency=4))
    stats = worker.run(once=True)  # does not raise
    assert (stats["sent"], stats["failed"], stats["held"]) == (3, 1, 2)
    delivered = {e["outreach_id"] for e in providers.standin.emails}
    with store.connect() as connection:
        rows = {(r.campaign, r.recipient_id): (r.id, r.state, r.last_error) for r in
                connection.execute(select(outbox))}
    assert delivered == {str(rows[("mj", str(i))][0]) for i in (1, 2, 3)}
    bombs = sorted(rows[("tplbomb", str(i))][1:] for i in (1, 2, 3))
    failure = ("render: template email/bomb.txt line 2: ZeroDivisionError: division by zero")
    assert bombs == [("failed", failure), ("queued", None), ("queued", None)]
    [(campaign, step, channel, reason)] = _holds(store)
    assert (campaign, step, channel) == ("tplbomb", "share", "email")
    assert reason.startswith("template email/bomb.txt line 2: ZeroDivisionError")
    worker.run(once=True)  # held: the queued rows wait, nothing more fails
    assert len(providers.standin.emails) == 3 and worker.stats["failed"] == 1

    bomb.write_text("Dear {{ signer.first_name }}, share the petition.\n")  # the fix
    set_run_state(store, "tplbomb", "active", datetime.now(UTC))  # `outreach resume`
    assert _holds(store) == []
    worker.run(once=True)
    assert len(providers.standin.emails) == 6  # the failed row too: it had never left
    with store.connect() as connection:
        assert box.state_counts(connection)["sent"] == 6


def test_a_missing_public_url_holds_supporter_email_before_a_real_transport(
        add_signers, tmp_path, store, roster, providers):
    """CAN-SPAM and RFC 8058: no working unsubscribe link, no send; held, not failed."""
    add_signers(tmp_path, store, 2)
    plan(store, 2)
    plan(store, 2, channel="sms")
    bare = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X")
    transports = {"email": SendGridTransport(providers.standin.sendgrid_key, providers.url,
                                             timeout=2),
                  "sms": TwilioTransport(providers.standin.twilio_sid,
                                         providers.standin.twilio_token,
                                         from_number="+12155550199", base_url=providers.url,
                                         timeout=2)}
    worker = Worker(store, transports, Renderer(store, roster, TEMPLATES, bare),
                    options=WorkerOptions(concurrency=4))
    stats = worker.run(once=True)
    assert providers.standin.emails == [] and len(providers.standin.sms) == 2  # texts go on
    assert (stats["sent"], stats["held"], stats["failed"]) == (2, 2, 0)
    [(campaign, step, channel, reason)] = _holds(store)
    assert (campaign, step, channel) == ("mj", "welcome", "email")
    assert reason.startswith("OUTREACH_PUBLIC_URL is not set: every supporter email needs a "
                             "working unsubscribe link")
    emails = {r.state for r in states_of(store, "email")}
    assert emails == {"queued"}


def test_the_files_transport_writes_the_placeholder_and_says_so(
        add_signers, tmp_path, store, roster):
    add_signers(tmp_path, store, 1)
    plan(store, 1)
    bare = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X")
    worker = Worker(store, {"email": FilesTransport(tmp_path / "out", "email")},
                    Renderer(store, roster, TEMPLATES, bare))
    assert worker.run(once=True)["sent"] == 1
    from email import message_from_string, policy

    eml = next((tmp_path / "out" / "email").glob("*.eml")).read_text()
    parsed = message_from_string(eml, policy=policy.default)
    assert parsed["List-Unsubscribe"].startswith("<http://localhost:8000/u/")
    assert parsed["X-Outreach-Placeholder"].startswith(
        "not for real recipients: OUTREACH_PUBLIC_URL is not set")
    assert "(set OUTREACH_PUBLIC_URL)" not in eml


def states_of(store, channel: str):  # type: ignore[no-untyped-def]
    with store.connect() as connection:
        return list(connection.execute(select(outbox).where(outbox.c.channel == channel)))


def test_a_deferral_keeps_its_reason_for_the_report(add_signers, tmp_path, store, roster):
    add_signers(tmp_path, store, 2)
    plan(store, 2, channel="sms")
    release = datetime(2031, 5, 6, 12, tzinfo=UTC)

    def gate(row, message, now):
        return Decision("defer", until=release, reason="quiet hours in the recipient's "
                                                       "time zone")

    worker = make_worker(store, roster, {"sms": FilesTransport(tmp_path, "sms")})
    worker.gate = FunctionGate(gate)
    worker.run(once=True)
    with store.connect() as connection:
        [group] = outbox_report(connection)["by_campaign"]
        assert box.next_due(connection) == release
    assert group["waiting_by_reason"] == {"quiet hours in the recipient's time zone": {
        "count": 2, "first_release": release.isoformat(), "last_release": release.isoformat()}}


def test_a_text_with_a_link_is_held_without_a_public_url(add_signers, tmp_path, store, roster,
                                                         providers):
    """A text needs no unsubscribe link, but one whose template shares the petition would
    carry the local placeholder address to real people: held like such email."""
    import shutil

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    (templates / "sms" / "share_link.txt").write_text("Share the petition: {{ share_url }}")
    add_signers(tmp_path, store, 2)
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "share", "sms", "signer", str(i),
                                                "share_link", {}, now) for i in (1, 2)], now)
    plan(store, 2, channel="sms")  # the welcome text: no link, it goes
    bare = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X")
    twilio = TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                             from_number="+12155550199", base_url=providers.url, timeout=2)
    worker = Worker(store, {"sms": twilio}, Renderer(store, roster, templates, bare),
                    options=WorkerOptions(concurrency=4))
    stats = worker.run(once=True)
    assert len(providers.standin.sms) == 2 and stats["held"] == 2
    assert all("localhost" not in m["body"] for m in providers.standin.sms)
    [(campaign, step, channel, reason)] = _holds(store)
    assert (campaign, step, channel) == ("mj", "share", "sms")
    assert reason.startswith("OUTREACH_PUBLIC_URL is not set: this text's link")


def test_a_refused_smtp_connection_is_logged_once_and_reported_by_reason(
        add_signers, tmp_path, store, roster, caplog):
    """A wrong SMTP host: one masked line in the log for all the rows put back, not silence
    and not a line per row; `outreach report` counts the retrying rows by their reason."""
    import socket

    from outreach.sending.transports.smtp import SmtpTransport

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    add_signers(tmp_path, store, 5)
    plan(store, 5)
    worker = make_worker(store, roster, {"email": SmtpTransport(f"smtp://127.0.0.1:{port}",
                                                                timeout=2)},
                         backoff_base_seconds=60, backoff_cap_seconds=60)
    with caplog.at_level("WARNING", logger="outreach.worker"):
        assert worker.run(once=True)["retry"] == 5
    lines = [r.getMessage() for r in caplog.records if "ConnectionRefusedError" in
             r.getMessage()]
    assert len(lines) == 2, lines  # the first row at once, then how many more had it
    assert "email send put back for retry" in lines[0]
    assert lines[1].startswith("email: 5 sends put back for retry")
    assert not any("@" in line for line in lines)
    with store.connect() as connection:
        [group] = outbox_report(connection)["by_campaign"]
    [(reason, count)] = group["retrying_by_reason"].items()
    assert count == 5 and reason.startswith("SMTP connection: ConnectionRefusedError")
    assert group["failed_by_reason"] == {}
