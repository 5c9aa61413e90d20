#!/usr/bin/env bash
# The whole suite, starting what it needs: formatting, lints, the sqlx query
# data, every Rust test (real Postgres, a fresh database per test), then the
# OpenAPI document against a validator and schemathesis against a live server,
# promtool on the Prometheus alerts (and Prometheus itself in the Rust tests).
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    Rust tests only (no fmt/clippy/sqlx/contract)
#
# Environment: DATABASE_URL (a Postgres server to create test databases on;
# found or started when unset), FERRY_CACHE_DIR (tools and the Python venv),
# CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

quick=false
[ "${1:-}" = "--quick" ] && quick=true

passed=0
failed=0
record() { # record NAME STATUS
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); log "FAILED: $1"; fi
}
add_counts() { # add_counts NAME STATUS "…N passed… M failed…" (a runner's summary line)
    local p f
    p="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<" $3")"
    f="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<" $3")"
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$2" != 0 ] && [ "${f:-0}" = 0 ]; then failed=$((failed + 1)); log "FAILED: $1"; fi
}

ensure_postgres
ensure_chromium
ensure_prometheus
ensure_node_tools
log "PostgreSQL: ${DATABASE_URL%%@*}@${DATABASE_URL#*@}"
# Queries are compiled against the committed .sqlx data, never a live database.
export SQLX_OFFLINE=true

if ! $quick; then
    log "cargo fmt --check"
    cargo fmt --all --check
    log "cargo clippy -D warnings"
    cargo clippy --workspace --all-targets --locked -- -D warnings

    log "sqlx query data is current (cargo sqlx prepare --check)"
    ensure_sqlx_cli
    prepare_db="$(fresh_database ferry_sqlx_prepare)"
    DATABASE_URL="$prepare_db" cargo sqlx migrate run --source migrations >/dev/null
    DATABASE_URL="$prepare_db" SQLX_OFFLINE=false cargo sqlx prepare --workspace --check -- --all-targets --locked
fi

# The Rust tests run the model card's boto3 example with this virtualenv's Python.
ensure_python_tools
log "Rust tests"
nextest_log="$(mktemp)"
set +e
cargo nextest run --workspace --locked --profile ci 2>&1 | tee "$nextest_log"
rust_status=${PIPESTATUS[0]}
set -e
add_counts rust-tests "$rust_status" "$(grep -E 'Summary \[' "$nextest_log" | tail -n 1)"
rm -f "$nextest_log"

if ! $quick; then
    log "OpenAPI document passes openapi-spec-validator"
    set +e
    openapi-spec-validator openapi/ferry.json
    record openapi-spec-validator $?
    log "Prometheus alerts: promtool check rules, and each alert's unit tests"
    promtool check rules deploy/prometheus/alerts.yml
    record promtool-check-rules $?
    (cd deploy/prometheus && promtool test rules alerts_test.yml)
    record promtool-test-rules $?
    log "policy kit: cfn-lint and parliament on the rendered IAM/KMS documents"
    scripts/policy-lint.sh
    record policy-lint $?
    log "policy kit: the Terraform rendering parses (python-hcl2) and equals the JSON one"
    scripts/terraform-check.sh
    record terraform-check $?
    log "Kubernetes manifests and the Dockerfile: kustomize, kubernetes-validate, checkov"
    scripts/deploy-lint.sh
    record deploy-lint $?
    log "schemathesis against a live server"
    scripts/contract.sh
    record schemathesis $?
    log "a Python client generated from openapi/ferry.json imports through approval"
    client_log="$(mktemp)"
    scripts/client-python.sh 2>&1 | tee "$client_log"
    client_status=${PIPESTATUS[0]}
    add_counts generated-client "$client_status" "$(grep -E '^[0-9]+ (passed|failed).* in [0-9.]+s' "$client_log" | tail -n 1)"
    rm -f "$client_log"
    log "the MCP server through the MCP Python SDK (streamable HTTP and stdio), through approval"
    mcp_log="$(mktemp)"
    scripts/mcp.sh 2>&1 | tee "$mcp_log"
    mcp_status=${PIPESTATUS[0]}
    add_counts mcp "$mcp_status" "$(grep -E '^[0-9]+ (passed|failed).* in [0-9.]+s' "$mcp_log" | tail -n 1)"
    rm -f "$mcp_log"
    log "a TypeScript client generated from openapi/ferry.json imports through approval"
    scripts/client-ts.sh
    record client-ts $?
    log "boto3, an independent client, walks the cross-account chain against ferry sim"
    boto_log="$(mktemp)"
    scripts/sim-boto3.sh 2>&1 | tee "$boto_log"
    boto_status=${PIPESTATUS[0]}
    add_counts boto3-walkthrough "$boto_status" "$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$boto_log" | tail -n 1)"
    rm -f "$boto_log"
    log "the sim's raw responses against botocore's service models (conformance)"
    conformance_log="$(mktemp)"
    scripts/conformance.sh 2>&1 | tee "$conformance_log"
    conformance_status=${PIPESTATUS[0]}
    add_counts conformance "$conformance_status" "$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$conformance_log" | tail -n 1)"
    rm -f "$conformance_log"
    log "the tracking benchmark still runs (a small smoke run; numbers in the README come from full runs)"
    scripts/bench-tracking.sh 30 2
    record bench-tracking-smoke $?
    log "the event-feed benchmark still runs, and leaves no gap (a short smoke run)"
    scripts/bench-feed.sh 2 4
    record bench-feed-smoke $?
    set -e
fi

echo "total: $passed passed, $failed failed"
[ "$failed" = 0 ]
