#!/usr/bin/env bash
# Query latency on a kept log, each query asked once on a fresh server (issue 9: cold records).
#   bench/query-ab.sh BIN DATA_DIR [DAY_PREFIX]
# Starts BIN on DATA_DIR, asks seven one-hour windows of seven different days (DAY_PREFIX, default
# 2026-11-: days 11 to 17, 10:00-11:00 UTC) and seven `type=` pages of 1,000, and prints each
# group's times sorted (curl's total time): the first asking of a query, before any cache holds
# its records. Run it for two binaries on the same directory to compare, e.g. with a log kept by
# KEEP_DATA=/work/log-1m bench/ingest.sh 1000000 256 observation --query-rounds 0.
set -euo pipefail
BIN=${1:?usage: bench/query-ab.sh BIN DATA_DIR [DAY_PREFIX]}
DATA=${2:?usage: bench/query-ab.sh BIN DATA_DIR [DAY_PREFIX]}
DAYS=${3:-2026-11-}
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
. "$(dirname "$0")/serve.sh"
machine
serve "$BIN" "$DATA"
url="http://127.0.0.1:$port/v1/observations"
times() { tr ' ' '\n' | grep -v '^$' | sort -n | tr '\n' ' '; }
hours=""
for d in 11 12 13 14 15 16 17; do
  hours="$hours $(curl -s -o /dev/null -w '%{time_total}' "$url?from=${DAYS}${d}T10:00:00Z&to=${DAYS}${d}T11:00:00Z&limit=1000")"
done
echo "$(basename "$BIN") one hour, 7 different days (s): $(echo "$hours" | times)"
types=""
for t in damage casualty mine access-restriction fortification illumination airburst; do
  types="$types $(curl -s -o /dev/null -w '%{time_total}' "$url?type=$t&limit=1000")"
done
echo "$(basename "$BIN") one type, 7 types (s): $(echo "$types" | times)"
stop_server
