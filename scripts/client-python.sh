#!/usr/bin/env bash
# The generated-client test: proof that a platform team can build on
# openapi/ferry.json alone. Generates a Python client from the committed
# document with openapi-python-client (any warning about the document fails
# the run), installs it into the test virtualenv, and runs tests/client/
# through it against a real Ferry: `ferry serve` with its worker, `ferry sim`
# as AWS, a fresh database and the example configuration (prod requires
# approval).
#
#   scripts/client-python.sh [PYTEST ARGS...]
#
# Environment: FERRY_BIN (default $CARGO_TARGET_DIR/debug/ferry, built when
# missing), DATABASE_URL (a server to create the test database on).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
ensure_python_tools

bin="$(ferry_bin)"

work="$(mktemp -d)"
cleanup() {
    stop_live_ferry
    rm -rf "$work"
}
trap cleanup EXIT

log "generating a Python client from openapi/ferry.json (openapi-python-client)"
# The generator exits 0 after skipping what it cannot model, and says so; any
# line besides "Generating <dir>" means the document and the client disagree.
set +e
(cd "$work" && openapi-python-client generate --path "$ROOT/openapi/ferry.json" \
    --meta setup --output-path "$work/ferry-client" --fail-on-warning) >"$work/generate.log" 2>&1
gen_status=$?
set -e
if [ "$gen_status" != 0 ] || grep -qv '^Generating ' "$work/generate.log"; then
    cat "$work/generate.log" >&2
    echo "openapi-python-client could not model openapi/ferry.json cleanly (exit $gen_status)" >&2
    exit 1
fi
pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --force-reinstall "$work/ferry-client"

log "starting ferry sim and ferry serve (with its worker) on a fresh database"
db="$(fresh_database ferry_client_python)"
export DATABASE_URL="$db"
export FERRY_CONFIG="$ROOT/ferry.example.toml"
researcher="$("$bin" token create --role researcher --team research --name client-researcher)"
vision="$("$bin" token create --role researcher --team vision --name client-vision)"
hosting="$("$bin" token create --role hosting --name client-hosting)"
# The example configuration's accounts are the sim's.
start_live_ferry "$bin" "$work"

log "tests/client through the generated client"
status=0
FERRY_URL="$LIVE_URL" \
    FERRY_TOKEN_RESEARCHER="$researcher" \
    FERRY_TOKEN_VISION="$vision" \
    FERRY_TOKEN_HOSTING="$hosting" \
    FERRY_SAMPLE_SOURCE="$SAMPLE_MODEL_URI" \
    PYTHONDONTWRITEBYTECODE=1 python -m pytest tests/client -q --color=no -p no:cacheprovider "$@" || status=$?
if [ "$status" != 0 ]; then
    echo "--- ferry serve log (last 50 lines) ---" >&2
    tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
