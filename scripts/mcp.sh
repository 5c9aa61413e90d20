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
cleanup() {
    stop_live_ferry
    rm -rf "$work"
}
trap cleanup EXIT

log "starting ferry sim and ferry serve (with its worker) on a fresh database"
db="$(fresh_database ferry_mcp)"
export DATABASE_URL="$db"
export FERRY_CONFIG="$ROOT/ferry.example.toml"
researcher="$("$bin" token create --role researcher --team research --name mcp-researcher)"
vision="$("$bin" token create --role researcher --team vision --name mcp-vision)"
hosting="$("$bin" token create --role hosting --name mcp-hosting)"
start_live_ferry "$bin" "$work"

log "tests/mcp through the MCP Python SDK (streamable HTTP and stdio)"
status=0
FERRY_URL="$LIVE_URL" \
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
