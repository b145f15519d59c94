"""The send loop: claim, gate, render, send, record; paced per transport; safe to kill.

One claimer thread keeps a queue of claimed, rendered messages topped up; `concurrency` sender
threads take from it. For each message the outbox row goes to `sending` (committed) before the
provider is called, then to its outcome. A provider 429 pauses that transport for every thread;
transient errors come back later with jittered exponential backoff; permanent ones fail at once.
On stop (SIGTERM/SIGINT in the CLI) nothing new is claimed, calls in flight finish, and claimed
rows not yet started go back to the queue.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import ClassVar, cast

from sqlalchemy import Engine
from tenacity import RetryCallState, wait_random_exponential

from outreach.campaigns.render import Renderer
from outreach.clock import utcnow
from outreach.errors import NoOneToSpeakFor, RenderError, ServiceError, TemplateFailure
from outreach.message import Message
from outreach.metrics import PROVIDER_LATENCY, SENDS
from outreach.privacy import mask_text
from outreach.sending.gate import Decision, Gate, gate_stub
from outreach.sending.pacing import Budget, TokenBucket
from outreach.sending.transports.base import SendResult, Transport
from outreach.store import events, outbox, suppressions, workers
from outreach.store.db import database_reason, is_connection_loss
from outreach.store.events import message_by_provider_id
from outreach.store.outbox import OutboxRow

log = logging.getLogger("outreach.worker")

# A channel's send budget that raised this many times in a row (no acquire between them that
# worked) fails at every call rather than once in a while: a Redis script error, a ledger table
# that is not there. One stray error is not that, and when it is, the first group of
# concurrent senders gets there at once.
BUDGET_ERRORS_IN_A_ROW = 3

# Send troubles (a row put back for retry, failed, or unknown) are logged once per distinct
# reason per window; at most this many distinct reasons a window, the rest only counted (a
# provider whose error text varies per row must not write one line per row of a blast).
TROUBLE_REASONS_LOGGED = 10
TROUBLE_WINDOW_SECONDS = 300.0


@dataclass
class WorkerOptions:
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:"
                                                   f"{uuid.uuid4().hex[:6]}")
    concurrency: int = 16
    batch_size: int = 200
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 3600.0
    stale_sending_after: timedelta = timedelta(minutes=10)
    poll_seconds: float = 1.0
    maintain_every_seconds: float = 30.0
    # Silent this long: declared dead by another worker (OUTREACH_WORKER_DEAD_SECONDS).
    dead_after: timedelta = timedelta(seconds=30)
    # The database went away (restart, failover, network): wait 1, 2, 4 ... 30 s between
    # tries and go on when it answers; `--once` gives up (one line) after `outage_tries_once`.
    # A send budget that keeps failing (BUDGET_ERRORS_IN_A_ROW) is waited for the same way.
    outage_first_wait_seconds: float = 1.0
    outage_cap_seconds: float = 30.0
    outage_tries_once: int = 5
    # channel -> messages/second, for the process-local buckets of a worker given no budgets
    rates: dict[str, float | None] = field(default_factory=dict)

    @property
    def heartbeat_seconds(self) -> float:
        """How often a worker beats and looks for dead ones: six beats fit in `dead_after`,
        so a worker is declared dead only after five or six beats in a row went missing."""
        return self.dead_after.total_seconds() / 6

    @property
    def budget_wait_seconds(self) -> float:
        """How long a `sending` row may wait for its turn in the send budget (a pause, a
        ledger that does not answer) before it is given back: half of `stale_sending_after`,
        since past that another worker's stale-send sweep settles the row as if its worker had
        died (Twilio's queued again and sent by another worker, SendGrid's `unknown`) while
        this one still holds it. The other half is for the provider call (10 s at most) and
        for the hosts' clocks, which the sweep compares with ours."""
        return self.stale_sending_after.total_seconds() / 2

    @property
    def fence_seconds(self) -> float:
        """A worker whose last successful beat started longer ago than this calls no
        provider: by the time others may declare it dead (`dead_after` after that beat, by
        the database's clock) every call it started has ended, since a provider call times
        out in 10 s (the transports' timeout) and this leaves `dead_after` / 2 = 15 s."""
        return self.dead_after.total_seconds() / 2


