"""Settings, read once from the environment (OUTREACH_*) and an optional outreach.toml.

One place for every knob, described once in VARIABLES below: each setting's variable, the
section and field it fills (`settings.store.database_url`), its default, what it means, and how
it is read. Settings.from_values reads that table, and README.md's settings tables are
generated from it (outreach/settings_doc.py, `python scripts/settings_table.py --write`), so a
default or a meaning cannot differ between the code and the documentation.

A deployment is described by its environment, or by a TOML file (OUTREACH_CONFIG, else
./outreach.toml) whose keys are the variable names without the prefix, lower-cased
(`database_url = "..."`); the environment wins over the file. Secrets (API keys, auth tokens,
passwords, and credentials inside a URL) are refused in the file: they come from the
environment only (deploy/secrets.env.example lists them). A key that is not a setting is
refused too: a typo would otherwise leave the default in force without a word.
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from outreach.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CENSUS_GEOCODER_URL = "https://geocoding.geo.census.gov/geocoder"
GEOCODERS = ("offline", "census")
SECRET_WORDS = ("KEY", "TOKEN", "PASSWORD", "SECRET")  # also the password hash: env only

# How a variable is read: (the values, its name, its default) -> its value, or ConfigError.
Parser = Callable[[dict[str, str], str, Any], Any]


@dataclass(frozen=True)
class StoreSettings:
    """Where the state lives."""

    database_url: str


@dataclass(frozen=True)
class DataSettings:
    """The shipped data files: the roster and the geography tables."""

    data_dir: Path
    roster_path: Path
    roster_stale_days: int
    cache_dir: Path | None  # the compiled data files (outreach/us/compiled.py); None: none


@dataclass(frozen=True)
class IntakeSettings:
    """Signer files: the inbox, the reports intake writes, how much of a file it reads."""

    inbox_dir: Path
    reports_dir: Path | None  # None: beside a SQLite store's file
    intake_map: str  # header mappings, as `--map` takes them, `;`-separated
    intake_max_field: int  # audit F7: characters in one cell
    intake_max_columns: int  # audit F8: header columns


@dataclass(frozen=True)
class GeoSettings:
    """Placing addresses: offline tables, or the Census Geocoder for street addresses."""

    geocoder: str
    census_geocoder_url: str
    census_timeout_seconds: float
    census_retries: int
    zip_min_share: float  # a ZIP resolves when one felony office holds this much of it


@dataclass(frozen=True)
class CampaignSettings:
    """The campaign files, the templates, and what a campaign file leaves out."""

    jobs_dir: Path
    templates_dir: Path
    petition_campaign: str
    organization: str
    email_from: str
    email_price: float
    sms_segment_price: float
    contacts: str  # `any` | `verified`: may messages use lead phones, emails, websites
    packet_link_days: int  # how long an office digest's packet link opens the packet
    packet_font: Path | None  # None: DejaVu Sans where Debian installs it


@dataclass(frozen=True)
class SendSettings:
    """The transports, their pace, and the worker's claims."""

    email_transport: str
    sms_transport: str
    outbox_dir: Path
    email_rate: float | None  # None: unpaced; the account's rate, shared by all workers
    sms_rate: float | None
    redis_url: str | None  # None: the send budgets are kept in the store
    claim_lease_seconds: float
    stale_sending_seconds: float
    worker_dead_seconds: float


@dataclass(frozen=True)
class ProviderSettings:
    """SMTP, SendGrid and Twilio: addresses, accounts and their secrets."""

    smtp_url: str | None
    sendgrid_base_url: str
    sendgrid_api_key: str | None
    sendgrid_webhook_public_key: str | None
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from: str | None
    twilio_messaging_service_sid: str | None
    twilio_base_url: str


@dataclass(frozen=True)
class ComplianceSettings:
    """CAN-SPAM, the TCPA's hours, opt-outs and the spam alarm."""

    public_url: str | None
    mailing_address: str
    sms_windows: str
    twilio_opt_out: str
    spam_alarm_min_errors: int
    spam_alarm_share: float
    spam_alarm_window_minutes: float


