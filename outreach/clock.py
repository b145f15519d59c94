"""The engine's one clock: timezone-aware UTC now.

A module of its own (layer 0) so the web app, the scheduler and the worker share one default
clock without the web importing the send loop; tests pass their own `clock` instead.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
