#!/usr/bin/env bash
# Tracking benchmark (see tests/bench/tracking.rs): N jobs (default 1000) of
# JOB_SECONDS each (default 30) tracked by 3 replicas against ferry sim,
# per-job polling (baseline) against Ferry's batched listing, same run.
#   scripts/bench-tracking.sh [N] [JOB_SECONDS] [ferry]   (ferry: Ferry alone, no baseline)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
SQLX_OFFLINE=true cargo build --locked -q -p ferry-e2e --bin bench-tracking
target="${CARGO_TARGET_DIR:-$ROOT/target}"
RUST_LOG="${RUST_LOG:-warn}" "$target/debug/bench-tracking" "${1:-1000}" "${2:-30}" "${@:3}"
