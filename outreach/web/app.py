"""The web app (FastAPI): webhooks, unsubscribe links, health; the petition page and the
organizer dashboard join it (DESIGN "Web routes").

Handlers that touch the database are plain `def` functions: FastAPI runs them in its thread
pool, so a slow query never stalls the event loop. Only reading a request body is async.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text

from outreach.config import Settings
from outreach.metrics import exposition
from outreach.store.db import open_store
from outreach.worker import utcnow


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    templates: Jinja2Templates
    clock: Callable[[], datetime]


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               clock: Callable[[], datetime] = utcnow) -> FastAPI:
    from outreach.web import hooks, unsubscribe

    settings = settings or Settings.from_env()
    app = FastAPI(title="outreach", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(Path(settings.templates_dir) / "web"))
    templates.env.globals.update(organization=settings.organization,
                                 mailing_address=settings.mailing_address)
    app.state.outreach = AppState(settings, engine or open_store(settings.database_url),
                                  templates, clock)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(hooks.router)
    app.include_router(unsubscribe.router)

    @app.get("/healthz")
    def healthz(request: Request) -> JSONResponse:
        """Up, and the database answers (load balancers and systemd watchdogs ask this)."""
        try:
            with request.app.state.outreach.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:  # the answer is the point: say what is wrong, 503
            return JSONResponse({"status": "error", "database": type(error).__name__}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        """Prometheus: queue depth by state and channel (the whole deployment's, from the
        database), and the sends and provider latency of any worker in this process."""
        return Response(exposition(request.app.state.outreach.engine),
                        media_type=CONTENT_TYPE_LATEST)

    return app


def state_of(request: Request) -> AppState:
    return request.app.state.outreach
