#!/usr/bin/env bash
# Runs schemathesis against a live `ferry serve` with its worker (fresh
# database, the example configuration, tokens of three roles, `ferry sim` as AWS),
# with every check (`--checks all`) and every phase (examples, coverage,
# fuzzing, and stateful, which chains operations by the document's links),
# bounded in examples and time. Fails on any 5xx, on any response that
# contradicts openapi/ferry.json, on valid data refused and invalid data
# accepted. The business refusals a schema cannot carry are listed, each with
# its reason, in tests/contract/schemathesis.toml.
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 100), SCHEMATHESIS_SEED
# (default fixed, for reproducible CI runs), FERRY_BIN (default
# $CARGO_TARGET_DIR/debug/ferry, built by the test run). Arguments go to
# `schemathesis run` (e.g. `--include-name 'POST /v1/imports' --report har`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
ensure_python_tools

bin="$(ferry_bin)"
db="$(fresh_database ferry_contract)"
port="$(free_port)"
export DATABASE_URL="$db" FERRY_CONFIG="$ROOT/ferry.example.toml"
token="$("$bin" token create --role admin --name schemathesis)"
# Creates as a researcher, approvals as the hosting team (see the configuration).
FERRY_CONTRACT_RESEARCHER_TOKEN="$("$bin" token create --role researcher --team research --name schemathesis-researcher)"
FERRY_CONTRACT_HOSTING_TOKEN="$("$bin" token create --role hosting --name schemathesis-hosting)"
FERRY_CONTRACT_ADMIN_TOKEN="$token"
export FERRY_CONTRACT_RESEARCHER_TOKEN FERRY_CONTRACT_HOSTING_TOKEN FERRY_CONTRACT_ADMIN_TOKEN
log_file="$(mktemp)"
# AWS is the local sim: endpoints that call AWS (a live preflight) get real
# answers, and nothing leaves this machine.
sim_env="$(mktemp -u)"
"$bin" sim --port 0 --env-file "$sim_env" --job-duration 1 >/dev/null 2>&1 &
sim=$!
for _ in $(seq 1 100); do [ -s "$sim_env" ] && break; sleep 0.1; done
# shellcheck disable=SC1090
. "$sim_env"
# The worker runs, as in production: requests move on while schemathesis
# acts on them. Webhook secrets are sealed at rest: a throwaway key for this run.
FERRY_WEBHOOK_KEY="contract:$(head -c 32 /dev/urandom | base64)" \
    FERRY_WORKER__ENABLED=true FERRY_WORKER__TICK_MILLIS=200 \
    FERRY_WORKER__POLL_INITIAL_SECS=1 FERRY_WORKER__POLL_MAX_SECS=2 \
    FERRY_SERVER__LISTEN="127.0.0.1:$port" \
    FERRY_AWS__ENDPOINT_URL="$SIM_ENDPOINT" \
    FERRY_AWS__ACCESS_KEY_ID="$FERRY_SERVICE_ACCESS_KEY_ID" \
    FERRY_AWS__SECRET_ACCESS_KEY="$FERRY_SERVICE_SECRET_ACCESS_KEY" \
    "$bin" serve >"$log_file" 2>&1 &
server=$!
cleanup() {
    kill "$server" "$sim" 2>/dev/null || true
    wait "$server" "$sim" 2>/dev/null || true
    rm -f "$log_file" "$sim_env"
}
trap cleanup EXIT
wait_http "http://127.0.0.1:$port/readyz"
# tests/contract/hooks.py: in the stateful phase, a request is followed until
# it has completed before it is promoted (see the file).
export FERRY_CONTRACT_URL="http://127.0.0.1:$port"
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/tests/contract${PYTHONPATH:+:$PYTHONPATH}"

status=0
# GET /v1/events is an endless stream, which a request timeout would count as
# a failure; its contract is tested over real HTTP in tests/api/events.rs.
timeout 600 schemathesis --config-file tests/contract/schemathesis.toml run openapi/ferry.json \
    --url "http://127.0.0.1:$port" \
    --exclude-path /v1/events \
    --header "Authorization: Bearer $token" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
    --seed "${SCHEMATHESIS_SEED:-20261128}" \
    --request-timeout 10 \
    --workers 1 \
    --no-color \
    --output-sanitize true \
    "$@" || status=$?
if [ "$status" != 0 ]; then
    echo "--- ferry serve log (last 50 lines) ---" >&2
    tail -n 50 "$log_file" >&2
fi
exit "$status"
