#!/usr/bin/env bash
# Takes docs/asset-graph.png: starts `dagster dev` on the project's definitions, opens the global asset
# graph in Debian's headless Chromium through Playwright (chromium comes from apt — no browser is downloaded).
# Run `make demo` first so that every asset shows as materialized.
#
# PORT (default 3123) is the port of the server this script starts. When PORT is not set and 3123 is taken — e.g. by
# a `dagster dev` left running by someone, which would serve other code than the working tree's — the next free
# port is used instead; when PORT is set and taken, the script fails. Arguments are passed on to
# scripts/screenshot_asset_graph.py (e.g. --direction horizontal, --width 1400).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${PORT:-}" ]; then
  port=$PORT
  if port_in_use "$port"; then
    echo "screenshot_asset_graph.sh: port $port is already in use; stop that server or choose another PORT" >&2
    exit 1
  fi
else
  port=3123
  while port_in_use "$port"; do
    echo "screenshot_asset_graph.sh: port $port is already in use (a server left running?), trying $((port + 1))" >&2
    port=$((port + 1))
    [ "$port" -lt 3150 ] || { echo "screenshot_asset_graph.sh: no free port in 3123-3149" >&2; exit 1; }
  done
fi

export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
mkdir -p "$DAGSTER_HOME"
log=/tmp/tailor-dagster-dev.$port.log

# Start the server as a job of its own (set -m): in a process group of its own that can be stopped as a whole, and
# without the SIGINT-ignored disposition bash gives background commands when job control is off — `dagster dev`
# maps SIGTERM to its SIGINT handler, so with SIGINT ignored it could not be stopped by either signal.
set -m
.tools/bin/uv run --no-sync dagster dev -w workspace.yaml -p "$port" -h 127.0.0.1 > "$log" 2>&1 &
server=$!
set +m

stop_server() {
  trap - EXIT INT TERM
  # Ctrl-C, as in a terminal: SIGINT to the whole group (uv, dagster dev, webserver, daemon, code servers)
  kill -INT -- "-$server" 2>/dev/null || return 0
  for _ in $(seq 1 60); do
    kill -0 -- "-$server" 2>/dev/null || return 0
    sleep 1
  done
  echo "screenshot_asset_graph.sh: dagster dev (process group $server) did not stop in 60 s, killing it" >&2
  kill -KILL -- "-$server" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT TERM

up=
for _ in $(seq 1 120); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "screenshot_asset_graph.sh: dagster dev exited; see $log" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  if curl -fsS --max-time 2 "http://127.0.0.1:$port/server_info" >/dev/null 2>&1; then up=1; break; fi
  sleep 1
done
[ -n "$up" ] || { echo "screenshot_asset_graph.sh: dagster dev did not come up on port $port in 120 s; see $log" >&2; exit 1; }

.tools/bin/uv run --no-sync python scripts/screenshot_asset_graph.py "$@" "http://127.0.0.1:$port" docs/asset-graph.png
echo "wrote docs/asset-graph.png and docs/asset-graph.keys"
