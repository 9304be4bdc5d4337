#!/usr/bin/env python3
"""Build the geometry files of the Donbas example from the data in ../../data/.

Writes, next to this script:
  contact_line.geojson  the approximate 2015-2022 line of contact (a copy of
                        data/contact_line_donbas_approx.geojson as a single Feature)
  ua_held.geojson       Donetsk + Luhansk oblasts west/north-west of the line
  ngca.geojson          Donetsk + Luhansk oblasts east/south-east of the line
                        (the non-government-controlled areas, NGCA)

Method (deterministic; rerun it and the outputs are byte-identical):
  1. Union of the outlines of Donetsk (UA-14) and Luhansk (UA-09) oblasts from
     data/geoboundaries_ukr_adm1_simplified.geojson (property `shapeISO`).
  2. The geoBoundaries outline of Donetsk oblast extends into the Sea of Azov
     (to about 46.7 N). That water is cut away: inside a box around the Azov
     coast, everything that is neither Ukraine nor Russia in
     data/naturalearth_50m_ukraine_region.geojson (Natural Earth 1:50m) is
     treated as sea. The zones are land only: nobody "controls" the sea here.
  3. The outline is simplified (Douglas-Peucker, SIMPLIFY_DEG, topology
     preserved) so that each output stays well under 500 vertices.
  4. The line of contact ends a few km short of the outline at both ends (at
     the Russian border in Luhansk oblast and at the Azov coast near Shyrokyne).
     Each end is extended straight along its last segment to the outline, and
     the outline is split along the extended line. The piece containing the
     cities of Donetsk and Luhansk is `ngca`; the rest is `ua-held`.
  5. Coordinates are snapped to a 1e-5 degree grid (about 1 m) with
     shapely.set_precision (which keeps the result valid), exterior rings are
     oriented counter-clockwise (RFC 7946), and the results are checked: valid,
     non-empty, lon/lat in range, no overlap between the two, vertex counts.

The result is an approximation for demos and tests, not an authoritative
delineation of who held what: the line itself is accurate to about 1-2 km.

Requires shapely >= 2.0 (pip install shapely).
"""
import json
import math
import pathlib
import sys

import shapely
from shapely.geometry import LineString, Point, box, mapping, shape
from shapely.geometry.polygon import orient
from shapely.ops import split

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE / ".." / ".." / "data"

OBLASTS = {"UA-14": "Donetsk Oblast", "UA-09": "Luhansk Oblast"}
# Box in which areas outside both Ukraine and Russia (Natural Earth) count as sea.
AZOV_BOX = (36.0, 46.0, 41.0, 47.5)
SIMPLIFY_DEG = 0.006  # about 450-670 m
GRID = 1e-5
MAX_VERTICES = 500
# Points that must fall inside the NGCA piece (Donetsk city, Luhansk city) and the
# UA-held piece (Kramatorsk, Mariupol, Sievierodonetsk).
NGCA_PROBES = [(37.80, 48.00), (39.31, 48.57)]
UA_PROBES = [(37.56, 48.74), (37.55, 47.13), (38.48, 48.95)]

SRC_GEOBOUNDARIES = (
    "geoBoundaries (open licence). Runfola, D. et al. (2020) geoBoundaries: A global database of "
    "political administrative boundaries. PLoS ONE 15(4): e0231866."
)
SRC_NATURALEARTH = "Made with Natural Earth. (Public domain.)"
SRC_LINE = "approximate line of contact, simplified"
APPROX_NOTE = (
    "Approximation for demos and tests, not an authoritative delineation: Donetsk and Luhansk "
    "oblast outlines (geoBoundaries, simplified) split along the approximate 2015-2022 line of "
    "contact (about 1-2 km accuracy), Sea of Azov removed using Natural Earth 1:50m coastline, "
    "line ends extended straight to the oblast outline."
)


def load(name):
    with open(DATA / name, encoding="utf-8") as f:
        return json.load(f)


def extend_end(line_coords, outline, at_start):
    """Extend one end of the line straight along its end segment to just past `outline`."""
    if at_start:
        end, prev = line_coords[0], line_coords[1]
    else:
        end, prev = line_coords[-1], line_coords[-2]
    dx, dy = end[0] - prev[0], end[1] - prev[1]
    norm = math.hypot(dx, dy)
    dx, dy = dx / norm, dy / norm
    ray = LineString([end, (end[0] + 2.0 * dx, end[1] + 2.0 * dy)])
    hits = ray.intersection(outline.exterior)
    pts = [hits] if hits.geom_type == "Point" else list(getattr(hits, "geoms", []))
    if not pts:
        sys.exit(f"extension from {end} does not reach the outline")
    first = min(pts, key=lambda p: Point(end).distance(p))
    d = Point(end).distance(first) + 0.002  # overshoot ~150-200 m so the split is clean
    return (end[0] + d * dx, end[1] + d * dy)


def polygon_parts(g):
    """The polygons of a Polygon, MultiPolygon or GeometryCollection."""
    if g.geom_type == "Polygon":
        return [g]
    return [p for sub in getattr(g, "geoms", []) for p in polygon_parts(sub)]


