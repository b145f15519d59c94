"""`outreach scheduler` and `outreach run`: long-running processes and their graceful stop.

`run` is the one-machine deployment: the scheduler plus a worker (N sender threads) in one
process. SIGTERM or SIGINT: the worker claims nothing more, finishes the sends in flight and
gives back its unstarted claims; the scheduler lets a running job finish; exit 0. Every
`health_every` seconds one log line tells the queue depth, the send rate and the errors.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from outreach.config import Settings
from outreach.ops.scheduler import build_scheduler, single_scheduler
from outreach.store import db, reports, workers
from outreach.store import outbox as box
from outreach.store.db import database_reason, is_connection_loss

log = logging.getLogger("outreach.run")


def health_line(engine: Engine, stats: Counter[str], before: Counter[str],
                seconds: float, dead_after: timedelta = timedelta(seconds=30)) -> str:
    """Queue depth (due now / waiting), sends per second since the last line, errors, and
    the workers by heartbeat (live, late, dead: a dead one no live worker took over is a
    page-worthy line)."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        counts = box.state_counts(connection)
        due = reports.due_now(connection, now)
        beating = workers.status_counts(connection, dead_after, now)
    sent = stats["sent"] - before["sent"]
    errors = sum(stats[k] - before[k] for k in ("failed", "errors", "unknown"))
    waiting = counts["queued"] + counts["retry"] - due
    return (f"health: queue {due} due now, {waiting} waiting, {counts['sending']} sending; "
            f"sent {sent} in {seconds:.0f} s ({sent / max(seconds, 1e-9):.1f}/s); "
            f"errors {errors}; totals sent {counts['sent']}, failed {counts['failed']}, "
            f"unknown {counts['unknown']}; workers "
            + (", ".join(f"{k} {v}" for k, v in sorted(beating.items()) if v) or "none"))


def _on_stop_signals(stop: Callable[[], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop())


def run_scheduler(settings: Settings) -> None:
    """`outreach scheduler`: until SIGTERM/SIGINT."""
    engine = db.open_store(settings.store.database_url)
    stopped = threading.Event()
    with single_scheduler(engine):
        scheduler = build_scheduler(settings, engine, isolate=True)
        _on_stop_signals(stopped.set)
        log.info("scheduler started with jobs: %s",
                 ", ".join(f"{j.id} ({j.trigger})" for j in scheduler.get_jobs()))
        stopped.wait()
        scheduler.shutdown(wait=True)
    log.info("scheduler stopped")


def run_all(settings: Settings, concurrency: int, health_every: float = 60.0) -> Counter[str]:
    """`outreach run`: scheduler + worker in one process, until SIGTERM/SIGINT."""
    from outreach.ops.wiring import build_worker

    engine = db.open_store(settings.store.database_url)
    with single_scheduler(engine):
        worker = build_worker(settings, concurrency, engine=engine)
        _on_stop_signals(worker.stop.set)
        scheduler = build_scheduler(settings, engine, worker=worker, isolate=True)
        health = threading.Thread(target=_health_loop, args=(engine, worker, health_every),
                                  daemon=True)
        health.start()
        log.info("running: scheduler (%d jobs) and a worker with %d senders",
                 len(scheduler.get_jobs()), concurrency)
        try:
            stats = worker.run()
        finally:
            scheduler.shutdown(wait=True)
    log.info("stopped: %s", ", ".join(f"{k} {v}" for k, v in sorted(stats.items()) if v)
             or "nothing sent")
    return stats


def _health_loop(engine: Engine, worker, every: float) -> None:  # type: ignore[no-untyped-def]
    before = Counter(worker.stats)
    while not worker.stop.wait(every):
        current = Counter(worker.stats)
        try:
            log.info(health_line(engine, current, before, every, worker.options.dead_after))
        except Exception as error:  # a health line must never take the process down
            if is_connection_loss(error):
                log.warning("health: database unreachable: %s", database_reason(error))
            else:
                log.exception("health line failed")
        before = current
