"""Every OUTREACH_* variable described once: its default as shown and its meaning, by area.

README.md's settings table is generated from SETTINGS_DOC (`python scripts/settings_table.py
--write`), and tests/integration/test_settings_doc.py fails when a variable the engine reads has
no line here, a line names no variable, or the README's table is not the generated one: a
setting added to outreach/config.py without a word for organizers, or a stale row, cannot go
unnoticed.

To describe a new setting, add one line to the right area below: the name, the default as an
organizer should read it (in backticks when it is a literal value), and what it does. Secrets
(names with KEY, TOKEN, PASSWORD or SECRET: outreach.config.is_secret) belong in the secrets
area, which says where they come from.
"""

from __future__ import annotations

import re
from pathlib import Path

from outreach.config import PACKAGE_ROOT, is_secret, setting_names

SECRETS = "Secrets: from the environment or /etc/outreach/secrets.env only, never outreach.toml"
TESTS = "Tests: read by the test suite only, not by the engine"

# area -> {name: (default as shown, meaning)}; the README shows the areas in this order.
SETTINGS_DOC: dict[str, dict[str, tuple[str, str]]] = {
    "Store and data": {
        "OUTREACH_DATABASE_URL": (
            "`sqlite:///outreach.sqlite3` (working directory)",
            "the store; PostgreSQL: `postgresql+psycopg://user@host/db`. A URL with a password "
            "in it is refused in the config file: set it in secrets.env"),
        "OUTREACH_DATA_DIR": (
            "`data/` of this checkout",
            "where `prosecutors.csv`, `counties.csv`, `zip_county.csv` live"),
        "OUTREACH_ROSTER_PATH": ("`$OUTREACH_DATA_DIR/prosecutors.csv`", "the roster file"),
        "OUTREACH_ROSTER_STALE_DAYS": (
            "`365`",
            "`roster_check` warns about offices whose officeholder data is undated or older "
            "than this many days"),
    },
    "Intake": {
        "OUTREACH_INBOX_DIR": (
            "`inbox` (working directory)",
            "signer files dropped here are imported by the scheduler once each and moved to "
            "`processed/`, or `failed/` with a `.error.txt`"),
        "OUTREACH_REPORTS_DIR": (
            "beside the SQLite store (PostgreSQL: beside the input)",
            "where `outreach intake` writes rejects and warnings files"),
        "OUTREACH_INTAKE_MAP": (
            "(none)",
            "header mappings for inbox files, as `--map` takes them, `;`-separated: "
            "`\"Cell Phone=phone;Joined=signed_at\"`"),
        "OUTREACH_INTAKE_MAX_FIELD": (
            "`1048576`", "characters in one cell of a signer file; a longer one rejects its row"),
        "OUTREACH_INTAKE_MAX_COLUMNS": (
            "`1000`", "columns in a signer file's header; more refuses the file in one line"),
    },
    "Geography": {
        "OUTREACH_GEOCODER": (
            "`offline`",
            "`census` places street addresses with the U.S. Census Geocoder"),
        "OUTREACH_CENSUS_GEOCODER_URL": (
            "`https://geocoding.geo.census.gov/geocoder`", "its base URL"),
        "OUTREACH_CENSUS_TIMEOUT": ("`15`", "seconds per request"),
        "OUTREACH_CENSUS_RETRIES": (
            "`3`", "retries on connection errors, timeouts, 429 and 5xx"),
    },
    "Campaigns and templates": {
        "OUTREACH_JOBS_DIR": (
            "`jobs/` of this checkout",
            "the campaign files and `schedule.toml`"),
        "OUTREACH_TEMPLATES_DIR": (
            "`templates/` of this checkout",
            "the message templates (Jinja2, sandboxed) and the web pages' (`web/`)"),
        "OUTREACH_PETITION_CAMPAIGN": (
            "`marijuana_justice`",
            "the campaign the petition page shows and whose steps a signer gets, unless an "
            "organizer paused it"),
        "OUTREACH_ORGANIZATION": (
            "`Marijuana Justice Campaign`",
            "the name in the petition's consent text and the SMS HELP/STOP answers; the web "
            "pages' footer and email use the campaign's `sender.organization` when its file "
            "can be read"),
        "OUTREACH_EMAIL_FROM": (
            "`Outreach <outreach@localhost>`",
            "the `From` of email whose campaign file cannot be read (a campaign's "
            "`sender.email_from` comes first)"),
        "OUTREACH_EMAIL_PRICE": ("`0`", "estimated cost per email in `plan` (dollars)"),
        "OUTREACH_SMS_SEGMENT_PRICE": (
            "`0.0083`",
            "estimated cost per SMS segment in `plan` (dollars; a U.S. long-code list price)"),
    },
    "Sending and transports": {
        "OUTREACH_EMAIL_TRANSPORT": ("`files`", "`files`, `smtp` or `sendgrid`"),
        "OUTREACH_SMS_TRANSPORT": ("`files`", "`files` or `twilio`"),
        "OUTREACH_OUTBOX_DIR": (
            "`outbox` (working directory)",
            "the `files` transport's folder: `email/*.eml`, `sms.jsonl`"),
        "OUTREACH_SMTP_URL": (
            "(none)",
            "`smtp://user:pass@host:587` (STARTTLS when offered; `?starttls=required`) or "
            "`smtps://host:465`; with a password in it, set it in secrets.env"),
        "OUTREACH_SENDGRID_BASE_URL": ("`https://api.sendgrid.com`", "SendGrid's API"),
        "OUTREACH_TWILIO_ACCOUNT_SID": (
            "(none)", "the Twilio account (kept in secrets.env beside its token)"),
        "OUTREACH_TWILIO_FROM": (
            "(none)",
            "the number texts come from (or set `OUTREACH_TWILIO_MESSAGING_SERVICE_SID`)"),
        "OUTREACH_TWILIO_MESSAGING_SERVICE_SID": (
            "(none)", "the Twilio Messaging Service texts go through (wins over the number)"),
        "OUTREACH_TWILIO_BASE_URL": ("`https://api.twilio.com`", "Twilio's API"),
        "OUTREACH_EMAIL_RATE": (
            "(unpaced)",
            "emails per second per worker process (evenly spaced, 4% under the figure); give "
            "each of several workers its share"),
        "OUTREACH_SMS_RATE": ("(unpaced)", "texts per second per worker process, likewise"),
        "OUTREACH_CLAIM_LEASE_SECONDS": (
            "`300`", "a dead worker's unstarted claims wait this long before others take them"),
        "OUTREACH_STALE_SENDING_SECONDS": (
            "`600`", "a dead worker's interrupted sends wait this long before they are "
            "reconciled"),
    },
    "Compliance": {
        "OUTREACH_PUBLIC_URL": (
            "(none)",
            "the web app's absolute `http(s)://` address: unsubscribe links and header, share "
            "links, Twilio status callbacks, webhook signatures. Unset: `plan` and `launch` "
            "refuse and the worker holds supporter email bound for a real transport"),
        "OUTREACH_MAILING_ADDRESS": (
            "(none)",
            "CAN-SPAM's postal address for email whose campaign names none (its "
            "`sender.mailing_address` comes first) and the web pages' footer. Unset: such "
            "email is held"),
        "OUTREACH_SMS_WINDOWS": (
            "(none)",
            "your own stricter texting hours by state, `TX=9-21,CA=9-20`, under the TCPA's "
            "8:00-21:00 and the states' own"),
        "OUTREACH_TWILIO_OPT_OUT": (
            "`twilio`",
            "`twilio`: Twilio's opt-out handling answers STOP/START itself (a second answer "
            "from us would earn error 21610); `ours`: we send the confirmations"),
        "OUTREACH_SPAM_ALARM_MIN_ERRORS": (
            "`5`",
            "a step's texts are held when at least this many were filtered as spam (30007) "
            "in the window..."),
        "OUTREACH_SPAM_ALARM_SHARE": (
            "`0.05`", "...and at least this share of those with a final status"),
        "OUTREACH_SPAM_ALARM_WINDOW_MINUTES": ("`60`", "the spam alarm's window, in minutes"),
    },
    "Web": {
        "OUTREACH_SIGN_RATE": ("`10/minute`", "per-client limit on `POST /sign`"),
        "OUTREACH_MAX_BODY_BYTES": (
            "`65536`", "request body limit (413 beyond, before reading) of every route without "
                       "its own: forms, Twilio's webhooks"),
        "OUTREACH_MAX_SENDGRID_BODY_BYTES": (
            "`4194304`", "request body limit of SendGrid's Event Webhook"),
        "OUTREACH_MAX_API_BODY_BYTES": (
            "`8388608`", "request body limit of `POST /api/signers`"),
        "OUTREACH_ADMIN_SESSION_MAX_AGE": (
            "`43200` (12 hours)",
            "seconds an organizer login lasts from when it began, however much it is used"),
        "OUTREACH_ADMIN_SESSION_IDLE": (
            "`3600`", "seconds an idle organizer login lasts (0: no idle limit)"),
    },
    "Scheduler and operations": {
        "OUTREACH_CONFIG": (
            "`./outreach.toml` if present",
            "the TOML settings file (sample: `deploy/outreach.toml`); environment only"),
        "OUTREACH_TIME_ZONE": (
            "`America/New_York`",
            "the zone the built-in schedules (the 03:00 `roster_check`) are stated in"),
        "OUTREACH_LOG_FORMAT": (
            "`text`", "`json`: one JSON object per log line (masked like the text format)"),
        "OUTREACH_DEBUG": (
            "(unset)", "`1`: an unexpected error also prints its (masked) traceback; "
                       "environment only"),
    },
    SECRETS: {
        "OUTREACH_SENDGRID_API_KEY": ("(none)", "SendGrid's API key"),
        "OUTREACH_SENDGRID_WEBHOOK_PUBLIC_KEY": (
            "(none)",
            "the verification key SendGrid shows for the signed Event Webhook (base64 DER)"),
        "OUTREACH_TWILIO_AUTH_TOKEN": (
            "(none)", "Twilio's auth token: sends texts and verifies Twilio's webhooks"),
        "OUTREACH_SESSION_SECRET": (
            "a random one per process",
            "signs sessions and CSRF tokens; the same on every web process, or organizers are "
            "logged out at every restart"),
        "OUTREACH_ADMIN_PASSWORD_HASH": (
            "(none: no login)",
            "the dashboard's login, from `outreach admin hash-password` (Argon2id)"),
        "OUTREACH_API_TOKEN": (
            "(none: API closed)",
            "the bearer token other tools push signers with (`POST /api/signers`)"),
    },
    TESTS: {
        "OUTREACH_TEST_POSTGRES_URL": (
            "`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`",
            "the PostgreSQL server the store tests create a scratch database on"),
        "OUTREACH_TEST_POSTGRES": (
            "(none)", "`required`: the PostgreSQL runs fail instead of skipping without a server"),
        "OUTREACH_TEST_BROWSER": (
            "(none)", "`required`: the browser tests fail instead of skipping without Chromium"),
        "OUTREACH_CHROMIUM": ("`/usr/bin/chromium`", "the browser the browser tests drive"),
        "OUTREACH_TEST_ARTIFACTS": (
            "`test-artifacts/` of this checkout", "where the browser tests save screenshots"),
    },
}

BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"
README = PACKAGE_ROOT / "README.md"
# Where a variable read straight from the environment would be mentioned: the engine, the
# tests, the benchmarks and the scripts (this module and its test only repeat names).
SOURCE_DIRS = ("outreach", "tests", "bench", "scripts")
NAME = re.compile(r"\bOUTREACH_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")  # not a bare "OUTREACH_" prefix


def described() -> dict[str, tuple[str, str, str]]:
    """Every described variable: name -> (area, default, meaning)."""
    return {name: (area, default, meaning) for area, rows in SETTINGS_DOC.items()
            for name, (default, meaning) in rows.items()}


def names_in_source(root: Path = PACKAGE_ROOT) -> dict[str, list[Path]]:
    """Every OUTREACH_* name the code mentions, with the files it is in: the settings, and the
    variables read straight from os.environ (OUTREACH_CONFIG, the tests' own), so that a new
    one cannot be missed however it is read."""
    skip = {Path(__file__).resolve(),
            (root / "tests" / "integration" / "test_settings_doc.py").resolve(),
            (root / "scripts" / "settings_table.py").resolve()}
    found: dict[str, list[Path]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            if path.resolve() in skip:
                continue
            for name in sorted(set(NAME.findall(path.read_text(encoding="utf-8")))):
                found.setdefault(name, []).append(path.relative_to(root))
    return found


def known_names() -> set[str]:
    """What the table must describe: every setting, and every name the code mentions."""
    return set(setting_names()) | set(names_in_source())


def problems() -> list[str]:
    """Why SETTINGS_DOC does not match the code, one line each (empty: it does)."""
    rows = described()
    source = names_in_source()
    known = known_names()
    lines = []
    for name in sorted(known - rows.keys()):
        where = "read by outreach/config.py" if name in setting_names() else \
            f"mentioned in {source[name][0]}"
        lines.append(f"{name} ({where}) has no description: add it to SETTINGS_DOC in "
                     "outreach/settings_doc.py (area, default, meaning)")
    for name in sorted(rows.keys() - known):
        lines.append(f"{name} is described in outreach/settings_doc.py but nothing reads it: "
                     "remove its line (or fix its spelling)")
    for name, (area, _, _) in sorted(rows.items()):
        if name not in known:
            continue
        if is_secret(name) and area != SECRETS:
            lines.append(f"{name} is a secret by its name (outreach.config.is_secret): "
                         "describe it in the secrets area")
        elif area == SECRETS and not is_secret(name):
            lines.append(f"{name} is no secret by its name: move it out of the secrets area")
        engine = name in setting_names() or any(path.parts[0] == "outreach"
                                                for path in source.get(name, []))
        if area == TESTS and engine:
            lines.append(f"{name} is read by the engine: move it out of the tests area")
        elif area != TESTS and not engine:
            lines.append(f"{name} is only read outside outreach/: describe it in the tests "
                         "area")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    """The README's settings table, one small table per area, in SETTINGS_DOC's order."""
    parts = []
    for area, rows in SETTINGS_DOC.items():
        parts.append(f"**{area}**\n\n| variable | default | meaning |\n| --- | --- | --- |\n"
                     + "".join(f"| `{name}` | {_cell(default)} | {_cell(meaning)} |\n"
                               for name, (default, meaning) in rows.items()))
    return "\n".join(parts)


class MarkerError(ValueError):
    """The README has no single settings:begin ... settings:end pair to put the table in."""


def block() -> str:
    """What belongs between the markers: the table, set off by blank lines (so that neither
    marker comment is read as part of a table)."""
    return "\n\n" + table() + "\n"


def current_block(readme_text: str) -> str:
    """What the README has between its markers now."""
    start, stop = _markers(readme_text)
    return readme_text[start:stop]


def with_table(readme_text: str) -> str:
    """The README with the generated table between its markers, everything else as it was."""
    start, stop = _markers(readme_text)
    return readme_text[:start] + block() + readme_text[stop:]


def _markers(text: str) -> tuple[int, int]:
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise MarkerError(f"README.md needs exactly one {BEGIN} and one {END} line "
                          f"(found {text.count(BEGIN)} and {text.count(END)})")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    if stop < start:
        raise MarkerError(f"README.md: {END} comes before {BEGIN}")
    return start, stop