@dataclass
class _BudgetStreak:
    """One channel's send budget failing: its errors in a row and the last one."""

    errors: int = 0
    error: str = ""  # the last error's type and masked text
    unseen: int = 0  # errors since the claimer last looked
    looks: int = 0  # times the claimer found it failing: its waits so far


class _FailingBudgets:
    """Each channel's send budget errors in a row: counted by the senders, read by the
    claimer, which starts no more sends while one keeps failing and waits before it tries
    again (a failing budget would otherwise give every row back at once, and the claimer
    take it again, for ever). A budget that is briefly unreachable is not here: it waits
    inside acquire (outreach.sending.pacing.SharedBudget) and raises nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streaks: dict[str, _BudgetStreak] = {}

    def failed(self, channel: str, error: Exception) -> bool:
        """One more error; True when it begins a streak (the one the log is told about)."""
        with self._lock:
            streak = self._streaks.setdefault(channel, _BudgetStreak())
            streak.errors += 1
            streak.unseen += 1
            streak.error = f"{type(error).__name__}: {mask_text(str(error))[:200]}"
            return streak.errors == 1

    def worked(self, channel: str) -> _BudgetStreak | None:
        """An acquire that worked ends the channel's streak: the one it ended, if any. Every
        send asks, so with no streak at all it takes no lock (a streak another thread begins
        meanwhile is ended by the next send that works)."""
        if not self._streaks:
            return None
        with self._lock:
            return self._streaks.pop(channel, None)

    def failing(self, look: bool = False) -> tuple[str, _BudgetStreak] | None:
        """A channel whose budget failed BUDGET_ERRORS_IN_A_ROW times in a row, again since
        the claimer last looked, and a copy of its streak; `look`: the claimer's look (the
        channel's errors from now on are new, and its waits count one more)."""
        with self._lock:
            for channel, streak in self._streaks.items():
                if streak.errors >= BUDGET_ERRORS_IN_A_ROW and streak.unseen:
                    if look:
                        streak.unseen = 0
                        streak.looks += 1
                    return channel, replace(streak)
        return None

    def clear(self) -> None:
        with self._lock:
            self._streaks.clear()


