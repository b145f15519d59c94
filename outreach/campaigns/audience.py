"""A campaign's audience: the signers its filters keep (state, county, office, source, signing
dates, match confidence, the match's share of the ZIP, their prosecutor's stance, a limit),
from the audience frame the store reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import cast

import pandas as pd

from outreach.campaigns.definitions import Audience, Campaign
from outreach.roster.stances import OfficeStance

NO_PROSECUTOR = "stance filter: no prosecutor matched"


def select_audience(frame: pd.DataFrame, campaign: Campaign,
                    stances: Mapping[str, OfficeStance] | None = None) -> pd.DataFrame:
    """The signers the campaign's audience filters keep (vectorized). `stances`: the offices'
    current stances (outreach.roster.stances.current_stances), for a stance filter; an office
    absent from it stands at unknown."""
    return audience_and_left_out(frame, campaign, stances)[0]


def audience_and_left_out(frame: pd.DataFrame, campaign: Campaign,
                          stances: Mapping[str, OfficeStance] | None = None
                          ) -> tuple[pd.DataFrame, Counter[str]]:
    """The audience, and how many signers the filters would keep but `min_share` or the
    stance filter leaves out, by reason (`outreach plan` shows them; the other filters say who
    the audience is, these who is too uncertain to be in it, or whose prosecutor already
    stands where the campaign does not need to reach: "stance filter: prosecutor's drop
    stance is yes")."""
    audience = campaign.audience
    keep = pd.Series(True, index=frame.index)
    if audience.states:
        keep &= frame["state"].isin(audience.states)
    if audience.counties:
        keep &= frame["county_fips"].isin(audience.counties)
    if audience.office_ids:
        offices = frame["office_ids"].fillna("").str.split(";")
        keep &= offices.apply(lambda ids: bool(set(ids) & set(audience.office_ids)))
    if audience.sources:
        keep &= frame["source"].isin(audience.sources)
    signed = pd.to_datetime(frame["signed_at"], utc=True)
    if audience.signed_after:
        keep &= signed.dt.date >= audience.signed_after
    if audience.signed_before:
        keep &= signed.dt.date < audience.signed_before
    keep &= frame["confidence"].fillna("none").isin(audience.confidence)
    left_out: Counter[str] = Counter()
    if audience.min_share is not None:
        share = pd.to_numeric(frame["share"], errors="coerce")
        unknown = keep & share.isna()
        below = keep & share.notna() & (share < audience.min_share)
        left_out[f"share of the ZIP below min_share {audience.min_share:g}"] = int(below.sum())
        left_out["no share for the match (a city, an ambiguous ZIP, a ZIP without shares)"] \
            = int(unknown.sum())
        keep &= ~(unknown | below)
    reasons = stance_reasons(frame, audience, stances or {})
    left_out.update(cast(dict[str, int], reasons[keep & (reasons != "")]
                         .value_counts().to_dict()))
    keep &= reasons == ""
    chosen = frame[keep].sort_values("signed_at", kind="stable")
    kept = chosen.head(audience.limit) if audience.limit else chosen
    return kept, Counter({reason: n for reason, n in left_out.items() if n})


def stance_reasons(frame: pd.DataFrame, audience: Audience,
                   stances: Mapping[str, OfficeStance]) -> pd.Series:
    """Why the audience's stance filter leaves each signer out ("" for those it keeps): the
    filter reads the signer's felony office, the prosecutor the templates' `stance` is of;
    a signer with no matched office has no prosecutor's stance to keep."""
    reason = pd.Series("", index=frame.index)
    if not audience.filters_by_stance:
        return reason
    office = frame["felony_office_id"]
    reason = reason.mask(office.isna(), NO_PROSECUTOR)
    for demand, allowed in audience.stance.demands().items():
        values = _mapped(office, {o: s.of(demand) for o, s in stances.items()})
        reason = reason.mask((reason == "") & ~values.isin(allowed),
                             f"stance filter: prosecutor's {demand} stance is " + values)
    if audience.stance_summary:
        summaries = _mapped(office, {o: s.summary for o, s in stances.items()})
        reason = reason.mask((reason == "") & ~summaries.isin(audience.stance_summary),
                             "stance filter: prosecutor's stance is " + summaries)
    return reason


def _mapped(office: pd.Series, values: Mapping[str, str]) -> pd.Series:
    """Each signer's office's value (an office nobody recorded: unknown), as text."""
    return office.map(values).astype("object").fillna("unknown")
