"""`outreach roster gaps`: the offices that serve the most signers and lack a contact."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import Engine

from outreach.campaigns.definitions import Campaign
from outreach.roster.corrections import bounced_offices
from outreach.roster.coverage import stale_officeholders
from outreach.roster.offices import Roster
from outreach.store.signers import audience_frame


def gaps(engine: Engine, roster: Roster, stale_days: int, day: date,
         campaign: Campaign | None = None) -> dict[str, object]:
    """Offices ranked by how many matched signers (of the campaign's audience) they serve and
    lack a phone, an email or a current officeholder: the contacts worth finding first."""
    from outreach.campaigns.planner import select_audience

    with engine.connect() as connection:
        frame = audience_frame(connection)
    if campaign is not None:
        frame = select_audience(frame, campaign)
    served = Counter(frame["felony_office_id"].dropna())
    served.update(frame["misdemeanor_office_id"].dropna())
    people = int(frame["felony_office_id"].notna().sum())
    stale = {o.office_id for o in stale_officeholders(roster, day, stale_days)}
    bounced = bounced_offices(engine)
    ranked, covered = [], Counter()
    for office_id, count in served.most_common():
        try:
            office = roster.office(office_id)
        except KeyError:
            continue
        missing = [label for label, lacking in (
            ("phone", not office.phone), ("email", not office.email),
            ("current officeholder", office_id in stale)) if lacking]
        for label, present in (("phone", office.phone), ("email", office.email),
                               ("website", office.website),
                               ("current officeholder", office_id not in stale)):
            if present and office.prosecutes_felonies:
                covered[label] += count
        if missing:
            ranked.append({"office_id": office_id, "office_name": office.office_name,
                           "state": office.state, "signers": count, "missing": missing,
                           "email_bounced": office_id in bounced,
                           "website": office.website})
    return {"signers_matched": people, "campaign": campaign.name if campaign else None,
            "share_covered": {label: round(covered[label] / people, 4) if people else 0.0
                              for label in ("phone", "email", "website",
                                            "current officeholder")},
            "offices": ranked}
