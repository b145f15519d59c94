"""The roster as it stands today, for a process that runs for months (the worker's renderer).

A roster loaded once would keep an office's old officeholder past the day a correction dated
in the future (a DA-elect's first day) takes effect, and a redistricting's rows past their
`effective_from`: this one is reloaded when the day changes or a correction is stored
(checked at most once a minute, as outreach.geo.current.CurrentGeo does for the geography).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine

from outreach.clock import utcnow
from outreach.config import Settings
from outreach.roster.corrections import corrections_version, effective_roster
from outreach.roster.offices import Roster


def _today() -> date:
    return utcnow().date()


class CurrentRoster:
    """Call it for the roster in force today, with the store's corrections in effect today."""

    RECHECK_SECONDS = 60.0

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 today: Callable[[], date] = _today):
        self.settings = settings
        self.engine = engine
        self.today = today
        self._lock = threading.Lock()
        self._roster: Roster | None = None
        self._version = 0
        self._checked = 0.0

    def __call__(self) -> Roster:
        with self._lock:
            day = self.today()
            fresh = time.monotonic() - self._checked < self.RECHECK_SECONDS
            if self._roster is not None and self._roster.day == day and fresh:
                return self._roster
            self._checked = time.monotonic()
            version = corrections_version(self.engine)
            if self._roster is None or self._roster.day != day or version != self._version:
                self._roster = effective_roster(self.settings, on=day, engine=self.engine)
                self._version = version
            return self._roster
