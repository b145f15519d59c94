"""Where an address is: ZIP and address look-ups, the Census geocoder, the current geography.

`outreach.geo.lookup(address)` is part of the stable Python API (DESIGN.md); it and its types are
re-exported here, loaded on first use so that importing a submodule (the geocoder, say) does not
load the ZIP index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outreach.geo.locate import AddressError, Geo, Lookup, lookup

__all__ = ["AddressError", "Geo", "Lookup", "lookup"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from outreach.geo import locate

        return getattr(locate, name)
    raise AttributeError(f"module 'outreach.geo' has no attribute {name!r}")
