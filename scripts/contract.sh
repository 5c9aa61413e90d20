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
export DATABASE_URL="$db" FERRY_CONFIG="$ROOT/ferry.example.toml"
token="$("$bin" token create --role admin --name schemathesis)"
# Creates as a researcher, approvals as the hosting team (see the configuration).
FERRY_CONTRACT_RESEARCHER_TOKEN="$("$bin" token create --role researcher --team research --name schemathesis-researcher)"
FERRY_CONTRACT_HOSTING_TOKEN="$("$bin" token create --role hosting --name schemathesis-hosting)"
FERRY_CONTRACT_ADMIN_TOKEN="$token"
export FERRY_CONTRACT_RESEARCHER_TOKEN FERRY_CONTRACT_HOSTING_TOKEN FERRY_CONTRACT_ADMIN_TOKEN
work="$(mktemp -d)"
cleanup() {
    stop_live_ferry
    rm -rf "$work"
}
trap cleanup EXIT
# AWS is the local sim: endpoints that call AWS (a live preflight) get real
# answers, and nothing leaves this machine. The worker runs, as in production:
# requests move on while schemathesis acts on them. Webhook secrets are sealed
# at rest: a throwaway key for this run.
FERRY_WEBHOOK_KEY="contract:$(head -c 32 /dev/urandom | base64)" start_live_ferry "$bin" "$work"
# tests/contract/hooks.py: in the stateful phase, a request is followed until
# it has completed before it is promoted (see the file).
export FERRY_CONTRACT_URL="$LIVE_URL"
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$ROOT/tests/contract${PYTHONPATH:+:$PYTHONPATH}"

status=0
# GET /v1/events is an endless stream, which a request timeout would count as
# a failure; its contract is tested over real HTTP in tests/api/events.rs.
timeout 600 schemathesis --config-file tests/contract/schemathesis.toml run openapi/ferry.json \
    --url "$LIVE_URL" \
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
    tail -n 50 "$work/serve.log" >&2
fi
exit "$status"
