"""Pacing: how fast a provider account may be called, and its Retry-After pause."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`rate` sends per second, evenly spaced, shared by all sender threads, and
    a pause every thread honors (a provider's 429 Retry-After).

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
