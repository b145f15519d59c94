#!/usr/bin/env python3
"""How long `outreach` takes to start, and how much memory its long-running processes hold.

Times, as subprocesses (the median of --repeats runs each): `python -c "import click"` (the
floor any click program pays), `outreach --version`, `outreach --help`, and
`outreach lookup 19102` once with an empty compiled cache (cold) and then warm. Then starts
`outreach serve` twice (the first start fills the cache) and measures it in its steady state:
after /healthz, the petition page, one signature through the form and its thanks page, the
scoreboard, and the organizer dashboard (logged in); and `outreach run` after its first pass
of real work (a signer file in its inbox: the inbox, match and plan jobs each logged once,
then --settle seconds). Reads their resident memory (VmRSS, and the peak VmHWM) from
/proc. Prints one JSON object, with the ratios the issue's Done-when asks for
(`version_over_click` within 3; lookup's base/head ratio from bench/compare.sh).

The CLI is run as `python -m outreach.cli` with this interpreter, so the script runs at an
older revision too (bench/compare.sh puts that revision's package first on PYTHONPATH).
Every run gets its own cache folder, store and working directory, in a temporary folder.

  python bench/startup.py --repeats 5
  bench/compare.sh 678c03e bench/startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

CLI = [sys.executable, "-m", "outreach.cli"]
PASSWORD = "bench organizer password"
SIGNER = {"first_name": "Bench", "last_name": "Signer", "phone": "",
          "street": "1421 Arch Street", "zip": "19102", "email_opt_in": "yes"}
# Jobs whose first run `run` is measured after (each logs "job NAME: ...").
RUN_JOBS = ("inbox", "match", "plan")


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr[-500:]}")
    return seconds


def median(argv: Sequence[str], env: dict[str, str], cwd: Path, repeats: int) -> float:
    return round(statistics.median(timed(argv, env, cwd) for _ in range(repeats)), 4)


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": found.get("VmRSS", 0.0), "peak_mb": found.get("VmHWM", 0.0)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _csrf(opener: urllib.request.OpenerDirector, url: str) -> str:
    with opener.open(url, timeout=30) as answer:
        found = re.search(r'name="csrf" value="([^"]+)"', answer.read().decode())
    if not found:
        raise SystemExit(f"no CSRF field on {url}")
    return found.group(1)


def _post(opener: urllib.request.OpenerDirector, url: str, form: dict[str, str]) -> str:
    """POST a form (following its redirect); the page answered."""
    body = urllib.parse.urlencode(form).encode()
    with opener.open(urllib.request.Request(url, body, {"Accept": "text/html"}),
                     timeout=60) as answer:
        return str(answer.geturl())


def exercise(base: str, email: str) -> None:
    """What a serving process does in its first minutes: the petition page, one signature
    (a new signer: `email` is this start's own, so the signing is matched and queued, not
    kept as a duplicate's evidence) and its thanks page, the scoreboard, an organizer's
    login and dashboard; the memory is read after all of them, so every path that loads
    something has loaded it."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    opener.addheaders = [("Accept", "text/html")]
    thanks = _post(opener, f"{base}/sign",
                   {**SIGNER, "email": email, "csrf": _csrf(opener, f"{base}/")})
    if "/thanks/" not in thanks or thanks.endswith("/received"):
        raise SystemExit(f"the signature was not stored (answered {thanks})")
    for path in ("/healthz", "/prosecutors"):
        with opener.open(f"{base}{path}", timeout=60) as answer:
            answer.read()
    dashboard = _post(opener, f"{base}/admin/login",
                      {"password": PASSWORD, "next": "/admin",
                       "csrf": _csrf(opener, f"{base}/admin/login")})
    if not dashboard.endswith("/admin"):
        raise SystemExit(f"the organizer login failed (answered {dashboard})")


def serve_memory(env: dict[str, str], cwd: Path, timeout: float) -> dict[str, float]:
    """`outreach serve` after startup and the requests of `exercise`."""
    port = free_port()
    process = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        start = time.perf_counter()
        while True:
            if process.poll() is not None:
                raise SystemExit(f"outreach serve exited {process.returncode}")
            if time.perf_counter() - start > timeout:
                raise SystemExit("outreach serve did not answer /healthz in time")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        ready = time.perf_counter() - start
        exercise(f"http://127.0.0.1:{port}", f"bench.signer.{port}@example.org")
        return {**memory(process.pid), "ready_s": round(ready, 2)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def run_memory(env: dict[str, str], cwd: Path, timeout: float,
               settle: float) -> dict[str, float]:
    """`outreach run` after its first inbox, match and plan jobs (they fire on the next whole
    minute; a signer file waits in its inbox) and `settle` seconds more."""
    inbox = cwd / "inbox"
    inbox.mkdir(exist_ok=True)
    shutil.copy(Path(__file__).resolve().parent.parent / "data" / "sample_signers.csv",
                inbox / "signers.csv")
    process = subprocess.Popen([*CLI, "run", "--health-every", "3600"], env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        start = time.perf_counter()
        assert process.stderr is not None
        waiting = set(RUN_JOBS)
        ready = 0.0
        for line in process.stderr:
            if "running:" in line:
                ready = time.perf_counter() - start
            waiting -= {job for job in waiting if f"job {job}: " in line}
            if ready and not waiting:
                break
            if time.perf_counter() - start > timeout:
                raise SystemExit(f"outreach run did not run {', '.join(sorted(waiting))} "
                                 "in time")
        else:
            raise SystemExit(f"outreach run exited {process.wait()}")
        time.sleep(settle)
        return {**memory(process.pid), "ready_s": round(ready, 2)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def timings(env: dict[str, str], cwd: Path, repeats: int, zip_code: str) -> dict[str, object]:
    click_s = median([sys.executable, "-c", "import click"], env, cwd, repeats)
    version_s = median([*CLI, "--version"], env, cwd, repeats)
    timed([*CLI, "--help"], env, cwd)  # the first lists from the commands, then cached
    help_s = median([*CLI, "--help"], env, cwd, repeats)
    cold_s = round(timed([*CLI, "lookup", zip_code], env, cwd), 4)
    warm_s = median([*CLI, "lookup", zip_code], env, cwd, repeats)
    return {"seconds": {"import_click": click_s, "version": version_s, "help": help_s,
                        "lookup_cold": cold_s, "lookup_warm": warm_s},
            "version_over_click": round(version_s / click_s, 2),
            "help_over_click": round(help_s / click_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--zip", default="19102")
    parser.add_argument("--no-memory", action="store_true", help="skip serve and run")
    parser.add_argument("--memory-only", action="store_true",
                        help="skip the timings: only serve and run")
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--settle", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="outreach-startup-") as scratch:
        root = Path(scratch)
        env = {**os.environ,
               "OUTREACH_CACHE_DIR": str(root / "cache"), "XDG_CACHE_HOME": str(root / "xdg"),
               # No store for the lookup: a read-only command opens none that is absent.
               "OUTREACH_DATABASE_URL": f"sqlite:///{root / 'absent.sqlite3'}",
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("OUTREACH_CONFIG", None)
        cwd = root
        result: dict[str, object] = {"python": sys.version.split()[0],
                                     "repeats": args.repeats, "cpus": os.cpu_count()}
        if not args.memory_only:
            result.update(timings(env, cwd, args.repeats, args.zip))
        if not args.no_memory:
            from argon2 import PasswordHasher  # outreach's own hasher (web/security.py)

            store = {**env, "OUTREACH_DATABASE_URL": f"sqlite:///{root / 'store.sqlite3'}",
                     "OUTREACH_PUBLIC_URL": "http://127.0.0.1",
                     "OUTREACH_ADMIN_PASSWORD_HASH": PasswordHasher().hash(PASSWORD),
                     "OUTREACH_SESSION_SECRET": "bench-session-secret"}
            subprocess.run([*CLI, "db", "upgrade"], env=store, cwd=cwd, check=True,
                           stdout=subprocess.DEVNULL)
            # Once to fill the cache (the ZIP answers), as any earlier start of a deployment
            # did; then measured.
            result["serve_first"] = serve_memory(store, cwd, args.timeout)
            result["serve"] = serve_memory(store, cwd, args.timeout)
            result["run"] = run_memory(store, cwd, args.timeout, args.settle)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
