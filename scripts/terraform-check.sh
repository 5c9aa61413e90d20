#!/usr/bin/env bash
# The Terraform rendering parses (python-hcl2) and equals the JSON rendering statement for
# statement: the walkthrough's environment, with and without the EKS service account trust,
# and the committed examples in deploy/terraform/. A rendering with one action changed must fail.
# Usage: scripts/terraform-check.sh [CONFIG ENV]   (default: the walkthrough, environment prod)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_hcl_tools

config="${1:-$ROOT/deploy/cloudformation/walkthrough.toml}"
env="${2:-prod}"
ferry="$(ferry_bin)"

# The configuration plus a team whose model packages a reader role reads.
write_reader_config() {
    cat "$1" - >"$2" <<'TOML'

[teams.registry]
[teams.registry.model_registry]
account_ids = ["111122223333"]
reader_role_arn = "arn:aws:iam::111122223333:role/registry/FerryRegistryReader"
TOML
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
compare() { "$HCL_VENV/bin/python" "$ROOT/tests/terraform/compare.py" "$@"; }
irsa=(--service-account ferry/ferry --oidc-issuer https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE)
for variant in plain irsa; do
    extra=()
    [ "$variant" = irsa ] && extra=("${irsa[@]}")
    "$ferry" --config "$config" policy render --env "$env" "${extra[@]}" --out "$work/$variant-json" >/dev/null
    "$ferry" --config "$config" policy render --env "$env" "${extra[@]}" --format terraform --out "$work/$variant-tf" >/dev/null
    log "terraform ($variant): python-hcl2 parse, statement for statement against the JSON rendering"
    compare "$work/$variant-tf" "$work/$variant-json"
done

if [ "$#" = 0 ]; then
    # A team whose model packages are read through a reader role (a role resource in the
    # research module).
    write_reader_config "$config" "$work/reader.toml"
    "$ferry" --config "$work/reader.toml" policy render --env "$env" --out "$work/reader-json" >/dev/null
    "$ferry" --config "$work/reader.toml" policy render --env "$env" --format terraform --out "$work/reader-tf" >/dev/null
    log "terraform (model registry reader role): statement for statement against the JSON rendering"
    compare "$work/reader-tf" "$work/reader-json"
    log "terraform: the committed examples in deploy/terraform"
    compare "$ROOT/deploy/terraform" "$work/plain-json"
fi

log "terraform: a changed action is caught"
cp -r "$work/plain-tf" "$work/changed-tf"
sed -i '0,/"kms:Decrypt"/s//"kms:*"/' "$work"/changed-tf/*/main.tf
if compare "$work/changed-tf" "$work/plain-json" >"$work/changed.log"; then
    cat "$work/changed.log" >&2
    echo "the comparison did not notice a changed action" >&2
    exit 1
fi
log "terraform check: clean"