def clean(g):
    """Snap to the grid, drop slivers, orient rings; return a Polygon or MultiPolygon."""
    g = shapely.set_precision(g, GRID)
    parts = [orient(p, 1.0) for p in polygon_parts(g) if p.area > 1e-6]
    if not parts:
        sys.exit("empty geometry")
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def rounded(geom):
    def rnd(c):
        if isinstance(c[0], (int, float)):
            return [round(c[0], 5), round(c[1], 5)]
        return [rnd(x) for x in c]

    m = mapping(geom)
    return {"type": m["type"], "coordinates": rnd(m["coordinates"])}


def n_vertices(g):
    return sum(len(p.exterior.coords) + sum(len(r.coords) for r in p.interiors) for p in polygon_parts(g))


def write(name, obj):
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    (HERE / name).write_text(text + "\n", encoding="utf-8")


def check_file(name):
    obj = json.loads((HERE / name).read_text(encoding="utf-8"))
    g = shape(obj["geometry"])
    assert g.is_valid, (name, shapely.is_valid_reason(g))
    assert not g.is_empty, name
    for p in polygon_parts(g):
        for ring in [p.exterior, *p.interiors]:
            cs = list(ring.coords)
            assert cs[0] == cs[-1] and len(cs) >= 4, name
            assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in cs), name
    assert n_vertices(g) <= MAX_VERTICES, (name, n_vertices(g))
    return g


def main():
    # 1. the two oblasts
    adm1 = load("geoboundaries_ukr_adm1_simplified.geojson")
    oblasts = [shape(f["geometry"]) for f in adm1["features"] if f["properties"]["shapeISO"] in OBLASTS]
    assert len(oblasts) == len(OBLASTS), "oblast not found"
    area = shapely.union_all(oblasts)

    # 2. remove the Sea of Azov
    ne = {f["properties"]["name"]: f["geometry"] for f in load("naturalearth_50m_ukraine_region.geojson")["features"]}
    azov = box(*AZOV_BOX)
    land = shapely.union_all([shapely.make_valid(shape(ne[c])).intersection(azov) for c in ("Ukraine", "Russia")])
    area = area.difference(azov.difference(land))
    parts = sorted(polygon_parts(area), key=lambda p: -p.area)
    area = parts[0]  # keep the mainland; drops specks left along the coast
    assert area.geom_type == "Polygon" and area.is_valid

    # 3. simplify
    area = area.simplify(SIMPLIFY_DEG, preserve_topology=True)

    # 4. split along the line of contact
    line_fc = load("contact_line_donbas_approx.geojson")
    line_feature = line_fc["features"][0]
    coords = [tuple(c) for c in line_feature["geometry"]["coordinates"]]
    line = LineString(coords)
    assert area.contains(line), "the line of contact must lie inside the two oblasts"
    extended = LineString([extend_end(coords, area, True), *coords, extend_end(coords, area, False)])
    pieces = polygon_parts(split(area, extended))
    ngca = [p for p in pieces if any(p.contains(Point(xy)) for xy in NGCA_PROBES)]
    ua = [p for p in pieces if not any(p.contains(Point(xy)) for xy in NGCA_PROBES)]
    assert len(ngca) == 1, f"expected one NGCA piece, got {len(ngca)}"
    ngca = clean(ngca[0])
    ua = clean(shapely.union_all(ua))
    assert all(ngca.contains(Point(xy)) for xy in NGCA_PROBES)
    assert all(ua.contains(Point(xy)) for xy in UA_PROBES)
    assert ngca.intersection(ua).area < 1e-9, "the two zones overlap"
    assert abs(ngca.area + ua.area - area.area) < 1e-4 * area.area, "the split lost area"

    # 5. write
    line_props = dict(line_feature["properties"])
    line_props.update({"attribution": SRC_LINE, "source": "data/contact_line_donbas_approx.geojson"})
    write("contact_line.geojson", {"type": "Feature", "properties": line_props, "geometry": line_feature["geometry"]})
    # Which party answers for each area is set by the agreement (`controlled_by`), not here.
    common = {
        "approximate": True,
        "note": APPROX_NOTE,
        "sources": [SRC_GEOBOUNDARIES, SRC_NATURALEARTH, SRC_LINE],
        "generated_by": "examples/donbas/make_zones.py",
    }
    write("ua_held.geojson", {
        "type": "Feature",
        "properties": {
            "name": "Government-controlled areas of Donetsk and Luhansk oblasts (approximate)",
            **common,
        },
        "geometry": rounded(ua),
    })
    write("ngca.geojson", {
        "type": "Feature",
        "properties": {
            "name": "Non-government-controlled areas of Donetsk and Luhansk oblasts (NGCA, approximate)",
            **common,
        },
        "geometry": rounded(ngca),
    })

    # check what was written
    for name in ("ua_held.geojson", "ngca.geojson"):
        g = check_file(name)
        print(f"{name}: {g.geom_type}, {len(polygon_parts(g))} part(s), {n_vertices(g)} vertices, valid")
    a, b = check_file("ua_held.geojson"), check_file("ngca.geojson")
    assert a.intersection(b).area < 1e-9
    print("contact_line.geojson: LineString,", len(coords), "vertices")


if __name__ == "__main__":
    main()
