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
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
echo "log: $DATA ($(du -sh "$DATA/truce.sqlite" | cut -f1)); A = $A; B = $B"

start() {
  local bin=$1 port=$((20000 + RANDOM % 20000)) t0 t1 hwm rss digest
  t0=$(date +%s.%N)
  "$bin" serve --data "$DATA" --listen "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$pid" 2>/dev/null || { echo "the server stopped:" >&2; cat "$work/err" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  sleep 3
  hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  digest=$(curl -fs "http://127.0.0.1:$port/v1/state" | grep -o '"digest":"[0-9a-f]*"' | head -1 | cut -d'"' -f4)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  printf '%s: %.2f s to /healthz, HWM %s MB, RSS %s MB, digest %.16s…\n' \
    "$2" "$(echo "$t1 - $t0" | bc)" "$hwm" "$rss" "$digest"
}

for round in $(seq "$ROUNDS"); do
  echo "round $round"
  start "$A" A
  start "$B" B
done
