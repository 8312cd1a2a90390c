#!/usr/bin/env bash
# Takes docs/asset-graph.png: starts `dagster dev` on the project's definitions, opens the global asset
# graph in Debian's headless Chromium through Playwright (chromium comes from apt — no browser is downloaded).
# Run `make demo` first so that every asset shows as materialized.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
port=${PORT:-3123}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
mkdir -p "$DAGSTER_HOME"
.tools/bin/uv run --no-sync dagster dev -w workspace.yaml -p "$port" -h 127.0.0.1 > /tmp/tailor-dagster-dev.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 90); do
  curl -fsS "http://127.0.0.1:$port/server_info" >/dev/null 2>&1 && break
  sleep 1
done
.tools/bin/uv run --no-sync python scripts/screenshot_asset_graph.py "http://127.0.0.1:$port" docs/asset-graph.png
echo "wrote docs/asset-graph.png"
