"""Transports through the official SDKs against a local stand-in speaking the providers' formats."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from outreach.message import Message
from outreach.sending.transports.base import SendResult
from outreach.sending.transports.files import FilesTransport
from outreach.sending.transports.sendgrid import SendGridTransport
from outreach.sending.transports.twilio import TwilioTransport
from outreach.testing.providers import ProviderStandIn, RunningProviders
from tests.full_disk import fill, small_disk

EMAIL = Message(outbox_id=42, channel="email", to="ana@example.org",
                sender="Marijuana Justice <team@mj-campaign.org>", subject="Thank you",
                text="Thanks for signing.", html="<p>Thanks for signing.</p>",
                reply_to="Ana <ana@example.org>",
                headers={"List-Unsubscribe": "<https://mj.example/u/tok>"})
SMS = Message(outbox_id=7, channel="sms", to="+12155550100", sender="+12155550199",
              text="Call DA Krasner: (215) 686-8000. Reply STOP to opt out.")


@pytest.fixture
def providers() -> Iterator[RunningProviders]:
    running = RunningProviders(ProviderStandIn(stall_seconds=1.5))
    yield running
    running.close()


def sendgrid(providers: RunningProviders, **kwargs) -> SendGridTransport:
    kwargs.setdefault("timeout", 1.0)
    return SendGridTransport(providers.standin.sendgrid_key, providers.url, **kwargs)


def twilio(providers: RunningProviders, **kwargs) -> TwilioTransport:
    kwargs.setdefault("timeout", 1.0)
    return TwilioTransport(providers.standin.twilio_sid, providers.standin.twilio_token,
                           from_number="+12155550199", base_url=providers.url, **kwargs)


def test_files_transport_writes_a_whole_rfc5322_message(tmp_path):
    transport = FilesTransport(tmp_path, "email")
    result = transport.send(EMAIL)
    assert result == SendResult("sent", provider_message_id="0000000042.eml")
    parsed = email.message_from_bytes((tmp_path / "email" / "0000000042.eml").read_bytes())
    assert parsed["To"] == "ana@example.org" and parsed["Subject"] == "Thank you"
    assert parsed["Reply-To"] == "Ana <ana@example.org>"
    assert parsed["List-Unsubscribe"] == "<https://mj.example/u/tok>"
    assert parsed.is_multipart()
    assert transport.find_sent(EMAIL, datetime.now(UTC)) == "0000000042.eml"
    assert not list((tmp_path / "email").glob("*.tmp"))


def test_files_transport_journals_sms(tmp_path):
    transport = FilesTransport(tmp_path, "sms")
    assert transport.find_sent(SMS, datetime.now(UTC)) is None
    transport.send(SMS)
    [line] = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line)["body"] == SMS.text
    assert transport.find_sent(SMS, datetime.now(UTC)) == "sms-7"


def test_sendgrid_accepts_and_keeps_only_our_opaque_id(providers):
    result = sendgrid(providers).send(EMAIL)
    assert result.outcome == "sent" and result.provider_message_id
    [accepted] = providers.standin.emails
    assert accepted["custom_args"] == {"outreach_id": "42"}
    assert accepted["reply_to"] == "ana@example.org"
    assert accepted["headers"] == {"List-Unsubscribe": "<https://mj.example/u/tok>"}
    assert [c["type"] for c in accepted["content"]] == ["text/plain", "text/html"]


@pytest.mark.parametrize(("status", "outcome"), [(429, "retry"), (500, "retry"),
                                                 (503, "retry"), (400, "failed"),
                                                 (403, "failed"), (413, "failed")])
def test_sendgrid_errors_map_to_retry_or_failed(providers, status, outcome):
    providers.standin.fail_next(1, status=status, retry_after="7" if status == 429 else None)
    result = sendgrid(providers).send(EMAIL)
    assert result.outcome == outcome
    assert result.error.startswith(f"SendGrid HTTP {status}")
    if status == 429:
        # SendGrid's 429 says when its refresh period ends (X-RateLimit-Reset, an epoch
        # second: 7 s from now, rounded up), not Retry-After.
        assert 6.5 < result.retry_after <= 8


def test_a_sendgrid_429_pauses_until_its_reset_and_no_longer_than_a_minute(providers):
    transport = sendgrid(providers)
    providers.standin.email_per_second = 1.0  # the stand-in's own limit answers this one
    assert transport.send(EMAIL).outcome == "sent"
    limited = transport.send(EMAIL)
    assert limited.outcome == "retry" and limited.error == "SendGrid HTTP 429: too many requests"
    assert 0 < limited.retry_after <= 2
    providers.standin.email_per_second = None
    providers.standin.fail_next(1, status=429, retry_after="3600")  # a reset an hour off
    assert transport.send(EMAIL).retry_after == 60.0


def test_sendgrid_bad_key_fails_with_sendgrids_reason(providers):
    transport = SendGridTransport("SG.wrong", providers.url, timeout=1.0)
    result = transport.send(EMAIL)
    assert result.outcome == "failed"
    assert "authorization grant is invalid" in result.error


def test_sendgrid_lost_answer_is_unknown_not_retry(providers):
    providers.standin.lose_next_answers(1)
    result = sendgrid(providers).send(EMAIL)
    assert result.outcome == "unknown"
    assert len(providers.standin.emails) == 1  # it did arrive: a retry would duplicate it


def test_sendgrid_unreachable_is_retry(providers):
    url = providers.url
    providers.close()
    result = SendGridTransport("SG.x", url, timeout=1.0).send(EMAIL)
    assert result.outcome == "retry" and "unreachable" in result.error


def test_twilio_sends_and_the_list_finds_it(providers):
    transport = twilio(providers, status_callback="https://mj.example/hooks/twilio/status")
    before = datetime.now(UTC) - timedelta(seconds=5)
    result = transport.send(SMS)
    assert result.outcome == "sent" and result.provider_message_id.startswith("SM")
    assert providers.standin.sms[0]["status_callback"] == \
        "https://mj.example/hooks/twilio/status?outreach_id=7"  # our own id rides along
    assert transport.find_sent(SMS, before) == result.provider_message_id


@pytest.mark.parametrize(("numbers", "code", "suppress"), [
    ("unsubscribed_numbers", 21610, True),
    ("invalid_numbers", 21211, False),
    ("landline_numbers", 21614, False),
])
def test_twilio_permanent_errors(providers, numbers, code, suppress):
    getattr(providers.standin, numbers).add(SMS.to)
    result = twilio(providers).send(SMS)
    assert (result.outcome, result.suppress) == ("failed", suppress)
    assert f"error {code}" in result.error


def test_twilio_429_retries_after_what_twilio_says(providers):
    providers.standin.fail_next(1, status=429, retry_after="3")
    result = twilio(providers).send(SMS)
    assert (result.outcome, result.retry_after) == ("retry", 3.0)


def test_twilio_lost_answer_is_unknown_and_reconciles_to_sent(providers):
    providers.standin.lose_next_answers(1)
    transport = twilio(providers)
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert transport.send(SMS).outcome == "unknown"
    assert transport.find_sent(SMS, before) == providers.standin.sms[0]["sid"]


def test_twilio_unreachable_is_retry(providers):
    url = providers.url
    providers.close()
    transport = TwilioTransport("AC" + "0" * 32, "t", from_number="+1", base_url=url,
                                timeout=1.0)
    assert transport.send(SMS).outcome == "retry"


def test_unsubscribe_headers_reach_every_email_transport(tmp_path, providers):
    headers = {"List-Unsubscribe": "<https://x.example/u/t>, <mailto:u@x.example>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    message = Message(9, "email", "ana@example.org", "Org <o@x.example>", "hi", subject="s",
                      headers=headers)
    FilesTransport(tmp_path, "email").send(message)
    parsed = email.message_from_bytes((tmp_path / "email" / "0000000009.eml").read_bytes())
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sendgrid(providers).send(message)
    assert providers.standin.emails[-1]["headers"] == headers


# --- reconciliation that does not trust two clocks ------------------------------------------
@pytest.mark.parametrize("skew", [timedelta(minutes=5), timedelta(minutes=-5),
                                  timedelta(hours=3)])
def test_twilio_finds_a_sent_message_whatever_our_clock_says(providers, skew):
    """`since` is the attempt by OUR clock: a worker clock ahead of Twilio's by minutes (or
    hours) must still find what Twilio accepted (the stand-in compares full timestamps when
    asked to, the strictest reading of Twilio's DateSent filter)."""
    transport = twilio(providers)
    result = transport.send(SMS)
    ours = datetime.now(UTC) + skew  # the worker's clock when it started the attempt
    assert transport.find_sent(SMS, ours) == result.provider_message_id


def test_twilio_finds_a_message_twilio_still_holds_in_its_queue(providers):
    """A queued message has no date_sent yet: a DateSent filter would hide it."""
    providers.standin.queue_seconds = 3600
    transport = twilio(providers)
    result = transport.send(SMS)
    assert transport.client.messages.list(to=SMS.to, date_sent_after="2000-01-01") == []
    assert transport.find_sent(SMS, datetime.now(UTC)) == result.provider_message_id


def test_twilio_reconciliation_skips_ids_of_other_rows_and_older_messages(providers):
    transport = twilio(providers)
    first = transport.send(SMS).provider_message_id  # the same text, another outbox row's
    second = transport.send(SMS).provider_message_id
    now = datetime.now(UTC)
    assert transport.find_sent(SMS, now) == second  # newest first
    assert transport.find_sent(SMS, now, taken={second}.__contains__) == first
    assert transport.find_sent(SMS, now, taken={first, second}.__contains__) is None
    other = Message(outbox_id=8, channel="sms", to=SMS.to, sender=SMS.sender, text="Other")
    assert transport.find_sent(other, datetime.now(UTC)) is None
    # Created more than a day before the attempt (by any clock): not this attempt's.
    assert transport.find_sent(SMS, datetime.now(UTC) + timedelta(days=2)) is None


def test_standin_lists_as_twilio_documents_it(providers):
    """Newest first, paged, To/From and DateSent date filters in GMT days; the resources carry
    no StatusCallback (Twilio's Message resource has no such property)."""
    transport = twilio(providers, status_callback="https://mj.example/hooks/twilio/status")
    sids = [transport.send(SMS).provider_message_id for _ in range(3)]
    transport.send(Message(outbox_id=9, channel="sms", to="+12155550111", sender=SMS.sender,
                           text="x"))
    today = datetime.now(UTC).date()
    listed = transport.client.messages.list(to=SMS.to, page_size=2)
    assert [m.sid for m in listed] == sids[::-1]
    raw = transport.client.messages.page(to=SMS.to, page_size=2)
    assert raw.next_page_url is not None
    assert all(m.date_sent is not None for m in listed)
    assert "status_callback" not in raw._payload["messages"][0]
    same_day = transport.client.messages.list(to=SMS.to, date_sent=today.isoformat())
    assert len(same_day) == 3
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert transport.client.messages.list(date_sent_after=tomorrow) == []
    assert len(transport.client.messages.list(date_sent_before=today.isoformat())) == 4
    assert len(transport.client.messages.list(date_sent_after=today.isoformat())) == 4


# --- the files transport on a full disk (F10) ---------------------------------------------------
def test_files_transport_on_a_full_disk_writes_whole_lines_or_nothing(tmp_path, caplog):
    with small_disk(tmp_path / "disk", 64) as disk:
        sms, mail = FilesTransport(disk, "sms"), FilesTransport(disk, "email")
        assert sms.send(SMS).outcome == "sent"
        journal = (disk / "sms.jsonl").read_bytes()
        fill(disk, leave_bytes=100)  # room for part of a line: the kernel writes what fits
        long_text = Message(outbox_id=8, channel="sms", to=SMS.to, sender=SMS.sender,
                            text="x" * 5000)
        with caplog.at_level("WARNING", logger="outreach.transports.files"):
            results = [sms.send(long_text), sms.send(long_text), mail.send(EMAIL)]
        assert [r.outcome for r in results] == ["retry"] * 3
        assert results[0].error == "outbox folder full (ENOSPC)"
        assert (disk / "sms.jsonl").read_bytes() == journal  # truncated back: no torn line
        assert list((disk / "email").iterdir()) == []  # no .tmp left behind
        assert sms.find_sent(long_text, datetime.now(UTC)) is None
        full = [r for r in caplog.records if "is full (ENOSPC)" in r.getMessage()]
        assert len(full) == 2  # one line per transport for the episode, not per message
        assert all(SMS.to not in r.getMessage() and EMAIL.to not in r.getMessage()
                   for r in caplog.records)
        (disk / "filler").unlink()  # space again: the retry goes through
        assert sms.send(long_text).outcome == "sent" and mail.send(EMAIL).outcome == "sent"
        lines = (disk / "sms.jsonl").read_text().splitlines()
        assert [json.loads(line)["outbox_id"] for line in lines] == [7, 8]


def test_a_torn_journal_line_is_skipped_and_never_glued_to_the_next(tmp_path):
    """A kill -9 (or an older version on a full disk) mid-append leaves a partial last line."""
    transport = FilesTransport(tmp_path, "sms")
    transport.send(SMS)
    with (tmp_path / "sms.jsonl").open("a") as journal:
        journal.write('{"outbox_id": 8, "to": "+1215555')  # torn: no end, no newline
    torn = Message(outbox_id=8, channel="sms", to=SMS.to, sender=SMS.sender, text="t")
    assert transport.find_sent(torn, datetime.now(UTC)) is None  # it was never sent
    assert transport.find_sent(SMS, datetime.now(UTC)) == "sms-7"
    assert transport.send(torn).outcome == "sent"
    assert transport.find_sent(torn, datetime.now(UTC)) == "sms-8"
    lines = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["outbox_id"] == 8 and len(lines) == 3


def _send_from_threads(send, messages, threads: int) -> list[SendResult]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, messages))


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_sends_from_k_threads_share_at_most_k_kept_alive_connections(channel):
    # The providers' pools: 120 sends over 12 sender threads open at most 12 connections (one
    # per thread), not one per send (a TLS handshake per email in production); 12 is more
    # than the pools requests and the Twilio SDK size by default (10; cores + 4). The
    # latency keeps all 12 in flight at once.
    threads = 12
    running = RunningProviders(ProviderStandIn(latency=0.02))
    try:
        if channel == "email":
            transport = sendgrid(running, pool_size=threads)
            messages = [Message(i, "email", f"s{i}@example.org", EMAIL.sender, "hi",
                                subject="s") for i in range(120)]
        else:
            transport = twilio(running, pool_size=threads)
            messages = [Message(i, "sms", f"+1215555{i:04d}", SMS.sender, f"text {i}")
                        for i in range(120)]
        results = _send_from_threads(transport.send, messages, threads)
        assert [r.outcome for r in results] == ["sent"] * 120
        assert 1 <= running.standin.connections <= threads
    finally:
        running.close()


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_provider_closing_each_connection_costs_a_reconnect_not_a_message(channel):
    # A provider may close a kept-alive connection after any answer: the next send opens a
    # new one and is sent, neither `unknown` nor a retry.
    running = RunningProviders(ProviderStandIn(keep_alive=False))
    try:
        transport = sendgrid(running) if channel == "email" else twilio(running)
        message = EMAIL if channel == "email" else SMS
        assert [transport.send(message).outcome for _ in range(5)] == ["sent"] * 5
        assert running.standin.connections == 5
    finally:
        running.close()


