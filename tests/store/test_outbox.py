"""The outbox state machine: no duplicate, no loss, many claimers, crash recovery."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from outreach.store import outbox as box
from outreach.store.runs import run_states, set_run_state
from outreach.store.schema import outbox

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def messages(count: int, *, step: str = "welcome", due: datetime = NOW) -> list[box.NewMessage]:
    return [box.NewMessage("mj", step, "email", "signer", str(i), "welcome_email",
                           {"signer_id": i}, due) for i in range(count)]


def enqueue(store, items) -> int:
    with store.begin() as connection:
        return box.enqueue(connection, items, NOW)


def test_replanning_adds_nothing(store):
    assert enqueue(store, messages(5)) == 5
    assert enqueue(store, messages(5)) == 0
    assert enqueue(store, messages(7)) == 2
    assert enqueue(store, messages(3, step="follow_up")) == 3
    with store.connect() as connection:
        assert box.state_counts(connection)["queued"] == 10


def test_claim_takes_due_rows_only_once(store):
    enqueue(store, messages(4) + messages(2, step="later", due=NOW + timedelta(days=3)))
    first = box.claim(store, "w1", 3, LEASE, NOW)
    second = box.claim(store, "w2", 10, LEASE, NOW)
    assert len(first) == 3 and len(second) == 1
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    assert all(r.context["signer_id"] is not None for r in first)
    assert box.claim(store, "w3", 10, LEASE, NOW) == []
    assert len(box.claim(store, "w3", 10, LEASE, NOW + timedelta(days=3))) == 2


def test_full_cycle_and_guarded_transitions(store):
    enqueue(store, messages(1))
    [row] = box.claim(store, "w1", 1, LEASE, NOW)
    assert not box.start_sending(store, row.id, "someone-else", NOW)
    assert box.start_sending(store, row.id, "w1", NOW)
    assert not box.start_sending(store, row.id, "w1", NOW)  # already sending
    assert box.finish(store, row.id, "sent", NOW, provider_message_id="SM123")
    assert not box.finish(store, row.id, "sent", NOW)  # terminal: cannot move again
    with store.connect() as connection:
        stored = connection.execute(select(outbox)).one()
    assert (stored.state, stored.attempts, stored.provider_message_id) == ("sent", 1, "SM123")


def test_retry_comes_back_when_due(store):
    enqueue(store, messages(1))
    [row] = box.claim(store, "w1", 1, LEASE, NOW)
    box.start_sending(store, row.id, "w1", NOW)
    box.finish(store, row.id, "retry", NOW, error="HTTP 503", retry_at=NOW + timedelta(seconds=30))
    assert box.claim(store, "w1", 1, LEASE, NOW + timedelta(seconds=10)) == []
    [again] = box.claim(store, "w2", 1, LEASE, NOW + timedelta(seconds=31))
    assert (again.id, again.attempts, again.last_error) == (row.id, 1, "HTTP 503")


def test_expired_lease_goes_back_to_the_queue_but_sending_does_not(store):
    enqueue(store, messages(2))
    claimed, started = box.claim(store, "dead-worker", 2, LEASE, NOW)
    box.start_sending(store, started.id, "dead-worker", NOW)
    assert box.expire_leases(store, NOW + LEASE + timedelta(seconds=1)) == 1
    [reclaimed] = box.claim(store, "w2", 5, LEASE, NOW + LEASE + timedelta(seconds=2))
    assert reclaimed.id == claimed.id
    stale = box.stale_sending(store, NOW + timedelta(minutes=10))
    assert [r.id for r in stale] == [started.id]
    assert box.finish(store, started.id, "unknown", NOW, error="worker died mid-send")


def test_skip_defer_and_release(store):
    enqueue(store, messages(3))
    a, b, c = box.claim(store, "w1", 3, LEASE, NOW)
    assert box.set_aside(store, [box.SetAside(a.id, "skipped", "opted out")], "w1", NOW) == 1
    assert box.set_aside(store, [box.SetAside(b.id, "queued", None, NOW + timedelta(hours=8))],
                         "w1", NOW) == 1
    assert box.release(store, "w1", NOW) == 1  # c: claimed, never started
    with store.connect() as connection:
        counts = box.state_counts(connection)
    assert (counts["skipped"], counts["queued"], counts["claimed"]) == (1, 2, 0)
    assert [r.id for r in box.claim(store, "w2", 5, LEASE, NOW)] == [c.id]


def test_rows_set_aside_together_move_as_one_by_one_and_only_if_still_ours(store):
    # One executemany for a batch's skipped, deferred and failed rows: each lands as skip,
    # defer and fail put it one at a time; a row another worker holds now is left alone.
    enqueue(store, messages(5))
    a, b, c, d, e = box.claim(store, "w1", 5, LEASE, NOW)
    later = NOW + timedelta(hours=8)
    with store.begin() as connection:  # e's claim expired and w2 took it
        connection.execute(outbox.update().where(outbox.c.id == e.id)
                           .values(claimed_by="w2"))
    moved = box.set_aside(store, [box.SetAside(a.id, "skipped", "opted out"),
                                  box.SetAside(b.id, "queued", "quiet hours", later),
                                  box.SetAside(c.id, "failed", "render: no such signer"),
                                  box.SetAside(e.id, "skipped", "opted out")], "w1", NOW)
    assert moved == 3
    with store.connect() as connection:
        rows = {r.id: r for r in connection.execute(select(outbox))}
    assert (rows[a.id].state, rows[a.id].last_error, rows[a.id].claimed_by) == \
        ("skipped", "opted out", "w1")
    assert (rows[b.id].state, rows[b.id].last_error, rows[b.id].claimed_by) == \
        ("queued", "quiet hours", None)
    assert box.as_utc(rows[b.id].not_before) == later
    assert (rows[c.id].state, rows[c.id].last_error) == ("failed", "render: no such signer")
    assert box.as_utc(rows[c.id].not_before) == NOW  # only a deferral moves the due time
    assert (rows[d.id].state, rows[e.id].state, rows[e.id].claimed_by) == \
        ("claimed", "claimed", "w2")
    assert all(rows[i].lease_until is None for i in (a.id, b.id, c.id))
    assert box.set_aside(store, [], "w1", NOW) == 0


def test_concurrent_claimers_never_share_a_row(store):
    enqueue(store, messages(300))
    taken: list[list[int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while rows := box.claim(store, name, 7, LEASE, NOW):
            with lock:
                taken.append([r.id for r in rows])

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for batch in taken for i in batch]
    assert len(ids) == len(set(ids)) == 300


def test_paused_campaign_waits_and_cancelled_one_is_withdrawn(store):
    enqueue(store, messages(4))
    assert set_run_state(store, "mj", "paused", NOW) == 0
    assert box.claim(store, "w1", 10, LEASE, NOW) == []  # paused: nothing goes out
    set_run_state(store, "mj", "active", NOW)
    assert len(box.claim(store, "w1", 1, LEASE, NOW)) == 1
    assert set_run_state(store, "mj", "cancelled", NOW) == 3  # the 3 still queued
    with store.connect() as connection:
        counts = box.state_counts(connection)
        assert run_states(connection) == {"mj": "cancelled"}
    assert (counts["skipped"], counts["claimed"]) == (3, 1)  # the claimed one finishes
    assert box.claim(store, "w2", 10, LEASE, NOW) == []
