"""`outreach worker` as deployments build it (outreach.wiring), with its clock shifted, for the
clock-skew test: a worker process whose wall clock is minutes off the provider's.

    python -m tests.skewed_worker --offset 300 [--once]

The shift is time-machine's (every wall-clock reading in the process, all threads; the
monotonic clock that paces and waits is left alone). Not libfaketime: Debian's 0.9.10 breaks
Python 3.11's sleeps (EINVAL from clock_nanosleep) or hangs its timed condition waits. The
compliance gate is left out because its quiet hours follow the wall clock and would make the
test depend on the hour it runs at; reconciliation is what is under test.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import time_machine

from outreach.config import Settings
from outreach.ops.wiring import build_worker
from outreach.sending.gate import gate_stub


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offset", type=float, required=True, help="seconds, + ahead")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=args.offset), tick=True):
        worker = build_worker(Settings.from_env(), concurrency=8)
        worker.gate = gate_stub
        worker.run(once=args.once)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
