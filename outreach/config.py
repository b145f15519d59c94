"""Settings, read once from the environment (OUTREACH_*).

One place for every knob, so a deployment is described by its environment alone and secrets never
live in files. Later issues add an optional outreach.toml; the environment will still win.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CENSUS_GEOCODER_URL = "https://geocoding.geo.census.gov/geocoder"
GEOCODERS = ("offline", "census")


class ConfigError(ValueError):
    """A setting has a value the engine cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    roster_path: Path
    geocoder: str
    census_geocoder_url: str
    census_timeout_seconds: float
    census_retries: int
    database_url: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
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
        )


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
