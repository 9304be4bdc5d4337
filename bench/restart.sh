#!/usr/bin/env bash
# Restart benchmark (issue 9, item 8): time from `truce serve --data DIR` starting to its first 200
# on /healthz, with the derived state's snapshot (the normal case) and, for reference in the same
# run, without it (snapshots moved aside, so the whole log is decoded and admitted again).
#   bench/restart.sh DATA_DIR [RUNS]      (RUNS defaults to 3; e.g. a log kept by
#                                          KEEP_DATA=/tmp/log-1m bench/ingest.sh 1000000 256 observation)
# The first start writes a snapshot if there is none yet (that start is not timed). The server
# writes nothing to DIR but its snapshots and what start-up writes.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: bench/restart.sh DATA_DIR [RUNS]}
RUNS=${2:-3}
if [ -z "${TRUCE:-}" ]; then
  cargo build --release --locked -q -p truce
  TRUCE=target/release/truce
fi
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; if [ -d "$work/aside" ]; then mv "$work/aside" "$DATA/snapshots"; fi; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
echo "binary: $TRUCE; log: $DATA ($(du -sh "$DATA/truce.sqlite" | cut -f1))"

# Starts the server, waits for /healthz, prints "<seconds> <restored> <peak RSS MB>", and stops it
# gracefully (which lets a snapshot being written finish).
start() {
  local port=$((20000 + RANDOM % 20000)) t0 t1
  t0=$(date +%s.%N)
  "$TRUCE" serve --data "$DATA" --listen "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$pid" 2>/dev/null || { echo "the server stopped:" >&2; cat "$work/err" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  local rss restored
  rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  restored=$(sed 's/\x1b\[[0-9;]*m//g' "$work/err" | grep -o 'restored=[0-9]*' | tail -1 | cut -d= -f2)
  echo "$(echo "$t1 - $t0" | bc | xargs printf '%.2f') ${restored:-?} $rss"
}

if ! ls "$DATA"/snapshots/*.snapshot >/dev/null 2>&1; then
  echo "no snapshot yet: one start to write it (not timed)"
  start >/dev/null
fi
ls -l "$DATA"/snapshots/ | tail -n +2 | awk '{print "  snapshot " $NF ": " $5 " bytes"}'
for run in $(seq "$RUNS"); do
  read -r secs restored rss < <(start)
  echo "run $run: restart with the snapshot: $secs s to the first /healthz 200 ($restored entries restored, peak RSS $rss MB)"
done
mv "$DATA/snapshots" "$work/aside"
read -r secs restored rss < <(start)
echo "reference: restart without a snapshot: $secs s ($restored restored, peak RSS $rss MB)"
echo "  the snapshot that start wrote: $(sed 's/\x1b\[[0-9;]*m//g' "$work/err" | grep -o 'bytes=[0-9]* encode_ms=[0-9]* write_ms=[0-9]*' | tail -1)"
echo "  (encode_ms: the sequencer's pause while the state is encoded; write_ms: signing and writing, in the background)"
# That start wrote a snapshot of its own; put the original ones back.
rm -rf "$DATA/snapshots"
mv "$work/aside" "$DATA/snapshots"
