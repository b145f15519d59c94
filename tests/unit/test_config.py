"""Settings in sections, each setting described once in outreach.config.VARIABLES."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from outreach.config import SECTIONS, VARIABLES, Settings, section_fields, setting_names


def test_every_section_field_is_filled_by_exactly_one_variable():
    for section in SECTIONS:
        assert [v.field for v in VARIABLES if v.section == section] == section_fields(section)
    assert {v.section for v in VARIABLES} == set(SECTIONS)
    assert not [name for name, n in Counter(v.name for v in VARIABLES).items() if n > 1]
    assert not [field for field, n in Counter(v.field for v in VARIABLES).items() if n > 1]
    # A section is never named like a field: `settings.<section>.<field>` reads one way only.
    assert not set(SECTIONS) & {v.field for v in VARIABLES}
    assert all(v.name.startswith("OUTREACH_") and v.meaning.strip() for v in VARIABLES)


def test_a_variable_sets_its_field_in_its_section():
    settings = Settings.from_values({"OUTREACH_DATABASE_URL": "sqlite:///x.sqlite3",
                                     "OUTREACH_CENSUS_TIMEOUT": "4",
                                     "OUTREACH_TWILIO_AUTH_TOKEN": "t0ken",
                                     "OUTREACH_DATA_DIR": "/srv/data"})
    assert settings.store.database_url == "sqlite:///x.sqlite3"
    assert settings.geo.census_timeout_seconds == 4.0
    assert settings.providers.twilio_auth_token == "t0ken"
    # A default made from a setting read before it: the roster beside the data.
    assert settings.data.roster_path == Path("/srv/data/prosecutors.csv")
    assert settings.value("OUTREACH_CENSUS_TIMEOUT") == 4.0
    assert {name for name in setting_names() if settings.value(name) is None} >= {
        "OUTREACH_SMTP_URL", "OUTREACH_API_TOKEN", "OUTREACH_EMAIL_RATE"}


def test_with_values_changes_fields_in_their_own_sections():
    settings = Settings.from_values({})
    changed = settings.with_values(database_url="sqlite:///demo.sqlite3",
                                   outbox_dir=Path("demo/outbox"), email_transport="files")
    assert changed.store.database_url == "sqlite:///demo.sqlite3"
    assert changed.send.outbox_dir == Path("demo/outbox")
    assert changed.geo == settings.geo and changed.send.sms_rate == settings.send.sms_rate
    assert settings.store.database_url == "sqlite:///outreach.sqlite3"  # frozen: a copy
    with pytest.raises(TypeError, match="'databse_url' is not a setting's field"):
        settings.with_values(databse_url="x")


@pytest.mark.parametrize("value", ["0.5", "0.3", "1.2", "ninety", "-1"])
def test_the_zip_minimum_share_is_a_majority_share(value):
    from outreach.config import ConfigError

    with pytest.raises(ConfigError, match="OUTREACH_ZIP_MIN_SHARE"):
        Settings.from_values({"OUTREACH_ZIP_MIN_SHARE": value})


def test_the_zip_minimum_share_defaults_to_93_percent():
    assert Settings.from_values({}).geo.zip_min_share == 0.93
    assert Settings.from_values({"OUTREACH_ZIP_MIN_SHARE": "0.9"}).geo.zip_min_share == 0.9
    assert Settings.from_values({"OUTREACH_ZIP_MIN_SHARE": "1"}).geo.zip_min_share == 1.0


def test_the_cache_folder_is_none_without_a_home_folder(monkeypatch: pytest.MonkeyPatch):
    """Path.home() raises RuntimeError with HOME unset and no passwd entry: no cache, not a
    failure of every command."""
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert Settings.from_values({}).data.cache_dir is None
    assert Settings.from_values({"OUTREACH_CACHE_DIR": "/srv/cache"}).data.cache_dir == \
        Path("/srv/cache")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache")
    assert Settings.from_values({}).data.cache_dir == Path("/var/cache/outreach")


def test_a_made_default_is_made_only_when_its_variable_is_unset(
        monkeypatch: pytest.MonkeyPatch):
    from outreach.us import compiled

    def unwanted() -> Path:
        raise AssertionError("the default was made though the variable is set")

    monkeypatch.setattr(compiled, "default_cache_dir", unwanted)
    settings = Settings.from_values({"OUTREACH_CACHE_DIR": "/srv/cache",
                                     "OUTREACH_ROSTER_PATH": "/srv/roster.csv"})
    assert settings.data.cache_dir == Path("/srv/cache")
    assert settings.data.roster_path == Path("/srv/roster.csv")


def test_an_admin_hash_the_shell_mangled_is_refused_without_printing_it():
    """`export OUTREACH_ADMIN_PASSWORD_HASH=$argon2id$v=19$m=...` unquoted leaves
    "=19=65536,t=3,p=4$...": no password matches it, and the dashboard answered the right
    one "Wrong password." Refused when read, with how to set it; the value is not shown."""
    from argon2 import PasswordHasher

    from outreach.config import ConfigError

    good = PasswordHasher().hash("correct horse battery")
    assert Settings.from_values({"OUTREACH_ADMIN_PASSWORD_HASH": good}).web.admin_password_hash \
        == good
    mangled = "=19=65536,t=3,p=4" + good.rsplit("p=4", 1)[1]
    with pytest.raises(ConfigError, match="single quotes") as refused:
        Settings.from_values({"OUTREACH_ADMIN_PASSWORD_HASH": mangled})
    assert mangled not in str(refused.value) and "p=4$" not in str(refused.value)
    assert Settings.from_values({}).web.admin_password_hash is None


@pytest.mark.parametrize(("value", "expected"), [
    ("petition.example.org", "such as https://petition.example.org"),
    ("ftp://petition.example.org", "such as https://petition.example.org"),
    ("https://", "such as https://petition.example.org"),
    ("https://petition.example.org/?src=mail", "without ?query or #fragment"),
])
def test_the_public_url_is_an_absolute_http_address(value, expected):
    from outreach.config import ConfigError

    with pytest.raises(ConfigError, match="OUTREACH_PUBLIC_URL") as raised:
        Settings.from_values({"OUTREACH_PUBLIC_URL": value})
    assert expected in str(raised.value)


def test_the_public_url_keeps_its_path_without_the_trailing_slash():
    url = Settings.from_values({"OUTREACH_PUBLIC_URL": " https://ex.org/petition/ "})
    assert url.compliance.public_url == "https://ex.org/petition"
