"""One rendered message: what campaigns/render.py produces and every transport takes.

It sits below both (layer 0) so the renderer and the preview do not import the sending layer
to name their output, and the transports do not import campaigns to name their input.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Message:
    outbox_id: int
    channel: str  # email | sms
    to: str
    sender: str  # email: "Name <address>"; SMS: a number or a messaging service
    text: str
    subject: str = ""
    html: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe
    # Compliance settings this message stands in placeholders for (why, one per setting):
    # fine in the files transport's folder, held by the worker before any transport that
    # reaches people (DESIGN invariant 8).
    placeholders: tuple[str, ...] = ()
