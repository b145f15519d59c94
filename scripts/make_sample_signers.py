#!/usr/bin/env python3
"""Write data/sample_signers.csv: the demo's petition export (deterministic, synthetic).

A few hundred signers across every state, drawn from real ZIP codes, in the shape petition
platforms export (mixed header names, some phones, SMS consent for some), followed by
data/sources/sample_signers_hand.csv: hand-written rows that show intake's checks (a typo'd
email, a foreign address, a duplicate with newer data, a formula cell, an ambiguous ZIP...).
"""

from __future__ import annotations

import csv
import random
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Esperanza", "Femi", "Grace", "Hiro", "Imani", "José",
         "Kai", "Li", "María", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma",
         "Víctor", "Wen", "Xavier", "Yara", "Zoe"]
LAST = ["Smith", "García", "Nguyen", "O'Brien", "Johnson", "Kowalski", "Okafor", "Lee", "Brown",
        "Martínez", "Patel", "Williams", "Kim", "Davis", "Jones", "Müller", "Chen", "Wilson"]
SYNTHETIC = 300
AREA_CODES = ["202", "312", "415", "512", "617", "702", "404"]


def ascii_name(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def main() -> None:
    random.seed(2026)
    with (ROOT / "data" / "zip_county.csv").open(encoding="utf-8") as handle:
        zips = [r for r in csv.DictReader(handle)
                if r["zip_type"] == "STANDARD" and r["active"] == "1"]
    by_state: dict[str, list[dict]] = {}
    for row in zips:
        by_state.setdefault(row["state"], []).append(row)
    states = sorted(by_state)
    start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    hand = (ROOT / "data" / "sources" / "sample_signers_hand.csv").read_text(encoding="utf-8")
    header, *hand_rows = hand.splitlines()
    out = ROOT / "data" / "sample_signers.csv"
    with out.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle, lineterminator="\n")
        for i in range(SYNTHETIC):
            place = random.choice(by_state[states[i % len(states)]])
            first, last = random.choice(FIRST), random.choice(LAST)
            has_phone = random.random() < 0.5
            # 555-0100..0199: numbers reserved for fiction, one per signer.
            area = AREA_CODES[i % len(AREA_CODES)]
            phone = f"({area}) 555-{100 + (i // len(AREA_CODES)) % 100:04d}" if has_phone else ""
            writer.writerow([
                first, last, f"{ascii_name(first)}.{ascii_name(last)}.{i}@example.org", phone,
                f"{random.randint(1, 9999)} {random.choice(['Main', 'Oak', 'Elm'])} St",
                place["city"], place["state"], place["zip"],
                ("yes" if random.random() < 0.7 else "no") if has_phone else "",
                (start + timedelta(hours=3 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                random.choice(["website", "facebook", "email", "instagram"])])
        for row in hand_rows:
            handle.write(row + "\n")
    print(f"wrote {out}: {SYNTHETIC} synthetic rows and {len(hand_rows)} hand-written rows")


if __name__ == "__main__":
    main()
