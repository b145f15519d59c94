"""Compiled data: what a process builds from the shipped data files (the ZIP index, the
validated roster), kept on disk so the next process reads it back instead of building it.

Parsing data/zip_county.csv and data/prosecutors.csv and indexing them took about 2 s of every
`outreach lookup`, web start and worker start (issue 18), for a result that changes only when
a data file or the code that reads it does. `compiled()` keys what it stores by the source
files' paths, sizes and modification times (the data files and the modules that build from
them, so a code change rebuilds too), the Python version, plus any `extra` key the caller passes
(the corrections laid over the roster): a change to any of them, a file that cannot be read
back, or one that is not this cache's at all is rebuilt, never trusted. The file is written
to a temporary name in the same folder and renamed over the old one (os.replace is atomic on
POSIX and Windows), so two processes starting together each read a whole file, never one
half written. A cache folder that cannot be written is no error: the value is built and used.

Pickle, because the values are plain dicts, tuples and frozen dataclasses and reading them
back is the fastest of the measured choices (bench/startup.py). A pickle runs code when read,
so the folder must be this deployment's own (OUTREACH_CACHE_DIR, default
$XDG_CACHE_HOME/outreach), as its data folder is.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Bumped when the layout of a stored file changes in a way the code key would not see.
FORMAT = 1


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/outreach, else ~/.cache/outreach (the XDG Base Directory default)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "outreach"


def _fingerprint(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def digest(value: Any) -> str:
    """A short hash of a value made of dicts, tuples, strings and dataclasses (an `extra`
    key: the corrections in force, the counties), by its repr: equal values give the same
    key however their objects are shared (a pickle's bytes depend on that)."""
    return hashlib.blake2b(repr(value).encode(), digest_size=16).hexdigest()


def cache_key(sources: Iterable[Path], extra: str = "") -> tuple[Any, ...]:
    """What a stored value was built from: a missing source raises (FileNotFoundError), as
    building from it would."""
    return (FORMAT, sys.version_info[:2],
            tuple(_fingerprint(Path(p)) for p in sources), extra)


def cache_path(directory: Path, name: str, sources: Iterable[Path]) -> Path:
    """One file per name and set of source paths: two checkouts (or two data folders) sharing
    a cache folder do not overwrite each other's file at every start."""
    where = hashlib.blake2b("\0".join(str(Path(p).resolve()) for p in sources).encode(),
                            digest_size=6).hexdigest()
    return directory / f"{name}-{where}.pickle"


def _read(path: Path, key: tuple[Any, ...]) -> tuple[bool, Any]:
    # The collector paused while reading: hundreds of thousands of new containers would
    # otherwise trigger it again and again for nothing (they are all alive), which took half
    # the read's time (measured: 0.57 s -> 0.29 s for the ZIP index).
    enabled = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as handle:
            stored = pickle.load(handle)
    except FileNotFoundError:
        return False, None
    except Exception:  # truncated, corrupt, or written by other code: rebuilt, never trusted
        return False, None
    finally:
        if enabled:
            gc.enable()
    if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key):
        return False, None
    return True, stored[1]


def _write(path: Path, key: tuple[Any, ...], value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
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


def compiled(name: str, sources: Iterable[Path], build: Callable[[], T], *,
             directory: Path | None, extra: str = "") -> T:
    """`build()`'s value, read from the cache when it was stored from the same `sources`
    (paths, sizes, mtimes) and `extra` by this version; built and stored otherwise.
    `directory` None: no cache (build every time)."""
    if directory is None:
        return build()
    sources = tuple(Path(p) for p in sources)
    key = cache_key(sources, extra)
    path = cache_path(directory, name, sources)
    found, value = _read(path, key)
    if found:
        return value  # type: ignore[no-any-return]
    value = build()
    _write(path, key, value)
    return value
