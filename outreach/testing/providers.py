"""A local stand-in for SendGrid and Twilio, for tests and benchmarks (the real APIs are out of
reach). Our transports reach it through the official SDKs by their base-URL settings.

It speaks the documented shapes:
  POST /v3/mail/send                                   SendGrid v3: 202 + X-Message-Id; errors
       {"errors": [{"message", "field", "help"}]} with 400/401/403/413/429/5xx
  POST /2010-04-01/Accounts/{sid}/Messages.json        Twilio create: 201 + message resource;
       errors {"code", "message", "more_info", "status"} (21211 invalid, 21610 unsubscribed,
       21614 not mobile, 20429 too many requests)
  GET  /2010-04-01/Accounts/{sid}/Messages.json          Twilio list, newest first, paged
       (PageSize, Page), filtered as Twilio documents it: To, From, and DateSent / DateSent> /
       DateSent< (on / on or after / on or before a GMT date, YYYY-MM-DD). Given a timestamp
       instead of a date (the SDK serializes a datetime so), the stand-in compares the full
       timestamp: the strictest reading, since Twilio documents dates only. A message still
       queued (`queue_seconds`) has no date_sent and matches no DateSent filter. Resources
       carry the documented properties only: not the StatusCallback URL.
Twilio's StatusCallback is honoured when `status_callbacks` is on: a "sent" callback, signed
with the auth token over the full callback URL (query included) as Twilio signs it, is POSTed
to the URL each message was created with.
It speaks HTTP/1.1 and keeps connections alive as the real APIs do (`keep_alive=False` closes
each after its answer), and counts the TCP connections it accepted (`connections`), so a test
can tell a pooled client from one that connects per request.
It adds latency, a rate limit, and faults on demand or at random: 5xx, 429 (Twilio's with
Retry-After, SendGrid's with X-RateLimit-Reset, as each documents),
a stall past the client's timeout, and "accepted but the answer is lost". Every accepted message
is recorded, so a test can count duplicates and losses as the provider saw them.
"""

from __future__ import annotations

import base64
import collections
import json
import math
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"


@dataclass
class Fault:
    kind: str  # "status" | "stall" | "lost"
    status: int = 503
    retry_after: str | None = None


