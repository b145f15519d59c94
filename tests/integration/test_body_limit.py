"""Bounded request bodies (audit F6): every route answers 413 before it reads a body over its
limit, declared or streamed, with the server's memory flat; and a record the API cannot store is
that record's error, not the batch's (audit F15)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy import select as sql_select

from outreach.config import ConfigError, Settings
from outreach.store.schema import signers
from outreach.testing.webhooks import SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, SendGridCaller
from outreach.web import create_app
from tests.web_helpers import ROOT, web_settings

MiB = 1 << 20
OFFERED = 200 * MiB  # what the audit sent
TOKEN = "api-secret"
PUBLIC = "https://act.example.org"


def post_routes(settings: Settings) -> list[str]:
    """Every POST route of the app, path parameters filled in: a new route is covered too."""
    paths = create_app(settings).openapi()["paths"]
    return sorted(re.sub(r"\{[^}]+\}", "x", path) for path, methods in paths.items()
                  if "post" in methods)


def route_headers(path: str) -> list[str]:
    """What lets a request past the checks that need no body: the body must be the next."""
    if path.startswith("/hooks/sendgrid/"):
        return [f"{SENDGRID_SIGNATURE}: c2ln", f"{SENDGRID_TIMESTAMP}: {int(time.time())}",
                "Content-Type: application/json"]
    if path.startswith("/hooks/twilio/"):
        return ["X-Twilio-Signature: c2ln", "Content-Type: application/x-www-form-urlencoded"]
    if path.startswith("/api/"):
        return [f"Authorization: Bearer {TOKEN}", "Content-Type: application/json"]
    return ["Content-Type: application/x-www-form-urlencoded"]


def offer(port: int, path: str, *, chunked: bool, total: int = OFFERED) -> tuple[int, int]:
    """POST a body of `total` bytes (Content-Length declared, or streamed in chunks), sending
    until the server answers: (the answer's status, bytes of body sent)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *route_headers(path),
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"]

    def body():
        left = total
        while left:
            piece = (b"f=" + b"A" * (64 * 1024))[:left]
            left -= len(piece)
            yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        if chunked:
            yield b"0\r\n\r\n"

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        sent, pending, pieces = 0, b"", body()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = pending or next(pieces, b"")
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 1)
            if readable:
                break
            if writable:
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    break
                pending = pending[count:]
                sent += count
        sock.setblocking(True)
        answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1]), sent


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(value) * 1024 for key, value in
            re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)}


SERVER = """
import json, os, socket, sys
import uvicorn
from outreach.web import create_app
from tests.web_helpers import web_settings
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
sock.listen(128)  # connections queue until the server takes them
print(sock.getsockname()[1], flush=True)
app = create_app(web_settings("http://127.0.0.1", **json.loads(os.environ["SETTINGS"])))
uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
"""


@pytest.fixture
def server_settings(tmp_path) -> dict[str, str]:
    return {"OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
            "OUTREACH_API_TOKEN": TOKEN, "OUTREACH_SESSION_SECRET": "s" * 32,
            "OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY": SendGridCaller().public_key}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_200_mb_post_to_every_route_is_refused_413_with_memory_flat(server_settings):
    routes = post_routes(web_settings("http://127.0.0.1", **server_settings))
    assert {"/sign", "/api/signers", "/hooks/sendgrid/events", "/hooks/twilio/inbound",
            "/hooks/twilio/status", "/u/x", "/admin/login"} <= set(routes)
    server = subprocess.Popen([sys.executable, "-c", SERVER], cwd=ROOT, stdout=subprocess.PIPE,
                              env={**os.environ, "SETTINGS": json.dumps(server_settings),
                                   "PYTHONPATH": str(ROOT)})
    try:
        port = int(server.stdout.readline())
        for path in routes:  # warm every route up with a small body: imports, first calls
            for chunked in (False, True):
                status, _ = offer(port, path, chunked=chunked, total=10)
                assert status != 413, path
        with contextlib.suppress(OSError):  # the peak from now (Linux >= 4.0), else since start
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
        before = memory(server.pid)["VmRSS"]
        for path in routes:
            for chunked in (False, True):
                status, sent = offer(port, path, chunked=chunked)
                assert status == 413, (path, chunked, status)
                assert sent < 40 * MiB, (path, chunked, sent)  # refused long before the end
        grown = memory(server.pid)["VmHWM"] - before
        assert grown < 20 * MiB, f"peak RSS grew {grown / MiB:.1f} MiB"
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def small_limits(store):
    settings = web_settings(PUBLIC, OUTREACH_API_TOKEN=TOKEN, OUTREACH_SESSION_SECRET="s" * 32,
                            OUTREACH_MAX_BODY_BYTES="1000", OUTREACH_MAX_API_BODY_BYTES="5000",
                            OUTREACH_MAX_SENDGRID_BODY_BYTES="3000")
    with TestClient(create_app(settings, engine=store), base_url=PUBLIC) as client:
        yield client


