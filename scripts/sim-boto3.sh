#!/usr/bin/env bash
# Runs the boto3 walkthrough (crates/sim/tests/boto3/walkthrough.py), an
# independent client, against `ferry sim` on a free port, then the bedrock-runtime
# checks (crates/sim/tests/boto3/runtime.py: cold start, InvokeModel, Converse) and the
# SageMaker Model Registry checks (crates/sim/tests/boto3/registry.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_tools
bin="$(ferry_bin)"
env_file="$(mktemp -u)"
"$bin" sim --port 0 --env-file "$env_file" --job-duration 1 --cold-start 2 >/dev/null 2>&1 &
sim=$!
trap 'kill "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true; rm -f "$env_file"' EXIT
for _ in $(seq 1 100); do [ -s "$env_file" ] && break; sleep 0.1; done
[ -s "$env_file" ] || { echo "ferry sim did not start" >&2; exit 1; }
status=0
python crates/sim/tests/boto3/walkthrough.py "$env_file" || status=$?
python crates/sim/tests/boto3/runtime.py "$env_file" || status=$?
python crates/sim/tests/boto3/registry.py "$env_file" || status=$?
exit "$status"
