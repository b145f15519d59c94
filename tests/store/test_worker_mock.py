"""The real worker against a MockTransport: what the outbox says after each kind of answer.

No HTTP stand-in and no folder: each test says in one handler what the "provider" does, and the
store (SQLite and PostgreSQL) is the real one, so these pin down the worker's bookkeeping alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from outreach.campaigns.render import Renderer, Sender
from outreach.errors import ServiceError
from outreach.message import Message
from outreach.sending.pacing import SharedBudget
from outreach.sending.transports.base import SendResult
from outreach.sending.transports.mock import MockTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store import suppressions
from outreach.store.schema import outbox
from outreach.testing.ledgers import LedgerOutage
from tests.conftest import redis_ledger_whose_key_holds_a_string

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SENDER = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X",
                "https://mj.example")


@pytest.fixture
def queued(store: Engine, tmp_path: Path, geo, by_zip) -> Engine:
    """Three matched signers, each with one welcome email due now (outbox ids 1, 2, 3)."""
    rows = ["first_name,email,zip"] + [f"N{i},n{i}@example.org,19107" for i in range(3)]
    path = tmp_path / "signers.csv"
    path.write_text("\n".join(rows) + "\n")
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    now = datetime.now(UTC) - timedelta(seconds=1)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "welcome", "email", "signer", str(i),
                                                "welcome", {}, now) for i in (1, 2, 3)], now)
    return store


def worker(store: Engine, roster, transport: MockTransport, **kwargs: object) -> Worker:
    kwargs.setdefault("options", WorkerOptions(concurrency=2))
    return Worker(store, {"email": transport}, Renderer(store, roster, TEMPLATES, SENDER),
                  **kwargs)


def outbox_rows(store: Engine) -> dict[int, tuple[str, str | None, str | None]]:
    """Outbox id -> (state, provider id, last error)."""
    with store.connect() as connection:
        return {r.id: (r.state, r.provider_message_id, r.last_error) for r in connection.execute(
            select(outbox.c.id, outbox.c.state, outbox.c.provider_message_id,
                   outbox.c.last_error))}


def accept(message: Message) -> SendResult:
    return SendResult("sent", provider_message_id=f"mock-{message.outbox_id}")


def test_an_accepted_send_is_sent_with_the_providers_id(queued, roster):
    transport = MockTransport(accept)
    stats = worker(queued, roster, transport).run(once=True)
    assert stats["sent"] == 3
    assert outbox_rows(queued) == {i: ("sent", f"mock-{i}", None) for i in (1, 2, 3)}
    assert sorted(m.to for m in transport.sent) == [f"n{i}@example.org" for i in range(3)]
    assert transport.warmed_up == 1  # once per run, before the first send
    assert transport.lookups == []  # nothing to reconcile
    worker(queued, roster, transport).run(once=True)
    assert len(transport.sent) == 3  # sent rows are never sent again


def test_a_provider_rejection_fails_once_and_may_suppress(queued, roster):
    def reject(message: Message) -> SendResult:
        if message.outbox_id == 1:
            return SendResult("failed", error="mock 400: unsubscribed recipient", suppress=True)
        if message.outbox_id == 2:
            return SendResult("failed", error="mock 400: invalid address")
        return accept(message)

    transport = MockTransport(reject)
    stats = worker(queued, roster, transport).run(once=True)
    assert (stats["failed"], stats["sent"]) == (2, 1)
    assert outbox_rows(queued) == {1: ("failed", None, "mock 400: unsubscribed recipient"),
                                   2: ("failed", None, "mock 400: invalid address"),
                                   3: ("sent", "mock-3", None)}
    with queued.connect() as connection:  # only the answer that said so suppresses
        assert suppressions.suppressed_among(
            connection, "email", [f"n{i}@example.org" for i in range(3)]) == {"n0@example.org"}
    worker(queued, roster, transport).run(once=True)
    assert len(transport.sent) == 3  # a failure is final: not retried


def test_a_retry_comes_back_after_its_backoff(queued, roster):
    busy = [True]  # the first call for row 1 finds the provider busy

    def busy_once(message: Message) -> SendResult:
        if message.outbox_id == 1 and busy:
            busy.pop()
            return SendResult("retry", error="mock 503")
        return accept(message)

    transport = MockTransport(busy_once)
    worker(queued, roster, transport).run(once=True)
    assert outbox_rows(queued)[1] == ("retry", None, "mock 503")
    later = datetime.now(UTC) + timedelta(hours=2)  # past any backoff of a first attempt
    worker(queued, roster, transport, clock=lambda: later).run(once=True)
    assert outbox_rows(queued)[1] == ("sent", "mock-1", None)
    assert [m.outbox_id for m in transport.sent].count(1) == 2


@pytest.mark.parametrize(("finder", "settled"), [
    (None, ("unknown", None, "the worker stopped during the provider call; not re-sent")),
    (lambda message, since: None,
     ("retry", None, "interrupted before the provider received it")),
    (lambda message, since: f"mock-{message.outbox_id}", ("sent", "mock-1", None)),
], ids=["cannot-reconcile", "provider-never-got-it", "provider-has-it"])
def test_an_exception_mid_send_leaves_the_row_sending_until_reconciled(
        queued, roster, finder, settled):
    def crash_on_first(message: Message) -> SendResult:
        if message.outbox_id == 1:
            raise RuntimeError("the SDK blew up mid-request")
        return accept(message)

    transport = MockTransport(crash_on_first, finder=finder)
    stats = worker(queued, roster, transport).run(once=True)
    assert stats["errors"] == 1 and stats["sent"] == 2
    # The call may have reached the provider: the row is not sent again blindly.
    assert outbox_rows(queued)[1] == ("sending", None, None)
    assert worker(queued, roster, transport).run(once=True)["sent"] == 0
    assert [m.outbox_id for m in transport.sent].count(1) == 1
    # A later start, past the stale-sending age, settles it through find_sent if it can.
    later = datetime.now(UTC) + timedelta(minutes=11)
    worker(queued, roster, transport, clock=lambda: later).maintain()
    assert outbox_rows(queued)[1] == settled
    assert [lookup.message.outbox_id for lookup in transport.lookups] == \
        ([1] if finder is not None else [])


def test_a_lost_answer_is_reconciled_by_find_sent(queued, roster):
    """An `unknown` answer (the request left, no reply came) asks find_sent at once: found is
    sent with the provider's id; not found stays unknown, never re-sent."""
    def lose_answer(message: Message) -> SendResult:
        return SendResult("unknown", error="mock: no answer in time")

    def provider_has(message: Message, since: datetime) -> str | None:
        return "mock-found-1" if message.outbox_id == 1 else None

    started = datetime.now(UTC)
    transport = MockTransport(lose_answer, finder=provider_has)
    stats = worker(queued, roster, transport).run(once=True)
    assert (stats["sent"], stats["unknown"]) == (1, 2)
    assert outbox_rows(queued) == {1: ("sent", "mock-found-1", None),
                                   2: ("unknown", None, "mock: no answer in time"),
                                   3: ("unknown", None, "mock: no answer in time")}
    assert sorted(lookup.message.outbox_id for lookup in transport.lookups) == [1, 2, 3]
    assert all(lookup.since >= started - timedelta(seconds=1) for lookup in transport.lookups)
    worker(queued, roster, transport).run(once=True)
    assert len(transport.sent) == 3  # unknown is for a person to look at, not a re-send


