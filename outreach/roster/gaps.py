"""`outreach roster gaps`: the offices that serve the most signers and lack a contact (or have
a phone their callers reported wrong).

Data in, report out: the caller (the CLI) reads the audience and the bounced offices from the
store and picks the campaign's audience, so the roster layer needs neither campaigns nor SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date

import pandas as pd

from outreach.roster.coverage import stale_officeholders
from outreach.roster.offices import Roster


def gaps(frame: pd.DataFrame, roster: Roster, bounced: set[str], stale_days: int, day: date,
         *, campaign: str | None = None,
         wrong_numbers: Mapping[str, int] | None = None) -> dict[str, object]:
    """Offices ranked by how many matched signers of `frame` (the audience, with its
    felony_office_id and misdemeanor_office_id) they serve and lack a phone, an email or a
    current officeholder: the contacts worth finding first. `bounced`: the offices whose email
    bounced; `campaign`: the name the report gives the audience (None: every signer);
    `wrong_numbers`: office -> callers who reported its phone wrong on their call page since it
    was last corrected (outreach.campaigns.calls), listed as "number reported wrong"."""
    wrong_numbers = wrong_numbers or {}
    served = Counter(frame["felony_office_id"].dropna())
    served.update(frame["misdemeanor_office_id"].dropna())
    people = int(frame["felony_office_id"].notna().sum())
    stale = {o.office_id for o in stale_officeholders(roster, day, stale_days)}
    ranked: list[dict[str, object]] = []
    covered: Counter[str] = Counter()
    for office_id, count in served.most_common():
        try:
            office = roster.office(office_id)
        except KeyError:
            continue
        missing = [label for label, lacking in (
            ("phone", not office.phone), ("email", not office.email),
            ("current officeholder", office_id in stale),
            ("number reported wrong", bool(office.phone and wrong_numbers.get(office_id))))
            if lacking]
        for label, present in (("phone", office.phone), ("email", office.email),
                               ("website", office.website),
                               ("current officeholder", office_id not in stale)):
            if present and office.prosecutes_felonies:
                covered[label] += count
        if missing:
            ranked.append({"office_id": office_id, "office_name": office.office_name,
                           "state": office.state, "signers": count, "missing": missing,
                           "email_bounced": office_id in bounced,
                           "number_reported_wrong": wrong_numbers.get(office_id, 0),
                           "website": office.website})
    return {"signers_matched": people, "campaign": campaign,
            "share_covered": {label: round(covered[label] / people, 4) if people else 0.0
                              for label in ("phone", "email", "website",
                                            "current officeholder")},
            "offices": ranked}
