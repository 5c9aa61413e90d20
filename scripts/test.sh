#!/usr/bin/env bash
# The whole suite, starting what it needs: formatting, lints, the sqlx query
# data, every Rust test (real Postgres, a fresh database per test), then the
# OpenAPI document against a validator and schemathesis against a live server.
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

ensure_postgres
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

log "Rust tests"
nextest_log="$(mktemp)"
set +e
cargo nextest run --workspace --locked --profile ci 2>&1 | tee "$nextest_log"
rust_status=${PIPESTATUS[0]}
set -e
summary="$(grep -E 'Summary \[' "$nextest_log" | tail -n 1)"
rust_passed="$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary")"
rust_failed="$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary")"
passed=$((passed + ${rust_passed:-0}))
failed=$((failed + ${rust_failed:-0}))
if [ "$rust_status" != 0 ] && [ "${rust_failed:-0}" = 0 ]; then failed=$((failed + 1)); fi
rm -f "$nextest_log"

if ! $quick; then
    ensure_python_tools
    log "OpenAPI document passes openapi-spec-validator"
    set +e
    openapi-spec-validator openapi/ferry.json
    record openapi-spec-validator $?
    log "schemathesis against a live server"
    scripts/contract.sh
    record schemathesis $?
    set -e
fi

echo "total: $passed passed, $failed failed"
[ "$failed" = 0 ]