class _SendTroubles:
    """The reasons provider calls did not end in `sent`, for the log: an SMTP host that
    refuses connections must not leave the worker retrying in silence, nor a million-row
    blast write a million lines. The first row of each distinct (channel, outcome, reason)
    in a window is one line at once; the window's end (or the run's) says how many more had
    it; past TROUBLE_REASONS_LOGGED distinct reasons, the others are counted together. The
    reasons are masked (the transports scrub the recipient; mask_text catches the rest)."""

    _SAID: ClassVar[dict[str, str]] = {
        "retry": "put back for retry", "failed": "failed",
        "unknown": "unknown (maybe sent; not re-sent)"}

    def __init__(self, window_seconds: float = TROUBLE_WINDOW_SECONDS) -> None:
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._unlogged = 0  # rows whose reason came past the cap
        self._started = time.monotonic()

    def note(self, channel: str, outcomes: list[outbox.Outcome]) -> None:
        """One recorded batch's outcomes of one channel (only called with troubles)."""
        with self._lock:
            if time.monotonic() - self._started > self.window_seconds:
                self._flush()
            for outcome in outcomes:
                if outcome.state not in self._SAID:
                    continue
                key = (channel, outcome.state, mask_text(outcome.error or "no reason")[:300])
                if key not in self._counts and len(self._counts) >= TROUBLE_REASONS_LOGGED:
                    self._unlogged += 1
                    continue
                self._counts[key] += 1
                if self._counts[key] == 1:
                    log.warning("%s send %s (outbox row %s): %s; more rows for this reason "
                                "are counted, not each logged (`outreach report` lists them "
                                "by reason)", channel, self._SAID[outcome.state], outcome.row_id,
                                key[2])

    def flush(self) -> None:
        """The window's counts said now (the run ends)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        for (channel, state, reason), count in sorted(self._counts.items()):
            if count > 1:
                log.warning("%s: %d sends %s in the last %.0f s: %s", channel, count,
                            self._SAID[state], time.monotonic() - self._started, reason)
        if self._unlogged:
            log.warning("%d more sends did not go out, for other reasons than those above: "
                        "see `outreach report`", self._unlogged)
        self._counts.clear()
        self._unlogged = 0
        self._started = time.monotonic()


@dataclass
class _Job:
    row: OutboxRow
    message: Message
    # When the provider must have been called by, or the row given back (time.monotonic()):
    # see Worker.budget_deadline.
    deadline: float | None = None


class Worker:
    def __init__(self, engine: Engine, transports: dict[str, Transport], renderer: Renderer,
                 gate: Gate = gate_stub, options: WorkerOptions | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 budgets: Mapping[str, Budget] | None = None):
        """`budgets`: each channel's pace, shared with the account's other workers
        (outreach.sending.pacing.SharedBudget; ops.wiring builds them); a channel without one
        gets a process-local TokenBucket at `options.rates`."""
        self.engine = engine
        self.transports = transports
        self.renderer = renderer
        self.gate = gate
        self.options = options or WorkerOptions()
        self.clock = clock
        self.stop = threading.Event()
        self.buckets: dict[str, Budget] = {
            channel: (budgets or {}).get(channel) or TokenBucket(self.options.rates.get(channel))
            for channel in transports}
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._backoff = wait_random_exponential(multiplier=self.options.backoff_base_seconds,
                                                max=self.options.backoff_cap_seconds)
        self._declared_dead = threading.Event()  # another worker took this one's work
        self._beat_started = time.monotonic()  # when the last successful heartbeat began
        self._budgets = _FailingBudgets()
        self._troubles = _SendTroubles()

    def count(self, key: str, amount: int = 1) -> None:
        if amount:
            with self._stats_lock:
                self.stats[key] += amount

    # --- the loop -------------------------------------------------------------------------
    def run(self, once: bool = False) -> Counter[str]:
        """Send until stopped (or, with once, until nothing is due); return what happened.

        Three kinds of threads: this one claims, checks and marks rows `sending` a few at a
        time (never more than the senders can start soon); `concurrency` senders call the
        provider; one recorder commits the outcomes in batches.
        """
        jobs: queue.Queue[_Job | None] = queue.Queue()
        results: queue.Queue[tuple[_Job, SendResult] | None] = queue.Queue()
        senders = [threading.Thread(target=self._sender, args=(jobs, results), daemon=True)
                   for _ in range(self.options.concurrency)]
        recorder = threading.Thread(target=self._recorder, args=(results,), daemon=True)
        ending = threading.Event()  # set: the heartbeat ends, everything of this run is over
        heart = threading.Thread(target=self._heartbeat, args=(ending,), daemon=True)
        self._register()
        self._budgets.clear()
        given_up: tuple[str, _BudgetStreak] | None = None  # --once: a budget kept failing
        for transport in self.transports.values():
            transport.warm_up()
        for thread in [*senders, recorder, heart]:
            thread.start()
        try:
            maintained: float | None = None
            looked = time.monotonic()  # the last look for dead workers
            outage = 0  # failed tries in a row: the database is not answering
            refused = self.stats["budget_errors"]  # --once: when the claimer last found none
            while not self.stop.is_set():
                try:
                    if outage:  # the first try after a failure: is it back?
                        self._database_back(outage)
                        outage = 0
                    if maintained is None or \
                            time.monotonic() - maintained > self.options.maintain_every_seconds:
                        self.maintain()  # a busy worker still frees a dead one's claims
                        maintained = looked = time.monotonic()
                    elif time.monotonic() - looked > self.options.heartbeat_seconds:
                        self.recover_dead_workers()  # one query when nobody died
                        looked = time.monotonic()
                    if not self._may_call():  # beats failing: claim nothing the senders
                        self.stop.wait(self.options.poll_seconds)  # would only give back
                        continue
                    failing = self._budgets.failing(look=True)
                    if failing is not None:
                        if once and failing[1].looks >= self.options.outage_tries_once:
                            given_up = failing
                            break
                        self.stop.wait(self._budget_failing(*failing))
                        continue
                    rows = outbox.claim(self.engine, self.options.worker_id,
                                        self.options.batch_size, self.options.lease,
                                        self.clock())
                    if not rows:
                        if once:
                            # The sends in flight end first: a row its budget refused is back
                            # in the queue, due, and is tried again (a budget that keeps
                            # refusing then stops the pass: _FailingBudgets). Only after new
                            # refusals, so rows taken meanwhile by another worker end it.
                            jobs.join()
                            if self.stats["budget_errors"] == refused:
                                break
                            refused = self.stats["budget_errors"]
                            continue
                        self.stop.wait(self.options.poll_seconds)
                        self.maintain()  # it looks for dead workers too
                        looked = time.monotonic()
                        continue
                    self._dispatch(rows, jobs)
                except Exception as error:
                    if not is_connection_loss(error) or \
                            (once and outage + 1 >= self.options.outage_tries_once):
                        raise
                    self.stop.wait(self._database_lost(error, "claiming", outage))
                    outage += 1
            jobs.join()
        finally:
            for _ in senders:
                jobs.put(None)
            for thread in senders:
                thread.join()
            results.put(None)
            recorder.join()
            try:
                released = outbox.release(self.engine, self.options.worker_id, self.clock())
            except Exception as error:
                if not is_connection_loss(error):
                    raise
                log.warning("database unreachable at stop: %s; this worker's unstarted claims "
                            "go back to the queue when their lease ends",
                            database_reason(error))
                released = 0
            if released:
                self.count("released", released)
            ending.set()
            heart.join()
            self._mark_stopped()
            self._troubles.flush()
        if self._declared_dead.is_set():
            raise ServiceError(
                f"worker {self.options.worker_id} was declared dead by another worker (no "
                f"heartbeat for {self.options.dead_after.total_seconds():g} s: a blocked "
                "database or a stalled process); its claims went to the others, and it "
                "stopped without sending them: start it again")
        if given_up is not None:
            channel, streak = given_up
            raise ServiceError(
                f"the send budget for {channel} failed {streak.errors} times in a row (last: "
                f"{streak.error}): the pass stopped, and the messages it could not send are "
                "back in the queue unsent; check the ledger it is kept in (OUTREACH_REDIS_URL's "
                "Redis, or the store's send_budgets table), then run again")
        return self.stats

    # --- heartbeats: a dead worker's work is taken in seconds -------------------------------
    def _register(self) -> None:
        """This run's row in the workers table, live from now. A database that does not
        answer yet is no reason not to start: the first beat that gets through registers."""
        self._declared_dead.clear()
        self._beat_started = time.monotonic()
        try:
            workers.register(self.engine, self.options.worker_id, socket.gethostname(),
                             os.getpid(), utcnow())
        except Exception as error:
            if not is_connection_loss(error):
                raise
            log.warning("database unreachable at start: %s; the heartbeat registers this "
                        "worker when it answers", database_reason(error))

    def _heartbeat(self, ending: threading.Event) -> None:
        """Beat every `heartbeat_seconds`, from this thread alone: a send loop that is slow (a
        long batch, a Retry-After pause, a blocked commit) does not delay it. A beat refused
        because another worker declared this one dead stops the worker: its claims and
        `sending` rows are someone else's now, and the senders, seeing `stop`, call no
        provider for the jobs they still hold (they give them back, guarded by owner).

        Beats judge nothing by this host's clock on PostgreSQL (store/workers.py): the wall
        clock here is only SQLite's, one host. Never the injected business clock, which tests
        and replays set to another day."""
        failing = 0
        while not ending.wait(self.options.heartbeat_seconds):
            started = time.monotonic()
            try:
                alive = workers.beat(self.engine, self.options.worker_id,
                                     socket.gethostname(), os.getpid(), utcnow())
            except Exception as error:  # the heartbeat thread must outlive any one beat
                if failing == 0:
                    if is_connection_loss(error):
                        log.warning("heartbeat failed: database unreachable: %s; no provider "
                                    "is called %gs after the last beat until one gets "
                                    "through", database_reason(error),
                                    self.options.fence_seconds)
                    else:
                        log.exception("heartbeat failed")
                failing += 1
                continue
            if failing:
                log.warning("heartbeat back after %d failed beats", failing)
                failing = 0
            if not alive:
                log.error("this worker was declared dead by another (its heartbeat was late "
                          "by over %gs): it stops and sends none of the work it lost",
                          self.options.dead_after.total_seconds())
                self._declared_dead.set()
                self.stop.set()
                return
            self._beat_started = started

    def _may_call(self) -> bool:
        """May a sender call a provider now? Not once this worker was declared dead, nor while
        its heartbeat has been failing for `fence_seconds` (the others may be about to declare
        it dead and reconcile the very rows its senders hold)."""
        return not self._declared_dead.is_set() and \
            time.monotonic() - self._beat_started < self.options.fence_seconds

    def _mark_stopped(self) -> None:
        try:
            workers.mark_stopped(self.engine, self.options.worker_id, utcnow())
        except Exception as error:
            if not is_connection_loss(error):
                raise
            log.warning("database unreachable at stop: %s; this worker is declared dead "
                        "when its heartbeat is %gs old, and what it left is reconciled then",
                        database_reason(error), self.options.dead_after.total_seconds())

    def _retry_wait(self, tries: int) -> float:
        """The seconds to wait after `tries` failed tries (exponential, capped: a restarting
        server is not hammered). The exponent stops growing long after the cap is reached:
        2.0 ** 1024 would overflow a float, and the worker would die of a long outage instead
        of waiting it out."""
        return min(self.options.outage_cap_seconds,
                   self.options.outage_first_wait_seconds * 2.0 ** min(tries, 1000))

    def _database_lost(self, error: Exception, doing: str, tries: int) -> float:
        """One log line for a database that stopped answering; the seconds to wait before the
        next try (_retry_wait)."""
        wait = self._retry_wait(tries)
        log.warning("database unreachable while %s: %s; retrying in %gs", doing,
                    database_reason(error), wait)
        self.count("database_outages" if tries == 0 else "database_retries")
        return wait

    def _budget_failing(self, channel: str, streak: _BudgetStreak) -> float:
        """A channel's budget keeps failing: the batch's claims not started yet go back to the
        queue (its started rows were given back by the senders, their provider never
        called), one line says so, and the claimer waits (_retry_wait) before it claims again,
        the rows due as they were. The seconds to wait."""
        released = outbox.release(self.engine, self.options.worker_id, self.clock())
        self.count("released", released)
        wait = self._retry_wait(streak.looks - 1)
        log.warning("send budget for %s failed %d times in a row (last: %s); no send starts "
                    "until it works: the rows it refused are back in the queue unsent, and "
                    "the worker claims again in %gs", channel, streak.errors, streak.error,
                    wait)
        return wait

    def _database_back(self, tries: int) -> None:
        """The database answers again. A batch whose checks the outage cut short is given
        back now rather than when its lease ends: its rows are still `claimed` by this worker
        and none of them was handed to a sender (those are `sending`)."""
        released = outbox.release(self.engine, self.options.worker_id, self.clock())
        log.warning("database reachable again after %d failed tries; the worker goes on"
                    "%s", tries, f" ({released} interrupted claims back in the queue)"
                    if released else "")

    def _dispatch(self, rows: list[OutboxRow], jobs: queue.Queue[_Job | None]) -> None:
        """Check a claimed batch, then hand it to the senders a group at a time. The rows not
        sent now (held, failed, skipped, deferred) are settled in one transaction per phase:
        those the rendering set aside before the gate reads the batch (it sees them as it
        did one by one), the gate's own after it."""
        worker, now = self.options.worker_id, self.clock()
        rendered = self.renderer.render_batch(rows)
        ready: list[_Job] = []
        aside: list[outbox.SetAside] = []
        held: set[tuple[str, str, str]] = set()  # steps this batch put on hold
        for row in rows:
            message, step = rendered[row.id], (row.campaign, row.step, row.channel)
            if step in held:  # the rest of a held step waits in the queue with it
                aside.append(outbox.SetAside(row.id, "queued", until=now))
                self.count("held")
            elif isinstance(message, TemplateFailure):
                # The template, not the row, is broken: this row fails with the reason and
                # its step waits for the fix; every other step and campaign goes on.
                aside.append(outbox.SetAside(row.id, "failed", f"render: {message}"))
                self._hold(row, f"{message} (outbox {row.id})", now)
                held.add(step)
                self.count("failed")
            elif isinstance(message, NoOneToSpeakFor):
                aside.append(outbox.SetAside(row.id, "skipped", str(message)))
                self.count("skipped")
            elif isinstance(message, RenderError):
                aside.append(outbox.SetAside(row.id, "failed", f"render: {message}"))
                self.count("failed")
            elif message.placeholders and self._reaches_people(row.channel):
                # A compliance setting is missing: held, neither sent degraded nor failed.
                self._hold(row, message.placeholders[0], now)
                aside.append(outbox.SetAside(row.id, "queued", until=now))
                held.add(step)
                self.count("held")
            else:
                ready.append(_Job(row, message))
        outbox.set_aside(self.engine, aside, worker, now)
        with self.engine.connect() as connection:
            suppressed = {channel: suppressions.suppressed_among(
                connection, channel, [j.message.to for j in ready if j.row.channel == channel])
                for channel in {j.row.channel for j in ready}}
        self.gate.prepare([job.row for job in ready])  # one query for the whole batch
        sendable: list[_Job] = []
        aside = []
        for job in ready:
            if job.message.to.lower() in suppressed[job.row.channel]:
                decision = Decision("skip", reason="recipient is on the suppression list")
            else:
                decision = self.gate(job.row, job.message, now)
            if decision.action == "skip":
                aside.append(outbox.SetAside(job.row.id, "skipped", decision.reason))
                self.count("skipped")
            elif decision.action == "defer":
                aside.append(outbox.SetAside(job.row.id, "queued", decision.reason,
                                             decision.until or now))
                self.count("deferred")
            else:
                sendable.append(job)
        outbox.set_aside(self.engine, aside, worker, now)
        group = max(1, self.options.concurrency)
        for start in range(0, len(sendable), group):
            while jobs.unfinished_tasks >= group and not self.stop.is_set():
                time.sleep(0.002)
            if self.stop.is_set() or self._budgets.failing() is not None:
                return  # the rest stay claimed and are released
            part = sendable[start:start + group]
            # Read before the commit, so the deadline is never later than the row's own
            # `sending` time.
            deadline = time.monotonic() + self.options.budget_wait_seconds
            started = outbox.start_sending_many(self.engine, [j.row.id for j in part],
                                                worker, self.clock())
            self.count("lost_claim", len(part) - len(started))
            for job in part:
                if job.row.id in started:
                    job.deadline = deadline
                    jobs.put(job)

    def _reaches_people(self, channel: str) -> bool:
        """Does this channel's transport reach people? A channel with no transport counts as
        one that does: a placeholder is never let through by a missing setting."""
        transport = self.transports.get(channel)
        return transport is None or transport.reaches_people

    def _hold(self, row: OutboxRow, reason: str, now: datetime) -> None:
        """Hold the row's step (as the spam alarm does): `outreach report` shows the reason,
        `outreach resume CAMPAIGN` lifts it once the cause is fixed."""
        with self.engine.begin() as connection:
            if events.hold(connection, row.campaign, row.step, row.channel, reason, now):
                log.warning("holding %s/%s/%s: %s", row.campaign, row.step, row.channel, reason)

    def _sender(self, jobs: queue.Queue[_Job | None],
                results: queue.Queue[tuple[_Job, SendResult] | None]) -> None:
        while True:
            job = jobs.get()
            if job is None:  # run() is stopping its senders
                jobs.task_done()
                return
            try:
                # The token is taken after the `sending` commit, right before the call: a slow
                # commit in between would bunch calls up and break a per-second window.
                if not self._turn(job) or not self._may_call():  # declared dead, or about to be
                    outbox.unstart(self.engine, [job.row.id], self.options.worker_id,
                                   self.clock())  # the provider was never called
                    continue
                results.put((job, self.call(job)))
            except Exception as error:  # one message's surprise must not kill the sender
                if is_connection_loss(error):
                    # Unstarting or reconciling needed the database: the row stays `sending`
                    # and is reconciled later, never re-sent blindly.
                    log.warning("database unreachable for outbox row %s: %s; it is "
                                "reconciled later", job.row.id, database_reason(error))
                else:
                    log.exception("unexpected error delivering outbox row %s", job.row.id)
                self.count("errors")
            finally:
                jobs.task_done()

    def _turn(self, job: _Job) -> bool:
        """Wait for the message's turn in its channel's budget. False (the row is given back,
        its provider never called): stopping; the turn did not come by the job's deadline; or
        the budget failed in a way it does not wait out itself (an unexpected error from its
        ledger), which must not leave the row `sending` to become `unknown` unsent. Errors in
        a row are one line in the log, and the claimer's to act on (_FailingBudgets)."""
        if self.stop.is_set():
            return False
        channel = job.row.channel
        try:
            if self.buckets[channel].acquire(self.stop, deadline=job.deadline):
                ended = self._budgets.worked(channel)
                if ended is not None and ended.errors >= BUDGET_ERRORS_IN_A_ROW:
                    log.warning("send budget for %s works again after %d errors in a row",
                                channel, ended.errors)
                return True
        except Exception as error:
            if self._budgets.failed(channel, error):
                log.warning("send budget for %s failed: %s: %s; outbox row %s goes back to "
                            "the queue unsent (if it keeps failing, the rows it refuses are "
                            "counted in budget_errors, not each logged)", channel,
                            type(error).__name__, mask_text(str(error))[:200], job.row.id)
            self.count("budget_errors")
            return False
        if not self.stop.is_set():
            log.info("outbox row %s waited %gs for its send budget (a pause or an unreachable "
                     "ledger): back to the queue", job.row.id,
                     self.options.budget_wait_seconds)
            self.count("budget_waited_out")
        return False

    def call(self, job: _Job) -> SendResult:
        transport = self.transports[job.row.channel]
        started = self.clock()
        timer = time.perf_counter()
        result = transport.send(job.message)
        PROVIDER_LATENCY.labels(job.row.channel, transport.name).observe(
            time.perf_counter() - timer)
        SENDS.labels(job.row.channel, result.outcome).inc()
        if result.outcome == "retry" and result.retry_after:
            try:
                self.buckets[job.row.channel].pause(result.retry_after)
            except Exception as error:  # the provider was called: its answer must be kept
                log.warning("could not pause the %s send budget for %gs: %s: %s",
                            job.row.channel, result.retry_after, type(error).__name__,
                            mask_text(str(error))[:200])
        if result.outcome == "unknown" and transport.can_reconcile:
            found = transport.find_sent(job.message, started,
                                        taken=lambda sid: self._taken(sid, job.row.id))
            if found:
                result = SendResult("sent", provider_message_id=found)
        return result

    def _recorder(self, results: queue.Queue[tuple[_Job, SendResult] | None]) -> None:
        """Commit outcomes in batches: one transaction per few hundred sends, not one each."""
        done = False
        while not done:
            batch: list[tuple[_Job, SendResult]] = []
            item = results.get()
            deadline = time.monotonic() + 0.02
            while item is not None:
                batch.append(item)
                if len(batch) >= 500:
                    break
                try:
                    item = results.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            done = item is None
            if batch:
                self.record(batch)

    def record(self, batch: list[tuple[_Job, SendResult]]) -> None:
        """Commit a batch of outcomes. While the database is unreachable the batch waits in
        memory and is tried again (the calls were made: recording them is what keeps them from
        becoming `unknown`); both writes are idempotent, so a commit whose answer was lost is
        harmless to repeat. Stopping during an outage gives up after a few tries: the rows
        stay `sending` and are reconciled at the next start, never re-sent blindly."""
        now = self.clock()
        outcomes = [self._outcome(job, result, now) for job, result in batch]
        for outcome in outcomes:
            self.count(outcome.state)  # what the providers answered, recorded or not
        troubles: dict[str, list[outbox.Outcome]] = {}
        for (job, _), outcome in zip(batch, outcomes, strict=True):
            if outcome.state != "sent":
                troubles.setdefault(job.row.channel, []).append(outcome)
        for channel, troubled in troubles.items():
            self._troubles.note(channel, troubled)
        tries = 0
        while True:
            try:
                for job, result in batch:
                    if result.suppress:
                        suppressions.suppress(self.engine, job.row.channel, job.message.to,
                                        f"{job.row.channel}-provider", result.error or "", now)
                outbox.finish_many(self.engine, outcomes, now)
                break
            except Exception as error:
                lost = is_connection_loss(error)
                if lost and (not self.stop.is_set() or tries < self.options.outage_tries_once):
                    wait = self._database_lost(error, f"recording {len(outcomes)} outcomes",
                                               tries)
                    tries += 1
                    if self.stop.is_set():
                        time.sleep(min(wait, 2.0))
                    else:
                        self.stop.wait(wait)
                    continue
                # Rows stay `sending`: the stale-send sweep reconciles them.
                if lost:
                    log.warning("could not record %d outcomes: %s; their rows stay `sending` "
                                "and are reconciled", len(outcomes), database_reason(error))
                else:
                    log.exception("could not record %d outcomes", len(outcomes))
                self.count("errors")
                return

    def _outcome(self, job: _Job, result: SendResult, now: datetime) -> outbox.Outcome:
        row = job.row
        if result.outcome != "retry":
            return outbox.Outcome(row.id, result.outcome, result.provider_message_id,
                                  result.error)
        attempts = row.attempts + 1
        if attempts >= self.options.max_attempts:
            return outbox.Outcome(row.id, "failed",
                                  error=f"gave up after {attempts} attempts: {result.error}")
        wait = max(result.retry_after or 0.0,
                   # tenacity's wait reads only attempt_number from its RetryCallState
                   self._backoff(cast(RetryCallState, SimpleNamespace(attempt_number=attempts))))
        return outbox.Outcome(row.id, "retry", error=result.error,
                              retry_at=now + timedelta(seconds=wait))

    # --- after a crash ------------------------------------------------------------------------
    def maintain(self) -> Counter[str]:
        """Dead workers' work taken (see recover_dead_workers); expired claims back to the
        queue; `sending` rows left too long (a worker that died before heartbeats, or whose
        recovery was cut short) reconciled. Returns what it did (also counted in `stats`)."""
        now = self.clock()
        done = self._recover_dead(now)
        done["leases_expired"] = outbox.expire_leases(self.engine, now)
        stale = outbox.stale_sending(self.engine, now - self.options.stale_sending_after)
        self._reconcile_rows(stale, now, done)
        return self._counted(done)

    def recover_dead_workers(self) -> Counter[str]:
        """Take the work of every worker whose heartbeat is older than `dead_after`: its
        unstarted claims back to the queue, its `sending` rows reconciled at once (Twilio is
        asked; SendGrid's become `unknown`). One query on the workers table when nobody died,
        so the loop asks every heartbeat. Returns what it did (also counted in `stats`)."""
        return self._counted(self._recover_dead(self.clock()))

    def _recover_dead(self, now: datetime) -> Counter[str]:
        done: Counter[str] = Counter()
        with self.engine.connect() as connection:
            silent = workers.dead(connection, self.options.dead_after, utcnow())
        for worker_id in silent:
            if worker_id == self.options.worker_id:
                continue  # our own late beats: the heartbeat thread's to notice, not ours
            recovery = workers.declare_dead(self.engine, worker_id, self.options.worker_id,
                                            self.options.dead_after, utcnow())
            if recovery is None:
                continue  # it beat meanwhile, or another worker got there first
            log.warning("worker %s sent no heartbeat for over %gs: declared dead; %d of its "
                        "claims back in the queue, %d interrupted sends to reconcile",
                        worker_id, self.options.dead_after.total_seconds(),
                        recovery.released, len(recovery.sending))
            done["dead_workers"] += 1
            done["dead_claims_released"] += recovery.released
            self._reconcile_rows(recovery.sending, now, done)
        return done

    def _reconcile_rows(self, rows: list[OutboxRow], now: datetime,
                        done: Counter[str]) -> None:
        if not rows:
            return
        rendered = self.renderer.render_batch(rows)
        for row in rows:
            try:
                done[self.reconcile(row, rendered[row.id], now)] += 1
            except Exception as error:
                # One row's surprise (a provider down, a journal it cannot read) is that
                # row's: it stays `sending` for the next pass; the rest are settled and
                # the worker starts (DESIGN invariant 11).
                log.warning("could not reconcile outbox row %s: %s: %s", row.id,
                            type(error).__name__, mask_text(str(error))[:200])
                done["reconcile_errors"] += 1

    def _counted(self, done: Counter[str]) -> Counter[str]:
        done = +done  # only what happened
        for key, amount in done.items():
            self.count(key, amount)
        return done

    def reconcile(self, row: OutboxRow, message: Message | RenderError, now: datetime) -> str:
        """Settle one interrupted send; returns how (the stats key)."""
        transport = self.transports.get(row.channel)
        if isinstance(message, Message) and transport is not None and transport.can_reconcile:
            # The attempt's start by our clock; the transport widens it for skew and matches
            # by our own id (or recipient and text), so no clock comparison decides a send.
            found = transport.find_sent(message, row.updated_at,
                                        taken=lambda sid: self._taken(sid, row.id))
            if found:
                outbox.finish(self.engine, row.id, "sent", now, provider_message_id=found)
                return "reconciled_sent"
            # The provider can tell, and it never got it: safe to send again.
            outbox.finish(self.engine, row.id, "retry", now, retry_at=now,
                          error="interrupted before the provider received it")
            return "reconciled_retry"
        outbox.finish(self.engine, row.id, "unknown", now,
                      error="the worker stopped during the provider call; not re-sent")
        return "unknown"

    def _taken(self, provider_id: str, row_id: int) -> bool:
        """Is this provider id already recorded for another outbox row?"""
        with self.engine.connect() as connection:
            other = message_by_provider_id(connection, provider_id)
        return other is not None and other.id != row_id
