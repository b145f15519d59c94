"""Fixtures the public-page tests share: a weekday daytime clock and the web settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from tests.web_helpers import PUBLIC, web_settings

# 11:00 in Pennsylvania on a Tuesday: inside every quiet-hours window, so a page's confirmation
# text is sent, not deferred.
DAYTIME = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)


@pytest.fixture
def daytime() -> Iterator[None]:
    with time_machine.travel(DAYTIME, tick=True):
        yield


@pytest.fixture
def settings(tmp_path):  # type: ignore[no-untyped-def]
    return web_settings(PUBLIC, OUTREACH_SESSION_SECRET="s" * 32,
                        OUTREACH_OUTBOX_DIR=str(tmp_path / "out"))
