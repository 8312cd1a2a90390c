#!/usr/bin/env bash
# Takes docs/asset-graph.png: starts `dagster dev` on the project's definitions, opens the global asset
# graph in Debian's headless Chromium (installed with apt if missing — no browser is downloaded), saves it.
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
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --window-size="${WIDTH:-1800},${HEIGHT:-1000}" --virtual-time-budget=25000 \
  --screenshot="$PWD/docs/asset-graph.png" "http://127.0.0.1:$port/${PAGE:-asset-groups}"
echo "wrote docs/asset-graph.png"
