"""Prometheus metric objects for what the worker does: in-process counters and a provider
latency histogram. Only the objects: what the outbox holds is read from the database at scrape
time by ops/metrics.py (through store/reports.py), so this module stays free of I/O and any
layer may count into it.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SENDS = Counter("outreach_sends", "Provider calls by channel and outcome (this process)",
                ["channel", "outcome"])
PROVIDER_LATENCY = Histogram(
    "outreach_provider_latency_seconds", "Time a provider took to answer one send",
    ["channel", "provider"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
