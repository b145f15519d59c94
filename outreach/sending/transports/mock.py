"""A transport whose answers come from a function: the worker's test double.

As httpx's MockTransport is built from a `Request -> Response` handler, this one is built from a
`Message -> SendResult` handler, so a test says in one function what the "provider" does
(accept, reject, raise, lose the answer) and runs the real worker against a real store, with no
HTTP stand-in, no sockets and no folder. It records every call, so a test can also say what the
worker asked of it.

    transport = MockTransport(lambda m: SendResult("sent", provider_message_id=f"p{m.outbox_id}"))
    Worker(engine, {"email": transport}, renderer).run(once=True)
    assert [m.to for m in transport.sent] == [...]

A handler that raises is a transport that raises mid-send (a bug, a surprise from an SDK): the
exception reaches the worker exactly as a real transport's would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from outreach.message import Message
from outreach.sending.transports.base import SendResult

Handler = Callable[[Message], SendResult]
# (message, since) -> the provider id if the "provider" has it, or None: the reconciliation.
Finder = Callable[[Message, datetime], str | None]


@dataclass(frozen=True)
class Lookup:
    """One find_sent call: the message asked about, from when, and what was answered."""

    message: Message
    since: datetime
    found: str | None


class MockTransport:
    """A transport answering with `handler`; reconciles only when given a `finder`."""

    def __init__(self, handler: Handler, *, channel: str = "email", name: str = "mock",
                 finder: Finder | None = None, reaches_people: bool = True):
        self.handler = handler
        self.finder = finder
        self.name = name
        self.channel = channel
        # With no finder the "provider" cannot be asked, like SMTP: a lost answer stays unknown.
        self.can_reconcile = finder is not None
        self.reaches_people = reaches_people
        self.sent: list[Message] = []  # every send() call, in order (sender threads append)
        self.lookups: list[Lookup] = []
        self.warmed_up = 0
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Counted, so a test can see the worker warm its transports up once per run."""
        with self._lock:
            self.warmed_up += 1

    def send(self, message: Message) -> SendResult:
        with self._lock:
            self.sent.append(message)
        return self.handler(message)

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        """The finder's answer, unless the id it names already belongs to another outbox row
        (`taken`), as a real transport must check."""
        found = self.finder(message, since) if self.finder else None
        if found is not None and taken is not None and taken(found):
            found = None
        with self._lock:
            self.lookups.append(Lookup(message, since, found))
        return found
