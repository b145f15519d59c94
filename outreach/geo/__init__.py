"""Where an address is: ZIP and address look-ups, the Census geocoder, the current geography.

`outreach.geo.lookup(address)` is part of the stable Python API (DESIGN.md); it and its types are
re-exported here, loaded on first use so that importing a submodule (the geocoder, say) does not
load the ZIP index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outreach.errors import AddressError
    from outreach.geo.current import lookup
    from outreach.geo.locate import Geo, Lookup

__all__ = ["AddressError", "Geo", "Lookup", "lookup"]

# lookup() sits with the cached default geography it answers from; the types with the lookup;
# the error with every deliberate error.
_HOMES = {"AddressError": "outreach.errors", "Geo": "outreach.geo.locate",
          "Lookup": "outreach.geo.locate", "lookup": "outreach.geo.current"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'outreach.geo' has no attribute {name!r}")
