"""Benchmark: the scheduler's planning pass, incremental against a full pass (the baseline).

    python bench/planning.py --signers 50000 --new 100

Imports and matches N synthetic signers into a fresh SQLite store, launches the petition
campaign (its steps queued for everyone), runs the first scheduler pass (a full one), then
imports `new` more signers and times the next pass (incremental: only those) and a forced
full pass over everyone (what every minute's pass cost before), and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.campaigns.definitions import find_campaign  # noqa: E402
from outreach.campaigns.planner import launch, plan_active_campaigns, plan_campaign  # noqa: E402
from outreach.config import Settings  # noqa: E402
from outreach.geo.by_zip import zip_answers  # noqa: E402
from outreach.geo.current import build_geo  # noqa: E402
from outreach.signers.intake import intake  # noqa: E402
from outreach.signers.match import match  # noqa: E402
from outreach.store import runs  # noqa: E402
from outreach.store.db import open_store  # noqa: E402
from outreach.store.schema import signer_matches, signers  # noqa: E402

ZIPS = ["19107", "10001", "60601", "78701", "30303", "90012", "98101", "02108", "80202"]


def write_signers(path: Path, start: int, count: int) -> None:
    rng = random.Random(start)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,zip,sms_opt_in,phone\n")
        for i in range(start, start + count):
            handle.write(f"s{i}@example.org,{rng.choice(ZIPS)},yes,+1215{i:07d}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signers", type=int, default=50000)
    parser.add_argument("--new", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="outreach-planning-"))
    engine = open_store(f"sqlite:///{folder / 'bench.sqlite3'}")
    settings = Settings.from_env({"OUTREACH_DATA_DIR": str(ROOT / "data")})
    geo = build_geo(settings)
    by_zip = zip_answers(geo)
    write_signers(folder / "signers.csv", 0, args.signers)
    intake(folder / "signers.csv", engine)
    match(engine, geo, by_zip=by_zip)
    campaign = find_campaign(ROOT / "jobs", "marijuana_justice")
    now = datetime.now(UTC)
    launch(engine, plan_campaign(engine, campaign, now, timedelta(0), roster=geo.roster), now)
    plan_active_campaigns(engine, ROOT / "jobs", geo.roster, now)  # the first pass: full
    with engine.begin() as connection:  # as if they signed yesterday, not seconds ago
        connection.execute(signers.update().values(updated_at=now - timedelta(days=1)))
        connection.execute(signer_matches.update().values(matched_at=now - timedelta(days=1)))

    write_signers(folder / "new.csv", args.signers, args.new)
    intake(folder / "new.csv", engine)
    match(engine, geo, by_zip=by_zip)
    started = time.perf_counter()
    incremental = plan_active_campaigns(engine, ROOT / "jobs", geo.roster,
                                        now + timedelta(minutes=1))
    incremental_seconds = time.perf_counter() - started
    runs.mark_planned(engine, campaign.name, now - timedelta(days=2), full=True)  # force full
    started = time.perf_counter()
    full = plan_active_campaigns(engine, ROOT / "jobs", geo.roster, now + timedelta(minutes=2))
    full_seconds = time.perf_counter() - started

    def planned(result: dict) -> int:
        return sum(s["planned"] for s in result.get(campaign.name, {}).values())

    def queued(result: dict) -> int:
        return sum(s["queued_now"] for s in result.get(campaign.name, {}).values())

    print(json.dumps({
        "signers": args.signers + args.new, "new_signers": args.new,
        "incremental": {"seconds": round(incremental_seconds, 3),
                        "messages_planned": planned(incremental),
                        "queued_now": queued(incremental)},
        "full_baseline": {"seconds": round(full_seconds, 3), "messages_planned": planned(full),
                          "queued_now": queued(full)},
        "ratio": round(full_seconds / incremental_seconds, 1)}, indent=2))


if __name__ == "__main__":
    main()
