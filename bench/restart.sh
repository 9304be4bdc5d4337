#!/usr/bin/env bash
# Restart benchmark (issue 9, item 8): time from `truce serve --data DIR` starting to its first 200
# on /healthz after a graceful stop (the snapshot written at stop covers the whole log), after a
# crash (the latest periodic snapshot: up to `snapshot_every` entries are decoded) and, for
# reference in the same run, without a snapshot (the whole log is decoded and admitted again).
#   bench/restart.sh DATA_DIR [RUNS]      (RUNS defaults to 3; e.g. a log kept by
#                                          KEEP_DATA=/tmp/log-1m bench/ingest.sh 1000000 256 observation)
#   CRASH_TAIL=N bench/restart.sh …       (observations logged after the snapshot in the crash
#                                          case, default 25,000; 0 skips it; it runs on a copy of a
#                                          DATA_DIR from bench/ingest.sh, whose rate limits are lifted)
# The server writes nothing to DIR but its snapshots and what start-up writes; the snapshots
# there before the reference run are put back at the end.
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
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; if [ -d "$work/aside" ]; then rm -rf "$DATA/snapshots"; mv "$work/aside" "$DATA/snapshots"; fi; rm -rf "$work"' EXIT
. bench/serve.sh
machine
echo "binary: $TRUCE; log: $DATA ($(du -sh "$DATA/truce.sqlite" | cut -f1))"

# Starts the server on DIR (default DATA), waits for /healthz, prints "<seconds> <restored> <peak
# RSS MB>", and stops it gracefully (which lets a snapshot being written finish).
start() {
  serve "$TRUCE" "${1:-$DATA}"
  local rss restored
  rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  stop_server
  restored=$(sed 's/\x1b\[[0-9;]*m//g' "$work/err" | grep -o 'restored=[0-9]*' | tail -1 | cut -d= -f2)
  echo "$ready_s ${restored:-?} $rss"
}

# A graceful stop writes a snapshot of the whole log: one start and stop (not timed) makes sure
# the newest snapshot covers it.
echo "one start and graceful stop, so that the newest snapshot covers the whole log (not timed)"
start >/dev/null
ls -l "$DATA"/snapshots/ | tail -n +2 | awk '{print "  snapshot " $NF ": " $5 " bytes"}'
for run in $(seq "$RUNS"); do
  read -r secs restored rss < <(start)
  echo "run $run: restart after a graceful stop: $secs s to the first /healthz 200 ($restored entries restored, peak RSS $rss MB)"
done
# After a crash: on a copy of DATA, a server appends CRASH_TAIL more observations after the
# snapshot of the whole log and is killed with SIGKILL; the restart decodes that tail (with
# snapshot_every = 50,000 a crash leaves 25,000 on average, at most 50,000).
tail_n=${CRASH_TAIL:-25000}
if [ "$tail_n" -gt 0 ]; then
  cargo build --release --locked -q -p truce-loadgen
  crash="$work/crash"
  cp -a "$DATA" "$crash"
  port=$((20000 + RANDOM % 20000))
  "$TRUCE" serve --data "$crash" --listen "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.05; done
  "$(dirname "$TRUCE")"/truce-loadgen --url "http://127.0.0.1:$port" --key "$crash/keys/operator.key" \
    --kind observation -n "$tail_n" -c 64 --query-rounds 0 >/dev/null 2>&1
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
  read -r secs restored rss < <(start "$crash")
  echo "restart after a crash ($tail_n observations logged since the snapshot): $secs s ($restored restored, peak RSS $rss MB)"
  rm -rf "$crash"
fi
mv "$DATA/snapshots" "$work/aside"
read -r secs restored rss < <(start)
echo "reference: restart without a snapshot: $secs s ($restored restored, peak RSS $rss MB)"
echo "  the snapshot that start wrote: $(sed 's/\x1b\[[0-9;]*m//g' "$work/err" | grep -o 'bytes=[0-9]* capture_ms=[0-9]* encode_ms=[0-9]* write_ms=[0-9]*' | tail -1)"
echo "  (capture_ms: the sequencer's pause while the state is captured; encode_ms, write_ms: encoding, signing and writing, in the background)"
# That start wrote a snapshot of its own; put the original ones back.
rm -rf "$DATA/snapshots"
mv "$work/aside" "$DATA/snapshots"