def test_sendgrid_error_mapping_is_the_sdks_over_one_kept_alive_connection(providers):
    # Over one pooled connection: sent, then 503 with Retry-After (retry, honoured), 400
    # (failed with SendGrid's text), a lost answer (unknown: it arrived), and sent again on
    # a fresh connection; the errors never closed the pool for the sends after them.
    transport = sendgrid(providers, pool_size=1)
    assert transport.send(EMAIL).outcome == "sent"
    providers.standin.fail_next(1, status=503, retry_after="5")
    assert (transport.send(EMAIL).outcome, transport.send(EMAIL).outcome) == ("retry", "sent")
    providers.standin.fail_next(1, status=503, retry_after="5")
    retried = transport.send(EMAIL)
    assert (retried.retry_after, retried.error) == (5.0, "SendGrid HTTP 503: stand-in fault")
    providers.standin.fail_next(1, status=400)
    assert transport.send(EMAIL) == SendResult("failed",
                                               error="SendGrid HTTP 400: stand-in fault")
    assert providers.standin.connections == 1
    providers.standin.lose_next_answers(1)
    assert transport.send(EMAIL).outcome == "unknown"
    assert transport.send(EMAIL).outcome == "sent"
    assert providers.standin.connections == 2  # the broken one was dropped, not reused
    assert len(providers.standin.emails) == 4  # three sent and the lost one: it arrived


