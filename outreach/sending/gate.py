"""The gate's contract with the worker: for each claimed, rendered message, allow, defer or skip.

The worker asks; sending/compliance.py answers for deployments (consent, quiet hours,
frequency, office hours); `gate_stub` allows everything, for tests of the send loop alone.
A gate is asked twice per batch: `prepare` once with every row the worker is about to check
(so it can read what it needs in one query, not one per message), then once per message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

from outreach.message import Message
from outreach.store.outbox import OutboxRow

Action = Literal["allow", "defer", "skip"]
ACTIONS: tuple[Action, ...] = get_args(Action)


@dataclass(frozen=True)
class Decision:
    """The gate's answer for one message. defer: back in the queue until `until` (the reason
    shows in `outreach report`); skip: never, for `reason`."""

    action: Action
    until: datetime | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        # A typo'd action must not fall through to the worker's "allow" branch.
        if self.action not in ACTIONS:
            raise ValueError(f"not a gate action: {self.action}")


ALLOW = Decision("allow")


class Gate(Protocol):
    """What the worker needs of a gate (compliance.Gate is the deployments' one)."""

    def prepare(self, rows: Sequence[OutboxRow]) -> None:
        """Read ahead for a batch about to be checked; called once, before the messages."""
        ...

    def __call__(self, row: OutboxRow, message: Message, now: datetime) -> Decision:
        """Allow, defer or skip this message now."""
        ...


Decide = Callable[[OutboxRow, Message, datetime], Decision]


@dataclass(frozen=True)
class FunctionGate:
    """A gate made of one function and nothing to read ahead: for tests and simple rules."""

    decide: Decide

    def prepare(self, rows: Sequence[OutboxRow]) -> None:
        """Nothing to read: the function answers from the row and the message alone."""

    def __call__(self, row: OutboxRow, message: Message, now: datetime) -> Decision:
        return self.decide(row, message, now)


def _allow_everything(row: OutboxRow, message: Message, now: datetime) -> Decision:
    return ALLOW


# Allows everything: for tests of the send loop alone. Deployments use
# outreach.sending.compliance.Gate (consent, quiet hours, frequency), which the CLI wires in.
gate_stub: Gate = FunctionGate(_allow_everything)
