"""Send budgets shared by every worker process on every host: one per provider account, kept
in the store (table send_budgets) or, when OUTREACH_REDIS_URL is set, in Redis.

Both keep the same two numbers per budget key and do the same arithmetic (virtual scheduling,
the GCRA of ATM traffic shaping, ITU-T I.371): `next_at`, the time of the next free send slot,
and `paused_until`, the end of the provider's last Retry-After pause. Reserving `count` slots
`interval` seconds apart takes the first at max(next_at, paused_until, now) and moves next_at
past the last, in one atomic step: one UPDATE ... RETURNING on PostgreSQL and SQLite (whose
`BEGIN IMMEDIATE` makes the row's writer the only one), one Lua script in Redis. The time is
the shared server's clock (PostgreSQL's clock_timestamp(), Redis' TIME), so the hosts' own
clocks never decide a slot; SQLite serves one host, and its processes share that host's clock.
The caller gets back the ledger's times with the ledger's clock reading, and maps them onto
its own monotonic clock (outreach.sending.pacing.SharedBudget).

Redis lives here beside the SQL although it is not the relational store: it holds the same
state for the same callers, and the two copies of the arithmetic are easiest to keep in step
when they are read side by side. Only pacing state goes to Redis; nothing durable does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Float, cast, func, select, update

from outreach.store.db import database_reason, dialect_insert, is_connection_loss
from outreach.store.schema import send_budgets


class BudgetUnreachable(Exception):
    """The budget's store or Redis does not answer (the caller waits and tries again)."""


@dataclass(frozen=True)
class Reservation:
    """Reserved slots, in seconds since the epoch by the ledger's clock: the first at `first`,
    the others following it `interval` apart; the account paused until `paused_until`; `now`,
    the ledger's clock when it reserved them (the caller maps these onto its own clock)."""

    first: float
    paused_until: float
    now: float

    @property
    def wait(self) -> float:
        return self.first - self.now


# --- the store -------------------------------------------------------------------------------

def _now(bind: Connection) -> ColumnElement[float]:
    """Seconds since the epoch by the database's clock when the statement runs, after any
    wait for the row's lock (PostgreSQL: clock_timestamp(), not the transaction's start;
    SQLite, on the one host: its clock, to the millisecond)."""
    if bind.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return (func.julianday("now") - 2440587.5) * 86400.0


def _greatest(bind: Connection, *values: Any) -> ColumnElement[float]:
    return func.greatest(*values) if bind.dialect.name == "postgresql" else func.max(*values)


def _ensure(connection: Connection, key: str) -> None:
    connection.execute(dialect_insert(connection, send_budgets)
                       .values(key=key, next_at=0.0, paused_until=0.0)
                       .on_conflict_do_nothing(index_elements=["key"]))


def reserve_slots(engine: Engine, key: str, interval: float, count: int = 1) -> Reservation:
    """Reserve `count` send slots `interval` seconds apart on budget `key` (created at its
    first use): the first free one at or after now and after the pause."""
    with engine.begin() as connection:
        c = send_budgets.c
        now = _now(connection)
        statement = (update(send_budgets).where(c.key == key)
                     .values(next_at=_greatest(connection, c.next_at, c.paused_until, now)
                             + interval * count)
                     .returning(c.next_at - interval * count, c.paused_until, now))
        row = connection.execute(statement).first()
        if row is None:
            _ensure(connection, key)
            row = connection.execute(statement).one()
    return Reservation(float(row[0]), float(row[1]), float(row[2]))


def pause_budget(engine: Engine, key: str, seconds: float) -> None:
    """Pause budget `key` for `seconds` from now (a provider's Retry-After) for every worker;
    a longer pause already set stays."""
    with engine.begin() as connection:
        c = send_budgets.c
        statement = (update(send_budgets).where(c.key == key)
                     .values(paused_until=_greatest(connection, c.paused_until,
                                                    _now(connection) + seconds)))
        if not connection.execute(statement).rowcount:
            _ensure(connection, key)
            connection.execute(statement)


def budget_paused_for(engine: Engine, key: str) -> float:
    """How many more seconds budget `key` is paused (0 or less: it is not)."""
    with engine.connect() as connection:
        left = connection.execute(select(send_budgets.c.paused_until - _now(connection))
                                  .where(send_budgets.c.key == key)).scalar()
    return float(left) if left is not None else 0.0


