"""The scoreboard's county map: the vendored shapes cover the roster's counties (but a listed
few), the build step's path encoding is exact, the stance colors contrast, and a county's
summary and the public counts follow their rules (issue 17.4)."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path

import pytest

from outreach.privacy import public_count, public_rank
from outreach.roster.stances import OfficeStance, StanceStatement
from outreach.web.county_map import SHAPES, MapCounty, load_shapes, map_svg
from outreach.web.scoreboard import combined_summary

ROOT = Path(__file__).resolve().parents[2]
# Drawn with the atlas's Valdez-Cordova (02261), which the Census split in 2019.
DRAWN_WITH_ANOTHER_SHAPE = {"02063": "02261", "02066": "02261"}
# Independent cities of Virginia the atlas (simplified for a 975x610 picture) reduces to a
# line: on the map they are a hover target of no area; the table lists their offices.
NO_AREA = {"51610", "51678", "51685"}  # Falls Church, Lexington, Manassas Park
# The atlas puts the westernmost Aleutian islands (Aleutians West's Near and Rat Islands) left
# of its 975x610 picture, as d3's own maps of it do: the viewBox cuts them off.
PARTLY_OUTSIDE = {"02016"}


def _build_map():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_map", ROOT / "scripts" / "build_map.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_map"] = module
    spec.loader.exec_module(module)
    return module


build_map = _build_map()


def points(path: str) -> list[list[tuple[int, int]]]:
    """Each subpath's absolute points, read back from `M x y l dx dy ... z`."""
    rings = []
    for subpath in re.findall(r"M[^M]*", path):
        numbers = [int(n) for n in re.findall(r"-?\d+", subpath)]
        x, y = numbers[0], numbers[1]
        ring = [(x, y)]
        for dx, dy in zip(numbers[2::2], numbers[3::2], strict=True):
            x, y = x + dx, y + dy
            ring.append((x, y))
        rings.append(ring)
    return rings


def area(path: str) -> float:
    return sum(abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(r, r[1:] + r[:1],
                                                              strict=True))) / 2
               for r in points(path))


def test_every_roster_county_has_a_shape_but_the_listed_few():
    shapes = load_shapes()
    with (ROOT / "data" / "counties.csv").open() as handle:
        roster = {row["county_fips"] for row in csv.DictReader(handle)}
    drawn = shapes.shape_of()
    assert set(drawn) == roster  # every county is drawn, and nothing else
    moved = {county: shape for county, shape in drawn.items() if county != shape}
    assert moved == DRAWN_WITH_ANOTHER_SHAPE
    assert set(shapes.paths) == roster - set(moved) | set(moved.values())
    # Connecticut: the 8 historical counties, as the roster (not the 2022 planning regions).
    assert sorted(f for f in shapes.paths if f.startswith("09")) == \
        [f"090{n:02d}" for n in range(1, 16, 2)]


def test_every_shape_lies_in_the_picture_and_has_an_area_but_the_listed_few():
    shapes = load_shapes()
    outside: dict[str, int] = {}
    for fips, path in shapes.paths.items():
        for ring in points(path):
            if not all(0 <= x <= shapes.width and 0 <= y <= shapes.height for x, y in ring):
                outside[fips] = outside.get(fips, 0) + 1
    assert set(outside) == PARTLY_OUTSIDE
    assert outside["02016"] < len(points(shapes.paths["02016"]))  # some of it is on the map
    assert {fips for fips, path in shapes.paths.items() if area(path) == 0} == NO_AREA
    # Equal-area: Los Angeles County (4,058 sq mi of land) is some 30 times Philadelphia (134).
    assert 25 < area(shapes.paths["06037"]) / area(shapes.paths["42101"]) < 35


def test_the_shipped_file_stays_small():
    assert SHAPES.stat().st_size < 400_000
    assert "ISC" in load_shapes().license or "Permission to use" in load_shapes().license


def test_a_ring_is_written_with_steps_between_rounded_points():
    ring = [(0.1, 0.1), (10.13, 0.2), (10.2, 0.2), (10.1, 5.37), (0.1, 0.1)]
    path = build_map.ring_path(ring, 4)
    # (0,0) (41,1) (41,1) dropped, (40,21); the closing point is the z.
    assert path == "M0 0l41 1-1 20z"
    back = points(path)[0]
    assert back == [(round(x * 4), round(y * 4)) for x, y in (ring[0], ring[1], ring[3])]


def test_rounding_errors_do_not_add_up_along_a_long_ring():
    ring = [(i * 0.37, (i % 7) * 0.29) for i in range(2000)]
    back = points(build_map.ring_path(ring, 4))[0]
    assert back[-1] == (round(ring[-1][0] * 4), round(ring[-1][1] * 4))


