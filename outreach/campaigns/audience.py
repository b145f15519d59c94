"""A campaign's audience: the signers its filters keep (state, county, office, source, signing
dates, match confidence, a limit), from the audience frame the store reads."""

from __future__ import annotations

import pandas as pd

from outreach.campaigns.definitions import Campaign


def select_audience(frame: pd.DataFrame, campaign: Campaign) -> pd.DataFrame:
    """The signers the campaign's audience filters keep (vectorized)."""
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
    chosen = frame[keep].sort_values("signed_at", kind="stable")
    return chosen.head(audience.limit) if audience.limit else chosen
