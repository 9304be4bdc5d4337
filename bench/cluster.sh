#!/usr/bin/env bash
# Incident clustering benchmark (issue 9): truce's incremental link components against PostGIS
# ST_ClusterDBSCAN and scikit-learn DBSCAN(min_samples=1) on the same points, in one run.
#
#   bench/cluster.sh N [EPS_KM]          e.g. bench/cluster.sh 1000000 0.04   (defaults 100000, 0.04)
#
# EPS_KM 0.04 keeps the answer meaningful at 1M points (mean 4.6 neighbours per point, largest
# cluster 0.27 %; at 0.05 the points along the line start to percolate): bench/RESULTS.md.
#
# Environment: SEED (9), OUT (/tmp/truce-cluster-bench: points, labels, JSON reports; not in the
# repository), RUNS (truce runs, best kept; 2), PROJ (PostGIS projection, see
# bench/cluster/postgis.sh), VENV (/tmp/truce-bench-venv: the bench-only virtualenv with
# scikit-learn and numpy, created if missing), SKLEARN_TIMEOUT (seconds, 1800), SKLEARN_MEM_GB
# (address-space limit for scikit-learn, 12), SKIP (space-separated: postgis, sklearn).
#
# Steps: build the example in release; generate N points along the Donbas line of contact
# (crates/truce-engine/examples/cluster_bench.rs says how) and cluster them with
# truce_engine::incidents::link::Components (radius 0, one observed window: pure spatial single
# linkage at eps); the same points through PostGIS (bench/cluster/postgis.sh) and scikit-learn
# (bench/cluster/sklearn_dbscan.py, under `timeout` and `ulimit -v`); then bench/cluster/compare.py
# prints the table (times, ratios, partition agreement, projection effects).
# Each tool runs single-threaded. The machine's load average is printed before each timed phase:
# on a shared machine, rerun when it is high.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
EPS_KM=${2:-0.04}
EPS_M=$(python3 -c "print(float('$EPS_KM') * 1000)")
SEED=${SEED:-9}
OUT=${OUT:-/tmp/truce-cluster-bench}
RUNS=${RUNS:-2}
VENV=${VENV:-/tmp/truce-bench-venv}
SKLEARN_TIMEOUT=${SKLEARN_TIMEOUT:-1800}
SKLEARN_MEM_GB=${SKLEARN_MEM_GB:-12}
SKIP=${SKIP:-}
mkdir -p "$OUT"
rm -f "$OUT"/{truce,postgis,sklearn}.json "$OUT"/*_labels.*

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sklearn, numpy, scipy" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q scikit-learn numpy
fi
cargo build --release --locked -q -p truce-engine --example cluster_bench
BIN="${CARGO_TARGET_DIR:-target}/release/examples/cluster_bench"

load() { echo "[load average: $(cut -d' ' -f1-3 /proc/loadavg)] $*"; }
load "truce: generating and clustering $N points, eps $EPS_M m"
"$BIN" --n "$N" --eps-m "$EPS_M" --seed "$SEED" --runs "$RUNS" --out "$OUT"

if [[ " $SKIP " != *" postgis "* ]]; then
  load "PostGIS"
  bench/cluster/postgis.sh "$OUT" "$EPS_M"
fi

if [[ " $SKIP " != *" sklearn "* ]]; then
  load "scikit-learn (timeout ${SKLEARN_TIMEOUT}s, ${SKLEARN_MEM_GB} GB address space)"
  status=0
  (
    ulimit -v $((SKLEARN_MEM_GB * 1024 * 1024))
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 exec timeout "$SKLEARN_TIMEOUT" \
      "$VENV/bin/python" bench/cluster/sklearn_dbscan.py "$OUT" "$EPS_M"
  ) 2>"$OUT/sklearn.err" || status=$?
  cat "$OUT/sklearn.err" >&2
  if [ "$status" -ne 0 ]; then
    if [ "$status" -eq 124 ]; then
      what="timeout after ${SKLEARN_TIMEOUT} s"
    elif grep -q MemoryError "$OUT/sklearn.err"; then
      what="MemoryError at ${SKLEARN_MEM_GB} GB"
    else
      what="failed (exit $status)"
    fi
    echo "scikit-learn: $what" >&2
    printf '{"status": "%s", "limit_s": %s}\n' "$what" "$SKLEARN_TIMEOUT" >"$OUT/sklearn.json"
  fi
fi

load "comparing"
"$VENV/bin/python" bench/cluster/compare.py "$OUT"