def test_a_found_id_that_belongs_to_another_row_is_not_this_ones(queued, roster):
    """find_sent's `taken`: the same text to the same address twice must not settle both rows
    with one provider message."""
    transport = MockTransport(accept)
    worker(queued, roster, transport).run(once=True)  # row 1 is sent as mock-1
    now = datetime.now(UTC)
    with queued.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "again", "email", "signer", "1",
                                                "welcome", {}, now)], now)
    lost = MockTransport(lambda message: SendResult("unknown", error="mock: no answer"),
                         finder=lambda message, since: "mock-1")
    worker(queued, roster, lost).run(once=True)
    assert outbox_rows(queued)[4] == ("unknown", None, "mock: no answer")
    assert [lookup.found for lookup in lost.lookups] == [None]


def test_a_database_outage_of_any_length_waits_at_most_the_cap(store, roster):
    """The wait between tries doubles up to its cap and stays there however long the database
    is gone: 2 ** tries outgrows a float after ~1,000 tries (8.5 hours at the 30 s cap), and the
    worker must not die of an OverflowError then."""
    running = worker(store, roster, MockTransport(accept))
    options, lost = running.options, running._database_lost
    error = ConnectionError("connection refused")
    assert lost(error, "claiming", 0) == options.outage_first_wait_seconds
    assert lost(error, "claiming", 3) == min(options.outage_cap_seconds,
                                              options.outage_first_wait_seconds * 8)
    assert lost(error, "claiming", 2000) == options.outage_cap_seconds


