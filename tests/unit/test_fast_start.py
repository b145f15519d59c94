"""Issue 18, fast start: `outreach --version` and `--help` import nothing heavy, and the ZIP
index and the roster come from a compiled cache (outreach/us/compiled.py) that answers as the
CSV files do, is rebuilt when a data file changes, and is never trusted when corrupt."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from outreach.cli.reference import commands, help_text
from outreach.geo.locate import Geo, GeoData
from outreach.roster.offices import Roster, load_roster
from outreach.us import compiled
from outreach.us.counties import Counties
from tests.unit.test_lookup_accuracy import measure

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
HEAVY = ("pandas", "numpy", "pyarrow", "sqlalchemy", "alembic", "jinja2", "fastapi",
         "sendgrid", "twilio", "rich")
# Runs the CLI as the console script does, then prints the heavy modules it imported.
PROBE = """
import json, sys
sys.argv = ["outreach", *sys.argv[1:]]
from outreach.cli import main
try:
    main()
except SystemExit:
    pass
heavy = HEAVY
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
""".replace("HEAVY", repr(HEAVY))


def _cli(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, cwd=ROOT, check=True, timeout=120,
                          env={**os.environ, "OUTREACH_CACHE_DIR": str(cache), **env})


def _heavy(done: subprocess.CompletedProcess[str]) -> list[str]:
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_version_imports_no_heavy_module(tmp_path: Path) -> None:
    done = _cli(["--version"], tmp_path)
    assert "outreach, version" in done.stdout
    assert _heavy(done) == []


def test_help_lists_every_command_from_the_cache_as_the_commands_do(tmp_path: Path) -> None:
    first = _cli(["--help"], tmp_path, COLUMNS="80")  # builds the summaries
    warm = _cli(["--help"], tmp_path, COLUMNS="80")
    assert _heavy(warm) == []
    listed = "\n".join(warm.stdout.splitlines()[:-1]) + "\n"
    assert listed == "\n".join(first.stdout.splitlines()[:-1]) + "\n"
    list(commands())  # every command loaded: click's own listing
    assert listed == help_text(())


def test_lookup_from_the_cache_imports_no_pandas(tmp_path: Path) -> None:
    env = {"OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'absent.sqlite3'}"}
    cold = _cli(["lookup", "19102", "--json"], tmp_path / "cache", **env)
    warm = _cli(["lookup", "19102", "--json"], tmp_path / "cache", **env)
    # Built (cold) or read back (warm), the roster and ZIP index need no pandas.
    assert "pandas" not in _heavy(cold) and "pandas" not in _heavy(warm)
    answer = json.loads("\n".join(warm.stdout.splitlines()[:-1]))
    assert answer["county_fips"] == "42101"
    assert answer == json.loads("\n".join(cold.stdout.splitlines()[:-1]))
    assert {p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()} >= {"geo", "roster"}


def test_compiled_is_rebuilt_when_a_source_changes_and_when_corrupt(tmp_path: Path) -> None:
    source = tmp_path / "table.csv"
    source.write_text("a\n")
    builds: list[str] = []

    def build() -> str:
        builds.append(source.read_text())
        return source.read_text()

    def value(extra: str = "") -> str:
        return compiled.compiled("t", [source], build, directory=tmp_path / "c", extra=extra)

    assert value() == "a\n" and value() == "a\n"
    assert len(builds) == 1  # the second came from the file
    source.write_text("b\n")  # another size
    assert value() == "b\n" and len(builds) == 2
    stat = source.stat()
    source.write_text("c\n")  # the same size: the mtime tells
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert value() == "c\n" and len(builds) == 3
    assert value(extra="other corrections") == "c\n" and len(builds) == 4
    [stored] = (tmp_path / "c").glob("t-*.pickle")
    stored.write_bytes(stored.read_bytes()[:20])  # truncated
    assert value() == "c\n" and len(builds) == 5
    stored.write_bytes(pickle.dumps(("not", "this cache's key")))
    assert value() == "c\n" and len(builds) == 6
    assert value() == "c\n" and len(builds) == 6
    assert list((tmp_path / "c").glob(".*.tmp")) == []  # no temporary file left behind


def _unused_for(path: Path, days: float) -> None:
    """As if no process had read or written `path` (a link itself, not its target) for
    `days`."""
    then = time.time() - days * 86400
    os.utime(path, (then, then), follow_symlinks=False)


def test_a_write_removes_this_kinds_files_unused_for_a_week_and_nothing_else(
        tmp_path: Path) -> None:
    """A new release, virtualenv or data folder writes a file of its own: the old ones, and a
    killed writer's temporary, go at the next write; what is in use, or not this cache's, or
    not this user's, or a link, stays."""
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    source = tmp_path / "table.csv"
    source.write_text("a\n")
    old_release = compiled.cache_path(folder, "t", [tmp_path / "old.csv"])
    sibling = compiled.cache_path(folder, "t", [tmp_path / "sibling.csv"])  # another checkout
    killed = folder / f".{old_release.name}.k1ll3d_x.tmp"
    other_kind = compiled.cache_path(folder, "t-index", [tmp_path / "old.csv"])
    someone = compiled.cache_path(folder, "t", [tmp_path / "someone.csv"])
    outside = tmp_path / "outside.pickle"
    link = compiled.cache_path(folder, "t", [tmp_path / "link.csv"])
    for path in (old_release, sibling, killed, other_kind, someone, outside,
                 folder / "notes.txt"):
        path.write_bytes(b"old")
        _unused_for(path, 8)
    link.symlink_to(outside)
    _unused_for(link, 8)
    _unused_for(sibling, 6)  # read back six days ago: in use
    owned_by_another = hasattr(os, "geteuid") and os.geteuid() == 0
    if owned_by_another:
        os.chown(someone, 4242, 4242)
    assert compiled.compiled("t", [source], lambda: "built", directory=folder) == "built"
    left = {p.name for p in folder.iterdir()}
    assert old_release.name not in left and killed.name not in left
    assert {compiled.cache_path(folder, "t", [source]).name, sibling.name, other_kind.name,
            link.name, "notes.txt"} <= left
    assert (someone.name in left) is owned_by_another  # this user's own old file goes
    assert outside.read_bytes() == b"old" and link.is_symlink()


