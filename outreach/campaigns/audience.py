"""A campaign's audience: the signers its filters keep (state, county, office, source, signing
dates, match confidence, the match's share of the ZIP, a limit), from the audience frame the
store reads."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from outreach.campaigns.definitions import Campaign


def select_audience(frame: pd.DataFrame, campaign: Campaign) -> pd.DataFrame:
    """The signers the campaign's audience filters keep (vectorized)."""
    return audience_and_left_out(frame, campaign)[0]


def audience_and_left_out(frame: pd.DataFrame, campaign: Campaign
                          ) -> tuple[pd.DataFrame, Counter[str]]:
    """The audience, and how many signers the filters would keep but `min_share` leaves out,
    by reason (`outreach plan` shows them; the other filters say who the audience is, this one
    who is too uncertain to be in it)."""
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
    chosen = frame[keep].sort_values("signed_at", kind="stable")
    kept = chosen.head(audience.limit) if audience.limit else chosen
    return kept, Counter({reason: n for reason, n in left_out.items() if n})
