"""Settings, read once from the environment (OUTREACH_*) and an optional outreach.toml.

One place for every knob. A deployment is described by its environment, or by a TOML file
(OUTREACH_CONFIG, else ./outreach.toml) whose keys are the variable names without the prefix,
lower-cased (`database_url = "..."`); the environment wins over the file. Secrets (API keys,
auth tokens, passwords, and credentials inside a URL) are refused in the file: they come from
the environment only (deploy/secrets.env.example lists them). A key that is not a setting is
refused too: a typo would otherwise leave the default in force without a word.
"""

from __future__ import annotations

import difflib
import functools
import os
import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from outreach.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CENSUS_GEOCODER_URL = "https://geocoding.geo.census.gov/geocoder"
GEOCODERS = ("offline", "census")
SECRET_WORDS = ("KEY", "TOKEN", "PASSWORD", "SECRET")  # also the password hash: env only


@dataclass(frozen=True)
class Settings:
    """Every setting; describe a new one in outreach/settings_doc.py (the README's table is
    generated from it, and tests/integration/test_settings_doc.py fails until it is there)."""

    data_dir: Path
    roster_path: Path
    geocoder: str
    census_geocoder_url: str
    census_timeout_seconds: float
    census_retries: int
    database_url: str
    outbox_dir: Path
    email_transport: str
    sms_transport: str
    smtp_url: str | None
    sendgrid_api_key: str | None
    sendgrid_base_url: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from: str | None
    twilio_messaging_service_sid: str | None
    twilio_base_url: str
    public_url: str | None
    email_rate: float | None
    sms_rate: float | None
    email_from: str
    templates_dir: Path
    jobs_dir: Path
    email_price: float
    sms_windows: str
    sms_segment_price: float
    claim_lease_seconds: float
    stale_sending_seconds: float
    organization: str
    mailing_address: str
    twilio_opt_out: str
    sendgrid_webhook_public_key: str | None
    spam_alarm_min_errors: int
    spam_alarm_share: float
    spam_alarm_window_minutes: float
    inbox_dir: Path
    roster_stale_days: int
    log_format: str
    time_zone: str
    petition_campaign: str
    session_secret: str | None
    admin_password_hash: str | None
    admin_session_max_age: float
    admin_session_idle: float
    api_token: str | None
    sign_rate: str
    # Where intake writes rejects and warnings files (None: beside a SQLite store's file).
    reports_dir: Path | None = None
    # Header mappings for files the inbox imports, as `--map` takes them, `;`-separated.
    intake_map: str = ""
    # How much of a file intake reads (audit F7, F8): characters in one cell, header columns.
    intake_max_field: int = 1 << 20
    intake_max_columns: int = 1000
    # Request bodies (audit F6), in bytes: every route, SendGrid's Event Webhook, the API.
    max_body_bytes: int = 64 << 10
    max_sendgrid_body_bytes: int = 4 << 20
    max_api_body_bytes: int = 8 << 20

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls.from_values({**config_file_values(env), **env})

    @classmethod
    def from_values(cls, env: dict[str, str]) -> Settings:
        """Settings from these OUTREACH_* values alone (no config file is read). Every
        setting is read here, unconditionally: setting_names() learns them by watching."""
        data_dir = Path(env.get("OUTREACH_DATA_DIR", PACKAGE_ROOT / "data"))
        geocoder = env.get("OUTREACH_GEOCODER", "offline").strip().lower()
        if geocoder not in GEOCODERS:
            raise ConfigError(
                f"OUTREACH_GEOCODER={geocoder!r}: expected one of {', '.join(GEOCODERS)}"
            )
        return cls(
            data_dir=data_dir,
            roster_path=Path(env.get("OUTREACH_ROSTER_PATH", data_dir / "prosecutors.csv")),
            geocoder=geocoder,
            census_geocoder_url=env.get("OUTREACH_CENSUS_GEOCODER_URL", CENSUS_GEOCODER_URL),
            census_timeout_seconds=_positive_float(env, "OUTREACH_CENSUS_TIMEOUT", 15.0),
            census_retries=int(_positive_float(env, "OUTREACH_CENSUS_RETRIES", 3)),
            # The embedded default: a SQLite file in the working directory.
            database_url=env.get("OUTREACH_DATABASE_URL", "sqlite:///outreach.sqlite3"),
            outbox_dir=Path(env.get("OUTREACH_OUTBOX_DIR", "outbox")),
            email_transport=_choice(env, "OUTREACH_EMAIL_TRANSPORT", "files",
                                    ("files", "smtp", "sendgrid")),
            sms_transport=_choice(env, "OUTREACH_SMS_TRANSPORT", "files", ("files", "twilio")),
            smtp_url=env.get("OUTREACH_SMTP_URL") or None,
            sendgrid_api_key=env.get("OUTREACH_SENDGRID_API_KEY") or None,
            sendgrid_base_url=env.get("OUTREACH_SENDGRID_BASE_URL", "https://api.sendgrid.com"),
            twilio_account_sid=env.get("OUTREACH_TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("OUTREACH_TWILIO_AUTH_TOKEN") or None,
            twilio_from=env.get("OUTREACH_TWILIO_FROM") or None,
            twilio_messaging_service_sid=env.get("OUTREACH_TWILIO_MESSAGING_SERVICE_SID")
            or None,
            twilio_base_url=env.get("OUTREACH_TWILIO_BASE_URL", "https://api.twilio.com"),
            public_url=(env.get("OUTREACH_PUBLIC_URL") or "").rstrip("/") or None,
            email_rate=_positive_float(env, "OUTREACH_EMAIL_RATE", 0.0) or None,
            sms_rate=_positive_float(env, "OUTREACH_SMS_RATE", 0.0) or None,
            email_from=env.get("OUTREACH_EMAIL_FROM", "Outreach <outreach@localhost>"),
            templates_dir=Path(env.get("OUTREACH_TEMPLATES_DIR", PACKAGE_ROOT / "templates")),
            jobs_dir=Path(env.get("OUTREACH_JOBS_DIR", PACKAGE_ROOT / "jobs")),
            # Plan estimates only: a U.S. long-code list price per SMS segment; email often 0.
            email_price=_positive_float(env, "OUTREACH_EMAIL_PRICE", 0.0),
            # Stricter SMS windows of the organization's own, e.g. "TX=9-21,CA=9-20".
            sms_windows=env.get("OUTREACH_SMS_WINDOWS", ""),
            sms_segment_price=_positive_float(env, "OUTREACH_SMS_SEGMENT_PRICE", 0.0083),
            # A dead worker's unstarted claims wait this long before others take them...
            claim_lease_seconds=_positive_float(env, "OUTREACH_CLAIM_LEASE_SECONDS", 300.0),
            # ...and its interrupted sends this long before they are reconciled.
            stale_sending_seconds=_positive_float(env, "OUTREACH_STALE_SENDING_SECONDS", 600.0),
            organization=env.get("OUTREACH_ORGANIZATION", "Marijuana Justice Campaign"),
            # CAN-SPAM's postal address for mail whose campaign file names none (a campaign's
            # own sender.mailing_address comes first). Unset: such email is held.
            mailing_address=(env.get("OUTREACH_MAILING_ADDRESS") or "").strip(),
            # "twilio": Twilio's opt-out handling (on by default for long codes; Advanced
            # Opt-Out) answers STOP and START itself, and a second answer from us would be
            # refused with error 21610. "ours": we answer them.
            twilio_opt_out=_choice(env, "OUTREACH_TWILIO_OPT_OUT", "twilio", ("twilio", "ours")),
            # The "Verification Key" of SendGrid's signed Event Webhook (base64 DER).
            sendgrid_webhook_public_key=env.get("OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY") or None,
            spam_alarm_min_errors=int(_positive_float(env, "OUTREACH_SPAM_ALARM_MIN_ERRORS", 5)),
            spam_alarm_share=_positive_float(env, "OUTREACH_SPAM_ALARM_SHARE", 0.05),
            spam_alarm_window_minutes=_positive_float(env, "OUTREACH_SPAM_ALARM_WINDOW_MINUTES",
                                                      60),
            # Signer files dropped here are imported by the scheduler, once each.
            inbox_dir=Path(env.get("OUTREACH_INBOX_DIR", "inbox")),
            roster_stale_days=int(_positive_float(env, "OUTREACH_ROSTER_STALE_DAYS", 365)),
            log_format=_choice(env, "OUTREACH_LOG_FORMAT", "text", ("text", "json")),
            # The zone the built-in schedules (the nightly roster check) are stated in.
            time_zone=_time_zone(env, "OUTREACH_TIME_ZONE", "America/New_York"),
            # The campaign whose text the petition page shows and whose steps a signer gets.
            petition_campaign=env.get("OUTREACH_PETITION_CAMPAIGN", "marijuana_justice"),
            # Signs the web sessions (CSRF tokens, organizer logins): the same on every web
            # process. Unset: a random one per process, and sessions end at restart.
            session_secret=env.get("OUTREACH_SESSION_SECRET") or None,
            # `outreach admin hash-password` prints one (Argon2id).
            admin_password_hash=env.get("OUTREACH_ADMIN_PASSWORD_HASH") or None,
            # An organizer login ends this many seconds after it began, however much it is
            # used, and after this many idle seconds (0: no idle limit).
            admin_session_max_age=_session_max_age(env),
            admin_session_idle=_positive_float(env, "OUTREACH_ADMIN_SESSION_IDLE", 3600.0),
            api_token=env.get("OUTREACH_API_TOKEN") or None,  # POST /api/signers
            sign_rate=_rate(env, "OUTREACH_SIGN_RATE", "10/minute"),
            reports_dir=Path(env["OUTREACH_REPORTS_DIR"]) if env.get("OUTREACH_REPORTS_DIR")
            else None,
            intake_map=env.get("OUTREACH_INTAKE_MAP", ""),
            intake_max_field=_count(env, "OUTREACH_INTAKE_MAX_FIELD", 1 << 20),
            intake_max_columns=_count(env, "OUTREACH_INTAKE_MAX_COLUMNS", 1000),
            # Forms and Twilio's webhooks are a few hundred bytes; SendGrid posts its events in
            # batches, typically under 1 MB; the API takes up to api.MAX_SIGNERS records.
            max_body_bytes=_count(env, "OUTREACH_MAX_BODY_BYTES", 64 << 10),
            max_sendgrid_body_bytes=_count(env, "OUTREACH_MAX_SENDGRID_BODY_BYTES", 4 << 20),
            max_api_body_bytes=_count(env, "OUTREACH_MAX_API_BODY_BYTES", 8 << 20),
        )


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


@functools.cache
def setting_names() -> frozenset[str]:
    """Every OUTREACH_* variable the settings read, learnt by reading the settings from an
    empty environment (all defaults) and noting each name asked for: a setting added to
    Settings.from_values is known here without a second list to keep in step."""
    asked: set[str] = set()

    class Watched(dict[str, str]):
        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            asked.add(key)
            return super().get(key, default)

    Settings.from_values(Watched())
    return frozenset(asked)


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


def _session_max_age(env: dict[str, str]) -> float:
    value = _positive_float(env, "OUTREACH_ADMIN_SESSION_MAX_AGE", 12 * 3600.0)
    if not value:
        raise ConfigError("OUTREACH_ADMIN_SESSION_MAX_AGE=0: a login must last some seconds")
    return value


def _count(env: dict[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 (a size limit of 0 would refuse everything)."""
    raw = (env.get(name) or "").replace("_", "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={env.get(name)!r}: expected a whole number of at least 1")
    return int(raw)


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
