"""`outreach db`, `scheduler`, `run`, `serve`, `admin`: running the engine on a machine."""

from __future__ import annotations

import logging
import socket

import click

from outreach.cli.common import _fail, _print_json, clear_errors, json_option
from outreach.config import Settings
from outreach.errors import ConfigError
from outreach.ops.metrics import serve_metrics, unusable_port
from outreach.ops.runner import run_all, run_scheduler
from outreach.privacy import install_log_masking
from outreach.store import db


@click.group("db")
def database() -> None:
    """The store (OUTREACH_DATABASE_URL; default: SQLite file outreach.sqlite3 here)."""


@database.command("upgrade")
@json_option
@clear_errors
def db_upgrade(as_json: bool) -> None:
    """Migrate the database to the newest schema (other commands do it on first use)."""
    before, after = db.upgrade(db.make_engine(Settings.from_env().store.database_url))
    if as_json:
        _print_json({"from": before, "to": after})
    else:
        click.echo(f"database at revision {after}" + (f" (was {before})" if before != after
                                                      else " (already current)"))


@click.command("scheduler")
@clear_errors
def scheduler_command() -> None:
    """Run the schedules (built-ins and jobs/schedule.toml) until SIGTERM/SIGINT."""
    settings = Settings.from_env()
    _long_running_logs(settings)
    run_scheduler(settings)


METRICS_PORT = click.option(
    "--metrics-port", type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics (this process's and the store's) on 127.0.0.1:PORT.")


@click.command("run")
@click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True,
              help="Messages in flight at once.")
@click.option("--health-every", type=click.FloatRange(0.1), default=60.0, show_default=True,
              help="Seconds between health lines in the log.")
@METRICS_PORT
@clear_errors
def run_command(concurrency: int, health_every: float, metrics_port: int | None) -> None:
    """Scheduler and worker in one process (one machine); SIGTERM: finish, release, exit 0."""
    settings = Settings.from_env()
    _long_running_logs(settings)
    if metrics_port:
        serve_metrics(metrics_port, db.open_store(settings.store.database_url))
    run_all(settings, concurrency, health_every)


def _long_running_logs(settings: Settings) -> None:
    install_log_masking(logging.INFO, json_lines=settings.ops.log_format == "json")


@click.group("admin")
def admin_group() -> None:
    """The organizer dashboard's login."""


@admin_group.command("hash-password")
@click.password_option("--password", help="Asked for (twice, hidden) when not given.")
def admin_hash_password(password: str) -> None:
    """Print an Argon2id hash for OUTREACH_ADMIN_PASSWORD_HASH (the password is not stored)."""
    from outreach.web.security import hash_password  # the web stack: only when asked (0.7 s)

    if len(password) < 12:
        _fail("use at least 12 characters")
    hashed = hash_password(password)
    click.echo(hashed)
    # Its $ parts are shell variables to an unquoted export: say how to set it (stderr, so
    # `$(outreach admin hash-password)` still captures the bare hash).
    click.echo("set it in single quotes: export OUTREACH_ADMIN_PASSWORD_HASH='...'", err=True)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@METRICS_PORT
@clear_errors
def serve_command(host: str, port: int, metrics_port: int | None) -> None:
    """The web app: petition page, webhooks, unsubscribe links, dashboard, /healthz; /metrics
    for logged-in organizers only (Prometheus scrapes --metrics-port)."""
    # Bound before anything loads: a port in use is one line at once, where uvicorn logged
    # its own ERROR after the seconds the roster takes to load, and exited 3.
    listening = _listen(host, port)
    import uvicorn  # the web stack loads only for `serve` (0.7 s), not for every command

    from outreach.web import create_app

    settings = Settings.from_env()
    if not settings.compliance.public_url:
        click.echo("outreach: warning: OUTREACH_PUBLIC_URL is not set: webhooks will be "
                   "refused (their signatures cover the public URL) and supporter email "
                   "through SendGrid or SMTP is held (no working unsubscribe link)", err=True)
    # Requests wait at most WEB_LOCK_TIMEOUT for the store, then answer 503 + Retry-After.
    app = create_app(settings, engine=db.open_store(settings.store.database_url,
                                                    lock_timeout=db.WEB_LOCK_TIMEOUT))
    state = app.state.outreach
    _ = state.geo, state.by_zip  # load the roster and ZIP answers now, not on a first signer
    if metrics_port:
        serve_metrics(metrics_port, state.engine)
    # No access log: request paths carry unsubscribe tokens, which are credentials.
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    uvicorn.Server(config).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port for uvicorn, or a ConfigError naming --host/--port. Bound,
    not yet listening: until uvicorn listens on it (asyncio's create_server does, once the
    app is loaded) a client is refused at once, as before, rather than left waiting; and a
    server already listening there makes this bind fail."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own
        listening.bind((host, port))
    except socket.gaierror as error:
        raise ConfigError(f"--host {host}: not an address this machine can listen on "
                          f"({error.strerror})") from None
    except OSError as error:
        raise ConfigError(unusable_port(host, port, "--port", error)) from None
    listening.set_inheritable(True)
    return listening
