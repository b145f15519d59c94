"""README.md's settings tables, generated from outreach.config.VARIABLES, and the check that
every OUTREACH_* variable the code mentions is described there.

Each setting is described once, in outreach/config.py's VARIABLES (the default the code uses is
the default the table shows). The few variables read straight from the environment, not
settings (OUTREACH_CONFIG, OUTREACH_DEBUG, the test suite's own), are described here in
ENVIRONMENT_ONLY. `python scripts/settings_table.py --write` puts the tables in the README, one
per section of Settings, and tests/integration/test_settings_doc.py fails when a variable the
code mentions has no description, a description names no variable, or the README's tables are
not the generated ones: a setting added without a word for organizers, or a stale row, cannot
go unnoticed. Secrets (names with KEY, TOKEN, PASSWORD or SECRET: outreach.config.is_secret) are
marked in their section's table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from outreach.config import PACKAGE_ROOT, SECTIONS, VARIABLES, Variable, is_secret

TESTS = "tests"
# area -> its title; the README shows the areas in this order: the sections, then the tests'.
AREAS: dict[str, str] = {
    **{section: f"{title} (`settings.{section}`)" for section, (_, title) in SECTIONS.items()},
    TESTS: "Tests: read by the test suite only, not by the engine",
}
SECRET = "(secret)"  # after a secret's name: from the environment or secrets.env only

# Variables read straight from os.environ, not settings: name -> (area, default as shown,
# meaning). A setting is described in outreach.config.VARIABLES instead, never here too.
ENVIRONMENT_ONLY: dict[str, tuple[str, str, str]] = {
    "OUTREACH_CONFIG": (
        "ops", "`./outreach.toml` if present",
        "the TOML settings file (sample: `deploy/outreach.toml`); environment only"),
    "OUTREACH_DEBUG": (
        "ops", "(unset)",
        "`1`: an unexpected error also prints its (masked) traceback; environment only"),
    "OUTREACH_TEST_POSTGRES_URL": (
        TESTS, "`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`",
        "the PostgreSQL server the store tests create a scratch database on"),
    "OUTREACH_TEST_POSTGRES": (
        TESTS, "(none)",
        "`required`: the PostgreSQL runs fail instead of skipping without a server"),
    "OUTREACH_TEST_BROWSER": (
        TESTS, "(none)",
        "`required`: the browser tests fail instead of skipping without Chromium"),
    "OUTREACH_TEST_PDF": (
        TESTS, "(none)",
        "`required`: the delivery packet tests fail instead of skipping without `pdftotext` "
        "(poppler-utils)"),
    "OUTREACH_CHROMIUM": (TESTS, "`/usr/bin/chromium`", "the browser the browser tests drive"),
    "OUTREACH_TEST_ARTIFACTS": (
        TESTS, "`test-artifacts/` of this checkout", "where the browser tests save screenshots"),
}


class Row(NamedTuple):
    """One variable as the README shows it."""

    area: str
    default: str  # as shown
    meaning: str


def shown_default(variable: Variable) -> str:
    """The default as an organizer reads it: the literal value in backticks (with its note),
    "(none)" when there is none, or the words the table gives for one that is no literal."""
    if variable.shown:
        return variable.shown
    value = variable.default
    if value is None or value == "":
        text = "(none)"
    elif isinstance(value, float):  # 30.0 shows as 30; 1048576.0 stays 1048576
        text = f"`{value:g}`" if value < 1e6 else f"`{int(value)}`"
    else:
        text = f"`{value}`"
    return f"{text} {variable.note}" if variable.note else text


BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"
README = PACKAGE_ROOT / "README.md"
# Where a variable read straight from the environment would be mentioned: the engine, the
# tests, the benchmarks and the scripts (this module and its test only repeat names).
SOURCE_DIRS = ("outreach", "tests", "bench", "scripts")
NAME = re.compile(r"\bOUTREACH_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")  # not a bare "OUTREACH_" prefix


def described() -> dict[str, Row]:
    """Every described variable, area by area in AREAS' order: name -> (area, default, meaning)."""
    rows = {variable.name: Row(variable.section, shown_default(variable), variable.meaning)
            for variable in VARIABLES}
    for name, (area, default, meaning) in ENVIRONMENT_ONLY.items():
        rows.setdefault(name, Row(area, default, meaning))
    order = list(AREAS)
    return dict(sorted(rows.items(), key=lambda item: order.index(item[1].area)
                       if item[1].area in AREAS else len(order)))


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


def problems() -> list[str]:
    """Why the descriptions do not match the code, one line each (empty: they do)."""
    source = names_in_source()
    settings = {variable.name for variable in VARIABLES}
    lines = []
    for variable in VARIABLES:
        if not variable.meaning.strip():
            lines.append(f"{variable.name} (read by outreach/config.py) has no meaning: describe "
                         "it in VARIABLES in outreach/config.py")
    for name in sorted(source.keys() - settings - ENVIRONMENT_ONLY.keys()):
        lines.append(f"{name} (mentioned in {source[name][0]}) has no description: make it a "
                     "setting in VARIABLES in outreach/config.py, or describe it in "
                     "ENVIRONMENT_ONLY in outreach/settings_doc.py (area, default, meaning)")
    for name in sorted(ENVIRONMENT_ONLY.keys() & settings):
        lines.append(f"{name} is a setting, described in outreach/config.py: remove its second "
                     "description from ENVIRONMENT_ONLY in outreach/settings_doc.py")
    for name, (area, _, _) in sorted(ENVIRONMENT_ONLY.items()):
        if name in settings:
            continue
        if name not in source:
            lines.append(f"{name} is described in outreach/settings_doc.py but nothing reads "
                         "it: remove its line (or fix its spelling)")
            continue
        engine = any(path.parts[0] == "outreach" for path in source[name])
        if area not in AREAS:
            lines.append(f"{name}: {area!r} is no area of the README's tables: one of "
                         f"{', '.join(AREAS)}")
        elif area == TESTS and engine:
            lines.append(f"{name} is read by the engine: move it out of the tests area")
        elif area != TESTS and not engine:
            lines.append(f"{name} is only read outside outreach/: describe it in the tests "
                         "area")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    """The README's settings tables: one small table per area, in AREAS' order."""
    rows = described()
    parts = []
    for area, title in AREAS.items():
        parts.append(f"**{title}**\n\n| variable | default | meaning |\n| --- | --- | --- |\n"
                     + "".join(f"| `{name}`{' ' + SECRET if is_secret(name) else ''} | "
                               f"{_cell(row.default)} | {_cell(row.meaning)} |\n"
                               for name, row in rows.items() if row.area == area))
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
