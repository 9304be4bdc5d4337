#!/usr/bin/env bash
# Replay and restart benchmark (issue 9), on a data directory that bench/ingest.sh kept:
#   KEEP_DATA=/tmp/log-1m bench/ingest.sh 1000000 256 observation --query-rounds 0
#   bench/replay.sh /tmp/log-1m [RUNS]                  (RUNS defaults to 1)
# With the release build (or the binary TRUCE=path names, e.g. an older build for comparison),
# each run times
#   1. `truce replay --data DIR` (every leaf, tree hash, checkpoint and signature checked);
#   2. a restart: from `truce serve --data DIR` starting to its first 200 on /healthz (the same
#      replay, then the server's own start-up);
#   3. `truce replay --log URL` against that server: every entry bundle over HTTP, the tree
#      recomputed and compared with the signed checkpoint, every entry admitted again;
# and prints the one-core `verify_strict` and batch verification rates of the same machine and
# moment (crates/truce-model/examples/sig_rates.rs), which the times are to be read against.
# The server writes nothing to DIR but its own start-up (ticks are off in ingest.sh's config).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: bench/replay.sh DATA_DIR [RUNS]}
RUNS=${2:-1}
if [ -z "${TRUCE:-}" ]; then
  cargo build --release --locked -q -p truce
  TRUCE=target/release/truce
fi
cargo build --release --locked -q -p truce-model --example sig_rates
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
. bench/serve.sh
machine
echo "binary: $TRUCE; log: $DATA"
timed() { /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KB peak" "$@"; }
for run in $(seq "$RUNS"); do
  echo "run $run"
  echo -n "  replay --data: "
  timed "$TRUCE" replay --data "$DATA" --json 2>&1 >"$work/data.json" | tail -1
  serve "$TRUCE" "$DATA"
  echo "  restart (serve to first /healthz 200): $ready_s s"
  echo -n "  replay --log:  "
  timed "$TRUCE" replay --log "http://127.0.0.1:$port" --json 2>"$work/log.err" >"$work/log.json" || true
  tail -1 "$work/log.err"
  grep -v ' s wall' "$work/log.err" | sed 's/^/    /' || true
  cmp -s "$work/data.json" "$work/log.json" &&
    echo "  the two replays agree: $(grep -o '"digest":"[0-9a-f]*"' "$work/data.json")" ||
    { echo "  the two replays DIFFER:"; cat "$work/data.json" "$work/log.json"; }
  stop_server
done
target/release/examples/sig_rates 20000
