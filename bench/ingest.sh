#!/usr/bin/env bash
# Ingest benchmark: durable appends over HTTP (group commit, fsync per batch, checkpoint per
# batch, receipt per entry) with the load generator on the same machine.
#   bench/ingest.sh [N] [CONCURRENCY]        (defaults 20000, 64)
# Set RUSTFLAGS="-C target-cpu=native" before it to measure the native build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
C=${2:-64}
cargo build --release --locked -q -p truce -p truce-loadgen
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin"/truce init "$work/data" --origin bench.truce.localhost/log >/dev/null
"$bin"/truce serve --data "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "truce at $url; N=$N, concurrency=$C, RUSTFLAGS=${RUSTFLAGS:-}"
"$bin"/truce-loadgen --url "$url" --key "$work/data/keys/operator.key" -n "$N" -c "$C" "${@:3}"
echo "server RSS: $(ps -o rss= -p "$pid" | awk '{printf "%.0f MB", $1/1024}'), server CPU: $(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f s", ($14 + $15) / t}' /proc/$pid/stat)"