def test_twilio_error_mapping_is_unchanged_over_one_kept_alive_connection(providers):
    transport = twilio(providers, pool_size=1)
    assert transport.send(SMS).outcome == "sent"
    providers.standin.fail_next(1, status=429, retry_after="3")
    assert (transport.send(SMS).outcome, transport.http.retry_after()) == ("retry", 3.0)
    providers.standin.invalid_numbers.add("+12155550111")
    failed = transport.send(Message(8, "sms", "+12155550111", SMS.sender, "x"))
    assert failed.outcome == "failed" and "error 21211" in failed.error
    assert transport.send(SMS).outcome == "sent"
    assert providers.standin.connections == 1


def test_sendgrid_tls_handshake_failure_is_retry_as_the_sdk_mapped_it(providers):
    # https to a server that does not speak TLS: the handshake fails before any request byte
    # left, so nothing can have arrived (the SDK's urllib mapped it to URLError: retry).
    transport = SendGridTransport(providers.standin.sendgrid_key,
                                  providers.url.replace("http://", "https://"), timeout=1.0)
    result = transport.send(EMAIL)
    assert result.outcome == "retry" and "TLS handshake" in result.error
    assert providers.standin.emails == []


class _CutHandshakes:
    """A plain TCP server that reads each client's first bytes (a TLS ClientHello) and cuts
    the connection: with an RST (SO_LINGER 0) or a bare FIN (the client's TLS sees an EOF)."""

    def __init__(self, reset: bool):
        import socket
        import threading

        self.reset, self.accepted = reset, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket
        import struct

        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            connection.recv(4096)
            if self.reset:
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(("reset", "cause"), [(True, "ConnectionResetError"),
                                              (False, "TLS handshake failed (SSLEOFError)")],
                         ids=["reset", "eof"])
