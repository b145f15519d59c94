"""The inbox folder (OUTREACH_INBOX_DIR): signer files dropped there are imported once each.

A file moves inbox/ -> inbox/processing/ (an atomic rename: no other run takes it) -> intake
-> inbox/processed/ with its rejects and warnings reports, or inbox/failed/ with a
`.error.txt` saying why in one line (no row data): whatever went wrong with the file, so that
one bad file never blocks those after it (audit F7: one stayed in processing/ and was retried
first, and failed, on every run). Only a store that does not answer (OperationalError: down,
disk full) leaves the file in processing/ for the next run, since that is not the file's fault.
A sidecar `<file>.map` dropped with it (lines `HEADER=FIELD`, as `outreach intake --map` takes
them) maps its columns, over OUTREACH_INTAKE_MAP's; it travels with the file. A crash
mid-import leaves the file in processing/, where the next run takes it again; the content hash
in the imports table tells a file that was already imported to the end (moved to processed/
without importing it twice), and re-importing a half-imported file is harmless: intake merges
rows it has seen into the same signers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from outreach.errors import ConfigError, IntakeError
from outreach.store.signers import imported_before

if TYPE_CHECKING:  # intake (pandas) loads with the first file to import: `waiting` needs none
    from outreach.signers.intake import IntakeLimits

log = logging.getLogger("outreach.inbox")

SETTLE_SECONDS = 2.0  # a file written to in the last moments may still be arriving
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")
REPORT_SUFFIXES = (".rejects.csv", ".warnings.csv")
MAP_SUFFIX = ".map"  # a sidecar beside the file it maps: signers.csv.map


@dataclass
class InboxResult:
    file: str
    outcome: str  # imported | already imported | failed
    detail: dict[str, object]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _arrivals(inbox: Path, settle_seconds: float) -> list[Path]:
    cutoff = time.time() - settle_seconds
    return sorted(p for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(IGNORED_SUFFIXES + REPORT_SUFFIXES
                                          + (MAP_SUFFIX,))
                  and p.stat().st_mtime <= cutoff)


def _unique(folder: Path, name: str) -> Path:
    """folder/name, or folder/name with a timestamp if a file of that name is there already."""
    target = folder / name
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{Path(name).stem}.{stamp}{Path(name).suffix}"
    return target


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + MAP_SUFFIX)


def _move(path: Path, target: Path) -> None:
    """Rename a file and its sidecar map, if it has one."""
    if _sidecar(path).exists():
        _sidecar(path).rename(_sidecar(target))
    path.rename(target)


def _file_away(path: Path, folder: Path) -> Path:
    """Move a file, its sidecar and the reports intake wrote beside it."""
    folder.mkdir(exist_ok=True)
    target = _unique(folder, path.name)
    for suffix in REPORT_SUFFIXES:
        report = path.with_name(path.stem + suffix)
        if report.exists():
            report.rename(folder / (target.stem + suffix))
    _move(path, target)
    return target


def waiting(inbox: Path, settle_seconds: float = SETTLE_SECONDS) -> bool:
    """Whether process_inbox has anything to do now: a settled arrival, a file a crash left
    in processing/, or no inbox folder yet (the pass makes it). The scheduler asks before it
    starts a pass in a process of its own (ops/scheduler.py, FRAME_ACTIONS)."""
    processing = inbox / "processing"
    if not processing.is_dir():
        return True
    return bool(_arrivals(inbox, settle_seconds) or _arrivals(processing, 0.0))


def process_inbox(engine: Engine, inbox: Path, settle_seconds: float = SETTLE_SECONDS,
                  mapping: str = "", limits: IntakeLimits | None = None,
                  zips: Container[str] | None = None) -> list[InboxResult]:
    """Import every settled file in the inbox (and any a crash left in processing/).

    mapping: OUTREACH_INTAKE_MAP, `HEADER=FIELD` items separated by `;`, applied to every
    file that has the header; limits: OUTREACH_INTAKE_MAX_FIELD and _MAX_COLUMNS (None:
    intake's defaults); zips: the ZIP codes the geography knows (intake's default: those of
    OUTREACH_DATA_DIR).

    A bad OUTREACH_INTAKE_MAP is the deployment's mistake, not the files': it raises one
    ConfigError naming the setting before any file moves (parsed inside each file's import, one
    typo filed every arriving file under failed/)."""
    from outreach.signers.intake import DEFAULT_LIMITS, parse_mapping

    limits = limits or DEFAULT_LIMITS
    try:
        standing = parse_mapping(mapping.split(";"))
    except IntakeError as error:
        raise ConfigError(f"OUTREACH_INTAKE_MAP: {str(error).removeprefix('--map ')}") from None
    processing = inbox / "processing"
    processing.mkdir(parents=True, exist_ok=True)
    for arrival in _arrivals(inbox, settle_seconds):
        _move(arrival, _unique(processing, arrival.name))
    results = []
    for path in _arrivals(processing, 0.0):
        results.append(_import_one(engine, inbox, path, standing, limits, zips))
    return results


def _import_one(engine: Engine, inbox: Path, path: Path, standing: dict[str, str],
                limits: IntakeLimits, zips: Container[str] | None = None) -> InboxResult:
    from outreach.signers.intake import intake, parse_mapping

    digest = sha256_of(path)
    with engine.connect() as connection:
        if imported_before(connection, digest):
            moved = _file_away(path, inbox / "processed")
            log.info("inbox: %s was imported before; filed as %s", path.name, moved.name)
            return InboxResult(path.name, "already imported", {"moved_to": str(moved)})
    try:
        sidecar = _sidecar(path)
        own = parse_mapping(sidecar.read_text(encoding="utf-8-sig").splitlines()) \
            if sidecar.exists() else None
        summary = intake(path, engine, sha256=digest, mapping=own, default_mapping=standing,
                         limits=limits, zips=zips)
    except OperationalError:
        raise  # the store, not the file: it stays in processing/ for the next run
    except Exception as error:  # whatever it is, the next file goes on
        if isinstance(error, IntakeError):
            reason = str(error).splitlines()[0] if str(error) else "IntakeError"
            log.warning("inbox: %s failed: %s", path.name, reason)
        else:  # its text may quote a row: the file says what, the (masked) log the rest
            reason = f"unexpected {type(error).__name__} while importing; the log has details"
            log.error("inbox: %s failed", path.name, exc_info=True)
        moved = _file_away(path, inbox / "failed")
        moved.with_name(moved.name + ".error.txt").write_text(f"{reason}\n", encoding="utf-8")
        return InboxResult(path.name, "failed", {"error": reason, "moved_to": str(moved)})
    moved = _file_away(path, inbox / "processed")
    for key, suffix in (("rejects_file", ".rejects.csv"), ("warnings_file", ".warnings.csv")):
        if getattr(summary, key):
            setattr(summary, key, str(moved.with_name(moved.stem + suffix)))
    log.info("inbox: %s: %d rows, %d imported, %d duplicates, %d rejected", path.name,
             summary.rows, summary.imported, summary.duplicates, summary.rejected)
    return InboxResult(path.name, "imported", {**summary.to_dict(), "moved_to": str(moved)})
