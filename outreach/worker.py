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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Engine
from tenacity import wait_random_exponential

from outreach.render import Renderer, RenderError
from outreach.store import outbox
from outreach.store.outbox import OutboxRow
from outreach.transports.base import Message, SendResult, Transport

log = logging.getLogger("outreach.worker")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Decision:
    action: str  # allow | defer | skip
    until: datetime | None = None
    reason: str = ""


ALLOW = Decision("allow")
Gate = Callable[[OutboxRow, Message, datetime], Decision]


def gate_stub(row: OutboxRow, message: Message, now: datetime) -> Decision:
    """STUB until the compliance issue lands: allows everything (consent, quiet hours and caps
    are not checked yet). The suppression list is checked by the worker itself."""
    return ALLOW


class TokenBucket:
    """`rate` sends per second, evenly spaced, shared by all sender threads, and a pause every
    thread honors (a provider's 429 Retry-After).

    No bursts (a bucket of one token): providers count sends in one-second windows, and a burst
    on top of the steady rate is exactly what earns a 429. The pace is 4% under the rate asked:
    that leaves every window about 40 ms of slack for jitter in the client and the network (a
    first request that opens its connection arrives tens of milliseconds late), at any rate.
    """

    HEADROOM = 0.96

    def __init__(self, rate: float | None):
        self.rate = rate * self.HEADROOM if rate else None
        self.capacity = 1.0
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a token; False if asked to stop meanwhile."""
        while not stop.is_set():
            with self.lock:
                now = time.monotonic()
                wait = self.paused_until - now
                if wait <= 0:
                    if self.rate is None:
                        return True
                    self.tokens = min(self.capacity,
                                      self.tokens + (now - self.updated) * self.rate)
                    self.updated = now
                    if self.tokens >= 1:
                        self.tokens -= 1
                        return True
                    wait = (1 - self.tokens) / self.rate
            stop.wait(min(wait, 0.5))
        return False


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
    rates: dict[str, float | None] = field(default_factory=dict)  # channel -> messages/second


class Worker:
    def __init__(self, engine: Engine, transports: dict[str, Transport], renderer: Renderer,
                 gate: Gate = gate_stub, options: WorkerOptions | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.transports = transports
        self.renderer = renderer
        self.gate = gate
        self.options = options or WorkerOptions()
        self.clock = clock
        self.stop = threading.Event()
        self.buckets = {channel: TokenBucket(self.options.rates.get(channel))
                        for channel in transports}
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._backoff = wait_random_exponential(multiplier=self.options.backoff_base_seconds,
                                                max=self.options.backoff_cap_seconds)

    def count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    # --- the loop -------------------------------------------------------------------------
    def run(self, once: bool = False) -> Counter[str]:
        """Send until stopped (or, with once, until nothing is due); return what happened."""
        work: queue.Queue[tuple[OutboxRow, Message | RenderError] | None] = queue.Queue()
        senders = [threading.Thread(target=self._sender, args=(work,), daemon=True)
                   for _ in range(self.options.concurrency)]
        for thread in senders:
            thread.start()
        try:
            self.maintain()
            while not self.stop.is_set():
                if work.qsize() >= self.options.concurrency:
                    time.sleep(0.005)
                    continue
                rows = outbox.claim(self.engine, self.options.worker_id,
                                    self.options.batch_size, self.options.lease, self.clock())
                if not rows:
                    if once:
                        break
                    self.stop.wait(self.options.poll_seconds)
                    self.maintain()
                    continue
                rendered = self.renderer.render_batch(rows)
                for row in rows:
                    work.put((row, rendered[row.id]))
            if once:
                work.join()
        finally:
            for _ in senders:
                work.put(None)
            for thread in senders:
                thread.join()
            released = outbox.release(self.engine, self.options.worker_id, self.clock())
            if released:
                self.stats["released"] += released
        return self.stats

    def _sender(self, work: queue.Queue) -> None:
        while True:
            item = work.get()
            try:
                if item is None:
                    return
                if not self.stop.is_set():
                    self.deliver(*item)
            except Exception:  # one message's surprise must not kill the sender thread
                log.exception("unexpected error delivering outbox row %s", item[0].id)
                self.count("errors")
            finally:
                work.task_done()

    # --- one message --------------------------------------------------------------------------
    def deliver(self, row: OutboxRow, message: Message | RenderError) -> None:
        worker, now = self.options.worker_id, self.clock()
        if isinstance(message, RenderError):
            outbox.fail_unsent(self.engine, row.id, worker, f"render: {message}", now)
            self.count("failed")
            return
        with self.engine.connect() as connection:
            suppressed = outbox.is_suppressed(connection, row.channel, message.to)
        if suppressed:
            outbox.skip(self.engine, row.id, worker, "recipient is on the suppression list", now)
            self.count("skipped")
            return
        decision = self.gate(row, message, now)
        if decision.action == "skip":
            outbox.skip(self.engine, row.id, worker, decision.reason, now)
            self.count("skipped")
            return
        if decision.action == "defer":
            outbox.defer(self.engine, row.id, worker, decision.until or now, now)
            self.count("deferred")
            return
        transport = self.transports[row.channel]
        if not outbox.start_sending(self.engine, row.id, worker, self.clock()):
            self.count("lost_claim")
            return
        # The token is taken right before the call, after the database write: a slow commit
        # between the two would bunch calls up and break the provider's per-second window.
        if not self.buckets[row.channel].acquire(self.stop):
            outbox.unstart(self.engine, row.id, worker, self.clock())  # stopping; never called
            return
        started = self.clock()
        result = transport.send(message)
        if result.outcome == "unknown" and getattr(transport, "can_reconcile", False):
            found = transport.find_sent(message, started - timedelta(minutes=1))
            if found:
                result = SendResult("sent", provider_message_id=found)
        self.record(row, message, result)

    def record(self, row: OutboxRow, message: Message, result: SendResult) -> None:
        now = self.clock()
        if result.outcome == "retry":
            if result.retry_after:
                self.buckets[row.channel].pause(result.retry_after)
            attempts = row.attempts + 1
            if attempts >= self.options.max_attempts:
                outbox.finish(self.engine, row.id, "failed", now,
                              error=f"gave up after {attempts} attempts: {result.error}")
                self.count("failed")
                return
            wait = max(result.retry_after or 0.0,
                       self._backoff(SimpleNamespace(attempt_number=attempts)))
            outbox.finish(self.engine, row.id, "retry", now, error=result.error,
                          retry_at=now + timedelta(seconds=wait))
            self.count("retry")
            return
        if result.suppress:
            outbox.suppress(self.engine, row.channel, message.to, f"{row.channel}-provider",
                            result.error or "", now)
        outbox.finish(self.engine, row.id, result.outcome, now,
                      provider_message_id=result.provider_message_id, error=result.error)
        self.count(result.outcome)

    # --- after a crash ------------------------------------------------------------------------
    def maintain(self) -> None:
        """Expired claims back to the queue; `sending` rows left by a dead worker reconciled."""
        now = self.clock()
        expired = outbox.expire_leases(self.engine, now)
        if expired:
            self.stats["leases_expired"] += expired
        stale = outbox.stale_sending(self.engine, now - self.options.stale_sending_after)
        if not stale:
            return
        rendered = self.renderer.render_batch(stale)
        for row in stale:
            self.reconcile(row, rendered[row.id], now)

    def reconcile(self, row: OutboxRow, message: Message | RenderError, now: datetime) -> None:
        transport = self.transports.get(row.channel)
        if isinstance(message, Message) and transport is not None and \
                getattr(transport, "can_reconcile", False):
            found = transport.find_sent(message, row.updated_at - timedelta(minutes=1))
            if found:
                outbox.finish(self.engine, row.id, "sent", now, provider_message_id=found)
                self.count("reconciled_sent")
            else:  # the provider can tell, and it never got it: safe to send again
                outbox.finish(self.engine, row.id, "retry", now, retry_at=now,
                              error="interrupted before the provider received it")
                self.count("reconciled_retry")
            return
        outbox.finish(self.engine, row.id, "unknown", now,
                      error="the worker stopped during the provider call; not re-sent")
        self.count("unknown")