@dataclass
class ProviderStandIn:
    sendgrid_key: str = "SG.test-key"
    twilio_sid: str = "AC" + "0" * 32
    twilio_token: str = "test-token"
    latency: float = 0.0  # seconds added to every answer, before a message is accepted
    answer_latency: float = 0.0  # seconds between accepting a message and answering
    queue_seconds: float = 0.0  # how long an accepted text stays queued (no date_sent yet)
    status_callbacks: bool = False  # POST signed status callbacks to StatusCallback URLs
    stall_seconds: float = 3.0  # how long a stalled answer hangs (past the client's timeout)
    sms_per_second: float | None = None  # above it: 429 + Retry-After
    email_per_second: float | None = None
    random_faults: dict[str, float] = field(default_factory=dict)  # kind -> probability
    invalid_numbers: set[str] = field(default_factory=set)
    unsubscribed_numbers: set[str] = field(default_factory=set)
    landline_numbers: set[str] = field(default_factory=set)
    seed: int = 1
    # False: every answer says `Connection: close` and closes (a provider dropping kept-alive
    # connections); a client must open a new one for its next request.
    keep_alive: bool = True
    emails: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    answered: collections.Counter[int] = field(default_factory=collections.Counter)
    callbacks: list[tuple[str, int]] = field(default_factory=list)  # (URL, our answer)

    def __post_init__(self) -> None:
        self._faults: list[Fault] = []
        self._list_faults: list[int] = []
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        self._recent: dict[str, collections.deque[float]] = {"email": collections.deque(),
                                                       "sms": collections.deque()}
        # Every arrival at the rate check, accepted or not, in the last second; the most any
        # one-second window held, and the 429s the rate limit answered, per channel.
        self._arrivals: dict[str, collections.deque[float]] = {"email": collections.deque(),
                                                         "sms": collections.deque()}
        self.max_window: collections.Counter[str] = collections.Counter()
        self.rate_limited: collections.Counter[str] = collections.Counter()
        self.connections = 0  # TCP connections accepted: kept-alive clients open few

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    # --- faults ---------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 503, retry_after: str | None = None) -> None:
        with self._lock:
            self._faults.extend(Fault("status", status, retry_after) for _ in range(count))

    def stall_next(self, count: int) -> None:
        with self._lock:
            self._faults.extend(Fault("stall") for _ in range(count))

    def fail_next_lists(self, count: int, status: int = 500) -> None:
        """The next Twilio Messages list calls fail (reconciliation meets a provider error)."""
        with self._lock:
            self._list_faults.extend([status] * count)

    def lose_next_answers(self, count: int) -> None:
        """Accept and record the next messages, but never answer (the client times out)."""
        with self._lock:
            self._faults.extend(Fault("lost") for _ in range(count))

    def next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.pop(0)
            roll = self._random.random()
        for kind, probability in self.random_faults.items():
            if roll < probability:
                if kind == "429":
                    return Fault("status", 429, "1")
                if kind in ("stall", "lost"):
                    return Fault(kind)
                return Fault("status", int(kind))
            roll -= probability
        return None

    def over_rate(self, channel: str) -> bool:
        """Is this arrival over the channel's limit, counted as the providers count: in any
        one-second window (a sliding one, the strictest reading)? Counts every arrival's
        window, limit or not, so a benchmark can tell how close to a limit a sender came."""
        limit = self.sms_per_second if channel == "sms" else self.email_per_second
        now = time.monotonic()
        with self._lock:
            arrivals = self._arrivals[channel]
            arrivals.append(now)
            while now - arrivals[0] >= 1.0:
                arrivals.popleft()
            self.max_window[channel] = max(self.max_window[channel], len(arrivals))
            if not limit:
                return False
            recent = self._recent[channel]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= limit:
                self.rate_limited[channel] += 1
                return True
            recent.append(now)
            return False

    def record(self, channel: str, entry: dict[str, Any]) -> None:
        with self._lock:
            (self.emails if channel == "email" else self.sms).append(entry)

    def call_back(self, url: str, sid: str, to: str) -> None:
        """A "sent" status callback to `url`, signed as Twilio signs it (the full URL)."""
        from outreach.testing.webhooks import TwilioCaller

        caller = TwilioCaller(self.twilio_token, self.twilio_sid)
        try:
            answer = caller.post(url, caller.status(sid, to, "sent"))
            status = answer.status_code
        except OSError:
            status = 0
        with self._lock:
            self.callbacks.append((url, status))

    def summary(self) -> dict[str, object]:
        """What the provider saw, for a benchmark in another process: every accepted id."""
        with self._lock:
            return {"email_ids": [e["outreach_id"] for e in self.emails],
                    "sms_bodies": [m["body"] for m in self.sms],
                    "sms_arrivals": [m["sent_at"].timestamp() for m in self.sms],
                    "answered": {str(k): v for k, v in self.answered.items()},
                    "connections": self.connections,
                    # per channel: the most arrivals in any one-second window, and the 429s
                    # its rate limit answered
                    "max_window": dict(self.max_window),
                    "rate_limited": dict(self.rate_limited)}

    def duplicates(self, channel: str, key: str) -> int:
        seen = collections.Counter(entry[key] for entry in
                                   (self.emails if channel == "email" else self.sms))
        return sum(count - 1 for count in seen.values() if count > 1)


