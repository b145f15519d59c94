"""Compiled data: what a process builds from the shipped data files (the ZIP index, the
validated roster), kept on disk so the next process reads it back instead of building it.

Parsing data/zip_county.csv and data/prosecutors.csv and indexing them took about 2 s of every
`outreach lookup`, web start and worker start (issue 18), for a result that changes only when
a data file or the code that reads it does. `compiled()` keys what it stores by the source
files' paths, sizes and modification times, every module of the package the same way (what
builds a value reaches well past the module that calls `compiled()`: roster/offices.py's
normalize_place makes the geography's city keys, us/states.py says which states the roster
leaves out; listing some of them let a change to another keep a stale file in use), the Python
version, plus any `extra` key the caller passes (the corrections laid over the roster): a
change to any of them, a file that cannot be read back, or one that is not this cache's at all
is rebuilt, never trusted. The file is written
to a temporary name in the same folder and renamed over the old one (os.replace is atomic on
POSIX and Windows), so two processes starting together each read a whole file, never one
half written. A cache folder that cannot be written is no error: the value is built and used.

The name holds the package's and the sources' paths, not their contents: a new release in a
new folder, a new virtualenv, a data folder moved or a command module added makes a new file
and leaves the old one behind. So each write also removes this user's files of the same kind
(the same `name`) that no process has read or written for UNUSED_AFTER, and temporary files
left by a writer that was killed: a file that is read back has its modification time
refreshed, so the file of another checkout sharing the folder, still in use, stays.

Pickle, because the values are plain dicts, tuples and frozen dataclasses and reading them
back is the fastest of the measured choices (bench/startup.py). A pickle runs code when read
(the pickle module's own warning: "never unpickle data received from an untrusted source"), and
the names here are predictable, so a file is read only from a folder this user owns that no
one else may write to, and only when the file is this user's and writable by no one else
(OUTREACH_CACHE_DIR, default $XDG_CACHE_HOME/outreach, is made 0o700): otherwise the value is
built, as without a cache, and one warning says why. With no home folder to put the default
under (Path.home() raises RuntimeError: HOME unset and no passwd entry) there is no cache.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import logging
import os
import pickle
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("outreach.compiled")

# Bumped when the layout of a stored file changes in a way the code key would not see.
FORMAT = 1
# The outreach package: every module in it is part of every key.
PACKAGE = Path(__file__).resolve().parent.parent
# Group or others may write: another local user could put a file of their own in its place.
_SHARED = stat.S_IWGRP | stat.S_IWOTH
# A file of one kind no process read or wrote for this long is removed at that kind's next
# write: a week covers a checkout or release left unused over a weekend, which pays one
# rebuild (seconds) when it is used again.
UNUSED_AFTER = timedelta(days=7)
_WHERE_BYTES = 6  # the paths' hash in a file's name: 12 hex digits


def default_cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/outreach, else ~/.cache/outreach (the XDG Base Directory default);
    None (no cache) when there is no home folder: Path.home() raises RuntimeError when HOME is
    unset and the user has no passwd entry (a container run under an arbitrary uid), and a
    cache is no reason for every command to fail."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if base:
        return Path(base) / "outreach"
    try:
        return Path.home() / ".cache" / "outreach"
    except RuntimeError:
        return None


def _fingerprint(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return str(path.resolve()), status.st_size, status.st_mtime_ns


def package_modules() -> list[tuple[str, int, int]]:
    """Every module of the package: (path, size, modification time), sorted. os.scandir,
    not Path.rglob, whose Path objects cost several times as much."""
    found: list[tuple[str, int, int]] = []
    folders = [str(PACKAGE)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append(entry.path)
                elif entry.name.endswith(".py"):
                    status = entry.stat()
                    found.append((entry.path, status.st_size, status.st_mtime_ns))
    return sorted(found)


@functools.cache
def code_version() -> str:
    """A hash of every module of the package, worked out once per process (about 150 stat
    calls): any code change, wherever it is, rebuilds every stored value."""
    return digest(package_modules())


def digest(value: Any) -> str:
    """A short hash of a value made of dicts, tuples, strings and dataclasses (an `extra`
    key: the corrections in force, the counties), by its repr: equal values give the same
    key however their objects are shared (a pickle's bytes depend on that)."""
    return hashlib.blake2b(repr(value).encode(), digest_size=16).hexdigest()


def cache_key(sources: Iterable[Path], extra: str = "") -> tuple[Any, ...]:
    """What a stored value was built from (the data `sources`, the package's code, `extra`):
    a missing source raises (FileNotFoundError), as building from it would."""
    return (FORMAT, sys.version_info[:2], code_version(),
            tuple(_fingerprint(Path(p)) for p in sources), extra)


def cache_path(directory: Path, name: str, sources: Iterable[Path]) -> Path:
    """One file per name, package and set of source paths: two checkouts (or two data
    folders) sharing a cache folder do not overwrite each other's file at every start."""
    paths = [str(PACKAGE), *(str(Path(p).resolve()) for p in sources)]
    where = hashlib.blake2b("\0".join(paths).encode(), digest_size=_WHERE_BYTES).hexdigest()
    return directory / f"{name}-{where}.pickle"


def _own_files(name: str) -> re.Pattern[str]:
    """The names cache_path and _write give files of kind `name`: `NAME-HASH.pickle` and its
    temporaries `.NAME-HASH.pickle.RANDOM.tmp`; nothing else in the folder (another kind
    whose name begins with this one's, a user's own file) ever matches."""
    stored = rf"{re.escape(name)}-[0-9a-f]{{{2 * _WHERE_BYTES}}}\.pickle"
    return re.compile(rf"{stored}|\.{stored}\.\w+\.tmp")


def _private(status: os.stat_result) -> bool:
    """This user's, and writable by no one else: what may be unpickled. Without POSIX users
    (Windows: no os.geteuid) the folder is the user's own profile's, as the OS decides."""
    if not hasattr(os, "geteuid"):
        return True
    return status.st_uid == os.geteuid() and not status.st_mode & _SHARED


@functools.cache
def _warn_shared() -> None:
    """Once per process: every command and worker start would otherwise repeat it."""
    log.warning("compiled cache not used: its folder or a file in it is another user's or "
                "writable by others (OUTREACH_CACHE_DIR must be this user's, mode 0700); "
                "building the data instead")


def _folder_private(directory: Path) -> bool | None:
    """True: the folder may be read from; False: it is shared or another user's (warned);
    None: there is none (yet)."""
    try:
        status = directory.stat()
    except OSError:
        return None
    if stat.S_ISDIR(status.st_mode) and _private(status):
        return True
    _warn_shared()
    return False


def _read(path: Path, key: tuple[Any, ...]) -> tuple[bool, Any]:
    # The collector paused while reading: hundreds of thousands of new containers would
    # otherwise trigger it again and again for nothing (they are all alive), which took half
    # the read's time (measured: 0.57 s -> 0.29 s for the ZIP index).
    enabled = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as handle:
            # The open file's own status: the file checked is the file read.
            if not _private(os.fstat(handle.fileno())):
                _warn_shared()
                return False, None  # built, and written over with this user's own file
            stored = pickle.load(handle)
            if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key):
                return False, None
            _used(handle.fileno())
    except FileNotFoundError:
        return False, None
    except Exception:  # truncated, corrupt, or written by other code: rebuilt, never trusted
        return False, None
    finally:
        if enabled:
            gc.enable()
    return True, stored[1]


