"""The transport interface: take one rendered message, hand it to a provider, say what happened.

Pacing, retries, the compliance gate and the outbox live in the worker, above this line (like
httpx's transports): a transport makes exactly one attempt and classifies its outcome.

What a transport can do is declared on it, as httpx's transports declare theirs, so the worker
asks the protocol's members instead of probing with hasattr: its `name` (the metrics label),
its `channel`, whether `find_sent` can tell (`can_reconcile`), whether it `reaches_people`,
and `warm_up` (work to do once before the first paced call, often nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

from outreach.message import Message

SendOutcome = Literal["sent", "retry", "failed", "unknown"]
OUTCOMES: tuple[SendOutcome, ...] = get_args(SendOutcome)

# Connections a provider transport's keep-alive pool holds unless told: one per sender thread
# at the worker's default concurrency (fewer would open a connection, a TLS handshake, per
# call beyond them). The worker passes its own concurrency (ops.wiring).
DEFAULT_POOL_SIZE = 16


@dataclass(frozen=True)
class SendResult:
    """One attempt's outcome.

    sent: the provider accepted it. retry: it surely did not, try later (retry_after seconds,
    when the provider said). failed: it never will (the provider's reason in `error`).
    unknown: the request may have arrived but no answer came back; re-sending could duplicate.
    """

    outcome: SendOutcome
    provider_message_id: str | None = None
    error: str | None = None
    retry_after: float | None = None
    suppress: bool = False  # the provider says never to send to this recipient again

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"not an outcome: {self.outcome}")


class Transport(Protocol):
    name: str  # the provider, as metrics label it (files, smtp, sendgrid, twilio)
    channel: str  # email | sms
    can_reconcile: bool  # True: find_sent's None means "surely not sent"
    reaches_people: bool  # False only for the files transport (a local folder)

    def warm_up(self) -> None:
        """Called once before the worker's first paced send: anything slow the first call
        would otherwise pay (an SDK's lazy imports), so it does not bunch the calls after it.
        Most transports have nothing to do."""
        ...

    def send(self, message: Message) -> SendResult:
        """Make exactly one attempt."""
        ...

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        """The provider id of this message if the provider has it (reconciliation after a
        crash or a lost answer); None when it surely does not or cannot tell.

        `since` is when the attempt started by OUR clock: a transport that has to ask the
        provider by time widens it by the skew it can tolerate, and never lets a comparison of
        our clock with the provider's decide whether a message was sent. `taken(id)` says an
        id the provider returns already belongs to another outbox row (same text, same
        recipient), so it is not this message's."""
        ...
