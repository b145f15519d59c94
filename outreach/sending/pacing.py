"""Pacing: how fast a provider account may be called, and its Retry-After pause.

A provider limits an account, not a process: Twilio queues or refuses (error 20429, HTTP 429)
what one account sends above its rate, SendGrid answers 429 with a reset time. So the budget is
one per account (`budget_key`: channel, transport and account id, never a secret), shared by
every worker thread, process and host (`SharedBudget`, its numbers in the store or Redis:
outreach/store/rates.py); `TokenBucket` is the process-local one, for a worker built without a
shared budget (tests, benchmarks of one process).

Either way the worker asks `acquire(stop, deadline)` before each provider call and tells
`pause(seconds)` when the provider answered 429 with Retry-After. The deadline bounds the wait:
the worker's row is already `sending`, and a row left so too long is taken for a dead worker's
by another worker's stale-send sweep (outreach.store.outbox.stale_sending), which would settle
it (`unknown`, or queued again and sent by someone else) while this thread still holds it.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from typing import Protocol

from outreach.store.rates import BudgetUnreachable, Reservation

log = logging.getLogger("outreach.worker")

# The pace is 4% under the rate asked: that leaves every one-second window about 40 ms of
# slack for jitter in the client and the network (a first request that opens its connection
# arrives tens of milliseconds late), at any rate: n + 1 sends spaced 1 / (0.96 n) apart span
# 1 / 0.96 = 1.042 s, so no one-second window holds more than n of them.
HEADROOM = 0.96


class Budget(Protocol):
    """What the worker asks before a provider call, and tells after a 429."""

    def acquire(self, stop: threading.Event, deadline: float | None = None) -> bool:
        """Wait for this call's turn; False if asked to stop meanwhile, or once the turn has
        not come by `deadline` (a time.monotonic() reading; None: no limit)."""
        ...

    def pause(self, seconds: float) -> None:
        """No call for `seconds` (the provider's Retry-After), for everyone sharing it."""
        ...


class Ledger(Protocol):
    """Where a shared budget's numbers live (outreach.store.rates: the store or Redis)."""

    def reserve(self, key: str, interval: float, count: int) -> Reservation: ...

    def pause(self, key: str, seconds: float) -> None: ...

    def paused_for(self, key: str) -> float: ...


def budget_key(channel: str, transport: str, account: str) -> str:
    """The budget of one provider account: `sms:twilio:AC...`, `email:sendgrid:<key hash>`."""
    return f"{channel}:{transport}:{account}"


def account_digest(secret: str) -> str:
    """An account known only by its secret (a SendGrid API key): 16 hex digits of its SHA-256
    name the account in a budget key without putting the secret in the store or Redis."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class TokenBucket:
    """`rate` sends per second, evenly spaced, shared by all sender threads of one process, and
    a pause every thread honors (a provider's 429 Retry-After).

    No bursts (a bucket of one token): providers count sends in one-second windows, and a burst
    on top of the steady rate is exactly what earns a 429. The pace is 4% under the rate asked
    (HEADROOM). Process-local: several processes each given the account's rate together exceed
    it (SharedBudget is what several workers share).
    """

    def __init__(self, rate: float | None):
        self.rate = rate * HEADROOM if rate else None
        self.capacity = 1.0
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def acquire(self, stop: threading.Event, deadline: float | None = None) -> bool:
        """Wait for a token; False if asked to stop meanwhile or past `deadline`."""
        while not stop.is_set():
            with self.lock:
                now = time.monotonic()
                if _past(deadline, now):
                    return False
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
            stop.wait(_until(deadline, now, min(wait, 0.5)))
        return False


def _past(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline


def _until(deadline: float | None, now: float, wait: float) -> float:
    """`wait`, cut short at the deadline (then the caller finds it past and gives up)."""
    return wait if deadline is None else max(0.0, min(wait, deadline - now))


class SharedBudget:
    """One provider account's budget, shared through a ledger by every process and host.

    Evenly spaced slots, 4% under the rate (HEADROOM), never a burst: each acquire takes the
    next free slot from the ledger (one round trip) and sleeps until it. A slot is used on time
    or not at all: one that passed more than LATE ago (a thread woken late on a busy machine, a
    slot reserved for a thread that found no message) is given up, since a late send bunched
    with the next process's on-time one is how a one-second window overflows. LATE is half of
    the headroom's slack; the other half is the client's and the network's.

    At high rates a process reserves a block of consecutive slots per round trip (as many as
    fit in BLOCK_SECONDS: 2 from about 42/s, 19 at 400/s), which keeps the spacing and the
    windows exact. With no rate there is no round
    trip per message: only the account's pause is read, every LOOK_EVERY seconds, besides the
    process's own 429s, which pause it at once.

    A pause is shared as the slots are: `paused_until` in the ledger, which every reservation
    starts after. A slot reserved before a pause that another process set is given up when the
    thread learns of the pause (the process's next reservation tells it).

    A ledger that does not answer (the database restarting) makes callers wait and try again,
    one warning per outage: a paced send is never let through unpaced. A caller's deadline
    ends any wait (a pause, an outage, a slot too far ahead): acquire says False and the caller
    gives its message back rather than hold it `sending` longer.
    """

    LATE = 0.5 * (1 / HEADROOM - 1)  # about 21 ms
    BLOCK_SECONDS = 0.05
    LOOK_EVERY = 1.0
    RETRY_SECONDS = 1.0
    OFFSET_SAMPLES = 50  # the last reservations' clock readings: seconds of them

    def __init__(self, ledger: Ledger, key: str, rate: float | None):
        self.ledger = ledger
        self.key = key
        self.interval = 1 / (rate * HEADROOM) if rate else None
        self.block = max(1, int(rate * HEADROOM * self.BLOCK_SECONDS)) if rate else 1
        self.slots: collections.deque[float] = collections.deque()  # monotonic times
        self.paused_until = 0.0  # monotonic
        self.offsets: collections.deque[float] = collections.deque(maxlen=self.OFFSET_SAMPLES)
        self.looked = float("-inf")
        self.given_up = 0  # slots not used on time (a measure, for tests and benchmarks)
        self.lock = threading.Lock()
        self._unreachable = False

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        try:
            self.ledger.pause(self.key, seconds)
        except BudgetUnreachable as error:
            self._warn(error)  # this process pauses; the others learn from their own 429s

    def acquire(self, stop: threading.Event, deadline: float | None = None) -> bool:
        while not stop.is_set():
            now = time.monotonic()
            if _past(deadline, now):
                return False
            if now < self.paused_until:
                stop.wait(_until(deadline, now, self.paused_until - now))
                continue
            if self.interval is None:
                if self._look(now):
                    return True
                continue
            slot = self._next_slot()
            if slot is None:
                stop.wait(_until(deadline, time.monotonic(), self.RETRY_SECONDS))
                continue
            if deadline is not None and slot > deadline:
                # Its turn comes too late for this caller: given up at the deadline, not at
                # once, so a message given back and taken again does not reserve in a loop.
                stop.wait(max(0.0, deadline - time.monotonic()))
                with self.lock:
                    self.given_up += 1
                return False
            delay = slot - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return False
            if slot < self.paused_until or time.monotonic() - slot > self.LATE:
                with self.lock:
                    self.given_up += 1
                continue
            return True
        return False

    def _look(self, now: float) -> bool:
        """Unpaced: read the account's pause now and then; True if the call may go now."""
        with self.lock:
            if now - self.looked < self.LOOK_EVERY:
                return True
            self.looked = now
            try:
                paused_for = self.ledger.paused_for(self.key)
            except Exception as error:  # unreachable, or refusing the call every time
                # No pace to keep, only the others' pauses to learn: the sends go on, and
                # the process's own 429s still pause it.
                self._warn(error, "sends go on unpaced, paused by this process's own 429s")
                return True
            self._reached()
            self.paused_until = max(self.paused_until, time.monotonic() + paused_for)
            return paused_for <= 0

    def _next_slot(self) -> float | None:
        """The process's next reserved slot (a monotonic time), reserving more when none is
        left; None while the ledger does not answer."""
        assert self.interval is not None
        with self.lock:
            now = time.monotonic()
            while self.slots and now - self.slots[0] > self.LATE:
                self.slots.popleft()
                self.given_up += 1
            if not self.slots:
                try:
                    reserved = self.ledger.reserve(self.key, self.interval, self.block)
                except BudgetUnreachable as error:
                    self._warn(error)
                    return None
                self._reached()
                offset = self._offset(time.monotonic() - reserved.now)
                self.slots.extend(reserved.first + offset + i * self.interval
                                  for i in range(self.block))
                self.paused_until = max(self.paused_until, reserved.paused_until + offset)
            return self.slots.popleft()

    def _offset(self, sample: float) -> float:
        """The ledger's clock onto this process's monotonic clock. A sample (our clock when
        the answer came, minus the ledger's when it reserved) is the true offset plus however
        long the answer took to reach this thread: long when the process was not scheduled,
        and a slot placed by it would be late by as much without anyone noticing, bunched with
        the next process's. So the smallest of the recent samples is taken (NTP's
        minimum-delay filter), recent enough that the two clocks' drift does not matter."""
        self.offsets.append(sample)
        return min(self.offsets)

    def _warn(self, error: Exception, then: str = "sends wait for it") -> None:
        if not self._unreachable:
            self._unreachable = True
            log.warning("send budget %s unreachable: %s; %s", self.key,
                        error if isinstance(error, BudgetUnreachable)
                        else f"{type(error).__name__}: {error}"[:300], then)

    def _reached(self) -> None:
        if self._unreachable:
            self._unreachable = False
            log.warning("send budget %s reachable again", self.key)