class StoreLedger:
    """The budgets in the store: PostgreSQL for several hosts, SQLite for one."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def reserve(self, key: str, interval: float, count: int) -> Reservation:
        with self._answering():
            return reserve_slots(self.engine, key, interval, count)

    def pause(self, key: str, seconds: float) -> None:
        with self._answering():
            pause_budget(self.engine, key, seconds)

    def paused_for(self, key: str) -> float:
        with self._answering():
            return budget_paused_for(self.engine, key)

    @staticmethod
    def _answering() -> AbstractContextManager[None]:
        return _unreachable_as(is_connection_loss, database_reason)


@contextmanager
def _unreachable_as(lost: Callable[[BaseException], bool],
                    reason: Callable[[BaseException], str]) -> Iterator[None]:
    """The backend's "not answering" errors as BudgetUnreachable, with their reason."""
    try:
        yield
    except Exception as error:
        if lost(error):
            raise BudgetUnreachable(reason(error)) from error
        raise


# --- Redis -----------------------------------------------------------------------------------

# Lua numbers are doubles; values go back and forth as decimal strings (a Lua number returned
# to Redis would be truncated to an integer). A budget's key expires a day after its last use
# (or after its pause), when its numbers are in the past and mean what no key means.
_REDIS_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next_at')) or 0
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
local function keep()
  redis.call('EXPIRE', KEYS[1], math.max(86400, math.ceil(paused - now) + 86400))
end
"""
_REDIS_RESERVE = _REDIS_CLOCK + """
local first = math.max(next_at, paused, now)
redis.call('HSET', KEYS[1], 'next_at',
           string.format('%.6f', first + tonumber(ARGV[1]) * tonumber(ARGV[2])))
keep()
return {string.format('%.6f', first), string.format('%.6f', paused),
        string.format('%.6f', now)}
"""
_REDIS_PAUSE = _REDIS_CLOCK + """
paused = math.max(paused, now + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'paused_until', string.format('%.6f', paused))
keep()
return 1
"""
_REDIS_PAUSED_FOR = _REDIS_CLOCK + """
return string.format('%.6f', paused - now)
"""


# Redis' own "not now" answers that redis-py gives no class of their own: a script running
# past lua-time-limit (BUSY), snapshots failing to save so writes are refused (MISCONF).
_REDIS_NOT_NOW = ("BUSY ", "MISCONF ")


def _redis_not_answering(error: BaseException) -> bool:
    """Is this Redis failing to keep the budget for now, rather than refusing our call as it
    will every time? Not only a lost connection or a timeout: a replica promoted late
    (READONLY), a full memory under `noeviction` (OOM), a cluster's master down (MASTERDOWN),
    a loading dataset (LOADING), a busy script (BUSY) all pass, and a send is held meanwhile,
    not let through unpaced and not lost (its row was already `sending`).

    An answer that will be the same at every call is not an outage: a script error or a key
    of another type (a plain ResponseError), a refused login (AuthenticationError) or ACL
    (NOPERM), a value redis-py cannot encode (DataError), a script not cached (NoScriptError,
    which its Script object answers itself by loading it). It reaches the worker, which
    gives the row back unsent and stops sending while it repeats (outreach.sending.worker:
    a long-running worker waits and tries again, `--once` stops with one line); held as an
    outage it would keep `outreach worker --once` waiting for ever."""
    import redis

    if isinstance(error, (redis.DataError, redis.exceptions.NoScriptError,
                          redis.AuthenticationError, redis.exceptions.NoPermissionError)):
        return False
    if type(error) is redis.ResponseError:  # an answer redis-py has no class for
        return str(error).startswith(_REDIS_NOT_NOW)
    return isinstance(error, redis.RedisError)


class RedisLedger:
    """The budgets in Redis (OUTREACH_REDIS_URL), under `prefix` + budget key: for hosts that
    share a Redis rather than a PostgreSQL store, or to keep the pacing round trips off it."""

    def __init__(self, url: str, prefix: str = "outreach:budget:"):
        import redis

        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._reserve = self.client.register_script(_REDIS_RESERVE)
        self._pause = self.client.register_script(_REDIS_PAUSE)
        self._paused_for = self.client.register_script(_REDIS_PAUSED_FOR)

    def reserve(self, key: str, interval: float, count: int) -> Reservation:
        with self._answering():
            first, paused_until, now = self._reserve(keys=[self.prefix + key],
                                                     args=[interval, count])
        return Reservation(float(first), float(paused_until), float(now))

    def pause(self, key: str, seconds: float) -> None:
        with self._answering():
            self._pause(keys=[self.prefix + key], args=[seconds])

    def paused_for(self, key: str) -> float:
        with self._answering():
            return float(self._paused_for(keys=[self.prefix + key]))

    @staticmethod
    def _answering() -> AbstractContextManager[None]:
        return _unreachable_as(_redis_not_answering,
                               lambda error: f"redis: {type(error).__name__}: {error}"[:300])

    def close(self) -> None:
        self.client.close()
