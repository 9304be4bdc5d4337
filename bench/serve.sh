# Sourced by the bench scripts that start `truce serve` on a data directory (restart.sh,
# restart-ab.sh, replay.sh). They set `work` (a temporary directory) and `pid=` before, and kill
# "$pid" in their EXIT trap.

# The line every figure in RESULTS.md carries: cores, CPU model, load and date.
machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%F)"
}

# serve BIN DIR: starts `BIN serve --data DIR` on a random loopback port, its output in
# "$work/out" and "$work/err", and waits for its first 200 on /healthz (polling every 20 ms); sets
# `pid`, `port` and `ready_s` (seconds from the start to that answer, two decimals). Exits the
# script, with the server's stderr, if the server stops first.
serve() {
  local t0
  port=$((20000 + RANDOM % 20000))
  t0=$(date +%s.%N)
  "$1" serve --data "$2" --listen "127.0.0.1:$port" >"$work/out" 2>"$work/err" &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$pid" 2>/dev/null || { echo "the server stopped:" >&2; cat "$work/err" >&2; exit 1; }
    sleep 0.02
  done
  ready_s=$(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.2f')
}

# Stops the server gracefully (SIGTERM: in-flight requests are answered and a snapshot being
# written is finished) and waits for it.
stop_server() {
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