def test_sendgrid_connection_cut_during_the_tls_handshake_is_retry(reset, cause):
    # A reset (urllib3 re-raises a plain OSError, then wraps it as ProtocolError) or an EOF
    # (SSL UNEXPECTED_EOF_WHILE_READING) in the handshake: the request was never written, so
    # it is a retry; `unknown` would strand the row (SendGrid cannot be reconciled).
    server = _CutHandshakes(reset)
    try:
        result = SendGridTransport("SG.x", server.url, timeout=1.0).send(EMAIL)
    finally:
        server.close()
    assert server.accepted == 1
    assert result == SendResult("retry", error=f"SendGrid unreachable: {cause}")


def test_sendgrid_connection_closed_after_the_request_without_an_answer_is_unknown(providers):
    # The other side of the line: once connected, a server closing without an answer
    # (RemoteDisconnected, as when a kept-alive connection is closed just as it is reused)
    # may have read the request, as here: unknown, never retried.
    providers.standin.lose_next_answers(1)  # read it, wait 1.5 s, close without answering
    result = sendgrid(providers, timeout=5.0).send(EMAIL)
    assert result == SendResult("unknown", error="connection to SendGrid broke: ProtocolError")
    assert len(providers.standin.emails) == 1


class _AuthenticatingProxy:
    """A forward proxy on loopback that wants `Proxy-Authorization: Basic user:password`
    (407 otherwise), as corporate proxies do: absolute-URI requests (what urllib3 sends for an
    http destination) are forwarded; CONNECT (an https destination) opens a tunnel."""

    def __init__(self, user: str, password: str):
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        wanted = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.seen: list[tuple[str, bool]] = []  # (method, authorized)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def _authorized(self) -> bool:
                ok = self.headers.get("Proxy-Authorization") == wanted
                proxy.seen.append((self.command, ok))
                if not ok:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                return ok

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self._authorized():
                    return
                import urllib3

                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-authorization", "connection", "host")}
                answer = urllib3.request("POST", self.path, body=body, headers=headers,
                                         retries=False)
                self.send_response(answer.status)
                for name in ("Content-Type", "X-Message-Id"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.data)))
                self.end_headers()
                self.wfile.write(answer.data)

            def do_CONNECT(self):
                import selectors
                import socket

                if not self._authorized():
                    return
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                self.send_response(200)
                self.end_headers()
                with selectors.DefaultSelector() as selector, upstream:
                    selector.register(self.connection, selectors.EVENT_READ, upstream)
                    selector.register(upstream, selectors.EVENT_READ, self.connection)
                    while True:
                        for key, _ in selector.select(5):
                            data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                            if not data:
                                return
                            key.data.sendall(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.port = self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def authenticating_proxy(monkeypatch) -> Iterator[_AuthenticatingProxy]:
    # The password has a reserved character, percent-encoded in the URL as users write it.
    proxy = _AuthenticatingProxy("outreach", "s3cr@t:pw")
    url = f"http://outreach:s3cr%40t%3Apw@127.0.0.1:{proxy.port}"
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", url)
    monkeypatch.setenv("https_proxy", url)
    yield proxy
    proxy.close()


def test_sendgrid_through_a_proxy_sends_the_credentials_in_its_url(
        providers, authenticating_proxy, caplog):
    # HTTPS_PROXY=http://user:password@host: the SDK's urllib ProxyHandler sent them as
    # Proxy-Authorization; urllib3's ProxyManager does not read them from the URL. The
    # password never shows in what is logged or returned.
    caplog.set_level("DEBUG")
    transport = sendgrid(providers)
    assert transport.send(EMAIL).outcome == "sent"
    assert authenticating_proxy.seen == [("POST", True)]
    assert len(providers.standin.emails) == 1
    # https (production): the credentials go with the CONNECT that opens the tunnel; the
    # stand-in speaks no TLS, so the handshake after it fails (a retry: nothing was sent).
    tunnelled = SendGridTransport(providers.standin.sendgrid_key,
                                  providers.url.replace("http://", "https://"), timeout=1.0)
    result = tunnelled.send(EMAIL)
    assert authenticating_proxy.seen[1:] == [("CONNECT", True)]
    assert result.outcome == "retry" and "s3cr" not in (result.error or "")
    assert "s3cr" not in caplog.text and "s3cr" not in repr(vars(transport.pool))
    assert len(providers.standin.emails) == 1
