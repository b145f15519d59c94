"""README.md's settings table lists every OUTREACH_* variable and cannot drift from the code
(issue 13: "the settings table lists every OUTREACH_* variable")."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from outreach import settings_doc
from outreach.config import VARIABLES, Settings, secret_names, setting_names
from outreach.settings_doc import (
    BEGIN,
    END,
    ENVIRONMENT_ONLY,
    NAME,
    README,
    TESTS,
    MarkerError,
    block,
    current_block,
    described,
    names_in_source,
    problems,
    table,
    with_table,
)

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `python scripts/settings_table.py --write` and commit README.md"


def test_every_variable_is_described_and_every_description_is_a_variable():
    assert problems() == [], "\n".join(problems())


def test_the_readme_table_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    assert current_block(text) == block(), f"README.md's settings table is out of date: {FIX}"


def test_the_names_include_those_read_straight_from_the_environment():
    names = set(described())
    assert set(setting_names()) <= names
    # Read from os.environ outside Settings: by config_file_values, the CLI and the tests.
    assert {"OUTREACH_CONFIG", "OUTREACH_LOG_FORMAT", "OUTREACH_TEST_POSTGRES",
            "OUTREACH_TEST_POSTGRES_URL", "OUTREACH_TEST_BROWSER"} <= set(names_in_source())
    assert "OUTREACH_CONFIG" not in setting_names()  # so only the scan could find it
    # The secrets are marked as such in their sections' tables, and nothing else is.
    assert set(re.findall(r"^\| `(OUTREACH_\w+)` \(secret\) \|", table(), re.MULTILINE)) \
        == set(secret_names())
    assert not {name for name, row in described().items() if row.area == TESTS} \
        & set(setting_names())


def test_a_new_variable_in_the_source_is_found_and_a_prefix_is_not(tmp_path: Path):
    (tmp_path / "outreach").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "outreach" / "cli.py").write_text(
        'import os\nDEBUG = os.environ.get("OUTREACH_DEBUG_SQL")\n'
        'env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}\n'
        'name = "OUTREACH_" + key.upper()\nother = f"OUTREACH_{key}"\n', encoding="utf-8")
    (tmp_path / "tests" / "conftest.py").write_text(
        'URL = os.getenv("OUTREACH_TEST_REDIS_URL", "redis://")\n', encoding="utf-8")
    assert names_in_source(tmp_path) == {
        "OUTREACH_DEBUG_SQL": [Path("outreach/cli.py")],
        "OUTREACH_TEST_REDIS_URL": [Path("tests/conftest.py")]}


def test_an_undescribed_setting_and_a_stale_description_are_named(monkeypatch):
    before = set(problems())
    variables = tuple(replace(variable, meaning="") if variable.name == "OUTREACH_CENSUS_RETRIES"
                      else variable for variable in VARIABLES)
    environment_only = dict(ENVIRONMENT_ONLY)
    environment_only["OUTREACH_SIGN_RATES"] = ("web", "`10/minute`", "a typo")
    environment_only["OUTREACH_API_TOKEN"] = ("web", "(none)", "described a second time")
    environment_only["OUTREACH_CONFIG"] = (TESTS, *ENVIRONMENT_ONLY["OUTREACH_CONFIG"][1:])
    source = {**names_in_source(), "OUTREACH_DEBUG_SQL": [Path("outreach/cli/common.py")]}
    monkeypatch.setattr(settings_doc, "VARIABLES", variables)
    monkeypatch.setattr(settings_doc, "ENVIRONMENT_ONLY", environment_only)
    monkeypatch.setattr(settings_doc, "names_in_source", lambda: source)
    wrong = set(problems()) - before
    assert ("OUTREACH_CENSUS_RETRIES (read by outreach/config.py) has no meaning: describe it "
            "in VARIABLES in outreach/config.py") in wrong
    assert ("OUTREACH_DEBUG_SQL (mentioned in outreach/cli/common.py) has no description: make "
            "it a setting in VARIABLES in outreach/config.py, or describe it in ENVIRONMENT_ONLY "
            "in outreach/settings_doc.py (area, default, meaning)") in wrong
    assert any(line.startswith("OUTREACH_SIGN_RATES is described") for line in wrong)
    assert any(line.startswith("OUTREACH_API_TOKEN is a setting, described in outreach/config")
               for line in wrong)
    assert any(line.startswith("OUTREACH_CONFIG is read by the engine") for line in wrong)
    assert len(wrong) == 5, wrong


def test_the_defaults_shown_are_the_code_defaults():
    """Where a setting defaults to a literal value, the table shows that value, also where
    VARIABLES says in words what the default is."""
    defaults = Settings.from_values({})
    checked = 0
    for name, (_, shown, _) in described().items():
        value = defaults.value(name) if name in setting_names() else None
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            continue
        # 1048576 stays 1048576 (":g" would show 1.04858e+06); 30.0 shows as 30
        literal = f"{value:g}" if isinstance(value, float) and value < 1e6 else \
            str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        assert f"`{literal}`" in shown, f"{name}: the code's default is {literal!r}, the " \
            f"table shows {shown!r}: fix it in outreach/config.py's VARIABLES, then {FIX}"
        checked += 1
    assert checked >= 20


def test_the_readme_mentions_no_variable_the_table_lacks():
    text = README.read_text(encoding="utf-8")
    outside = text.replace(current_block(text), "")
    stale = set(NAME.findall(outside)) - set(described())
    assert not stale, f"README.md mentions {sorted(stale)}, which no setting reads"


def test_writing_keeps_everything_outside_the_markers():
    text = f"# Title\n\nbefore\n\n{BEGIN}\n| old | table |\n{END}\n\nafter\n"
    written = with_table(text)
    assert written.startswith(f"# Title\n\nbefore\n\n{BEGIN}\n\n**Store (`settings.store`)**\n")
    assert written.endswith(f"|\n\n{END}\n\nafter\n")
    assert "| old | table |" not in written
    assert with_table(written) == written
    for broken in ("no markers\n", f"{BEGIN}\n{BEGIN}\n{END}\n", f"{END}\nx\n{BEGIN}\n"):
        with pytest.raises(MarkerError):
            with_table(broken)


def test_the_script_checks_and_writes_a_readme(tmp_path: Path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\n| stale |\n{END}\nrest\n", encoding="utf-8")
    script = [sys.executable, str(ROOT / "scripts" / "settings_table.py"), "--readme",
              str(readme)]

    checked = subprocess.run([*script, "--check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 1
    assert "run python scripts/settings_table.py --write" in checked.stderr
    written = subprocess.run([*script, "--write"], capture_output=True, text=True, timeout=60)
    assert written.returncode == 0, written.stderr
    assert readme.read_text(encoding="utf-8") == with_table(f"intro\n{BEGIN}\n{END}\nrest\n")
    again = subprocess.run([*script, "--check"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
