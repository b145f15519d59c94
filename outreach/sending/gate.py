"""The gate's contract with the worker: for each claimed, rendered message, allow, defer or skip.

The worker asks; sending/compliance.py answers for deployments (consent, quiet hours,
frequency, office hours); `gate_stub` allows everything, for tests of the send loop alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from outreach.message import Message
from outreach.store.outbox import OutboxRow


@dataclass(frozen=True)
class Decision:
    action: str  # allow | defer | skip
    until: datetime | None = None
    reason: str = ""


ALLOW = Decision("allow")
Gate = Callable[[OutboxRow, Message, datetime], Decision]


def gate_stub(row: OutboxRow, message: Message, now: datetime) -> Decision:
    """Allows everything: for tests of the send loop alone. Deployments use
    outreach.compliance.Gate (consent, quiet hours, frequency), which the CLI wires in."""
    return ALLOW
