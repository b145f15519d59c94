#!/usr/bin/env python3
"""Build the scoreboard's county map (outreach/web/static/us-counties.json) from us-atlas.

Input: the npm package `us-atlas@3.0.1` (ISC licence, Mike Bostock), fetched with `npm pack`:
its counties-albers-10m.json is the Census Bureau's 2017 cartographic county boundaries as
TopoJSON, already projected (d3.geoAlbersUsa, Alaska and Hawaii moved beside the lower 48),
simplified and quantized for a 975x610 picture. The PyPI package `topojson` turns the topology's
shared arcs into each county's polygons; this script only writes them as SVG path strings:

  {"source": ..., "license": ..., "width": 3900, "height": 2440,
   "counties": {"42101": "M...z", ...},   # one path per county FIPS
   "states": "M...z",                     # every state outline, for the borders
   "shared": {"02261": ["02063", "02066"]}}

Coordinates are integers in quarter pixels of the atlas's 975x610 picture (so the viewBox is
3900x2440), each path's first point absolute and the rest relative (`l`): about 290 KB for all
3,142 counties, where the atlas's TopoJSON is 795 KB.

County lists differ: the atlas (2017) still has Alaska's Valdez-Cordova Census Area (02261),
which the Census split in 2019 into Chugach (02063) and Copper River (02066), the two our
roster (2020 list, data/counties.csv) has. The map draws 02261's shape for both (`shared`);
the web page colors it by both areas' offices (both are the Palmer DA's). Connecticut is the
same in both: the 8 historical counties (09001-09015), not the 2022 planning regions.

Usage: pip install -e '.[build-map]' && python scripts/build_map.py [--atlas FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "outreach" / "web" / "static" / "us-counties.json"
ATLAS_NPM_PACKAGE = "us-atlas@3.0.1"
ATLAS_FILE = "counties-albers-10m.json"
ATLAS_WIDTH, ATLAS_HEIGHT = 975, 610
QUANTUM = 4  # units per atlas pixel: a quarter pixel, finer than any screen shows the map
# Atlas county (2017) -> the roster's counties (2020 list) that its shape stands for.
SHARED_SHAPES: dict[str, tuple[str, ...]] = {"02261": ("02063", "02066")}

Point = tuple[float, float]


def fetch_atlas(dest: Path) -> tuple[Path, str]:
    """`npm pack` us-atlas into dest; return its projected counties file and its licence."""
    subprocess.run(["npm", "pack", ATLAS_NPM_PACKAGE, "--silent", "--pack-destination",
                    str(dest)], check=True, stdout=subprocess.DEVNULL)
    tarball = next(dest.glob("us-atlas-*.tgz"))
    with tarfile.open(tarball) as archive:
        for name in (ATLAS_FILE, "LICENSE"):
            archive.extract(f"package/{name}", dest, filter="data")
    return dest / "package" / ATLAS_FILE, (dest / "package" / "LICENSE").read_text()


def ring_path(ring: Sequence[Sequence[float]], quantum: int = QUANTUM) -> str:
    """One closed ring as an SVG subpath: `M x y` then relative `l dx dy...`, then `z`.

    Points are rounded first and the steps taken between rounded points, so rounding errors
    never add up along a ring; a step of zero (two points rounding to one) is dropped, and so is
    the ring's closing point (the `z` draws that side)."""
    points = [(round(x * quantum), round(y * quantum)) for x, y, *_ in ring]
    kept = [points[0]]
    for point in points[1:]:
        if point != kept[-1]:
            kept.append(point)
    if len(kept) > 1 and kept[-1] == kept[0]:
        kept.pop()
    parts = [f"M{kept[0][0]} {kept[0][1]}"]
    if len(kept) > 1:
        steps = [(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(kept)]
        parts.append("l" + _numbers(n for step in steps for n in step))
    return "".join(parts) + "z"


def _numbers(values: Iterable[int]) -> str:
    """Integers as SVG path data: a space between them unless the next one's minus sign
    separates them already ("3-4 5")."""
    text = ""
    for value in values:
        if text and value >= 0:
            text += " "
        text += str(value)
    return text


def geometry_path(geometry: dict[str, object], quantum: int = QUANTUM) -> str:
    """A GeoJSON Polygon or MultiPolygon (holes included) as one SVG path (fill-rule
    evenodd draws the holes whatever the rings' winding)."""
    kind, coordinates = geometry["type"], geometry["coordinates"]
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"a county is a Polygon or MultiPolygon, not {kind}")
    return "".join(ring_path(ring, quantum) for polygon in polygons  # type: ignore[attr-defined]
                   for ring in polygon)


def features(topology: dict[str, object], name: str) -> list[dict[str, object]]:
    """One object of the topology as GeoJSON features, by the `topojson` package."""
    import topojson  # the build-map extra; the engine itself never imports it

    objects = topology["objects"]
    assert isinstance(objects, dict)
    single = {"type": "Topology", "arcs": topology["arcs"], "transform": topology["transform"],
              "objects": {name: objects[name]}}
    found: list[dict[str, object]] = json.loads(
        topojson.Topology(single, object_name=name).to_geojson())["features"]
    return found


def build(atlas: Path, license_text: str, roster_counties: set[str]) -> dict[str, object]:
    topology = json.loads(atlas.read_text())
    counties = {str(f["id"]): geometry_path(f["geometry"])  # type: ignore[arg-type]
                for f in features(topology, "counties")}
    states = "".join(geometry_path(f["geometry"])  # type: ignore[arg-type]
                     for f in features(topology, "states"))
    covered = set(counties) | {c for shared in SHARED_SHAPES.values() for c in shared}
    if missing := sorted(roster_counties - covered):
        raise SystemExit(f"the atlas has no shape for the roster's counties {missing}: "
                         "add them to SHARED_SHAPES or use a newer atlas")
    unknown = sorted(set(counties) - roster_counties - set(SHARED_SHAPES))
    if unknown:
        raise SystemExit(f"the atlas has counties the roster does not: {unknown}")
    return {"source": f"npm {ATLAS_NPM_PACKAGE} {ATLAS_FILE} (Census Bureau cartographic "
                      "boundaries, 2017; d3.geoAlbersUsa)",
            "license": license_text.strip(),
            "width": ATLAS_WIDTH * QUANTUM, "height": ATLAS_HEIGHT * QUANTUM,
            "counties": dict(sorted(counties.items())), "states": states,
            "shared": {k: list(v) for k, v in SHARED_SHAPES.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atlas", type=Path, help=f"{ATLAS_FILE} (default: npm pack)")
    parser.add_argument("--license", type=Path, help="the atlas's LICENSE (with --atlas)")
    args = parser.parse_args()
    with (ROOT / "data" / "counties.csv").open(encoding="utf-8") as handle:
        roster_counties = {row["county_fips"] for row in csv.DictReader(handle)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.atlas:
            atlas, license_text = args.atlas, args.license.read_text() if args.license else ""
        else:
            atlas, license_text = fetch_atlas(Path(tmp))
        shapes = build(atlas, license_text, roster_counties)
    OUT.write_text(json.dumps(shapes, separators=(",", ":")) + "\n", encoding="utf-8")
    counties = shapes["counties"]
    assert isinstance(counties, dict)
    print(f"{OUT.relative_to(ROOT)}: {len(counties)} county shapes, "
          f"{OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
