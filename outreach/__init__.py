"""outreach: reach every local chief prosecutor through their own voters.

The stable Python API (DESIGN.md) is re-exported here and in its historical homes,
`outreach.geo.lookup` and `outreach.render.sms_segments`; the names load on first use, so that
`outreach --version` does not import pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outreach.campaigns.sms import SmsSegments, sms_segments
    from outreach.errors import AddressError
    from outreach.geo.current import lookup
    from outreach.geo.locate import Lookup

__version__ = "0.1.0"
__all__ = ["AddressError", "Lookup", "SmsSegments", "__version__", "lookup", "sms_segments"]

_HOMES = {"AddressError": "outreach.errors", "Lookup": "outreach.geo.locate",
          "lookup": "outreach.geo.current", "SmsSegments": "outreach.campaigns.sms",
          "sms_segments": "outreach.campaigns.sms"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'outreach' has no attribute {name!r}")
