"""Request body limits: a body larger than its route's limit is answered 413 before it is read.

Without them an unsigned 200 MB POST to the SendGrid webhook was read whole before its signature
was looked at (server +394 MiB), and form routes parsed up to ~1,000 x 1 MB fields before their
CSRF or signature check (audit F6). A declared Content-Length over the limit is refused at once,
without reading a byte (the server itself holds a body to its declared length); a streamed
(chunked) body is read here, counted, and refused as soon as it passes the limit, before the app
runs, so that every route answers 413 whatever it would do with the body, and no more than the
limit is ever held. The limit is by route: SendGrid's Event Webhook posts batches of events
(OUTREACH_MAX_SENDGRID_BODY_BYTES, 4 MiB), POST /api/signers up to api.MAX_SIGNERS records
(OUTREACH_MAX_API_BODY_BYTES, 8 MiB), and every other route, forms and Twilio's webhooks, a few
hundred bytes (OUTREACH_MAX_BODY_BYTES, 64 KiB).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outreach.config import Settings


def too_large(limit: int) -> str:
    return f"the request body is larger than this address takes ({limit:,} bytes)"


@dataclass(frozen=True)
class BodyLimits:
    default: int  # bytes, for every route without its own
    by_prefix: tuple[tuple[str, int], ...] = ()  # (path prefix, bytes), first match wins

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(settings.web.max_body_bytes,
                   (("/hooks/sendgrid/", settings.web.max_sendgrid_body_bytes),
                    ("/api/signers", settings.web.max_api_body_bytes)))

    def for_path(self, path: str) -> int:
        return next((limit for prefix, limit in self.by_prefix if path.startswith(prefix)),
                    self.default)


class BodyLimit:
    """ASGI middleware enforcing BodyLimits on every HTTP request, whatever its method."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = next((value for name, value in scope["headers"]
                         if name == b"content-length"), None)
        if declared is not None:
            if not declared.strip().isdigit():
                await JSONResponse({"detail": "Content-Length is not a number"}, 400)(
                    scope, receive, send)
                return
            if int(declared) > limit:
                await self._refuse(scope, receive, send, limit)
                return
        else:  # streamed: read it here, up to the limit
            messages: list[Message] = []
            size = 0
            while not messages or messages[-1].get("more_body", False):
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request":
                    break  # the client went away: the app will hear it
                size += len(message.get("body", b""))
                if size > limit:
                    await self._refuse(scope, receive, send, limit)
                    return
            await self.app(scope, _replaying(messages, receive), send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await JSONResponse({"detail": too_large(limit)}, 413)(scope, receive, send)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """The messages read already, then the server's own (a disconnect, for one)."""
    buffered = iter(messages)

    async def replay() -> Message:
        return next(buffered, None) or await receive()

    return replay
