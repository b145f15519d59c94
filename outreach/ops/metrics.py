"""Prometheus metrics: what the worker does (in-process counters and a provider latency
histogram, outreach/metrics.py) and what the outbox holds (read from the database at scrape
time, so any process that can reach the database, the web app included, reports the whole
deployment's queue).

They are served on a port of their own (`outreach run|serve --metrics-port`, bound to
127.0.0.1), not on the petition's public port: queue volume and opt-out counts are the
organization's business (audit F18). The web app shows them to logged-in organizers only.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from outreach.errors import ConfigError

# Imported for their registration in the default REGISTRY, which ProcessCollector serves.
from outreach.metrics import PROVIDER_LATENCY, SENDS  # noqa: F401
from outreach.store import reports
from outreach.store.outbox import held_steps


class StoreCollector(Collector):
    """Queue depth by state and channel, active suppressions, held campaign steps."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        messages = GaugeMetricFamily("outreach_outbox_messages",
                                     "Outbox messages by state and channel",
                                     labels=["state", "channel"])
        with self.engine.connect() as connection:
            for state, channel, count in reports.messages_by_state_and_channel(connection):
                messages.add_metric([state, channel], count)
            suppressed = reports.active_suppressions(connection)
            held = held_steps(connection)
        yield messages
        yield GaugeMetricFamily("outreach_suppressions", "Addresses on the suppression list",
                                value=suppressed)
        yield GaugeMetricFamily("outreach_held_steps", "Campaign steps held by an alarm",
                                value=held)


class ProcessCollector(Collector):
    """This process's own metrics (the default registry: sends, latency, the runtime's)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def deployment_registry(engine: Engine) -> CollectorRegistry:
    """This process's metrics plus the store's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessCollector())
    registry.register(StoreCollector(engine))
    return registry


def exposition(engine: Engine) -> bytes:
    """This process's metrics plus the store's, in the Prometheus text format."""
    return generate_latest(deployment_registry(engine))


def serve_metrics(port: int, engine: Engine, host: str = "127.0.0.1") -> WSGIServer:
    """The same metrics over HTTP on their own port, in a background thread (port 0: any
    free one, see the returned server's server_port). A port another process holds is a
    ConfigError naming the option, not an OSError traceback."""
    try:
        server, _thread = start_http_server(port, addr=host,
                                            registry=deployment_registry(engine))
    except OSError as error:
        raise ConfigError(unusable_port(host, port, "--metrics-port", error)) from None
    return server


def unusable_port(host: str, port: int, option: str, error: OSError) -> str:
    """One line for a port that cannot be listened on (EADDRINUSE: another process holds it,
    often an earlier start of the same command; EACCES: below 1024 without the privilege)."""
    hint = ""
    if error.errno == errno.EADDRINUSE:
        hint = ": another process holds it (an earlier start still running?); stop it or " \
               f"pick another {option}"
    elif error.errno == errno.EACCES:
        hint = f": ports below 1024 need privileges; pick a {option} above 1023"
    return f"cannot listen on {host}:{port} ({option}): {error.strerror or error}{hint}"
