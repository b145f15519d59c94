"""Prometheus metrics: what the worker does (in-process counters and a provider latency
histogram) and what the outbox holds (read from the database at scrape time, so any process
that can reach the database, the web app included, reports the whole deployment's queue)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from outreach.store.outbox import held_steps
from outreach.store.schema import outbox, suppressions

SENDS = Counter("outreach_sends", "Provider calls by channel and outcome (this process)",
                ["channel", "outcome"])
PROVIDER_LATENCY = Histogram(
    "outreach_provider_latency_seconds", "Time a provider took to answer one send",
    ["channel", "provider"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


class StoreCollector(Collector):
    """Queue depth by state and channel, active suppressions, held campaign steps."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        messages = GaugeMetricFamily("outreach_outbox_messages",
                                     "Outbox messages by state and channel",
                                     labels=["state", "channel"])
        with self.engine.connect() as connection:
            for state, channel, count in connection.execute(
                    select(outbox.c.state, outbox.c.channel, func.count())
                    .group_by(outbox.c.state, outbox.c.channel)):
                messages.add_metric([state, channel], count)
            suppressed = connection.execute(
                select(func.count()).select_from(suppressions)
                .where(suppressions.c.removed_at.is_(None))).scalar_one()
            held = held_steps(connection)
        yield messages
        yield GaugeMetricFamily("outreach_suppressions", "Addresses on the suppression list",
                                value=suppressed)
        yield GaugeMetricFamily("outreach_held_steps", "Campaign steps held by an alarm",
                                value=held)


def exposition(engine: Engine) -> bytes:
    """This process's metrics plus the store's, in the Prometheus text format."""
    store = CollectorRegistry(auto_describe=False)
    store.register(StoreCollector(engine))
    return generate_latest(REGISTRY) + generate_latest(store)