def test_each_route_class_has_its_own_configurable_limit(small_limits):
    form = {"f": "A" * 1100}
    assert small_limits.post("/sign", data=form).status_code == 413
    assert small_limits.post("/sign", data={"f": "A" * 900}).status_code == 403  # CSRF: read
    assert small_limits.post("/hooks/twilio/inbound", data=form).status_code == 413
    assert small_limits.post("/admin/login", data=form).status_code == 413
    sendgrid = small_limits.post("/hooks/sendgrid/events", content=b"[" + b"1," * 1600 + b"1]")
    assert sendgrid.status_code == 413
    assert small_limits.post("/hooks/sendgrid/events", content=b"[1]").status_code == 403
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    big = [{"email": f"p{i}@example.org", "zip": "19102"} for i in range(200)]
    answer = small_limits.post("/api/signers", json=big, headers=bearer)
    assert answer.status_code == 413
    assert "5,000 bytes" in answer.json()["detail"]
    assert small_limits.post("/api/signers", json=big[:20], headers=bearer).status_code == 200


def test_a_streamed_body_is_counted_and_refused_past_the_limit(small_limits, store):
    def chunks():
        for _ in range(100):
            yield b"f=" + b"A" * 98 + b"&"

    answer = small_limits.post("/sign", content=chunks(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
    with store.connect() as connection:
        assert connection.execute(sql_select(func.count()).select_from(signers)).scalar() == 0


@pytest.mark.parametrize("value", ["0", "-5", "64k", "1.5"])
def test_a_limit_that_is_not_a_whole_number_of_bytes_is_refused(value):
    with pytest.raises(ConfigError, match="OUTREACH_MAX_BODY_BYTES"):
        Settings.from_values({"OUTREACH_MAX_BODY_BYTES": value})


def test_one_record_with_a_lone_surrogate_is_rejected_and_the_others_stored(store):
    """Audit F15: "Ana \\ud83d" (an emoji cut in half by a JavaScript client) was a 500 and
    none of the three records stored."""
    settings = web_settings(PUBLIC, OUTREACH_API_TOKEN=TOKEN, OUTREACH_SESSION_SECRET="s" * 32)
    body = ('[{"email":"batchok1@example.org","zip":"19102"},'
            '{"first_name":"Ana \\ud83d","email":"surrogate@example.org","zip":"19102"},'
            '{"email":"batchok2@example.org","zip":"19102","x\\udc00":"1"}]')
    with TestClient(create_app(settings, engine=store), base_url=PUBLIC) as client:
        answer = client.post("/api/signers", content=body,
                             headers={"Authorization": f"Bearer {TOKEN}",
                                      "Content-Type": "application/json"})
    assert answer.status_code == 200
    result = answer.json()
    assert (result["imported"], result["rejected"]) == (2, 1)
    assert result["results"][1]["outcome"] == "rejected"
    assert "surrogate" in result["results"][1]["reason"]
    assert result["unmapped_fields"] == ["x\ufffd"]
    with store.connect() as connection:
        emails = connection.execute(sql_select(signers.c.email).order_by(signers.c.email))
        assert emails.scalars().all() == ["batchok1@example.org", "batchok2@example.org"]
