"""The stable `outreach.render.sms_segments` (DESIGN.md): rendering itself lives in
`outreach.campaigns.render`, segment counting in `outreach.campaigns.sms`."""

from outreach.campaigns.sms import SmsSegments, sms_segments

__all__ = ["SmsSegments", "sms_segments"]
