"""scikit-learn side of the clustering benchmark (bench/cluster.sh runs it, in a bench-only
virtualenv, under a time and memory guard):

    python bench/cluster/sklearn_dbscan.py OUT_DIR EPS_M

(Not named sklearn.py: the script's directory comes first on sys.path and would shadow the package.)

Reads OUT_DIR/points.csv (id,lon,lat), times
DBSCAN(eps=EPS_M / 6371008.8, min_samples=1, metric="haversine", algorithm="ball_tree") on
radians (lat, lon), and writes OUT_DIR/sklearn_labels.txt (one label per point, in id order) and
OUT_DIR/sklearn.json.
"""

import json
import resource
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN

EARTH_RADIUS_M = 6_371_008.8


def main() -> None:
    out, eps_m = sys.argv[1], float(sys.argv[2])
    data = np.loadtxt(f"{out}/points.csv", delimiter=",", skiprows=1)
    assert (data[:, 0] == np.arange(len(data))).all(), "ids in order"
    x = np.radians(data[:, [2, 1]])  # (lat, lon), as the haversine metric expects
    model = DBSCAN(
        eps=eps_m / EARTH_RADIUS_M,
        min_samples=1,
        metric="haversine",
        algorithm="ball_tree",
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    labels = model.fit(x).labels_
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    np.savetxt(f"{out}/sklearn_labels.txt", labels, fmt="%d")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_mb": peak_mb,
        "n": len(x),
        "sklearn": sklearn.__version__,
        "status": "ok",
    }
    with open(f"{out}/sklearn.json", "w") as f:
        json.dump(report, f)
    print(f"sklearn {sklearn.__version__}: DBSCAN {seconds:.2f} s ({cpu_seconds:.2f} s CPU), peak RSS {peak_mb:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
