"""Measure: the share of the U.S. population living in ZIP codes whose felony office is unknown.

    python bench/zip_ambiguity.py [--data-dir DIR] [--population FILE] [--min-share 0.95]

For every ZIP code the engine knows, the matcher's own per-ZIP answer (`geo.by_zip.zip_answers`,
what a signer who gave only a ZIP gets) either names a felony office or does not: the ZIP is
"office-ambiguous" when it does not (its counties are served by different felony offices and
no office holds enough of it, or its county is split between offices by town and the ZIP's
town names disagree). Each ZIP weighs the 2020 Census population of its ZCTA (the `pop2020`
column of data/zip_shares.csv, from Geocorr 2022); ZIPs without a ZCTA (PO boxes, one
organization's ZIP) have no residents of their own and weigh nothing.

Runs against any checkout of the engine: `--data-dir` picks the data files it answers from and
`--population` the file the weights come from, so the figure before the ZIP shares existed is
`PYTHONPATH=OLD_CHECKOUT python bench/zip_ambiguity.py --data-dir OLD_CHECKOUT/data`.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))

from outreach.config import Settings  # noqa: E402
from outreach.geo.by_zip import zip_answers  # noqa: E402
from outreach.geo.current import build_geo  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd


def zcta_population(path: Path) -> dict[str, int]:
    """ZIP -> the 2020 population of its ZCTA (the sum of its county pieces)."""
    population: dict[str, int] = defaultdict(int)
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["pop2020"]:
                population[row["zip"]] += int(row["pop2020"])
    return dict(population)


def office_ambiguity(answers: pd.DataFrame, population: dict[str, int]) -> dict[str, Any]:
    """The figures for the per-ZIP answers `answers` (zip_answers), ZIPs weighed by
    `population` (zcta_population); tests/unit/test_lookup_accuracy.py holds the shipped
    data to issue 16's bar with it."""
    people = Counter[str]()
    zips = Counter[str]()
    misplaced = 0.0  # residents of resolved ZIPs living outside the answer (the share's rest)
    for zip_code, felony, confidence, share in zip(
            answers.index, answers["felony_office_id"], answers["confidence"],
            answers["share"], strict=True):
        kind = "office_known" if isinstance(felony, str) else "office_ambiguous"
        if kind == "office_known" and share is not None and share == share:  # not NaN
            misplaced += population.get(zip_code, 0) * (1 - float(share))
        zips[kind] += 1
        zips[f"confidence_{confidence}"] += 1
        people[kind] += population.get(zip_code, 0)
        people[f"confidence_{confidence}"] += population.get(zip_code, 0)
    counted = sum(population.get(z, 0) for z in answers.index)
    return {
        "zips": len(answers),
        "population_in_zctas": sum(population.values()),
        "population_counted": counted,
        "office_ambiguous_zips": zips["office_ambiguous"],
        "office_ambiguous_population": people["office_ambiguous"],
        "office_ambiguous_share": round(people["office_ambiguous"] / counted, 4),
        # The price of a lower OUTREACH_ZIP_MIN_SHARE: of the U.S. population, the share a
        # bare ZIP places in a county (or office) they do not live in, by the sources' shares.
        "expected_misplaced_share": round(misplaced / counted, 4),
        "by_confidence": {k.removeprefix("confidence_"): {"zips": v, "population": people[k]}
                          for k, v in sorted(zips.items()) if k.startswith("confidence_")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--population", type=Path, default=ROOT / "data" / "zip_shares.csv")
    parser.add_argument("--min-share", help="OUTREACH_ZIP_MIN_SHARE for this run")
    args = parser.parse_args()
    env = {**os.environ, "OUTREACH_DATA_DIR": str(args.data_dir)}
    if args.min_share:
        env["OUTREACH_ZIP_MIN_SHARE"] = args.min_share
    population = zcta_population(args.population)
    started = time.perf_counter()
    answers = zip_answers(build_geo(Settings.from_env(env)))
    seconds = time.perf_counter() - started
    print(json.dumps({
        "data_dir": str(args.data_dir),
        "min_share": env.get("OUTREACH_ZIP_MIN_SHARE", "default"),
        **office_ambiguity(answers, population),
        "zip_answers_seconds": round(seconds, 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
