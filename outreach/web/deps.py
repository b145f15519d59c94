"""What every router of the web app shares: the app's state, how a handler gets it, how a page
is rendered, and the organizer-login signal (as the FastAPI full-stack template's deps.py).

The routers import this module, never web/app.py, so app.py imports the routers at its top
and the import graph has no cycle. A handler that needs the state declares it,
`def handler(state: StateDep)`, as the template's `SessionDep`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, Engine

from outreach.campaigns.definitions import Campaign, find_campaign
from outreach.campaigns.render import Renderer
from outreach.clock import utcnow
from outreach.config import Settings
from outreach.errors import CampaignError
from outreach.geo.current import CurrentGeo
from outreach.geo.locate import Geo
from outreach.ops.wiring import build_renderer
from outreach.store import workers
from outreach.web.security import RateLimits


class LoginRequired(Exception):
    """An organizer page asked for without a session: answered with a redirect to login."""


@dataclass
class AppState:
    """One app's settings, store and clock, and what it loads once for every request (the
    current roster and geography, the preview renderer, the rate limits)."""

    settings: Settings
    engine: Engine
    templates: Jinja2Templates
    clock: Callable[[], datetime]
    limits: RateLimits = field(default_factory=RateLimits)
    current: CurrentGeo = field(init=False)
    _renderer: Renderer | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.current = CurrentGeo(self.settings, self.engine)

    @property
    def geo(self) -> Geo:
        """Roster and geography as of today (loaded on first use, a few seconds)."""
        return self.current.geo()

    @property
    def by_zip(self) -> pd.DataFrame:
        return self.current.by_zip()

    @property
    def renderer(self) -> Renderer:
        """The plan previews' renderer, on the current roster."""
        roster = self.geo.roster
        if self._renderer is None or self._renderer.roster is not roster:
            self._renderer = build_renderer(self.settings, self.engine, roster,
                                            today=lambda: self.clock().date())
        return self._renderer

    def worker_counts(self, connection: Connection) -> dict[str, int]:
        """The sending workers live, late and dead (store.workers.status_counts), judged by
        the wall clock as the workers' beats are, never by the app's clock (tests and
        replays set it to another day)."""
        return workers.status_counts(
            connection, timedelta(seconds=self.settings.send.worker_dead_seconds), utcnow())

    def campaign(self) -> Campaign:
        """The petition's campaign, read fresh (organizers edit the file)."""
        return find_campaign(self.settings.campaigns.jobs_dir,
                             self.settings.campaigns.petition_campaign)

    def identity(self) -> dict[str, str]:
        """Who the pages say they come from: the petition campaign's own sender (its name and
        CAN-SPAM postal address, as in its emails), else the deployment's settings."""
        try:
            sender = self.campaign().sender
        except CampaignError:
            return {"organization": self.settings.campaigns.organization,
                    "mailing_address": self.settings.compliance.mailing_address}
        return {"organization": sender.organization,
                "mailing_address": (sender.mailing_address
                                    or self.settings.compliance.mailing_address)}


def state_of(request: Request) -> AppState:
    """The state create_app put on this request's app (tests build several apps at once)."""
    state: AppState = request.app.state.outreach
    return state


StateDep = Annotated[AppState, Depends(state_of)]
"""A handler parameter typed `StateDep` receives the app's state."""


def page(request: Request, name: str, context: dict[str, Any],
         status_code: int = 200) -> HTMLResponse:
    """A server-rendered page, with who it comes from (AppState.identity) in its context."""
    state = state_of(request)
    return state.templates.TemplateResponse(request, name, {**state.identity(), **context},
                                            status_code=status_code)
