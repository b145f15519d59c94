"""The engine's parts built from settings: one place, so the CLI, the scheduler and `outreach
run` assemble the same worker, renderer and gate."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import Engine

from outreach.campaigns.definitions import Campaign, Step, find_campaign
from outreach.campaigns.render import Renderer, Sender
from outreach.clock import utcnow
from outreach.config import Settings
from outreach.errors import CampaignError, ConfigError
from outreach.roster.current import CurrentRoster
from outreach.roster.offices import Roster
from outreach.sending.compliance import Gate
from outreach.sending.pacing import Budget, Ledger, SharedBudget, account_digest, budget_key
from outreach.sending.transports.base import Transport
from outreach.sending.transports.select import build_transports
from outreach.sending.worker import Worker, WorkerOptions
from outreach.store import db, runs
from outreach.store.rates import RedisLedger, StoreLedger
from outreach.us.counties import load_counties
from outreach.us.quiet_hours import STATE_WINDOWS, parse_windows

if TYPE_CHECKING:  # the planner builds frames (pandas): loaded by the launch, not the worker
    from outreach.campaigns.planner import StepPlan


def default_sender(settings: Settings) -> Sender:
    return Sender(settings.campaigns.email_from, settings.providers.twilio_from or "files",
                  settings.campaigns.organization,
                  settings.compliance.mailing_address, settings.compliance.public_url or "")


def campaign_sender(settings: Settings, campaign: Campaign) -> Sender:
    """A campaign's own sender identity (its postal address first), on this deployment's
    public URL; OUTREACH_MAILING_ADDRESS only fills what the campaign leaves out."""
    default = default_sender(settings)
    own = campaign.sender
    return Sender(own.email_from, own.sms_from or default.sms, own.organization,
                  own.mailing_address.strip() or default.mailing_address, default.public_url)


def check_compliance_settings(settings: Settings, campaign: Campaign) -> None:
    """`plan` and `launch` refuse, with one line naming the setting, a campaign whose email
    would go to a real transport lacking what the renderer requires of it (the worker would
    hold it anyway: better to know before launching): supporter email a working unsubscribe
    link and a postal address, office mail the postal address (`Sender`'s own rules)."""
    email = {s.to for s in campaign.steps if s.channel == "email"}
    if settings.send.email_transport == "files" or not email:
        return
    sender = campaign_sender(settings, campaign)
    missing = sender.missing_settings() if "supporters" in email \
        else sender.missing_office_settings()
    if missing:
        raise ConfigError(f"{missing[0]}; OUTREACH_EMAIL_TRANSPORT={settings.send.email_transport} "
                          f"would deliver campaign {campaign.name}'s email to real people")


def sms_windows(settings: Settings) -> dict[str, tuple[time, time]]:
    """The texts' state windows: the shipped state laws with OUTREACH_SMS_WINDOWS over them,
    for the gate and the plan's quiet-hours preview alike (one parse, one meaning)."""
    try:
        return {**STATE_WINDOWS, **parse_windows(settings.compliance.sms_windows)}
    except ValueError:
        raise ConfigError(f"OUTREACH_SMS_WINDOWS={settings.compliance.sms_windows!r}: expected "
                          "STATE=START-END,... with whole hours, e.g. TX=9-21") from None


def prepare_launch(settings: Settings, engine: Engine, campaign: Campaign, renderer: Renderer,
                   now: datetime, grace: timedelta) -> list[StepPlan]:
    """Everything an organizer's launch checks before it queues anything, for `outreach
    launch` and the dashboard alike (two copies drifted: the dashboard queued a template that
    raises): the compliance settings, the run not cancelled, the plan, and every planned
    message rendered. Raises ConfigError, RunStateError or PlanError, each one line."""
    from outreach.campaigns.planner import plan_campaign
    from outreach.campaigns.preview import Prices, preview

    check_compliance_settings(settings, campaign)
    with engine.connect() as connection:
        runs.ensure_not_cancelled(connection, campaign.name)  # not "already queued N"
    plans = plan_campaign(engine, campaign, now, grace, roster=renderer.roster,
                          windows=sms_windows(settings))
    # A template that raises refuses the launch (the worker would only hold the step later).
    preview(plans, renderer, Prices(settings.campaigns.email_price,
                                    settings.campaigns.sms_segment_price))
    return plans


def build_renderer(settings: Settings, engine: Engine, roster: Roster | None = None, *,
                   today: Callable[[], date] | None = None) -> Renderer:
    """The renderer, with each campaign's own sender identity and the default for the rest
    (on the given roster, or the current one: reloaded when the day changes or a correction
    arrives, so a name or office that changes on a known day switches by itself), naming
    officeholders confirmed within OUTREACH_ROSTER_STALE_DAYS of `today` (default: the
    clock's)."""

    @functools.cache
    def sender_of(name: str) -> Sender | None:
        try:
            return campaign_sender(settings, find_campaign(settings.campaigns.jobs_dir, name))
        except CampaignError:
            return None

    day = today or (lambda: utcnow().date())
    source: Roster | CurrentRoster = roster if roster is not None else \
        CurrentRoster(settings, engine, day)
    return Renderer(engine, source, settings.campaigns.templates_dir, default_sender(settings),
                    sender_of, stale_days=settings.data.roster_stale_days, today=day,
                    packet_link_days=settings.campaigns.packet_link_days)


def budget_account(settings: Settings, transport: str) -> str:
    """The provider account a transport sends from, as a budget key names it: Twilio's
    account SID (an identifier, not a secret), a digest of the SendGrid API key (the key is
    the account), the SMTP server and login, the `files` folder."""
    providers = settings.providers
    if transport == "twilio":
        return providers.twilio_account_sid or ""
    if transport == "sendgrid":
        return account_digest(providers.sendgrid_api_key or "")
    if transport == "smtp":
        url = urlsplit(providers.smtp_url or "")
        return account_digest(f"{url.hostname}:{url.port}:{url.username}")
    return account_digest(str(settings.send.outbox_dir.resolve()))


def build_budgets(settings: Settings, engine: Engine,
                  transports: dict[str, Transport]) -> dict[str, Budget]:
    """Each channel's send budget, one per provider account and shared by every worker
    process on every host: in Redis when OUTREACH_REDIS_URL is set, else in the store."""
    ledger: Ledger = RedisLedger(settings.send.redis_url) if settings.send.redis_url \
        else StoreLedger(engine)
    rates = {"email": settings.send.email_rate, "sms": settings.send.sms_rate}
    return {channel: SharedBudget(ledger, budget_key(channel, transport.name,
                                                     budget_account(settings, transport.name)),
                                  rates.get(channel))
            for channel, transport in transports.items()}


def build_worker(settings: Settings, concurrency: int, engine: Engine | None = None,
                 roster: Roster | None = None) -> Worker:
    engine = engine or db.open_store(settings.store.database_url)
    renderer = build_renderer(settings, engine, roster)
    counties = load_counties(settings.data.data_dir / "counties.csv")
    windows = sms_windows(settings)

    @functools.cache
    def campaign_steps(name: str) -> tuple[Step, ...]:
        try:
            return tuple(find_campaign(settings.campaigns.jobs_dir, name).steps)
        except CampaignError:
            return ()

    gate = Gate(engine, renderer.roster, windows,
                {fips: c.time_zone for fips, c in counties.by_fips.items()}, campaign_steps)
    options = WorkerOptions(
        concurrency=concurrency,
        lease=timedelta(seconds=settings.send.claim_lease_seconds),
        stale_sending_after=timedelta(seconds=settings.send.stale_sending_seconds),
        dead_after=timedelta(seconds=settings.send.worker_dead_seconds))
    transports = build_transports(settings, pool_size=concurrency)
    return Worker(engine, transports, renderer, gate=gate, options=options,
                  budgets=build_budgets(settings, engine, transports))