class _Budget:
    """A send budget that lets every call go, and fails as told: `acquire` raises its first
    `failures` times, `pause` always (a ledger error of a kind no one foresaw)."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.paused: list[float] = []

    def acquire(self, stop: threading.Event, deadline: float | None = None) -> bool:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the ledger said something unexpected")
        return True

    def pause(self, seconds: float) -> None:
        self.paused.append(seconds)
        raise RuntimeError("the ledger said something unexpected")


def test_a_budget_that_fails_gives_the_row_back_unsent(queued, roster):
    """The provider was never called: the row goes back to the queue (and is sent), never left
    `sending` to become `unknown` unsent."""
    transport = MockTransport(accept)
    stats = worker(queued, roster, transport, budgets={"email": _Budget(failures=1)}).run(
        once=True)
    assert (stats["budget_errors"], stats["sent"]) == (1, 3)
    assert outbox_rows(queued) == {i: ("sent", f"mock-{i}", None) for i in (1, 2, 3)}
    assert sorted(m.outbox_id for m in transport.sent) == [1, 2, 3]  # once each


QUICK_BACKOFF = {"concurrency": 2, "poll_seconds": 0.05, "outage_first_wait_seconds": 0.05,
                 "outage_cap_seconds": 0.2}


def _run_bounded(running: Worker, seconds: float, once: bool = True) -> BaseException | None:
    """Run the worker in a thread; what it raised. A run still going after `seconds` (a pass
    that never ends) is stopped and fails the test."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            running.run(once=once)
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    ended = not thread.is_alive()
    running.stop.set()
    thread.join(30)
    assert ended, f"the pass did not end within {seconds} s: {dict(running.stats)}"
    return raised[0] if raised else None


@pytest.mark.parametrize("concurrency", [2, 8], ids=["in groups", "all in flight at once"])
def test_a_budget_failing_at_every_call_ends_the_once_pass_with_one_error_nothing_sent(
        queued, roster, caplog, concurrency):
    """A misconfigured ledger (a Redis script error, a wrong table) fails every call: the pass
    stops, its rows back in the queue as they were (due, attempts untouched), a few lines in
    the log instead of one per row and try, and `--once` fails with one line. Also when every
    due row is in flight as the claimer finds nothing more to claim: the rows the budget gave
    back are due, and a pass that ended there would say nothing was wrong."""
    transport = MockTransport(accept)
    failing = worker(queued, roster, transport, budgets={"email": _Budget(failures=10**9)},
                     options=WorkerOptions(**{**QUICK_BACKOFF, "concurrency": concurrency}))
    with caplog.at_level(logging.WARNING, logger="outreach.worker"):
        error = _run_bounded(failing, 20)
    assert isinstance(error, ServiceError)
    assert str(error).startswith("the send budget for email failed")
    assert "RuntimeError: the ledger said something unexpected" in str(error)
    assert transport.sent == []
    assert outbox_rows(queued) == {i: ("queued", None, None) for i in (1, 2, 3)}
    with queued.connect() as connection:
        assert {r.attempts for r in connection.execute(select(outbox.c.attempts))} == {0}
    tries = WorkerOptions().outage_tries_once
    assert len(caplog.records) <= tries + 1  # the first failure, then one per wait
    assert failing.stats["budget_errors"] <= 3 * tries  # no spinning between the waits


@contextmanager
def _in_a_thread(running: Worker) -> Iterator[None]:
    """The worker's long-running loop on a thread of its own, stopped after the block."""
    thread = threading.Thread(target=running.run)
    thread.start()
    try:
        yield
    finally:
        running.stop.set()
        thread.join()


