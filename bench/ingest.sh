#!/usr/bin/env bash
# Ingest benchmark: durable appends over HTTP (group commit, fsync per batch, checkpoint per
# batch, receipt per entry) with the load generator on the same machine.
#   bench/ingest.sh [N] [CONCURRENCY] [KIND] [LOADGEN OPTIONS...]   (defaults 20000, 64, key)
# KIND is `key` (operator-signed accreditations) or `observation` (signed observations from
# several monitor keys under the Donbas example agreement, which the load generator brings into
# force first; `--keys K` sets the number of monitor keys, default 8). KIND may also come from
# the environment: KIND=observation bench/ingest.sh 200000. Observation runs end with a query
# phase (latency of GET /v1/observations by selectivity; `--query-rounds 0` skips it).
# `--client reqwest` uses a pooled reqwest client instead of one hyper connection per client.
# The figures of issue 4: bench/ingest.sh 1000000 256 observation (bench/RESULTS.md).
# KEEP_DATA=DIR keeps the data directory (moved to DIR, which must not exist, once the server has
# stopped), e.g. to time `truce replay --data DIR` or a restart on it (issue 9).
# Set RUSTFLAGS="-C target-cpu=native" (and CARGO_TARGET_DIR=target/native) before it to
# measure the native build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
C=${2:-64}
KIND=${3:-${KIND:-key}}
# CARGO_FLAGS passes extra build flags, e.g. CARGO_FLAGS=--no-default-features (system allocator).
cargo build --release --locked -q -p truce -p truce-loadgen ${CARGO_FLAGS:-}
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pid=
# SERVER_LOG=FILE keeps the server's log (with RUST_LOG=truce_server::sequencer=debug,info it
# has one line per committed batch: entries, admit_us, store_us, publish_us).
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; if [ -n "${KEEP_DATA:-}" ]; then mv "$work/data" "$KEEP_DATA" && echo "data directory kept in $KEEP_DATA"; fi; if [ -n "${SERVER_LOG:-}" ]; then sed "s/\x1b\[[0-9;]*m//g" "$work/err" > "$SERVER_LOG"; fi; rm -rf "$work"' EXIT
"$bin"/truce init "$work/data" --origin bench.truce.localhost/log >/dev/null
# Per-key rate limits out of the way (monitor keys are limited, the operator key is not), and
# ticks too (one a day: none during the run).
config="$work/data/truce.toml"
sed -i -e 's/^tick_seconds *=.*/tick_seconds = 86400/' \
  -e 's/^entries_per_second *=.*/entries_per_second = 1000000/' \
  -e 's/^burst *=.*/burst = 1000000/' "$config"
grep -q '^entries_per_second = 1000000$' "$config" && grep -q '^burst = 1000000$' "$config" &&
  grep -q '^tick_seconds = 86400$' "$config" || { echo "could not rewrite $config:" >&2; cat "$config" >&2; exit 1; }
"$bin"/truce serve --data "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
echo "truce at $url; N=$N, concurrency=$C, kind=$KIND, RUSTFLAGS=${RUSTFLAGS:-}"
"$bin"/truce-loadgen --url "$url" --key "$work/data/keys/operator.key" --kind "$KIND" \
  -n "$N" -c "$C" --server-pid "$pid" "${@:4}"
echo "server RSS: $(ps -o rss= -p "$pid" | awk '{printf "%.0f MB", $1/1024}') (peak $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$pid/status)), server CPU since start: $(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f s", ($14 + $15) / t}' /proc/$pid/stat)"
