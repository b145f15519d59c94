"""A send-budget ledger that does not answer: the outage tests' stand-in for Redis or the
store going away (outreach.store.rates.Ledger's interface)."""

from __future__ import annotations

from outreach.store.rates import BudgetUnreachable, Reservation


class LedgerOutage:
    """Refuses its first `failures` reservations (every pause, always), then grants each at
    once; set `failures` to 0 to end the outage from another thread."""

    def __init__(self, failures: int):
        self.failures = failures

    def reserve(self, key: str, interval: float, count: int) -> Reservation:
        if self.failures > 0:
            self.failures -= 1
            raise BudgetUnreachable("connection refused")
        return Reservation(first=0.0, paused_until=0.0, now=0.0)

    def pause(self, key: str, seconds: float) -> None:
        raise BudgetUnreachable("connection refused")

    def paused_for(self, key: str) -> float:
        return 0.0
