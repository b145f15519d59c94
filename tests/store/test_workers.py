"""Worker heartbeats (store/workers.py): a silent worker is declared dead once, its claims go
back to the queue and its `sending` rows are handed over; a live one, a stopped one and (on
PostgreSQL) one whose host clock is hours off are never declared dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outreach.store import outbox as box
from outreach.store import workers
from tests.heartbeats import age_worker

DEAD = timedelta(seconds=30)
LEASE = timedelta(minutes=5)


def now() -> datetime:
    return datetime.now(UTC)


def silence(store, worker_id: str, seconds: float = 3600) -> None:
    """As if the worker's last beat was `seconds` ago (by whichever clock wrote it)."""
    age_worker(store, worker_id, timedelta(seconds=seconds))


def dead(store) -> list[str]:
    with store.connect() as connection:
        return workers.dead(connection, DEAD, now())


def enqueue(store, count: int) -> None:
    due = now() - timedelta(minutes=1)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "welcome", "email", "signer", str(i),
                                                "welcome", {}, due) for i in range(count)],
                    due)


def test_a_silent_worker_is_declared_dead_once_and_learns_it_at_its_next_beat(store):
    for worker_id in ("w1", "w2"):
        workers.register(store, worker_id, "host", 1, now())
    assert dead(store) == []
    silence(store, "w1")
    assert dead(store) == ["w1"]
    recovery = workers.declare_dead(store, "w1", "w2", DEAD, now())
    assert recovery is not None and recovery.worker_id == "w1"
    assert workers.declare_dead(store, "w1", "w3", DEAD, now()) is None  # once
    assert dead(store) == []
    assert workers.beat(store, "w1", "host", 1, now()) is False  # its work is not its own
    assert workers.beat(store, "w2", "host", 1, now()) is True
    with store.connect() as connection:
        by_id = {w.worker_id: w for w in workers.listing(connection, DEAD, now())}
    assert by_id["w1"].status == "dead" and by_id["w1"].declared_dead_by == "w2"
    assert by_id["w2"].status == "live"


def test_declaring_a_worker_dead_frees_its_claims_and_hands_over_its_sending_rows(store):
    enqueue(store, 5)
    workers.register(store, "w1", "host", 1, now())
    claimed = box.claim(store, "w1", 10, LEASE, now())
    started = box.start_sending_many(store, [r.id for r in claimed[:2]], "w1", now())
    silence(store, "w1")
    recovery = workers.declare_dead(store, "w1", "w2", DEAD, now())
    assert recovery is not None
    assert recovery.released == 3
    assert {r.id for r in recovery.sending} == started
    with store.connect() as connection:
        counts = box.state_counts(connection)
    assert counts["queued"] == 3 and counts["sending"] == 2 and counts["claimed"] == 0
    # Alive after all (a stall): the claims it lost are not sent by it.
    assert box.start_sending_many(store, [r.id for r in claimed[2:]], "w1", now()) == set()


def test_a_beat_that_lands_before_the_declaration_keeps_the_worker_alive(store):
    workers.register(store, "w1", "host", 1, now())
    silence(store, "w1")
    assert workers.beat(store, "w1", "host", 1, now()) is True
    assert workers.declare_dead(store, "w1", "w2", DEAD, now()) is None
    assert dead(store) == []


def test_a_stopped_worker_is_never_declared_dead_and_a_new_run_is_live_again(store):
    workers.register(store, "w1", "host", 1, now())
    assert workers.mark_stopped(store, "w1", now())
    silence(store, "w1")
    assert dead(store) == []
    with store.connect() as connection:
        assert [w.status for w in workers.listing(connection, DEAD, now())] == ["stopped"]
    workers.register(store, "w1", "host", 1, now())  # the same worker object runs again
    with store.connect() as connection:
        record, = workers.listing(connection, DEAD, now())
    assert record.status == "live" and record.stopped_at is None


def test_a_declared_dead_worker_that_runs_again_starts_afresh(store):
    workers.register(store, "w1", "host", 1, now())
    silence(store, "w1")
    assert workers.declare_dead(store, "w1", "w2", DEAD, now()) is not None
    workers.register(store, "w1", "host", 1, now())
    assert workers.beat(store, "w1", "host", 1, now()) is True


def test_a_beat_registers_a_worker_whose_start_missed_the_database(store):
    assert workers.beat(store, "w1", "host", 7, now()) is True
    with store.connect() as connection:
        record, = workers.listing(connection, DEAD, now())
    assert record.worker_id == "w1" and record.pid == 7 and record.status == "live"


def test_old_stopped_and_dead_workers_are_pruned(store):
    for worker_id in ("stopped", "dead", "live"):
        workers.register(store, worker_id, "host", 1, now())
    workers.mark_stopped(store, "stopped", now())
    silence(store, "dead")
    workers.declare_dead(store, "dead", "live", DEAD, now())
    assert workers.prune(store, timedelta(days=7), now()) == 0
    assert workers.prune(store, timedelta(days=7), now() + timedelta(days=8)) == \
        (0 if store.dialect.name == "postgresql" else 2)  # PostgreSQL: its own clock
    if store.dialect.name == "postgresql":
        assert workers.prune(store, timedelta(seconds=-1), now()) == 2
    with store.connect() as connection:
        assert [w.worker_id for w in workers.listing(connection, DEAD, now())] == ["live"]


def test_on_postgresql_the_servers_clock_judges_a_beat_not_the_hosts(store):
    """Host clocks an hour apart: the worker behind beats "an hour ago" by its clock, the one
    ahead judges "an hour later" by its own; neither reading counts, so it stays live."""
    if store.dialect.name != "postgresql":
        pytest.skip("SQLite is one host: one clock")
    workers.register(store, "behind", "host-a", 1, now() - timedelta(hours=1))
    assert workers.beat(store, "behind", "host-a", 1, now() - timedelta(hours=1))
    with store.connect() as connection:
        assert workers.dead(connection, DEAD, now() + timedelta(hours=1)) == []
    assert workers.declare_dead(store, "behind", "ahead", DEAD,
                                now() + timedelta(hours=1)) is None
