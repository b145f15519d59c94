#!/usr/bin/env python3
"""How long `outreach` takes to start, and how much memory its long-running processes hold.

Times, as subprocesses (the median of --repeats runs each): `python -c "import click"` (the
floor any click program pays), `outreach --version`, `outreach --help`, and
`outreach lookup 19102` once with an empty compiled cache (cold) and then warm. Then starts
`outreach serve` twice (the first start fills the cache; each waits for /healthz and makes a
few requests) and `outreach run` (waits for its
"running:" line and a few seconds more) and reads their resident memory (VmRSS, and the peak
VmHWM) from /proc. Prints one JSON object, with the ratios the issue's Done-when asks for
(`version_over_click` within 3; lookup's base/head ratio from bench/compare.sh).

The CLI is run as `python -m outreach.cli` with this interpreter, so the script runs at an
older revision too (bench/compare.sh puts that revision's package first on PYTHONPATH).
Every run gets its own cache folder, store and working directory, in a temporary folder.

  python bench/startup.py --repeats 5
  bench/compare.sh 678c03e bench/startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

CLI = [sys.executable, "-m", "outreach.cli"]


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


def serve_memory(env: dict[str, str], cwd: Path, timeout: float) -> dict[str, float]:
    """`outreach serve` after startup and a few requests."""
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
        for path in ("/", "/healthz", "/", "/scoreboard", "/healthz"):
            # A page this store cannot show still took its memory.
            with contextlib.suppress(urllib.error.URLError, OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
        return {**memory(process.pid), "ready_s": round(ready, 2)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def run_memory(env: dict[str, str], cwd: Path, timeout: float,
               settle: float) -> dict[str, float]:
    """`outreach run` after its "running:" line and `settle` seconds (its first jobs)."""
    process = subprocess.Popen([*CLI, "run", "--health-every", "3600"], env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        start = time.perf_counter()
        assert process.stderr is not None
        for line in process.stderr:
            if "running:" in line:
                break
            if time.perf_counter() - start > timeout:
                raise SystemExit("outreach run did not start in time")
        else:
            raise SystemExit(f"outreach run exited {process.wait()}")
        ready = time.perf_counter() - start
        time.sleep(settle)
        return {**memory(process.pid), "ready_s": round(ready, 2)}
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--zip", default="19102")
    parser.add_argument("--no-memory", action="store_true", help="skip serve and run")
    parser.add_argument("--timeout", type=float, default=180.0)
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
        click_s = median([sys.executable, "-c", "import click"], env, cwd, args.repeats)
        version_s = median([*CLI, "--version"], env, cwd, args.repeats)
        timed([*CLI, "--help"], env, cwd)  # the first lists from the commands, then cached
        help_s = median([*CLI, "--help"], env, cwd, args.repeats)
        cold_s = round(timed([*CLI, "lookup", args.zip], env, cwd), 4)
        warm_s = median([*CLI, "lookup", args.zip], env, cwd, args.repeats)
        result["seconds"] = {"import_click": click_s, "version": version_s, "help": help_s,
                             "lookup_cold": cold_s, "lookup_warm": warm_s}
        result["version_over_click"] = round(version_s / click_s, 2)
        result["help_over_click"] = round(help_s / click_s, 2)
        if not args.no_memory:
            store = {**env, "OUTREACH_DATABASE_URL": f"sqlite:///{root / 'store.sqlite3'}",
                     "OUTREACH_PUBLIC_URL": "http://127.0.0.1"}
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