def test_a_file_read_back_counts_as_in_use(tmp_path: Path) -> None:
    """Two checkouts share the folder: one's file, read at every start and never rewritten,
    is not taken for a forgotten one when the other writes."""
    folder = tmp_path / "cache"
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("1\n")
    second.write_text("2\n")
    assert compiled.compiled("t", [first], lambda: 1, directory=folder) == 1
    stored = compiled.cache_path(folder, "t", [first])
    _unused_for(stored, 30)  # written a month ago...
    assert compiled.compiled("t", [first], lambda: -1, directory=folder) == 1  # ...read now
    assert compiled.compiled("t", [second], lambda: 2, directory=folder) == 2
    assert stored.exists()
    assert compiled.compiled("t", [first], lambda: -1, directory=folder) == 1


def test_unwritable_cache_folder_still_builds(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert compiled.compiled("t", [blocker], lambda: 7, directory=blocker / "sub") == 7


def test_geo_data_rebuilt_when_a_data_file_changes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("zip_county.csv", "zip_shares.csv", "ct_towns.csv", "counties.csv"):
        shutil.copy(DATA / name, data / name)
    cache = tmp_path / "cache"
    assert GeoData.compiled(data, cache).by_zip["19102"].city == "Philadelphia"
    table = data / "zip_county.csv"
    table.write_text(table.read_text().replace("19102,PA,Philadelphia,", "19102,PA,Filly,"))
    assert GeoData.compiled(data, cache).by_zip["19102"].city == "Filly"


def test_lookups_from_the_cache_equal_lookups_from_the_csv_files(
        tmp_path: Path, roster: Roster) -> None:
    built = Geo(roster, GeoData.load(DATA))
    GeoData.compiled(DATA, tmp_path)
    read_back = GeoData.compiled(DATA, tmp_path)  # from the file this time
    assert read_back is not built.data
    cached = Geo(roster, read_back)
    assert read_back.by_zip == built.data.by_zip
    assert dict(read_back.by_city) == dict(built.data.by_city)
    assert dict(read_back.by_other_city) == dict(built.data.by_other_city)
    sample = [*list(built.data.by_zip)[::97], "06484", "19102", "35020", "01331"]
    for address in [*sample, "Shelton, CT", "Springfield, IL", "Derby, CT 06418"]:
        assert cached.lookup(address) == built.lookup(address), address
    # The reference addresses (tests/fixtures/checks): the same counts either way.
    assert measure(cached) == measure(built)


def test_roster_from_the_cache_equals_the_file(tmp_path: Path, counties: Counties) -> None:
    path = DATA / "prosecutors.csv"
    fresh = load_roster(path, counties)
    load_roster(path, counties, cache_dir=tmp_path)
    cached = load_roster(path, counties, cache_dir=tmp_path)
    assert cached.offices == fresh.offices and cached.by_county == fresh.by_county
    assert [(o.places, dict(o.provenance)) for o in cached.all_offices] == \
        [(o.places, dict(o.provenance)) for o in fresh.all_offices]
    office = fresh.offices[0].office_id
    corrected = load_roster(path, counties, cache_dir=tmp_path,
                            overrides={office: {"officeholder": "Jane Doe"}})
    assert corrected.office(office).officeholder == "Jane Doe"  # not the cached roster


def test_a_corrupt_roster_cache_is_rebuilt(tmp_path: Path, counties: Counties) -> None:
    path = DATA / "prosecutors.csv"
    load_roster(path, counties, cache_dir=tmp_path)
    [stored] = tmp_path.glob("roster-*.pickle")
    stored.write_bytes(b"\x80\x05garbage")
    assert len(load_roster(path, counties, cache_dir=tmp_path)) == \
        len(load_roster(path, counties))
    assert pickle.loads(stored.read_bytes())[0] == compiled.cache_key(
        [path, path.with_name("prosecutors.sources.csv")],
        compiled.digest(({}, {}, counties.by_fips)))


@pytest.mark.parametrize("zip_code", ["19102", "06484"])
def test_cached_zip_rows_are_named_tuples_with_counties(tmp_path: Path, zip_code: str) -> None:
    GeoData.compiled(DATA, tmp_path)
    row = GeoData.compiled(DATA, tmp_path).by_zip[zip_code]
    assert row.zip == zip_code and row.counties[0] == row.county_fips


def test_zip_answers_from_the_cache_equal_the_built_ones(
        tmp_path: Path, counties: Counties, geo_data: GeoData) -> None:
    import pandas as pd

    from outreach.geo.by_zip import compiled_zip_answers, zip_answers

    path = DATA / "prosecutors.csv"
    roster = load_roster(path, counties, cache_dir=tmp_path)
    geo = Geo(roster, geo_data)
    compiled_zip_answers(geo, DATA, tmp_path)
    read_back = compiled_zip_answers(geo, DATA, tmp_path)
    pd.testing.assert_frame_equal(read_back, zip_answers(geo))
    office = roster.offices[0].office_id
    corrected = load_roster(path, counties, cache_dir=tmp_path,
                            overrides={office: {"officeholder": "Jane Doe"}})
    assert corrected.key and roster.key and corrected.key != roster.key
    assert load_roster(path, counties).key == ""  # no cache: nothing to key by


def test_every_module_of_the_package_is_in_every_key() -> None:
    """normalize_place (roster/offices.py) makes the geography's city and town keys and
    OUTSIDE_ROSTER (us/states.py) says which states have no offices: a key listing only the
    module that calls compiled() kept a stale file in use when they changed."""
    listed = {Path(p) for p, _, _ in compiled.package_modules()}
    package = ROOT / "outreach"
    assert {package / "roster" / "offices.py", package / "us" / "states.py",
            package / "geo" / "locate.py", package / "cli" / "__init__.py"} <= listed
    assert listed == set(package.rglob("*.py"))
    assert compiled.code_version() in compiled.cache_key([])


def test_geo_data_rebuilt_when_any_module_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A copy of the package stands for it, so a module can change without touching the tree
    # other test processes import from.
    package = tmp_path / "outreach"
    shutil.copytree(ROOT / "outreach", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(compiled, "PACKAGE", package)
    built: list[int] = []
    load = GeoData.load

    def counted(cls: type[GeoData], data_dir: Path) -> GeoData:
        built.append(1)
        return load(data_dir)

    monkeypatch.setattr(GeoData, "load", classmethod(counted))

    def start() -> GeoData:  # a new process: the code is looked at anew
        compiled.code_version.cache_clear()
        return GeoData.compiled(DATA, tmp_path / "cache")

    try:
        start()
        start()
        assert len(built) == 1
        for module in ("roster/offices.py", "us/states.py"):
            changed = package / module
            changed.write_text(changed.read_text() + "\n")
            assert start().by_zip["19102"].county_fips == "42101"
            start()
        assert len(built) == 3  # once per change, then read back
        (package / "geo" / "__pycache__").mkdir(exist_ok=True)
        (package / "geo" / "__pycache__" / "x.py").write_text("")  # not a module
        start()
        assert len(built) == 3
    finally:
        compiled.code_version.cache_clear()


def _planted(directory: Path, value: object, sources: list[Path]) -> Path:
    """A file under the name and key compiled() looks for, as another local user could write
    it (a pickle runs code when read: here it only holds the wrong value)."""
    directory.mkdir(exist_ok=True)
    path = compiled.cache_path(directory, "t", sources)
    path.write_bytes(pickle.dumps((compiled.cache_key(sources), value)))
    return path


def test_a_cache_folder_others_may_write_to_is_not_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "table.csv"
    source.write_text("a\n")
    shared = tmp_path / "shared"
    stored = _planted(shared, "planted", [source])
    stored.chmod(0o600)
    compiled._warn_shared.cache_clear()
    for mode in (0o770, 0o777, 0o1777):
        shared.chmod(mode)
        with caplog.at_level(logging.WARNING, logger="outreach.compiled"):
            assert compiled.compiled("t", [source], lambda: "built", directory=shared) == \
                "built"
    assert len(caplog.records) == 1  # warned once, not at every value
    assert "shared" not in caplog.text  # no path in the line
    assert pickle.loads(stored.read_bytes())[1] == "planted"  # nor written to
    shared.chmod(0o700)  # the same file in a private folder: read (the test plants right)
    assert compiled.compiled("t", [source], lambda: "built", directory=shared) == "planted"


def _planted_in_a_private_folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A source file, a private cache folder and a planted cache file for it in there."""
    source = tmp_path / "table.csv"
    source.write_text("a\n")
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    return source, folder, _planted(folder, "planted", [source])


def test_a_cache_file_others_may_write_to_is_not_read(tmp_path: Path) -> None:
    source, folder, stored = _planted_in_a_private_folder(tmp_path)
    stored.chmod(0o666)
    assert compiled.compiled("t", [source], lambda: "built", directory=folder) == "built"
    assert stored.stat().st_mode & 0o777 == 0o600  # written over with this user's own file
    assert compiled.compiled("t", [source], lambda: "again", directory=folder) == "built"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a file to another user needs root")
def test_a_cache_file_or_folder_of_another_user_is_not_read(tmp_path: Path) -> None:
    source, folder, stored = _planted_in_a_private_folder(tmp_path)
    stored.chmod(0o600)
    os.chown(stored, 4242, 4242)
    assert compiled.compiled("t", [source], lambda: "built", directory=folder) == "built"
    stored = _planted(folder, "planted", [source])
    os.chown(folder, 4242, 4242)
    assert compiled.compiled("t", [source], lambda: "built", directory=folder) == "built"


def test_the_cache_folder_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "cache"
    assert compiled.compiled("t", [], lambda: 7, directory=folder) == 7
    assert folder.stat().st_mode & 0o777 == 0o700
    assert compiled.compiled("t", [], lambda: 8, directory=folder) == 7  # and read back


# Python's own RuntimeError when there is no HOME and no passwd entry for the user (a
# container run under an arbitrary uid); this machine has the entry, so it is simulated.
NO_HOME = """
import pathlib
def home(cls=None):
    raise RuntimeError("Could not determine home directory.")
pathlib.Path.home = classmethod(home)
"""


def test_lookup_works_with_no_home_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HOME", "XDG_CACHE_HOME", "OUTREACH_CACHE_DIR")}
    env["OUTREACH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'absent.sqlite3'}"
    for cache in ({}, {"OUTREACH_CACHE_DIR": str(tmp_path / "cache")}):
        done = subprocess.run([sys.executable, "-c", NO_HOME + PROBE, "lookup", "19102",
                               "--json"], capture_output=True, text=True, cwd=ROOT,
                              timeout=120, env={**env, **cache})
        assert done.returncode == 0, done.stderr
        assert json.loads("\n".join(done.stdout.splitlines()[:-1]))["county_fips"] == "42101"
    assert {p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()} >= {"geo", "roster"}
