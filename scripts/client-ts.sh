#!/usr/bin/env bash
# The TypeScript generated-client test: types generated from the committed
# openapi/ferry.json with openapi-typescript, calls made with openapi-fetch,
# and tests/client-ts/src/main.ts compiled with `tsc --strict` against them,
# then run with Node against a real Ferry: `ferry serve` with its worker,
# `ferry sim` as AWS, a fresh database and the example configuration (prod
# requires approval). The program submits, lists, has a second principal
# approve, and follows the request to `completed`.
#
# Environment: FERRY_BIN (default $CARGO_TARGET_DIR/debug/ferry, built when
# missing), DATABASE_URL (a server to create the test database on).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
ensure_client_ts_tools

bin="$(ferry_bin)"

work="$(mktemp -d)"
cleanup() {
    stop_live_ferry
    rm -rf "$work"
}
trap cleanup EXIT

log "generating TypeScript types from openapi/ferry.json and compiling the program (tsc --strict)"
cp tests/client-ts/package.json tests/client-ts/tsconfig.json "$work/"
cp -r tests/client-ts/src "$work/src"
ln -s "$CLIENT_TS_MODULES" "$work/node_modules"
(cd "$work" && ./node_modules/.bin/openapi-typescript "$ROOT/openapi/ferry.json" \
    --output generated/ferry.d.ts >"$work/generate.log" 2>&1) \
    || { cat "$work/generate.log" >&2; echo "openapi-typescript could not read openapi/ferry.json" >&2; exit 1; }
(cd "$work" && ./node_modules/.bin/tsc -p tsconfig.json --strict)

log "starting ferry sim and ferry serve (with its worker) on a fresh database"
db="$(fresh_database ferry_client_ts)"
export DATABASE_URL="$db"
export FERRY_CONFIG="$ROOT/ferry.example.toml"
researcher="$("$bin" token create --role researcher --team research --name client-ts-researcher)"
hosting="$("$bin" token create --role hosting --name client-ts-hosting)"
# The example configuration's accounts are the sim's.
start_live_ferry "$bin" "$work"

log "tests/client-ts through the generated client"
status=0
FERRY_URL="$LIVE_URL" \
    FERRY_TOKEN_RESEARCHER="$researcher" \
    FERRY_TOKEN_HOSTING="$hosting" \
    FERRY_SAMPLE_SOURCE="$SAMPLE_MODEL_URI" \
    node "$work/dist/src/main.js" || status=$?
if [ "$status" != 0 ]; then
    echo "--- ferry serve log (last 50 lines) ---" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
