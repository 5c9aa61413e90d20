#!/usr/bin/env bash
# Lints the policy kit's output with AWS's own tools: cfn-lint on the committed CloudFormation
# templates (and a fresh rendering of them), parliament on every rendered IAM JSON document.
# Usage: scripts/policy-lint.sh [CONFIG ENV]   (default: the walkthrough, environment prod)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_python_tools

config="${1:-$ROOT/deploy/cloudformation/walkthrough.toml}"
env="${2:-prod}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --quiet -p ferry
ferry="$CARGO_TARGET_DIR/debug/ferry"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$ferry" --config "$config" policy render --env "$env" --out "$work/json" >/dev/null
"$ferry" --config "$config" policy render --env "$env" --format cloudformation --out "$work/cfn" >/dev/null

log "cfn-lint: committed and freshly rendered templates"
cfn-lint --format parseable -- "$ROOT"/deploy/cloudformation/*.json "$work"/cfn/*.json

log "parliament: every rendered document"
status=0
for doc in "$work"/json/*.json; do
    name="$(basename "$doc")"
    case "$name" in
        bucket-policy-*|*key-policy*|*trust-policy*) kind=(--include-community-auditors) ; resource=(--policy-type RESOURCE_POLICY) ;;
        *) kind=(--include-community-auditors) ; resource=() ;;
    esac
    # parliament prints one finding per line and exits non-zero on findings at or above
    # --minimum_severity.
    if ! out="$(parliament --file "$doc" "${resource[@]}" --minimum_severity LOW 2>&1)" || [ -n "$out" ]; then
        echo "$name:"; echo "$out"; status=1
    fi
done
[ "$status" = 0 ] && log "policy lint: clean"
exit "$status"
