"""Compares the partitions of the clustering benchmark and prints its table (bench/cluster.sh
runs it in the bench-only virtualenv):

    python bench/cluster/compare.py OUT_DIR

Reads OUT_DIR/{points.csv, truce_labels.txt, truce.json, postgis_labels.csv, postgis.json,
sklearn_labels.txt, sklearn.json} (the last four where present).

Two partitions are identical when every point's component holds the same points in both; the
points where it does not are counted (a contingency check: a point agrees when its pair of
labels is as frequent as each of its labels).

PostGIS clusters projected points with planar distances, truce and scikit-learn haversine ones.
Every pair of points within eps * (1 + MARGIN) in the plane is listed (k-d tree) with both
distances, and counted by the side of eps each falls on; the components of the planar pairs are
then compared with PostGIS's and those of the haversine pairs with truce's: if both match, every
difference between PostGIS and truce is a projection effect. The largest |planar / haversine - 1|
over these pairs measures the projection's scale error over the data.
"""

import json
import os
import sys

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

EARTH_RADIUS_M = 6_371_008.8
MARGIN = 0.01


def load_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def differing(a, b):
    """Number of points whose component differs between labellings a and b."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    ca, cb = np.bincount(ia), np.bincount(ib)
    joint = ia.astype(np.int64) * (ib.max() + 1) + ib
    _, ij, cj = np.unique(joint, return_inverse=True, return_counts=True)
    same = (ca[ia] == cj[ij]) & (cb[ib] == cj[ij])
    return int(len(a) - same.sum())


def components(n, i, j):
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def fmt_s(s):
    return f"{s:.2f} s" if s >= 0.1 else f"{s * 1000:.0f} ms"


def main() -> None:
    out = sys.argv[1]
    points = np.loadtxt(f"{out}/points.csv", delimiter=",", skiprows=1)
    n = len(points)
    lon, lat = points[:, 1], points[:, 2]
    truce = load_json(f"{out}/truce.json")
    eps = truce["eps_m"]
    t_labels = np.loadtxt(f"{out}/truce_labels.txt", dtype=np.int64)
    t_best = truce["best"]["seconds"]
    t_cpu = truce["best"]["cpu_seconds"]
    rows = [
        (
            "truce `Components::insert`, one at a time",
            t_best,
            t_cpu,
            ", ".join(fmt_s(r["seconds"]) for r in truce["runs"]),
            len(np.unique(t_labels)),
            "—",
            "",
        )
    ]
    notes = []

    postgis = load_json(f"{out}/postgis.json")
    if postgis is not None:
        pg = np.loadtxt(f"{out}/postgis_labels.csv", delimiter=",", skiprows=1)
        assert (pg[:, 0] == np.arange(n)).all(), "PostGIS ids in order"
        x, y, p_labels = pg[:, 1], pg[:, 2], pg[:, 3].astype(np.int64)
        p_best = min(postgis["runs_ms"]) / 1000
        p_cpu = min(postgis["runs_cpu_ms"]) / 1000
        diff = differing(t_labels, p_labels)
        # Projection effects.
        pairs = cKDTree(np.column_stack([x, y])).query_pairs(eps * (1 + MARGIN), output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        planar = np.hypot(x[i] - x[j], y[i] - y[j])
        hav = haversine_m(lat[i], lon[i], lat[j], lon[j])
        ok = hav > 0
        scale = planar[ok] / hav[ok] - 1
        h_in, p_in = hav <= eps, planar <= eps
        lost, gained = int((h_in & ~p_in).sum()), int((p_in & ~h_in).sum())
        same_planar = differing(components(n, i[p_in], j[p_in]), p_labels) == 0
        same_hav = differing(components(n, i[h_in], j[h_in]), t_labels) == 0
        explained = "all of them projection effects" if same_planar and same_hav else "NOT explained by the projection"
        verdict = "identical" if diff == 0 else f"{diff} points differ ({explained})"
        rows.append(
            (
                f"PostGIS `ST_ClusterDBSCAN(geom, {eps:g}, 1) OVER ()`",
                p_best,
                p_cpu,
                ", ".join(f"{ms / 1000:.2f} s" for ms in postgis["runs_ms"]),
                len(np.unique(p_labels)),
                f"{p_best / t_best:.2f}× / {p_cpu / t_cpu:.2f}×",
                verdict,
            )
        )
        notes.append(
            f"PostGIS {postgis['postgis']}, projection `{postgis['proj']}`; `CREATE TABLE AS` of the same rows "
            f"without the clustering: {postgis['floor_ms'] / 1000:.2f} s (included in the times above)."
        )
        notes.append(
            f"Projection effects: {int(h_in.sum())} pairs within eps by haversine, {int(p_in.sum())} in the plane; "
            f"{lost} linked by haversine only, {gained} in the plane only; scale error over the "
            f"{int(ok.sum())} pairs within {1 + MARGIN:g}·eps: planar/haversine − 1 in "
            f"[{scale.min():+.2e}, {scale.max():+.2e}]. Components of the planar pairs = PostGIS's: {same_planar}; "
            f"of the haversine pairs = truce's: {same_hav}."
        )

    sk = load_json(f"{out}/sklearn.json")
    if sk is not None:
        if sk.get("status") == "ok":
            s_labels = np.loadtxt(f"{out}/sklearn_labels.txt", dtype=np.int64)
            diff = differing(t_labels, s_labels)
            rows.append(
                (
                    "scikit-learn `DBSCAN(min_samples=1, haversine, ball_tree)`",
                    sk["seconds"],
                    sk["cpu_seconds"],
                    fmt_s(sk["seconds"]),
                    len(np.unique(s_labels)),
                    f"{sk['seconds'] / t_best:.2f}× / {sk['cpu_seconds'] / t_cpu:.2f}×",
                    "identical" if diff == 0 else f"{diff} points differ",
                )
            )
            notes.append(f"scikit-learn {sk['sklearn']}: peak RSS {sk['peak_rss_mb']:.0f} MB.")
        else:
            rows.append(
                (
                    "scikit-learn `DBSCAN(min_samples=1, haversine, ball_tree)`",
                    None,
                    None,
                    sk["status"],
                    None,
                    f"> {sk['limit_s'] / t_best:.1f}×" if sk.get("limit_s") and "time" in sk["status"] else "—",
                    "—",
                )
            )

    b = truce["best"]
    print(
        f"\n{n} points, eps = {eps:g} m, mean neighbours per point {truce['mean_neighbours']:.2f}, "
        f"{truce['clusters']['count']} clusters, largest {truce['clusters']['largest']} points "
        f"({100 * truce['clusters']['largest_share']:.3f} %)\n"
    )
    print(
        "| clustering | wall (best) | CPU | runs (wall) | points/s (wall) | clusters "
        "| truce faster by (wall / CPU) | partition vs truce |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, best, cpu, runs, count, ratio, verdict in rows:
        rate = f"{n / best:,.0f}" if best else "—"
        best_s = fmt_s(best) if best else "—"
        cpu_s = fmt_s(cpu) if cpu else "—"
        count_s = count if count is not None else "—"
        print(f"| {name} | {best_s} | {cpu_s} | {runs} | {rate} | {count_s} | {ratio} | {verdict} |")
    print(
        f"\ntruce, incremental with ~{n} held: the last {min(100_000, n // 2)} insertions took "
        f"{b['tail_us_per_insert']:.2f} µs each (p50 {b['tail_p50_us']:.2f}, p99 {b['tail_p99_us']:.2f}, "
        f"max {b['tail_max_us']:.0f} µs); RSS +{truce['runs'][0]['rss_delta_mb']:.0f} MB for the components "
        "(first run)."
    )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