def _used(descriptor: int) -> None:
    """A file read back is in use: its modification time says so, or another checkout's
    write would take it for a forgotten one after UNUSED_AFTER (_sweep). A folder that
    cannot be written (a read-only mount) keeps the old time: no error, nor where a file's
    time cannot be set through its descriptor (Windows: NotImplementedError)."""
    with contextlib.suppress(OSError, NotImplementedError):
        os.utime(descriptor)


def _sweep(directory: Path, name: str, kept: Path) -> None:
    """Remove this user's files of kind `name` in `directory`, other than `kept`, that were
    not read or written for UNUSED_AFTER (their modification time). Only regular files,
    judged by lstat: a symbolic link is neither followed nor removed, and nothing but this
    cache's own names is touched. Called after a write, in a folder _write found private."""
    own = _own_files(name)
    cutoff = time.time() - UNUSED_AFTER.total_seconds()
    user = os.geteuid() if hasattr(os, "geteuid") else None
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name == kept.name or not own.fullmatch(entry.name):
                    continue
                try:
                    status = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(status.st_mode) and status.st_mtime < cutoff and \
                            (user is None or status.st_uid == user):
                        os.unlink(entry.path)
                except OSError:
                    continue  # gone meanwhile, or not ours to remove: left as it is
    except OSError:
        return


def _write(path: Path, name: str, key: tuple[Any, ...], value: Any) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _folder_private(path.parent):  # made by another user since it was looked at
            return
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                                 suffix=".tmp")
    except OSError:
        return  # a read-only cache folder: build every time, as before the cache
    try:
        with os.fdopen(descriptor, "wb") as handle:
            pickle.dump((key, value), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)  # readers see the old file or the new one, whole
    except Exception:
        Path(temporary).unlink(missing_ok=True)
        return
    _sweep(path.parent, name, path)


def compiled(name: str, sources: Iterable[Path], build: Callable[[], T], *,
             directory: Path | None, extra: str = "") -> T:
    """`build()`'s value, read from the cache when it was stored from the same `sources`
    (paths, sizes, mtimes) and `extra` by this code; built and stored otherwise.
    `directory` None: no cache (build every time); a folder another user owns or may write
    to: built, neither read nor written."""
    if directory is None:
        return build()
    sources = tuple(Path(p) for p in sources)
    key = cache_key(sources, extra)
    path = cache_path(directory, name, sources)
    private = _folder_private(directory)
    if private is False:
        return build()
    if private:
        found, value = _read(path, key)
        if found:
            return value  # type: ignore[no-any-return]
    value = build()
    _write(path, name, key, value)
    return value
