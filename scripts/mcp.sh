#!/usr/bin/env bash
# The MCP server's end-to-end test: the official MCP Python SDK (`mcp` on PyPI) as the
# client of Ferry's tools, over streamable HTTP (`/mcp` on the API) and over stdio
# (`ferry mcp` as a subprocess), against a real Ferry: `ferry serve` with its worker,
# `ferry sim` as AWS, a fresh database and the example configuration (prod requires
# approval). Runs tests/mcp/.
#
#   scripts/mcp.sh [PYTEST ARGS...]
#
# Environment: FERRY_BIN (default $CARGO_TARGET_DIR/debug/ferry, built when missing),
# DATABASE_URL (a server to create the test database on).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
ensure_mcp_tools

bin="$(ferry_bin)"

work="$(mktemp -d)"
sim=""
server=""
cleanup() {
    for pid in $server $sim; do kill "$pid" 2>/dev/null || true; done
    for pid in $server $sim; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

log "starting ferry sim and ferry serve (with its worker) on a fresh database"
db="$(fresh_database ferry_mcp)"
export DATABASE_URL="$db"
export FERRY_CONFIG="$ROOT/ferry.example.toml"
"$bin" sim --port 0 --env-file "$work/sim.env" --job-duration 1 >"$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 1 100); do [ -s "$work/sim.env" ] && break; sleep 0.1; done
[ -s "$work/sim.env" ] || { cat "$work/sim.log" >&2; echo "ferry sim did not start" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/sim.env"
researcher="$("$bin" token create --role researcher --team research --name mcp-researcher)"
vision="$("$bin" token create --role researcher --team vision --name mcp-vision)"
hosting="$("$bin" token create --role hosting --name mcp-hosting)"
port="$(free_port)"
FERRY_SERVER__LISTEN="127.0.0.1:$port" \
    FERRY_AWS__ENDPOINT_URL="$SIM_ENDPOINT" \
    FERRY_AWS__ACCESS_KEY_ID="$FERRY_SERVICE_ACCESS_KEY_ID" \
    FERRY_AWS__SECRET_ACCESS_KEY="$FERRY_SERVICE_SECRET_ACCESS_KEY" \
    FERRY_WORKER__ENABLED=true \
    FERRY_WORKER__TICK_MILLIS=200 \
    FERRY_WORKER__POLL_INITIAL_SECS=1 \
    FERRY_WORKER__POLL_MAX_SECS=2 \
    FERRY_WORKER__RETRY_INITIAL_SECS=1 \
    "$bin" serve >"$work/serve.log" 2>&1 &
server=$!
wait_http "http://127.0.0.1:$port/readyz"

log "tests/mcp through the MCP Python SDK (streamable HTTP and stdio)"
status=0
FERRY_URL="http://127.0.0.1:$port" \
    FERRY_BIN="$bin" \
    FERRY_TOKEN_RESEARCHER="$researcher" \
    FERRY_TOKEN_VISION="$vision" \
    FERRY_TOKEN_HOSTING="$hosting" \
    FERRY_SAMPLE_SOURCE="$SAMPLE_MODEL_URI" \
    PYTHONDONTWRITEBYTECODE=1 "$MCP_VENV/bin/python" -m pytest tests/mcp -q --color=no \
    -p no:cacheprovider "$@" || status=$?
if [ "$status" != 0 ]; then
    echo "--- ferry serve log (last 50 lines) ---" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
