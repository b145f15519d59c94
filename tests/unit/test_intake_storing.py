"""The shortcuts intake takes to hand rows to the database give the values the plain way gave.

store.signers builds an import's parameters column by column (a million rows through
SQLAlchemy's per-row processing cost more than the insert): these tests hold each shortcut to
the per-value form it replaces.
"""

from __future__ import annotations

import numpy as np

from outreach.store import signers


def stamps_per_value(naive: np.ndarray) -> list[str]:
    """SQLite's timestamp text as _timestamps made it before: ISO text, "T" replaced."""
    return np.char.replace(np.datetime_as_string(naive, unit="us"), "T", " ").tolist()


def test_timestamps_get_the_text_datetime_as_string_gives_them():
    rng = np.random.default_rng(1)
    # Years 0 to 9999 at random microseconds, and a chunk of one import's kind of dates.
    spread = rng.integers(-62_167_219_200_000_000, 253_402_300_799_999_999, 200_000)
    imports = np.datetime64("2026-01-01", "us") + rng.integers(0, 10**13, 50_000)
    for naive in (spread.astype("datetime64[us]"), imports):
        assert signers._sqlite_stamps(naive) == stamps_per_value(naive)


def test_odd_timestamps_get_the_old_text_too():
    for values in (["NaT", "2026-01-01"], ["12026-01-01T00:00:01", "2026-01-01"],
                   ["-0001-01-01T00:00:01"], ["0000-01-01", "9999-12-31T23:59:59.999999"]):
        naive = np.array(values, dtype="datetime64[us]")
        assert signers._sqlite_stamps(naive) == stamps_per_value(naive), values
    assert signers._sqlite_stamps(np.array([], dtype="datetime64[us]")) == []
    assert all(type(s) is str for s in signers._sqlite_stamps(np.array(["2026-01-01"],
                                                                        dtype="datetime64[us]")))