def test_a_multipolygon_with_a_hole_is_one_path():
    square = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    hole = [[1, 1], [1, 2], [2, 2], [2, 1], [1, 1]]
    geometry = {"type": "MultiPolygon", "coordinates": [[square, hole], [square]]}
    assert build_map.geometry_path(geometry, 1) == \
        "M0 0l4 0 0 4-4 0zM1 1l0 1 1 0 0-1zM0 0l4 0 0 4-4 0z"
    with pytest.raises(ValueError, match="not Point"):
        build_map.geometry_path({"type": "Point", "coordinates": [0, 0]}, 1)


def test_the_topojson_package_decodes_shared_and_reversed_arcs():
    pytest.importorskip("topojson", reason="the build-map extra (pip install -e '.[build-map]')")
    # Two unit squares sharing the arc x=1 (arc 0, upward); the right one walks it downward
    # (~0 = -1). Arcs are delta-encoded, as in a quantized topology.
    topology = {"type": "Topology", "transform": {"scale": [1, 1], "translate": [0, 0]},
                "arcs": [[[1, 0], [0, 1]], [[1, 1], [-1, 0], [0, -1], [1, 0]],
                         [[1, 0], [1, 0], [0, 1], [-1, 0]]],
                "objects": {"counties": {"type": "GeometryCollection", "geometries": [
                    {"type": "Polygon", "arcs": [[0, 1]], "id": "left"},
                    {"type": "Polygon", "arcs": [[2, -1]], "id": "right"}]}}}
    found = {f["id"]: f["geometry"] for f in build_map.features(topology, "counties")}
    assert build_map.geometry_path(found["left"], 1) == "M1 0l0 1-1 0 0-1z"
    assert build_map.geometry_path(found["right"], 1) == "M1 0l1 0 0 1-1 0z"


def luminance(color: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_stance_colors_contrast_with_the_page_and_the_unknown_grey():
    css = (ROOT / "outreach" / "web" / "static" / "scoreboard.css").read_text()
    fill = dict(re.findall(r"\.s-([a-z_]+) \{ fill: (#[0-9a-f]{6})", css))
    hatch = re.search(r"\.hatch-fg \{ fill: (#[0-9a-f]{6})", css).group(1)
    assert set(fill) == {"committed", "not_committed", "unknown"}  # partial: the hatching
    assert "fill: url(#hatch-partial)" in css and hatch == fill["committed"]
    for stance in ("committed", "not_committed"):
        assert contrast(fill[stance], "#ffffff") >= 4.5  # WCAG 1.4.11 asks 3:1
        assert contrast(fill[stance], fill["unknown"]) >= 3
    assert contrast(hatch, fill["unknown"]) >= 3  # the stripes stand out of the grey


def _stance(**values: str) -> OfficeStance:
    from datetime import date
    return OfficeStance("x", {d: StanceStatement("x", d, v, "https://x.org", date(2026, 1, 1))  # type: ignore[arg-type]
                              for d, v in values.items()})


def test_a_county_of_several_felony_offices_is_committed_only_if_all_are():
    committed = _stance(expunge="yes", drop="yes", divert="yes")
    assert combined_summary([committed]) == "committed"
    assert combined_summary([committed, committed]) == "committed"
    assert combined_summary([committed, _stance()]) == "partial"
    assert combined_summary([_stance(drop="no"), _stance()]) == "not_committed"
    assert combined_summary([_stance(), _stance()]) == "unknown"
    assert combined_summary([]) == "unknown"  # no felony office on the roster


def test_public_counts_hide_the_few():
    assert [public_count(n) for n in (0, 1, 4, 5, 1234)] == \
        ["fewer than 5"] * 3 + ["5", "1,234"]
    assert [public_rank(n) for n in (0, 3, 4, 5, 9)] == [0, 0, 0, 5, 9]


def test_the_map_escapes_its_text_and_groups_counties_by_stance():
    shapes = load_shapes()
    svg = map_svg(shapes, [MapCounty("42101", "committed", "A <b> & C"),
                           MapCounty("42003", "unknown", "x"),
                           MapCounty("42045", "committed", "y")], "T & t", "D")
    assert "<title>A &lt;b&gt; &amp; C</title>" in svg and "T &amp; t" in svg
    assert svg.count('<g class="s-committed">') == 1
    committed = svg.split('<g class="s-committed">')[1].split("</g>")[0]
    assert 'id="county-42101"' in committed and 'id="county-42045"' in committed
    assert 'id="county-42003"' not in committed
