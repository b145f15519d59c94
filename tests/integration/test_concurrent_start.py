"""Hosts that start together on one fresh PostgreSQL database: every one of them comes up.

A deployment starts `outreach run`, `outreach worker` and `outreach serve` on several hosts at
once (a systemd boot, a rolling deploy onto a new database). Each creates what it needs on
first use: the store's tables (the migrations) and APScheduler's job table. Two sessions that
create one table at once in PostgreSQL do not both succeed: the second waits for the first's
catalog row and then fails with UniqueViolation on pg_type_typname_nsp_index (seen in CI: one of
two schedulers started together exited "unexpected IntegrityError"). SQLite needs no test here:
every transaction there begins IMMEDIATE (store.db._sqlite_begin), one writer at a time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import create_engine, inspect

from outreach.ops.scheduler import PatientJobStore
from outreach.store.db import (
    current_revision,
    head_revision,
    hold_schema_lock,
    make_engine,
    open_store,
)

pytestmark = pytest.mark.postgres

STARTS = 6


def _blank(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def test_processes_that_migrate_a_fresh_database_at_once_all_succeed(postgres_server):
    _blank(postgres_server)
    # Each process imports first and waits at the door, so the migrations start together.
    program = ("import sys; from outreach.store.db import open_store; sys.stdin.read(); "
               f"open_store({postgres_server!r}).dispose()")
    processes = [subprocess.Popen([sys.executable, "-c", program], stdin=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(STARTS)]
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
    # Read before waiting: a process blocked on a full stderr pipe would never exit.
    errors = [process.stderr.read() if process.stderr else "" for process in processes]
    for process in processes:
        process.wait(timeout=120)
    outcomes = [(process.returncode, error) for process, error in zip(processes, errors,
                                                                       strict=True)]
    assert [code for code, _ in outcomes] == [0] * STARTS, \
        [[line for line in error.splitlines() if "Error" in line][-1:] for _, error in outcomes]
    engine = make_engine(postgres_server)
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_schedulers_that_create_the_job_table_at_once_all_start(postgres_server):
    _blank(postgres_server)
    open_store(postgres_server).dispose()
    engines = [make_engine(postgres_server) for _ in range(STARTS)]
    stores = [PatientJobStore(engine=engine) for engine in engines]
    for engine in engines:  # connected before the door opens: the creates race, not the logins
        engine.connect().close()
    door = threading.Barrier(STARTS)
    failures: list[BaseException] = []

    def start(store: PatientJobStore) -> None:
        door.wait()
        try:
            store.start(BackgroundScheduler(), "default")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a start hung"
    assert not failures, [type(f).__name__ for f in failures]
    assert "apscheduler_jobs" in inspect(engines[0]).get_table_names()
    for engine in engines:
        engine.dispose()


def test_a_web_start_waits_for_another_hosts_migration_beyond_its_lock_timeout(
        postgres_server):
    """`outreach serve` opens the store with a 5 s lock_timeout (WEB_LOCK_TIMEOUT, for
    requests); a migration another host runs longer than that must not end its start."""
    _blank(postgres_server)
    holder = make_engine(postgres_server)
    waiting = make_engine(postgres_server, lock_timeout=0.5)
    with holder.begin() as connection:
        hold_schema_lock(connection)  # another host, mid-migration
        started = threading.Event()
        done: list[BaseException | None] = []

        def start() -> None:
            started.set()
            try:
                with waiting.begin() as other:
                    hold_schema_lock(other)
                done.append(None)
            except BaseException as error:
                done.append(error)

        thread = threading.Thread(target=start)
        thread.start()
        started.wait()
        time.sleep(1.5)  # three times the waiting engine's lock_timeout
        assert done == []  # still waiting, not failed
    thread.join(timeout=30)
    assert done == [None]
    holder.dispose()
    waiting.dispose()

