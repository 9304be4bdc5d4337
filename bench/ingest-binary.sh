#!/usr/bin/env bash
# Ingest with a given server binary, for A/B comparisons of two builds in one sitting:
#   bench/ingest-binary.sh BINARY [N]      (N observations, default 200000)
# bench/ingest.sh's set-up (fresh `truce init`, per-key rate limits lifted, ticks off) served
# by BINARY, loaded by this tree's release `truce-loadgen --kind observation -c 256
# --query-rounds 0`; prints the load generator's rate and the server's CPU time and RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:?usage: bench/ingest-binary.sh BINARY [N]}
N=${2:-200000}
cargo build --release --locked -q -p truce-loadgen
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
"$B" init "$work/data" --origin bench.truce.localhost/log >/dev/null
sed -i -e 's/^tick_seconds *=.*/tick_seconds = 86400/' \
  -e 's/^entries_per_second *=.*/entries_per_second = 1000000/' \
  -e 's/^burst *=.*/burst = 1000000/' "$work/data/truce.toml"
port=$((20000 + RANDOM % 20000))
"$B" serve --data "$work/data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
  kill -0 "$pid" 2>/dev/null || { echo "the server stopped" >&2; exit 1; }
  sleep 0.05
done
target/release/truce-loadgen --url "http://127.0.0.1:$port" --key "$work/data/keys/operator.key" \
  --kind observation -n "$N" -c 256 --query-rounds 0 2>&1 | grep "entries in"
echo "server CPU $(awk -v t="$(getconf CLK_TCK)" '{printf "%.1f s", ($14 + $15) / t}' "/proc/$pid/stat"), RSS $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status") MB"