@dataclass(frozen=True)
class WebSettings:
    """The web app: rate and body limits, organizer logins, the API."""

    sign_rate: str
    max_body_bytes: int  # audit F6: every route, SendGrid's Event Webhook, the API
    max_sendgrid_body_bytes: int
    max_api_body_bytes: int
    admin_session_max_age: float
    admin_session_idle: float
    session_secret: str | None
    admin_password_hash: str | None
    api_token: str | None


@dataclass(frozen=True)
class OpsSettings:
    """The scheduler's clock and the logs."""

    time_zone: str
    log_format: str


# section -> (its class, its title in the README); the README shows them in this order.
SECTIONS: dict[str, tuple[type, str]] = {
    "store": (StoreSettings, "Store"),
    "data": (DataSettings, "Data"),
    "intake": (IntakeSettings, "Intake"),
    "geo": (GeoSettings, "Geography"),
    "campaigns": (CampaignSettings, "Campaigns and templates"),
    "send": (SendSettings, "Sending"),
    "providers": (ProviderSettings, "Providers: SMTP, SendGrid, Twilio"),
    "compliance": (ComplianceSettings, "Compliance"),
    "web": (WebSettings, "Web"),
    "ops": (OpsSettings, "Scheduler and operations"),
}


@dataclass(frozen=True)
class Settings:
    """Every setting, by section: `settings.send.email_transport`. A new setting is one line
    in VARIABLES and one field in its section's class (tests/integration/test_settings_doc.py checks
    that they agree, and that the README's table is regenerated)."""

    store: StoreSettings
    data: DataSettings
    intake: IntakeSettings
    geo: GeoSettings
    campaigns: CampaignSettings
    send: SendSettings
    providers: ProviderSettings
    compliance: ComplianceSettings
    web: WebSettings
    ops: OpsSettings

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls.from_values({**config_file_values(env), **env})

    @classmethod
    def from_values(cls, env: dict[str, str]) -> Settings:
        """Settings from these OUTREACH_* values alone (no config file is read), each read
        as VARIABLES says, in its order (a default may use a value read before it). A
        default that is made (a callable) is made only when the variable is unset or empty:
        the cache folder's asks for the home folder, which a set OUTREACH_CACHE_DIR must not
        depend on."""
        read: dict[str, Any] = {}
        by_section: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        for variable in VARIABLES:
            default = variable.default
            if callable(default):
                default = None if env.get(variable.name) else default(read)
            read[variable.field] = by_section[variable.section][variable.field] = \
                variable.parse(env, variable.name, default)
        return cls(**{section: kind(**by_section[section])
                      for section, (kind, _) in SECTIONS.items()})

    def value(self, name: str) -> Any:
        """The value of the setting an OUTREACH_* variable sets."""
        variable = _BY_NAME[name]
        return getattr(getattr(self, variable.section), variable.field)

    def with_values(self, **changes: Any) -> Settings:
        """These settings with some fields changed, named as in their sections
        (`settings.with_values(outbox_dir=folder)`): each goes to its own section."""
        by_section: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name not in _BY_FIELD:
                raise TypeError(f"with_values: {name!r} is not a setting's field")
            by_section.setdefault(_BY_FIELD[name].section, {})[name] = value
        return replace(self, **{section: replace(getattr(self, section), **values)
                                for section, values in by_section.items()})


def _default_cache_dir() -> Path | None:
    from outreach.us.compiled import default_cache_dir

    return default_cache_dir()


def _text(env: dict[str, str], name: str, default: str) -> str:
    return env.get(name, default)


def _optional(env: dict[str, str], name: str, default: str | None) -> str | None:
    """Unset or empty: the default (None)."""
    return env.get(name) or default


def _argon2_hash(env: dict[str, str], name: str, default: str | None) -> str | None:
    """An Argon2 hash as `outreach admin hash-password` prints it. Checked when read, since a
    shell that expands its `$v=19$m=...` parts unquoted leaves a string no password matches:
    the dashboard then refused the right password with "Wrong password." (the value is a
    secret's hash: it is not printed)."""
    raw = env.get(name) or default
    if raw is None:
        return None
    from argon2 import extract_parameters  # a few ms: only when the setting is given
    from argon2.exceptions import InvalidHashError

    try:
        extract_parameters(raw)
    except InvalidHashError:
        raise ConfigError(f"{name} is not an Argon2 hash as `outreach admin hash-password` "
                          "prints it ($argon2id$v=19$m=...): set it in single quotes, or the "
                          "shell replaces its $ parts") from None
    return raw