def busiest_second(times: list[float]) -> int:
    """The most arrivals in any one-second window of `times` (seconds), a sliding window as
    the stand-in counts its own: what a provider's per-second limit is judged by."""
    times, most, first = sorted(times), 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _rfc2822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _date_filter(value: str) -> date | datetime:
    """A DateSent value: a GMT date as documented, or a full timestamp (compared in full)."""
    if len(value) == 10:
        return date.fromisoformat(value)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(sent_at: datetime, op: str, value: date | datetime) -> bool:
    """Dates compare by the GMT day ("on or after midnight"), timestamps by the instant."""
    mine: date | datetime = sent_at if isinstance(value, datetime) else sent_at.date()
    if op == "=":
        return mine == value
    return mine >= value if op == ">" else mine <= value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.standin.connected()

    @property
    def standin(self) -> ProviderStandIn:
        return self.server.standin

    def _reply(self, status: int, payload: object | None,
               headers: dict[str, str] | None = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if not self.standin.keep_alive:
            self.send_header("Connection", "close")  # http.server then closes it
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.standin.answered[status] += 1

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _fault(self, channel: str) -> Fault | None:
        """Apply latency and an injected fault; return a "lost" fault for the caller to honor."""
        if self.standin.latency:
            time.sleep(self.standin.latency)
        fault = self.standin.next_fault()
        if fault is None:
            return None
        if fault.kind == "stall":
            time.sleep(self.standin.stall_seconds)
            self.close_connection = True
            return Fault("handled")
        if fault.kind == "lost":
            return fault
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        if channel == "email" and fault.status == 429:
            headers = self._sendgrid_rate_limit(float(fault.retry_after or 1))
        if channel == "email":
            self._reply(fault.status, {"errors": [{"message": "stand-in fault", "field": None,
                                                   "help": None}]}, headers)
        else:
            self._reply(fault.status, {"code": 20429 if fault.status == 429 else 20500,
                                       "message": "stand-in fault", "more_info": "",
                                       "status": fault.status}, headers)
        return Fault("handled")

    def _lose_answer(self) -> None:
        time.sleep(self.standin.stall_seconds)
        self.close_connection = True

    # --- SendGrid ---------------------------------------------------------------------------
    def _sendgrid_rate_limit(self, seconds: float) -> dict[str, str]:
        """A SendGrid 429's headers, as its v3 reference shows them ("Rate Limits"): the
        limit, none remaining, and the epoch second the refresh period ends, `seconds` from
        now rounded up. No Retry-After: SendGrid does not send one."""
        limit = self.standin.email_per_second
        return {"X-RateLimit-Limit": str(int(limit) if limit else 1),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(time.time() + seconds))}

    def _sendgrid(self) -> None:
        raw = self._body()
        if self.headers.get("Authorization") != f"Bearer {self.standin.sendgrid_key}":
            self._reply(401, {"errors": [{"field": None, "help": None, "message":
                                          "The provided authorization grant is invalid, "
                                          "expired, or revoked"}]})
            return
        limited = self.standin.over_rate("email")  # counted as it arrives, before latency
        fault = self._fault("email")
        if fault and fault.kind == "handled":
            return
        if limited:
            self._reply(429, {"errors": [{"field": None, "help": None,
                                          "message": "too many requests"}]},
                        self._sendgrid_rate_limit(1.0))
            return
        try:
            mail = json.loads(raw)
            to = mail["personalizations"][0]["to"][0]["email"]
            sender = mail["from"]["email"]
        except (ValueError, KeyError, IndexError, TypeError):
            self._reply(400, {"errors": [{"field": "personalizations", "help": None,
                                          "message": "The personalizations field is required "
                                                     "and must have at least one "
                                                     "personalization."}]})
            return
        if not mail.get("subject") and not mail["personalizations"][0].get("subject"):
            self._reply(400, {"errors": [{"field": "subject", "help": None,
                                          "message": "The subject is required."}]})
            return
        message_id = uuid.uuid4().hex[:22]
        self.standin.record("email", {
            "x_message_id": message_id, "to": to, "from": sender,
            "subject": mail.get("subject"), "custom_args": mail.get("custom_args", {}),
            "outreach_id": (mail.get("custom_args") or {}).get("outreach_id"),
            "reply_to": (mail.get("reply_to") or {}).get("email"),
            "headers": mail.get("headers", {}), "content": mail.get("content", [])})
        if fault and fault.kind == "lost":
            self._lose_answer()
            return
        self._reply(202, None, {"X-Message-Id": message_id})

    # --- Twilio -----------------------------------------------------------------------------
    def _twilio_authorized(self) -> bool:
        expected = base64.b64encode(
            f"{self.standin.twilio_sid}:{self.standin.twilio_token}".encode()).decode()
        if self.headers.get("Authorization") == f"Basic {expected}":
            return True
        self._reply(401, {"code": 20003, "message": "Authenticate", "more_info":
                          "https://www.twilio.com/docs/errors/20003", "status": 401})
        return False

    def _twilio_error(self, status: int, code: int, message: str) -> None:
        self._reply(status, {"code": code, "message": message, "status": status,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def _twilio_create(self) -> None:
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        if not self._twilio_authorized():
            return
        limited = self.standin.over_rate("sms")  # counted as it arrives, before latency
        fault = self._fault("sms")
        if fault and fault.kind == "handled":
            return
        if limited:
            self._twilio_error(429, 20429, "Too Many Requests")
            return
        to = form.get("To", "")
        if not to.startswith("+") or not to[1:].isdigit() or to in self.standin.invalid_numbers:
            self._twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            return
        if to in self.standin.unsubscribed_numbers:
            self._twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
            return
        if to in self.standin.landline_numbers:
            self._twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")
            return
        if not form.get("Body"):
            self._twilio_error(400, 21602, "Message body is required.")
            return
        sid = "SM" + uuid.uuid4().hex
        now = datetime.now(UTC)
        resource = {
            "sid": sid, "account_sid": self.standin.twilio_sid, "to": to,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"], "status": "queued", "num_segments": "1",
            "date_created": _rfc2822(now), "date_sent": None, "date_updated": _rfc2822(now),
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "price": None, "price_unit": "USD", "api_version": "2010-04-01",
            "uri": MESSAGES_PATH.format(sid=self.standin.twilio_sid)[:-5] + f"/{sid}.json",
        }
        # Kept for the tests (what Twilio was asked), never returned: not a documented property.
        callback = form.get("StatusCallback")
        self.standin.record("sms", {**resource, "sent_at": now, "status_callback": callback})
        if fault and fault.kind == "lost":
            self._lose_answer()
            return
        if self.standin.answer_latency:
            time.sleep(self.standin.answer_latency)
        self._reply(201, resource)
        if callback and self.standin.status_callbacks:
            threading.Thread(target=self.standin.call_back, args=(callback, sid, to),
                             daemon=True).start()

    def _twilio_list(self, query: dict[str, list[str]]) -> None:
        if not self._twilio_authorized():
            return
        with self.standin._lock:
            failure = self.standin._list_faults.pop(0) if self.standin._list_faults else None
        if failure:
            self._twilio_error(failure, 20500, "stand-in fault")
            return
        one = {key: values[0] for key, values in query.items()}
        try:
            filters = [(op, _date_filter(one[key])) for key, op in
                       (("DateSent", "="), ("DateSent>", ">"), ("DateSent<", "<")) if key in one]
            size = min(int(one.get("PageSize", "50")), 1000)
            page = int(one.get("Page", "0"))
        except ValueError:
            self._twilio_error(400, 20001, "Invalid date value")
            return
        now = datetime.now(UTC)
        found = []
        with self.standin._lock:
            messages = list(self.standin.sms)
        for entry in reversed(messages):  # newest first, as Twilio lists
            if one.get("To") not in (None, entry["to"]) or \
                    one.get("From") not in (None, entry["from"]):
                continue
            sent = entry["sent_at"] + timedelta(seconds=self.standin.queue_seconds)
            sent_at = sent if sent <= now else None
            if filters and (sent_at is None or not all(_matches(sent_at, op, value)
                                                       for op, value in filters)):
                continue
            found.append({**{k: v for k, v in entry.items()
                             if k not in ("sent_at", "status_callback")},
                          "status": "sent" if sent_at else "queued",
                          "date_sent": _rfc2822(sent_at) if sent_at else None})
        shown = found[page * size:(page + 1) * size]
        base = urlparse(self.path).path
        rest = {k: v for k, v in one.items() if k not in ("Page", "PageSize")}

        def page_uri(number: int) -> str:
            return f"{base}?{urlencode({**rest, 'PageSize': size, 'Page': number})}"

        more = (page + 1) * size < len(found)
        self._reply(200, {"messages": shown, "page": page, "page_size": size,
                          "first_page_uri": page_uri(0),
                          "next_page_uri": page_uri(page + 1) if more else None,
                          "previous_page_uri": page_uri(page - 1) if page else None,
                          "uri": page_uri(page), "start": page * size,
                          "end": page * size + len(shown) - 1})

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        messages = MESSAGES_PATH.format(sid=self.standin.twilio_sid)
        if method == "GET" and url.path == "/_standin/summary":
            self._reply(200, self.standin.summary())
        elif method == "POST" and url.path == "/v3/mail/send":
            self._sendgrid()
        elif method == "POST" and url.path == messages:
            self._twilio_create()
        elif method == "GET" and url.path == messages:
            self._twilio_list(parse_qs(url.query))
        else:
            self._body()
            self._reply(404, {"errors": [{"message": "not found", "field": None,
                                          "help": None}]})

    def do_POST(self) -> None:
        self._route("POST")

    def do_GET(self) -> None:
        self._route("GET")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # A client killed mid-request (the chaos benchmark does it on purpose) is not news.
        if isinstance(sys.exc_info()[1], (ConnectionError, ValueError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, standin: ProviderStandIn, port: int):
        super().__init__(("127.0.0.1", port), _Handler)
        self.standin = standin


class RunningProviders:
    """The stand-in served on a loopback port (0: any free one) until `close()`."""

    def __init__(self, standin: ProviderStandIn | None = None, port: int = 0):
        self.standin = standin or ProviderStandIn()
        self.server = _Server(self.standin, port)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        self.url = "http://{}:{}".format(*self.server.server_address[:2])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
