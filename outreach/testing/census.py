"""A local stand-in for the U.S. Census Geocoder, for tests and benchmarks (the real service is
out of reach).

It speaks the documented formats: `geographies/onelineaddress` answers JSON with
result.addressMatches[].geographies{Counties, County Subdivisions}; `geographies/addressbatch`
takes a multipart `addressFile` CSV (id,street,city,state,zip; at most 10,000 rows) and answers
CSV rows `id,input,Match|No_Match|Tie,Exact,matched,"lon,lat",tigerLineId,side,state,county,
tract,block`; bad requests get HTTP 400 {"errors": [...], "status": "400"}. Tests can make the
next answers fail (5xx with an optional Retry-After), stall past the client's timeout, or be
unreadable, and read back what the server received.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass(frozen=True)
class KnownAddress:
    matched_address: str
    county_geoid: str
    county_name: str
    town: str = ""
    zip: str = ""


def normalize(address: str) -> str:
    return " ".join(address.replace(",", " ").upper().split())


@dataclass
class Fault:
    kind: str  # "status" | "stall" | "garbage"
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass
class CensusStandIn:
    addresses: dict[str, KnownAddress] = field(default_factory=dict)
    ties: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, address: str, known: KnownAddress) -> None:
        self.addresses[normalize(address)] = known

    def fail_next(self, count: int, status: int = 503, retry_after: str | None = None) -> None:
        self.faults.extend(Fault("status", status, retry_after) for _ in range(count))

    def stall_next(self, count: int, seconds: float) -> None:
        self.faults.extend(Fault("stall", seconds=seconds) for _ in range(count))

    def garbage_next(self, count: int) -> None:
        self.faults.extend(Fault("garbage") for _ in range(count))

    def take_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    # --- documented answers -------------------------------------------------------------
    def oneline(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        address = params.get("address", [""])[0]
        if not address or len(address) > 100:
            return 400, {"errors": ["Address cannot be empty and cannot exceed 100 characters"],
                         "status": "400"}
        if "benchmark" not in params:
            return 400, {"errors": ["Benchmark must be provided"], "status": "400"}
        known = self.addresses.get(normalize(address))
        matches = [] if known is None else [self._match_json(known)]
        return 200, {"result": {
            "input": {"address": {"address": address},
                      "benchmark": {"benchmarkName": params["benchmark"][0]},
                      "vintage": {"vintageName": params.get("vintage", ["Current_Current"])[0]}},
            "addressMatches": matches,
        }}

    @staticmethod
    def _match_json(known: KnownAddress) -> dict[str, Any]:
        geographies: dict[str, list[dict[str, str]]] = {
            "Counties": [{"GEOID": known.county_geoid, "NAME": known.county_name,
                          "STATE": known.county_geoid[:2], "COUNTY": known.county_geoid[2:]}],
        }
        if known.town:
            geographies["County Subdivisions"] = [{"NAME": f"{known.town} town",
                                                   "GEOID": known.county_geoid + "00000"}]
        return {
            "matchedAddress": known.matched_address,
            "coordinates": {"x": -75.16, "y": 39.95},
            "tigerLine": {"tigerLineId": "1", "side": "L"},
            "addressComponents": {"zip": known.zip},
            "geographies": geographies,
        }

    def batch(self, rows: list[list[str]]) -> tuple[int, str]:
        if len(rows) > 10_000:
            return 400, json.dumps({"errors": ["Batch file exceeds the 10,000 record limit"],
                                    "status": "400"})
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows:
            record_id, street, city, state, zip_code = (row + [""] * 5)[:5]
            one_line = f"{street}, {city}, {state}, {zip_code}"
            key = normalize(one_line)
            known = self.addresses.get(key)
            if key in self.ties:
                writer.writerow([record_id, one_line, "Tie"])
            elif known is None:
                writer.writerow([record_id, one_line, "No_Match"])
            else:
                writer.writerow([record_id, one_line, "Match", "Exact", known.matched_address,
                                 "-75.16,39.95", "1", "L", known.county_geoid[:2],
                                 known.county_geoid[2:], "000100", "1000"])
        return 200, out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: str, content_type: str,
               headers: dict[str, str] | None = None) -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        # The client may have given up already (a stalled answer past its timeout).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    def _fault(self) -> bool:
        fault = self.server.standin.take_fault()
        if fault is None:
            return False
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._reply(fault.status, "<html>Service Unavailable</html>", "text/html", headers)
            return True
        if fault.kind == "garbage":
            self._reply(200, "<html>maintenance</html>", "text/html")
            return True
        time.sleep(fault.seconds)
        return False  # a stalled answer still comes, too late for the client

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        self.server.standin.requests.append({"method": "GET", "path": url.path,
                                             "params": params})
        if self._fault():
            return
        if url.path.endswith("/geographies/onelineaddress"):
            status, body = self.server.standin.oneline(params)
            self._reply(status, json.dumps(body), "application/json")
        else:
            self._reply(404, json.dumps({"errors": ["Not found"], "status": "404"}),
                        "application/json")

    def do_POST(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw)
        fields: dict[str, str] = {}
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                fields[str(part.get_param("name", header="content-disposition"))] = \
                    payload.decode()
        rows = list(csv.reader(io.StringIO(fields.get("addressFile", ""))))
        self.server.standin.requests.append({"method": "POST", "path": url.path,
                                             "fields": {k: v for k, v in fields.items()
                                                        if k != "addressFile"},
                                             "rows": len(rows)})
        if self._fault():
            return
        if not url.path.endswith("/geographies/addressbatch") or "benchmark" not in fields:
            self._reply(400, json.dumps({"errors": ["Benchmark must be provided"],
                                         "status": "400"}), "application/json")
            return
        status, body = self.server.standin.batch(rows)
        self._reply(status, body, "text/csv" if status == 200 else "application/json")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, standin: CensusStandIn):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin


class RunningStandIn:
    """The stand-in served on a free loopback port until `close()`."""

    def __init__(self) -> None:
        self.standin = CensusStandIn()
        self.server = _Server(self.standin)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server: a text address
        self.url = f"http://{host}:{port}/geocoder"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
