"""The stored match fields of a lookup answer, and those answers for every ZIP code at once
(the table the signer matcher joins to)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from outreach.geo.locate import Geo, Lookup, geo_files
from outreach.us.compiled import compiled, digest

if TYPE_CHECKING:
    import pandas as pd


def answer_columns(answer: Lookup) -> dict[str, Any]:
    """The stored match fields for one lookup answer (text or None; Any, as pandas cells are)."""
    offices = answer.offices
    felony = next((o for o in offices if o["handles"] != "misdemeanor"), None)
    misdemeanor = next((o for o in offices if o["handles"] == "misdemeanor"), None)
    return {
        "county_fips": answer.county_fips,
        "time_zone": answer.time_zone,
        "felony_office_id": felony["office_id"] if felony else None,
        "misdemeanor_office_id": misdemeanor["office_id"] if misdemeanor else None,
        "office_ids": ";".join(o["office_id"] for o in offices) or None,
        # Likeliest first: the thanks page's county picker lists them in this order.
        "candidate_counties": ";".join(c.county_fips for c in answer.candidates)
        if len(answer.candidates) > 1 else None,
        "confidence": answer.confidence,
        "share": answer.share,
    }


def zip_answers(geo: Geo) -> pd.DataFrame:
    """The match fields for every ZIP code, plus whether the signer's town can change the
    answer (the matcher then looks that signer up with their town)."""
    import pandas as pd  # the matcher's join table; a lookup never needs it

    records = []
    for row, answer in geo.zip_lookups():
        record = answer_columns(answer)
        record["zip"] = row.zip
        record["zip_state"] = row.state
        record["town_decides"] = geo.town_may_decide(row, answer)
        records.append(record)
    frame = pd.DataFrame(records).set_index("zip")
    # Object, not float: the matcher writes None (no share) into it, as into the text columns.
    frame["share"] = frame["share"].astype(object)
    return frame


def compiled_zip_answers(geo: Geo, data_dir: Path, cache_dir: Path | None) -> pd.DataFrame:
    """`zip_answers(geo)` from the compiled cache (outreach/us/compiled.py) when the data
    files, the package's code and the roster's offices in force are those it was stored
    from: the web app and the scheduler make these 40,000 answers at every start (seconds of
    CPU, and a frame's worth of records at the peak) for a table that changes with the roster
    (its `key`: files, corrections and day) and OUTREACH_ZIP_MIN_SHARE."""
    if not geo.roster.key:  # a roster not loaded through the cache: nothing to key it by
        return zip_answers(geo)
    return compiled("by-zip", geo_files(data_dir), lambda: zip_answers(geo), directory=cache_dir,
                    extra=digest((geo.roster.key, geo.zip_min_share)))
