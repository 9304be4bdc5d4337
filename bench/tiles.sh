#!/usr/bin/env bash
# Tile serving benchmark: truce's /log/tile/... against nginx serving the very same tile files,
# with wrk on loopback, in one run (report the ratio; the machine is shared and noisy).
#   bench/tiles.sh [ENTRIES] [SECONDS]        (defaults 20000, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
SECS=${2:-10}
command -v nginx >/dev/null && command -v wrk >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null 2>&1 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
}
cargo build --release --locked -q -p truce -p truce-loadgen
work=$(mktemp -d)
cleanup() {
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
target/release/truce init "$work/data" --origin bench.truce.localhost/log >/dev/null
target/release/truce serve --data "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)
target/release/truce-loadgen --url "$url" --key "$work/data/keys/operator.key" -n "$N" -c 64 >/dev/null

# The same full level-0 hash tiles, as files for nginx and as a path list for wrk.
full=$((N / 256))
mkdir -p "$work/www"
: >"$work/paths"
for i in $(seq 0 $((full - 1))); do
  p=$(printf 'log/tile/0/%03d' "$i")
  [ "$i" -ge 1000 ] && p=$(printf 'log/tile/0/x%03d/%03d' $((i / 1000)) $((i % 1000)))
  mkdir -p "$work/www/$(dirname "$p")"
  curl -sf "$url/$p" -o "$work/www/$p"
  echo "/$p" >>"$work/paths"
done
size=$(stat -c %s "$work/www/$(head -1 "$work/paths" | cut -c2-)")
cat >"$work/rotate.lua" <<LUA
local paths = {}
for line in io.lines("$work/paths") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
port=$((20000 + RANDOM % 20000))
cat >"$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    location / { default_type application/octet-stream; add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "$full full level-0 tiles of $size bytes; wrk -t2 -c64 -d${SECS}s, paths rotated"
run() { wrk -t2 -c64 -d"${SECS}s" -s "$work/rotate.lua" "$1" | awk '/Requests\/sec/ {print $2}'; }
t1=$(run "$url"); n1=$(run "http://127.0.0.1:$port"); t2=$(run "$url"); n2=$(run "http://127.0.0.1:$port")
truce_rps=$(echo "$t1 $t2" | awk '{printf "%.0f", ($1 + $2) / 2}')
nginx_rps=$(echo "$n1 $n2" | awk '{printf "%.0f", ($1 + $2) / 2}')
echo "truce: $truce_rps req/s ($t1, $t2)   nginx: $nginx_rps req/s ($n1, $n2)   ratio truce/nginx: $(echo "$truce_rps $nginx_rps" | awk '{printf "%.2f", $1 / $2}')"