def _path(env: dict[str, str], name: str, default: Path) -> Path:
    return Path(env.get(name, default))


def _optional_path(env: dict[str, str], name: str, default: Path | None) -> Path | None:
    return Path(env[name]) if env.get(name) else default


def _base_url(env: dict[str, str], name: str, default: str | None) -> str | None:
    """An address links are made from: absolute (http or https, with a host), without its
    trailing slash. `petition.example.org` alone made links relative to nothing in email
    (and webhook signatures that never match); the files transport replaced it in silence."""
    raw = (env.get(name) or "").strip()
    value = raw.rstrip("/")
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        bare = (raw.split("://", 1)[1] if "://" in raw else raw).strip("/")
        bare = bare or "petition.example.org"
        raise ConfigError(f"{name}={raw!r}: expected an absolute address with its scheme, "
                          f"such as https://{bare}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}={raw!r}: expected an address without ?query or #fragment "
                          "(paths are added to it)")
    return value


def _stripped(env: dict[str, str], name: str, default: str) -> str:
    return (env.get(name) or default).strip()


def _whole(env: dict[str, str], name: str, default: int) -> int:
    return int(_positive_float(env, name, default))


def _pace(env: dict[str, str], name: str, default: float | None) -> float | None:
    """Messages per second; 0, like unset, is the default (unpaced)."""
    return _positive_float(env, name, 0.0) or default


def _geocoder(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name, default).strip().lower()
    if value not in GEOCODERS:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(GEOCODERS)}")
    return value


def _one_of(*allowed: str) -> Parser:
    """A parser for a choice among these words (see _choice)."""
    return functools.partial(_choice, allowed=allowed)


