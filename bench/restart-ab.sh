#!/usr/bin/env bash
# Restart A/B (issue 9): alternates two `truce` binaries on one data directory, ROUNDS times each,
# and prints for every start the time from `truce serve` to its first 200 on /healthz, the peak
# and resting RSS (VmHWM, and VmRSS 3 s after /healthz) and the state digest, so that a change's
# effect on restart time and memory is measured against its baseline in the same run.
#   bench/restart-ab.sh BIN_A BIN_B DATA_DIR [ROUNDS]     (ROUNDS defaults to 3)
# e.g. with a log kept by KEEP_DATA=/work/log-1m bench/ingest.sh 1000000 256 observation
# --query-rounds 0, and the baseline built into a worktree of its own. Each server stops
# gracefully (SIGTERM), which rewrites the snapshot at the same size; both binaries must read the
# same snapshot format.
set -euo pipefail
A=${1:?usage: bench/restart-ab.sh BIN_A BIN_B DATA_DIR [ROUNDS]}
B=${2:?usage: bench/restart-ab.sh BIN_A BIN_B DATA_DIR [ROUNDS]}
DATA=${3:?usage: bench/restart-ab.sh BIN_A BIN_B DATA_DIR [ROUNDS]}
ROUNDS=${4:-3}
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
. "$(dirname "$0")/serve.sh"
machine
echo "log: $DATA ($(du -sh "$DATA/truce.sqlite" | cut -f1)); A = $A; B = $B"

# Starts BIN (labelled LABEL) on DATA and prints one line of figures, then stops it gracefully.
start() {
  local hwm rss digest
  serve "$1" "$DATA"
  sleep 3
  hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  digest=$(curl -fs "http://127.0.0.1:$port/v1/state" | grep -o '"digest":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
  stop_server
  echo "$2: $ready_s s to /healthz, HWM $hwm MB, RSS $rss MB, digest ${digest:0:16}…"
}

for round in $(seq "$ROUNDS"); do
  echo "round $round"
  start "$A" A
  start "$B" B
done