def _until_sent(running: Worker, count: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while running.stats["sent"] < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_long_running_worker_backs_off_a_failing_budget_and_sends_once_it_works(
        queued, roster, caplog):
    budget, transport = _Budget(failures=10**9), MockTransport(accept)
    running = worker(queued, roster, transport, budgets={"email": budget},
                     options=WorkerOptions(**QUICK_BACKOFF))
    with _in_a_thread(running):
        time.sleep(1.5)  # waits of 0.05, 0.1, 0.2, 0.2 ... s: about ten tries, not thousands
        failed = running.stats["budget_errors"]
        budget.failures = 0  # fixed
        _until_sent(running, 3)
    assert 3 <= failed <= 3 * 12
    assert outbox_rows(queued) == {i: ("sent", f"mock-{i}", None) for i in (1, 2, 3)}
    assert sorted(m.outbox_id for m in transport.sent) == [1, 2, 3]  # once each
    assert any("send budget for email works again" in r.getMessage() for r in caplog.records)


def test_a_redis_budget_whose_script_fails_ends_the_once_pass_with_nothing_sent(
        queued, roster):
    """A real Redis answering the budget's script with an error at every call (here its key
    holds a string: WRONGTYPE, as a prefix shared with something else would): the once pass
    ends, nothing sent, instead of each send waiting for the "outage" to end."""
    transport = MockTransport(accept)
    with redis_ledger_whose_key_holds_a_string("email:mock:1") as ledger:
        failing = worker(queued, roster, transport,
                         budgets={"email": SharedBudget(ledger, "email:mock:1", 50.0)},
                         options=WorkerOptions(**QUICK_BACKOFF))
        error = _run_bounded(failing, 20)
    assert isinstance(error, ServiceError) and "ResponseError: WRONGTYPE" in str(error)
    assert transport.sent == []
    assert outbox_rows(queued) == {i: ("queued", None, None) for i in (1, 2, 3)}


def test_a_briefly_unreachable_ledger_is_waited_for_not_taken_for_a_failing_budget(
        queued, roster):
    budget = SharedBudget(LedgerOutage(failures=4), "email:mock:1", 50.0)
    budget.RETRY_SECONDS = 0.05
    transport = MockTransport(accept)
    waiting = worker(queued, roster, transport, budgets={"email": budget},
                     options=WorkerOptions(**QUICK_BACKOFF))
    assert _run_bounded(waiting, 20) is None
    assert (waiting.stats["sent"], waiting.stats["budget_errors"]) == (3, 0)
    assert sorted(m.outbox_id for m in transport.sent) == [1, 2, 3]


def test_a_pause_that_fails_keeps_the_providers_answer(queued, roster):
    def busy(message: Message) -> SendResult:
        return SendResult("retry", error="mock 429", retry_after=1.0)

    budget = _Budget()
    worker(queued, roster, MockTransport(busy), budgets={"email": budget}).run(once=True)
    assert budget.paused == [1.0, 1.0, 1.0]
    assert {state for state, _, _ in outbox_rows(queued).values()} == {"retry"}


@pytest.mark.timing  # a 3 s stale-sending age: a loaded machine's stalls are of that order
def test_a_send_waiting_for_its_budget_is_given_back_before_the_stale_sweep(queued, roster):
    """A live worker waiting for its budget (the ledger down, a long Retry-After) gives its
    `sending` rows back within half the stale-sending age; another worker's stale sweep then
    finds none of them, so none is made `unknown` (SendGrid) or sent by two workers (Twilio)
    while the first still holds it. Each is sent once when the ledger answers again."""
    options = {"concurrency": 2, "poll_seconds": 0.1,
               "stale_sending_after": timedelta(seconds=3)}
    ledger, transport = LedgerOutage(failures=10**9), MockTransport(accept)
    budget = SharedBudget(ledger, "email:mock:1", 50.0)
    budget.RETRY_SECONDS = 0.1
    waiting = worker(queued, roster, transport, options=WorkerOptions(**options),
                     budgets={"email": budget})
    with _in_a_thread(waiting):
        time.sleep(3.5)  # rows never given back would now be past the stale age
        swept = worker(queued, roster, MockTransport(accept),
                       options=WorkerOptions(**options)).maintain()
        ledger.failures = 0  # the ledger answers again
        _until_sent(waiting, 3)
    assert "unknown" not in swept and "reconciled_retry" not in swept
    assert waiting.stats["budget_waited_out"] >= 2  # each row given back at least once
    assert outbox_rows(queued) == {i: ("sent", f"mock-{i}", None) for i in (1, 2, 3)}
    assert sorted(m.outbox_id for m in transport.sent) == [1, 2, 3]


def test_send_troubles_are_logged_masked_and_capped_by_distinct_reason(
        queued, roster, caplog, monkeypatch):
    """A provider whose error text differs per row (here it even echoes the recipient): the
    first TROUBLE_REASONS_LOGGED reasons are one masked line each, the rest one count."""
    import outreach.sending.worker as worker_module

    monkeypatch.setattr(worker_module, "TROUBLE_REASONS_LOGGED", 2)
    transport = MockTransport(lambda m: SendResult("retry", error=f"mock 421: busy, ticket "
                                                          f"{m.outbox_id}, for {m.to}"))
    with caplog.at_level(logging.WARNING, logger="outreach.worker"):
        assert worker(queued, roster, transport).run(once=True)["retry"] == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "outreach.worker"]
    assert len([line for line in lines if "mock 421" in line]) == 2, lines
    assert any(line.startswith("1 more sends did not go out") for line in lines), lines
    assert not any("@example.org" in line and "***@" not in line for line in lines), lines