def config_file_values(env: dict[str, str]) -> dict[str, str]:
    """OUTREACH_* values from the TOML file (OUTREACH_CONFIG, else ./outreach.toml if any)."""
    named = env.get("OUTREACH_CONFIG")
    path = Path(named) if named else Path("outreach.toml")
    if not path.is_file():
        if named:
            raise ConfigError(f"OUTREACH_CONFIG={named!r}: no such file")
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    values = {}
    known = setting_names()
    for key, value in raw.items():
        name = "OUTREACH_" + key.upper()
        if is_secret(name) or (isinstance(value, str) and _url_credentials(value)):
            inside = "" if is_secret(name) else "a password inside the URL: "
            raise ConfigError(f"{path}: {key}: {inside}secrets come from the environment "
                              f"({name}), never from a file")
        if name not in known:
            keys = [n.removeprefix("OUTREACH_").lower() for n in sorted(known)]
            nearest = difflib.get_close_matches(key.lower(), keys, n=1)
            raise ConfigError(f"{path}: {key}: not a setting"
                              + (f"; did you mean {nearest[0]}?" if nearest else ""))
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: {key}: expected a single value")
        values[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return values


def is_secret(name: str) -> bool:
    """A variable that holds a secret by its name: environment only, in secrets.env."""
    return any(word in name for word in SECRET_WORDS)


def secret_names() -> list[str]:
    """The secret settings, by name: what deploy/secrets.env.example has to list."""
    return sorted(name for name in setting_names() if is_secret(name))


def setting_names() -> frozenset[str]:
    """Every OUTREACH_* variable the settings read: the names in VARIABLES."""
    return frozenset(_BY_NAME)


def _url_credentials(value: str) -> bool:
    """A URL that carries a password (smtp://user:password@host, postgresql://u:p@db) or a
    secret in its query (?password=..., ?api_key=...): audit F25."""
    if "://" not in value:
        return False
    try:
        parts = urlsplit(value.strip())
        password = parts.password
    except ValueError:
        return False
    return password is not None or any(is_secret(field.upper()) for field, _ in
                                       parse_qsl(parts.query, keep_blank_values=True))


def _rate(env: dict[str, str], name: str, default: str) -> str:
    from limits import parse

    value = env.get(name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a rate such as 10/minute") from None
    return value


def _time_zone(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={value!r}: not an IANA time zone such as "
                          "America/Chicago") from None
    return value


def _choice(env: dict[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, default).strip().lower() or default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _session_max_age(env: dict[str, str], name: str, default: float) -> float:
    value = _positive_float(env, name, default)
    if not value:
        raise ConfigError(f"{name}=0: a login must last some seconds")
    return value


def _count(env: dict[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 (a size limit of 0 would refuse everything)."""
    raw = (env.get(name) or "").replace("_", "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={env.get(name)!r}: expected a whole number of at least 1")
    return int(raw)


def _majority_share(env: dict[str, str], name: str, default: float) -> float:
    """A share above one half (so at most one county or office can hold it), at most 1."""
    value = _positive_float(env, name, default)
    if not 0.5 < value <= 1:
        raise ConfigError(f"{name}={env.get(name)!r}: expected a share above 0.5 and at most "
                          "1, such as 0.93")
    return value


def _positive_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r}: must not be negative")
    return value


@dataclass(frozen=True)
class Variable:
    """One setting, described once: what from_values reads and what the README says."""

    name: str  # the OUTREACH_* variable (in outreach.toml: lower-cased, without OUTREACH_)
    section: str  # a key of SECTIONS
    field: str  # its field in that section's class
    # The value when the variable is unset; a callable makes it from the fields read before.
    default: Any
    meaning: str  # for organizers: what it does (a Markdown table cell)
    parse: Parser = _text  # how it is read and checked: ConfigError when it is wrong
    shown: str = ""  # the default as the README shows it, when it is no literal value
    note: str = ""  # said after the literal default, e.g. "(working directory)"


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "OUTREACH_DATABASE_URL", "store", "database_url", "sqlite:///outreach.sqlite3",
        "the store; PostgreSQL: `postgresql+psycopg://user@host/db`. A URL with a password in "
        "it is refused in the config file: set it in secrets.env",
        note="(working directory)"),

    Variable(
        "OUTREACH_DATA_DIR", "data", "data_dir", PACKAGE_ROOT / "data",
        "where `prosecutors.csv`, `counties.csv`, `zip_county.csv`, `zip_shares.csv` live", _path,
        shown="`data/` of this checkout"),
    Variable(
        "OUTREACH_ROSTER_PATH", "data", "roster_path",
        lambda read: read["data_dir"] / "prosecutors.csv", "the roster file", _path,
        shown="`$OUTREACH_DATA_DIR/prosecutors.csv`"),
    Variable(
        "OUTREACH_ROSTER_STALE_DAYS", "data", "roster_stale_days", 365,
        "a message names an office's officeholder only if the name was confirmed within "
        "this many days (counted from its as-of, on the day the message renders); otherwise "
        "it addresses the office by title (\"the Cook County State's Attorney\"). "
        "`roster_check`, `roster gaps` and the call sheet list the older names as stale",
        _whole),
    Variable(
        "OUTREACH_CACHE_DIR", "data", "cache_dir", lambda read: _default_cache_dir(),
        "where processes keep the ZIP index and the roster compiled from the data files "
        "(rebuilt by itself when a data file or outreach's code changes; safe to delete). "
        "Read only when the folder and its files are this user's and writable by no one "
        "else; made with mode 0700", _optional_path,
        shown="`$XDG_CACHE_HOME/outreach` (else `~/.cache/outreach`; no home folder: none, "
        "the data is built at every start)"),

    Variable(
        "OUTREACH_INBOX_DIR", "intake", "inbox_dir", Path("inbox"),
        "signer files dropped here are imported by the scheduler once each and moved to "
        "`processed/`, or `failed/` with a `.error.txt`", _path, note="(working directory)"),
    Variable(
        "OUTREACH_REPORTS_DIR", "intake", "reports_dir", None,
        "where `outreach intake` writes rejects and warnings files", _optional_path,
        shown="beside the SQLite store (PostgreSQL: beside the input)"),
    Variable(
        "OUTREACH_INTAKE_MAP", "intake", "intake_map", "",
        "header mappings for inbox files, as `--map` takes them, `;`-separated: "
        "`\"Cell Phone=phone;Joined=signed_at\"`"),
    Variable(
        "OUTREACH_INTAKE_MAX_FIELD", "intake", "intake_max_field", 1 << 20,
        "characters in one cell of a signer file; a longer one rejects its row", _count),
    Variable(
        "OUTREACH_INTAKE_MAX_COLUMNS", "intake", "intake_max_columns", 1000,
        "columns in a signer file's header; more refuses the file in one line", _count),

    Variable(
        "OUTREACH_GEOCODER", "geo", "geocoder", "offline",
        "`census` places street addresses with the U.S. Census Geocoder", _geocoder),
    Variable(
        "OUTREACH_CENSUS_GEOCODER_URL", "geo", "census_geocoder_url", CENSUS_GEOCODER_URL,
        "its base URL"),
    Variable(
        "OUTREACH_CENSUS_TIMEOUT", "geo", "census_timeout_seconds", 15.0,
        "seconds per request", _positive_float),
    Variable(
        "OUTREACH_CENSUS_RETRIES", "geo", "census_retries", 3,
        "retries on connection errors, timeouts, 429 and 5xx", _whole),
    Variable(
        "OUTREACH_ZIP_MIN_SHARE", "geo", "zip_min_share", 0.93,
        "a ZIP code that spans counties resolves to one felony office (or county) only when "
        "it holds at least this share of the ZIP's residential addresses (HUD) and of its "
        "2020 population (Geocorr), in each source that has the ZIP; above 0.5, at most 1",
        _majority_share),

    Variable(
        "OUTREACH_JOBS_DIR", "campaigns", "jobs_dir", PACKAGE_ROOT / "jobs",
        "the campaign files and `schedule.toml`", _path, shown="`jobs/` of this checkout"),
    Variable(
        "OUTREACH_TEMPLATES_DIR", "campaigns", "templates_dir", PACKAGE_ROOT / "templates",
        "the message templates (Jinja2, sandboxed) and the web pages' (`web/`)", _path,
        shown="`templates/` of this checkout"),
    Variable(
        "OUTREACH_PETITION_CAMPAIGN", "campaigns", "petition_campaign", "marijuana_justice",
        "the campaign the petition page shows and whose steps a signer gets, unless an "
        "organizer paused it"),
    Variable(
        "OUTREACH_ORGANIZATION", "campaigns", "organization", "Marijuana Justice Campaign",
        "the name in the petition's consent text and the SMS HELP/STOP answers; the web "
        "pages' footer and email use the campaign's `sender.organization` when its file can "
        "be read"),
    Variable(
        "OUTREACH_EMAIL_FROM", "campaigns", "email_from", "Outreach <outreach@localhost>",
        "the `From` of email whose campaign file cannot be read (a campaign's "
        "`sender.email_from` comes first)"),
    # Plan estimates only.
    Variable(
        "OUTREACH_EMAIL_PRICE", "campaigns", "email_price", 0.0,
        "estimated cost per email in `plan` (dollars)", _positive_float),
    Variable(
        "OUTREACH_SMS_SEGMENT_PRICE", "campaigns", "sms_segment_price", 0.0083,
        "estimated cost per SMS segment in `plan` (dollars; a U.S. long-code list price)",
        _positive_float),
    Variable(
        "OUTREACH_CONTACTS", "campaigns", "contacts", "any",
        "`any`: messages may point readers at an office's lead phone, email or website (a "
        "secondary or old source: better than none; `plan` counts them); `verified`: only "
        "verified ones (a dated primary source or an organizer's correction), and letters "
        "go only to verified office emails", _one_of("any", "verified")),
    Variable(
        "OUTREACH_PACKET_LINK_DAYS", "campaigns", "packet_link_days", 30,
        "days an office digest's link to its delivery packet (names and towns of the "
        "office's constituents) opens it; `outreach packet-links revoke` ends one sooner",
        _count),
    Variable(
        "OUTREACH_PACKET_FONT", "campaigns", "packet_font", None,
        "the TrueType font delivery packets embed, for names in any Latin, Greek or Cyrillic "
        "script (a `-Bold` file beside it is the bold); none found: a built-in font, accents "
        "outside Latin-1 dropped, and the packet says so", _optional_path,
        shown="DejaVu Sans of Debian's `fonts-dejavu-core`"),
    Variable(
        "OUTREACH_EMAIL_TRANSPORT", "send", "email_transport", "files",
        "`files`, `smtp` or `sendgrid`", _one_of("files", "smtp", "sendgrid")),
    Variable(
        "OUTREACH_SMS_TRANSPORT", "send", "sms_transport", "files", "`files` or `twilio`",
        _one_of("files", "twilio")),
    Variable(
        "OUTREACH_OUTBOX_DIR", "send", "outbox_dir", Path("outbox"),
        "the `files` transport's folder: `email/*.eml`, `sms.jsonl`", _path,
        note="(working directory)"),
    Variable(
        "OUTREACH_EMAIL_RATE", "send", "email_rate", None,
        "emails per second for the email account (evenly spaced, 4% under the figure), "
        "shared by every worker process on every host", _pace, shown="(unpaced)"),
    Variable(
        "OUTREACH_SMS_RATE", "send", "sms_rate", None,
        "texts per second for the SMS account, likewise", _pace, shown="(unpaced)"),
    Variable(
        "OUTREACH_REDIS_URL", "send", "redis_url", None,
        "`redis://host:6379/0`: keep the send budgets (each account's pace and Retry-After "
        "pause) in Redis instead of the store; with a password in it, set it in secrets.env",
        _optional, shown="(the store)"),
    Variable(
        "OUTREACH_CLAIM_LEASE_SECONDS", "send", "claim_lease_seconds", 300.0,
        "a dead worker's unstarted claims wait this long before others take them",
        _positive_float),
    Variable(
        "OUTREACH_STALE_SENDING_SECONDS", "send", "stale_sending_seconds", 600.0,
        "a dead worker's interrupted sends wait this long before they are reconciled",
        _positive_float),
    Variable(
        "OUTREACH_WORKER_DEAD_SECONDS", "send", "worker_dead_seconds", 30.0,
        "a worker whose heartbeat (every sixth of this) is older than this is declared dead "
        "by another: its claims go back to the queue and its interrupted sends are reconciled "
        "at once, not after the two settings above; a worker whose own beats have failed for "
        "half of this calls no provider until one succeeds", _positive_float),

    Variable(
        "OUTREACH_SMTP_URL", "providers", "smtp_url", None,
        "`smtp://user:pass@host:587` (STARTTLS when offered; `?starttls=required`) or "
        "`smtps://host:465`; with a password in it, set it in secrets.env", _optional),
    Variable(
        "OUTREACH_SENDGRID_BASE_URL", "providers", "sendgrid_base_url",
        "https://api.sendgrid.com", "SendGrid's API"),
    Variable(
        "OUTREACH_SENDGRID_API_KEY", "providers", "sendgrid_api_key", None,
        "SendGrid's API key", _optional),
    Variable(
        "OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY", "providers", "sendgrid_webhook_public_key",
        None, "the verification key SendGrid shows for the signed Event Webhook (base64 DER)",
        _optional),
    Variable(
        "OUTREACH_TWILIO_ACCOUNT_SID", "providers", "twilio_account_sid", None,
        "the Twilio account (kept in secrets.env beside its token)", _optional),
    Variable(
        "OUTREACH_TWILIO_AUTH_TOKEN", "providers", "twilio_auth_token", None,
        "Twilio's auth token: sends texts and verifies Twilio's webhooks", _optional),
    Variable(
        "OUTREACH_TWILIO_FROM", "providers", "twilio_from", None,
        "the number texts come from (or set `OUTREACH_TWILIO_MESSAGING_SERVICE_SID`)",
        _optional),
    Variable(
        "OUTREACH_TWILIO_MESSAGING_SERVICE_SID", "providers", "twilio_messaging_service_sid",
        None, "the Twilio Messaging Service texts go through (wins over the number)",
        _optional),
    Variable(
        "OUTREACH_TWILIO_BASE_URL", "providers", "twilio_base_url", "https://api.twilio.com",
        "Twilio's API"),

    Variable(
        "OUTREACH_PUBLIC_URL", "compliance", "public_url", None,
        "the web app's absolute `http(s)://` address: unsubscribe links and header, share "
        "links, Twilio status callbacks, webhook signatures. Unset: `plan` and `launch` refuse "
        "and the worker holds supporter email bound for a real transport", _base_url),
    Variable(
        "OUTREACH_MAILING_ADDRESS", "compliance", "mailing_address", "",
        "CAN-SPAM's postal address for email whose campaign names none (its "
        "`sender.mailing_address` comes first) and the web pages' footer. Unset: such email "
        "is held", _stripped),
    Variable(
        "OUTREACH_SMS_WINDOWS", "compliance", "sms_windows", "",
        "your own stricter texting hours by state, `TX=9-21,CA=9-20`, under the TCPA's "
        "8:00-21:00 and the states' own"),
    # Twilio's opt-out handling is on by default for long codes (Advanced Opt-Out).
    Variable(
        "OUTREACH_TWILIO_OPT_OUT", "compliance", "twilio_opt_out", "twilio",
        "`twilio`: Twilio's opt-out handling answers STOP/START itself (a second answer from "
        "us would earn error 21610); `ours`: we send the confirmations",
        _one_of("twilio", "ours")),
    Variable(
        "OUTREACH_SPAM_ALARM_MIN_ERRORS", "compliance", "spam_alarm_min_errors", 5,
        "a step's texts are held when at least this many were filtered as spam (30007) in the "
        "window...", _whole),
    Variable(
        "OUTREACH_SPAM_ALARM_SHARE", "compliance", "spam_alarm_share", 0.05,
        "...and at least this share of those with a final status", _positive_float),
    Variable(
        "OUTREACH_SPAM_ALARM_WINDOW_MINUTES", "compliance", "spam_alarm_window_minutes", 60,
        "the spam alarm's window, in minutes", _positive_float),

    Variable(
        "OUTREACH_SIGN_RATE", "web", "sign_rate", "10/minute",
        "per-client limit on `POST /sign`", _rate),
    # Forms and Twilio's webhooks are a few hundred bytes; SendGrid posts its events in
    # batches, typically under 1 MB; the API takes up to api.MAX_SIGNERS records.
    Variable(
        "OUTREACH_MAX_BODY_BYTES", "web", "max_body_bytes", 64 << 10,
        "request body limit (413 beyond, before reading) of every route without its own: "
        "forms, Twilio's webhooks", _count),
    Variable(
        "OUTREACH_MAX_SENDGRID_BODY_BYTES", "web", "max_sendgrid_body_bytes", 4 << 20,
        "request body limit of SendGrid's Event Webhook", _count),
    Variable(
        "OUTREACH_MAX_API_BODY_BYTES", "web", "max_api_body_bytes", 8 << 20,
        "request body limit of `POST /api/signers`", _count),
    Variable(
        "OUTREACH_ADMIN_SESSION_MAX_AGE", "web", "admin_session_max_age", 12 * 3600.0,
        "seconds an organizer login lasts from when it began, however much it is used",
        _session_max_age, note="(12 hours)"),
    Variable(
        "OUTREACH_ADMIN_SESSION_IDLE", "web", "admin_session_idle", 3600.0,
        "seconds an idle organizer login lasts (0: no idle limit)", _positive_float),
    # The same on every web process; unset, a random one per process.
    Variable(
        "OUTREACH_SESSION_SECRET", "web", "session_secret", None,
        "signs sessions and CSRF tokens; the same on every web process, or organizers are "
        "logged out at every restart", _optional, shown="a random one per process"),
    Variable(
        "OUTREACH_ADMIN_PASSWORD_HASH", "web", "admin_password_hash", None,
        "the dashboard's login, from `outreach admin hash-password` (Argon2id; in single "
        "quotes in a shell)", _argon2_hash,
        shown="(none: no login)"),
    Variable(
        "OUTREACH_API_TOKEN", "web", "api_token", None,
        "the bearer token other tools push signers with (`POST /api/signers`)", _optional,
        shown="(none: API closed)"),

    Variable(
        "OUTREACH_TIME_ZONE", "ops", "time_zone", "America/New_York",
        "the zone the built-in schedules (the 03:00 `roster_check`) are stated in",
        _time_zone),
    Variable(
        "OUTREACH_LOG_FORMAT", "ops", "log_format", "text",
        "`json`: one JSON object per log line (masked like the text format)",
        _one_of("text", "json")),
)
_BY_NAME = {variable.name: variable for variable in VARIABLES}
_BY_FIELD = {variable.field: variable for variable in VARIABLES}


def default_of(name: str) -> Any:
    """A setting's default, as VARIABLES states it: for code that keeps a default of its own
    (a dataclass field), so the number is written once."""
    return _BY_NAME[name].default


def section_fields(section: str) -> list[str]:
    """The fields a section's class declares, in order (VARIABLES must fill exactly these)."""
    return [field.name for field in fields(SECTIONS[section][0])]
