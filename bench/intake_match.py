"""Benchmark: intake + match of N synthetic signers into SQLite, against a naive baseline.

    python bench/intake_match.py --rows 1000000

Generates a CSV of N signers (about 5% bad rows, 10% duplicates of earlier signers with newer
data, ZIP codes drawn across all states), imports it with `outreach.intake.intake` and matches it
with `outreach.match.match` in a child process (so its peak RSS is its own), then runs a naive
row-by-row version (the same libraries, one row at a time, one SELECT/INSERT/UPDATE per row)
on a smaller N in the same run, and prints one JSON object with both and their ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Empty

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Esperanza", "Femi", "Grace", "Hiro", "Imani", "José",
         "Kai", "Li", "María", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq"]
LAST = ["Smith", "García", "Nguyen", "O'Brien", "Johnson", "Kowalski", "Okafor", "Lee", "Brown",
        "Martínez", "Patel", "Williams", "Kim", "Davis", "Jones", "Müller", "Chen", "Wilson"]
AREA_CODES = ["205", "212", "215", "303", "312", "404", "415", "503", "512", "602", "617", "702",
              "713", "801", "907", "919", "206", "305", "414", "615"]
BAD_ROWS = [
    lambda: ["Bad", "Email", "not-an-email", "", "1 Main St", "Austin", "TX", "78701", ""],
    lambda: ["No", "Contact", "", "", "1 Main St", "Austin", "TX", "78701", ""],
    lambda: ["Foreign", "Signer", f"f{random.random()}@example.ca", "", "1 Main", "Toronto",
             "ON", "M5V 2T6", ""],
    lambda: ["Bad", "Phone", "", "555-1234", "", "", "", "", ""],
    lambda: ["Puerto", "Rico", f"p{random.random()}@example.com", "", "", "San Juan", "PR",
             "00901", ""],
]
HEADER = ["first_name", "last_name", "email", "phone", "address", "city", "state", "zip",
          "signed_at"]


def generate(path: Path, rows: int, seed: int = 7) -> dict[str, int]:
    """Write a synthetic signer file; return how many rows of each kind it holds."""
    random.seed(seed)
    with (ROOT / "data" / "zip_county.csv").open() as handle:
        zips = [(r["zip"], r["city"], r["state"]) for r in csv.DictReader(handle)
                if r["zip_type"] == "STANDARD"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = {"good": 0, "duplicate": 0, "bad": 0}
    written: list[list[str]] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            roll = random.random()
            if roll < 0.05:
                writer.writerow(random.choice(BAD_ROWS)())
                kinds["bad"] += 1
                continue
            if roll < 0.15 and written:
                row = list(random.choice(written))
                row[3] = f"({random.choice(AREA_CODES)}) {random.randint(200, 999)}-" \
                         f"{random.randint(0, 9999):04d}" if random.random() < 0.5 else ""
                row[8] = (start + timedelta(days=300, seconds=i)).isoformat()
                writer.writerow(row)
                kinds["duplicate"] += 1
                continue
            zip_code, city, state = random.choice(zips)
            first, last = random.choice(FIRST), random.choice(LAST)
            phone = f"{random.choice(AREA_CODES)}{random.randint(200, 999)}" \
                    f"{random.randint(0, 9999):04d}" if random.random() < 0.6 else ""
            row = [first, last, f"{first}.{last}.{i}@example{i % 97}.org".lower(), phone,
                   f"{random.randint(1, 9999)} Main St", city, state, zip_code,
                   (start + timedelta(seconds=i * 7)).isoformat()]
            writer.writerow(row)
            kinds["good"] += 1
            if len(written) < 50_000:
                written.append(row)
    return kinds


def _child(path: str, db_url: str, queue: multiprocessing.Queue) -> None:
    from outreach.config import Settings
    from outreach.geo.current import build_geo
    from outreach.signers.intake import intake
    from outreach.signers.match import match
    from outreach.store.db import open_store

    engine = open_store(db_url)
    started = time.perf_counter()
    summary = intake(Path(path), engine)
    intake_seconds = time.perf_counter() - started
    geo = build_geo(Settings.from_env({}))
    started = time.perf_counter()
    matched = match(engine, geo)
    match_seconds = time.perf_counter() - started
    queue.put({
        "intake": summary.to_dict(), "match": matched.to_dict(),
        "intake_seconds": intake_seconds, "match_seconds": match_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_pool_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    })


def run_engine(path: Path, db_path: Path) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(str(path), f"sqlite:///{db_path}", queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=1)
            break
        except Empty:
            if not process.is_alive():
                raise SystemExit(
                    f"the engine run failed (exit code {process.exitcode})") from None
    process.join()
    return result


def run_naive(path: Path, db_path: Path) -> dict:
    """What a small team writes first: one row at a time, one statement per row."""
    import phonenumbers
    from email_validator import EmailNotValidError, validate_email

    from outreach.config import Settings
    from outreach.geo.current import build_geo
    from outreach.geo.locate import AddressError

    connection = sqlite3.connect(db_path)
    connection.execute("CREATE TABLE signers (id INTEGER PRIMARY KEY, email TEXT UNIQUE, "
                       "phone TEXT, first_name TEXT, last_name TEXT, street TEXT, city TEXT, "
                       "state TEXT, zip TEXT, signed_at TEXT, county_fips TEXT, office_ids TEXT)")
    started = time.perf_counter()
    rows = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows += 1
            try:
                email = validate_email(row["email"], check_deliverability=False).normalized
            except EmailNotValidError:
                email = None
            phone = None
            if row["phone"]:
                try:
                    number = phonenumbers.parse(row["phone"], "US")
                    if phonenumbers.is_valid_number(number):
                        phone = phonenumbers.format_number(
                            number, phonenumbers.PhoneNumberFormat.E164)
                except phonenumbers.NumberParseException:
                    pass
            if not email and not phone:
                continue
            found = connection.execute("SELECT id FROM signers WHERE email = ?",
                                       (email,)).fetchone()
            if found:
                connection.execute("UPDATE signers SET phone = COALESCE(?, phone), "
                                   "signed_at = ? WHERE id = ?",
                                   (phone, row["signed_at"], found[0]))
            else:
                connection.execute(
                    "INSERT INTO signers (email, phone, first_name, last_name, street, city, "
                    "state, zip, signed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (email, phone, row["first_name"], row["last_name"], row["address"],
                     row["city"], row["state"], row["zip"], row["signed_at"]))
            connection.commit()
    intake_seconds = time.perf_counter() - started
    geo = build_geo(Settings.from_env({}))
    started = time.perf_counter()
    signers = connection.execute("SELECT id, zip FROM signers").fetchall()
    for signer_id, zip_code in signers:
        try:
            answer = geo.lookup(zip_code)
        except AddressError:
            continue
        connection.execute("UPDATE signers SET county_fips = ?, office_ids = ? WHERE id = ?",
                           (answer.county_fips,
                            ";".join(o["office_id"] for o in answer.offices), signer_id))
        connection.commit()
    match_seconds = time.perf_counter() - started
    connection.close()
    return {"rows": rows, "intake_seconds": intake_seconds, "match_seconds": match_seconds,
            "signers": len(signers)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="keep the files in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        big, small = folder / "signers.csv", folder / "signers_small.csv"
        kinds = generate(big, args.rows)
        generate(small, min(args.baseline_rows, args.rows), seed=11)
        engine = run_engine(big, folder / "engine.sqlite3")
        naive = run_naive(small, folder / "naive.sqlite3")
    rows = args.rows
    intake_rps = rows / engine["intake_seconds"]
    match_rps = engine["match"]["signers"] / engine["match_seconds"]
    naive_intake_rps = naive["rows"] / naive["intake_seconds"]
    naive_match_rps = naive["signers"] / naive["match_seconds"]
    result = {
        "rows": rows,
        "generated": kinds,
        "intake": {k: engine["intake"][k] for k in ("rows", "imported", "duplicates", "rejected")},
        "match": {k: engine["match"][k] for k in ("signers", "matched", "ambiguous", "unmatched",
                                                   "with_felony_office")},
        "intake_seconds": round(engine["intake_seconds"], 2),
        "match_seconds": round(engine["match_seconds"], 2),
        "total_seconds": round(engine["intake_seconds"] + engine["match_seconds"], 2),
        "intake_rows_per_s": round(intake_rps),
        "match_rows_per_s": round(match_rps),
        "peak_rss_mib": round(engine["peak_rss_mib"]),
        "peak_rss_pool_worker_mib": round(engine["peak_rss_pool_worker_mib"]),
        "baseline": {
            "rows": naive["rows"],
            "intake_seconds": round(naive["intake_seconds"], 2),
            "match_seconds": round(naive["match_seconds"], 2),
            "intake_rows_per_s": round(naive_intake_rps),
            "match_rows_per_s": round(naive_match_rps),
            "scaled_total_seconds_for_rows": round(rows / naive_intake_rps
                                                   + rows / naive_match_rps, 1),
        },
        "ratio_intake": round(intake_rps / naive_intake_rps, 1),
        "ratio_match": round(match_rps / naive_match_rps, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
