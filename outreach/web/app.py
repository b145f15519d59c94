"""The web app (FastAPI): petition page, thanks page, call page, public API, webhooks,
unsubscribe links, organizer dashboard, health and metrics (DESIGN "Web routes"). Every answer
carries the security headers (web/security.py); /metrics is an organizer page here, since this
port is the public one (Prometheus scrapes `outreach serve --metrics-port` instead).

Handlers that touch the database are plain `def` functions: FastAPI runs them in its thread
pool, so a slow query never stalls the event loop. Pages are server-rendered Jinja2; the few
scripts only enhance them (copy, share, live progress).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.middleware.sessions import SessionMiddleware

from outreach.campaigns.render import format_phone
from outreach.campaigns.stances import and_list
from outreach.clock import utcnow
from outreach.config import Settings
from outreach.ops.metrics import exposition
from outreach.store.db import WEB_LOCK_TIMEOUT, is_lock_timeout, open_store, ping
from outreach.web import admin, api, calls, hooks, packets, petition, scoreboard, unsubscribe
from outreach.web.body_limit import BodyLimit, BodyLimits
from outreach.web.deps import AppState, LoginRequired, StateDep, state_of
from outreach.web.security import SecurityHeaders, csrf_token, session_options

log = logging.getLogger("outreach.web")
RETRY_AFTER_SECONDS = int(WEB_LOCK_TIMEOUT)  # a busy store: about as long as a request waits


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(title="outreach", docs_url=None, redoc_url=None, openapi_url=None)
    secret = settings.web.session_secret
    if not secret:
        log.warning("OUTREACH_SESSION_SECRET is not set: sessions end when this process does")
        secret = secrets.token_urlsafe(32)
    app.add_middleware(SessionMiddleware, secret_key=secret,
                       **session_options(settings.compliance.public_url))
    # Outside the session, inside the headers: a 413 before any byte of a large body is read.
    app.add_middleware(BodyLimit, limits=BodyLimits.from_settings(settings))
    # Added last, so outermost: redirects and error pages carry the headers too.
    app.add_middleware(SecurityHeaders, public_url=settings.compliance.public_url)
    templates = Jinja2Templates(directory=str(Path(settings.campaigns.templates_dir) / "web"))
    templates.env.globals.update(organization=settings.campaigns.organization,
                                 mailing_address=settings.compliance.mailing_address,
                                 public_url=settings.compliance.public_url or "",
                                 csrf_token=csrf_token)
    templates.env.filters["phone"] = format_phone
    templates.env.filters["and_list"] = and_list  # the thanks page's commitments, as emails'
    app.state.outreach = AppState(settings, engine or open_store(settings.store.database_url),
                                  templates, clock)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for module in (petition, calls, api, hooks, unsubscribe, admin, scoreboard, packets):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    def to_login(request: Request, _: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/admin/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException) -> Response:
        """JSON for machines (API, webhooks), a page for people."""
        if request.url.path.startswith(("/api/", "/hooks/")) or \
                "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                                headers=error.headers)
        return templates.TemplateResponse(request, "error.html",
                                          {**state_of(request).identity(),
                                           "status": error.status_code,
                                           "message": error.detail},
                                          status_code=error.status_code, headers=error.headers)

    @app.exception_handler(OperationalError)
    def store_busy(request: Request, error: OperationalError) -> Response:
        """A store that stayed locked past the web's lock timeout (store.db): 503 with
        Retry-After, which Twilio and SendGrid retry and a person can act on, not a 500."""
        if not is_lock_timeout(error):
            raise error
        log.warning("%s %s: the store is busy (%s); answered 503", request.method,
                    request.url.path, type(error.orig).__name__)
        return http_error(request, HTTPException(
            503, "the database is busy; please try again in a few seconds",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))

    @app.get("/healthz")
    def healthz(state: StateDep) -> JSONResponse:
        """Up, and the database answers (load balancers and systemd watchdogs ask this), with
        the sending workers by heartbeat as `outreach report` counts them (`workers`: live,
        late, dead; counts only, this page is public). A dead worker is a page for the
        operator, not a reason to take this web process out of rotation: still 200."""
        try:
            with state.engine.connect() as connection:
                ping(connection)
                beating = state.worker_counts(connection)
        except Exception as error:  # the answer is the point: say what is wrong, 503
            return JSONResponse({"status": "error", "database": type(error).__name__}, 503)
        return JSONResponse({"status": "ok", "database": "ok", "workers": beating})

    @app.get("/metrics", dependencies=[Depends(admin.require_admin)])
    def metrics(state: StateDep) -> Response:
        """Prometheus: queue depth by state and channel (the whole deployment's, from the
        database), and the sends and provider latency of any worker in this process. Campaign
        volume and opt-out counts are the organization's business: organizers only (F18)."""
        return Response(exposition(state.engine),
                        media_type=CONTENT_TYPE_LATEST)

    return app
