"""The geography as it stands now: a Geo wired from the settings, the cached one behind
`outreach.geo.lookup()`, and `CurrentGeo` for processes that run for months."""

from __future__ import annotations

import threading
import time
from datetime import date
from functools import cache
from typing import TYPE_CHECKING

from outreach.config import Settings
from outreach.geo.by_zip import compiled_zip_answers
from outreach.geo.locate import Geo, GeoData, Lookup
from outreach.roster.corrections import corrections_version, effective_roster

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine


def build_geo(settings: Settings, on: date | None = None, engine: Engine | None = None) -> Geo:
    """A Geo wired from settings: the roster (with the corrections in `engine`, or in the
    settings' store, as in force on `on`, default today), the offline tables, the geocoder if
    enabled."""
    data = GeoData.compiled(settings.data.data_dir, settings.data.cache_dir)
    # The counties read back with the tables: one copy for both, and no CSV read.
    roster = effective_roster(settings, data.counties, on=on, engine=engine)
    geocoder = None
    if settings.geo.geocoder == "census":
        from outreach.geo.census import CensusGeocoder  # requests: only when it is used

        geocoder = CensusGeocoder(settings.geo.census_geocoder_url,
                                  timeout=settings.geo.census_timeout_seconds,
                                  retries=settings.geo.census_retries)
    return Geo(roster, data, geocoder, zip_min_share=settings.geo.zip_min_share)


@cache
def _default_geo() -> Geo:
    return build_geo(Settings.from_env())


def lookup(address: str) -> Lookup:
    """The office(s) for one address, with the settings from the environment."""
    return _default_geo().lookup(address)


class CurrentGeo:
    """The roster and geography as they stand today, for processes that run for months (the
    web app, the scheduler): the roster is rebuilt when the day changes, so effective dates
    switch by themselves, and when a correction is imported. Checked at most once a minute;
    the offline ZIP tables are loaded once."""

    RECHECK_SECONDS = 60.0

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine
        self._lock = threading.RLock()
        self._geo: Geo | None = None
        self._by_zip: pd.DataFrame | None = None
        self._version: tuple[date, int] | None = None
        self._checked = 0.0

    def geo(self) -> Geo:
        with self._lock:
            if self._geo is not None and \
                    time.monotonic() - self._checked < self.RECHECK_SECONDS:
                return self._geo
            self._checked = time.monotonic()
            version = (date.today(), corrections_version(self.engine))
            if self._geo is None:
                self._geo = build_geo(self.settings, version[0], self.engine)
            elif version != self._version:
                roster = effective_roster(self.settings, self._geo.data.counties,
                                          on=version[0], engine=self.engine)
                self._geo = Geo(roster, self._geo.data, self._geo.geocoder,
                                zip_min_share=self._geo.zip_min_share)
                self._by_zip = None
            self._version = version
            return self._geo

    def expire(self) -> None:
        """Look for new corrections on the next call, not a minute later (one was just
        stored by this process: the dashboard's page after a correction shows it)."""
        with self._lock:
            self._checked = 0.0

    def by_zip(self) -> pd.DataFrame:
        """The per-ZIP match answers of the current roster (match's join table)."""
        with self._lock:
            geo = self.geo()
            if self._by_zip is None:
                self._by_zip = compiled_zip_answers(geo, self.settings.data.data_dir,
                                                    self.settings.data.cache_dir)
            return self._by_zip
