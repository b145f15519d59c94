"""The scoreboard's map of U.S. counties, drawn as SVG on the server.

The shapes are the npm package us-atlas@3.0.1's counties (Census Bureau cartographic boundaries,
2017, in d3.geoAlbersUsa), turned into one SVG path per county by scripts/build_map.py and
shipped in static/us-counties.json (ISC licence; data/README.md). No script and no CDN draws
it: the page is whole without JavaScript, and the browser loads nothing from elsewhere.

Each county is a <path>, in a group per stance whose class gives its color (the colors and
the partial hatching are in static/scoreboard.css, as the Content-Security-Policy allows no
inline style), with a <title> that a browser shows on hover: the county, its prosecutor's
stance and its number of signers, in words. To a screen reader the map is one image (role
img) named by its title and described by its counts per stance; the table says the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

SHAPES = Path(__file__).parent / "static" / "us-counties.json"


@dataclass(frozen=True)
class CountyShapes:
    width: int
    height: int
    paths: dict[str, str]  # atlas county FIPS -> SVG path
    states: str  # every state's outline, one path
    shared: dict[str, tuple[str, ...]]  # atlas county -> the roster counties its shape stands for
    source: str
    license: str

    def counties_of(self, shape: str) -> tuple[str, ...]:
        """The roster counties one shape is drawn for (itself, but for the atlas's older
        Alaska census area that the Census split since)."""
        return self.shared.get(shape, (shape,))

    def shape_of(self) -> dict[str, str]:
        """Roster county FIPS -> the shape it is drawn with."""
        return {county: shape for shape in self.paths for county in self.counties_of(shape)}


@cache
def load_shapes(path: Path = SHAPES) -> CountyShapes:
    found = json.loads(path.read_text(encoding="utf-8"))
    return CountyShapes(found["width"], found["height"], found["counties"], found["states"],
                        {k: tuple(v) for k, v in found["shared"].items()}, found["source"],
                        found["license"])


@dataclass(frozen=True)
class MapCounty:
    """One shape as the map draws it."""

    shape: str  # the atlas FIPS (the element's id is county-<shape>)
    summary: str  # committed | partial | not_committed | unknown: its group's class s-<summary>
    text: str  # the hover text


def map_svg(shapes: CountyShapes, counties: Iterable[MapCounty], title: str,
            description: str) -> str:
    """The whole map: a labelled image, a shape per county, the state borders on top."""
    parts = [f'<svg id="county-map" class="county-map" role="img" '
             f'viewBox="0 0 {shapes.width} {shapes.height}" '
             f'aria-labelledby="map-title map-desc" xmlns="http://www.w3.org/2000/svg">'
             f'<title id="map-title">{escape(title)}</title>'
             f'<desc id="map-desc">{escape(description)}</desc>'
             # Partial: stripes of the committed color, so it reads apart from the solid
             # colors in grey-scale and for color-blind readers too.
             '<defs><pattern id="hatch-partial" patternUnits="userSpaceOnUse" width="24" '
             'height="24" patternTransform="rotate(45)"><rect class="hatch-bg" width="24" '
             'height="24"/><rect class="hatch-fg" width="11" height="24"/></pattern></defs>'
             '<g class="counties">']
    by_summary: dict[str, list[MapCounty]] = {}
    for county in counties:
        by_summary.setdefault(county.summary, []).append(county)
    for summary, group in by_summary.items():
        # One group per stance: the class (and the color) is said once, not 3,142 times.
        parts.append(f'<g class="s-{summary}">')
        parts.extend(f'<path id="county-{c.shape}" d="{shapes.paths[c.shape]}">'
                     f'<title>{escape(c.text)}</title></path>' for c in group)
        parts.append("</g>")
    parts.append(f'</g><path class="state-borders" d="{shapes.states}"/></svg>')
    return "".join(parts)
