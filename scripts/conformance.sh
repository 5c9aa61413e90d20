#!/usr/bin/env bash
# Runs the conformance suite (tests/conformance/conformance.py): `ferry sim` on a free
# port, driven through boto3, each raw response checked against botocore's own service
# models. Prints operations x cases and closes with `N passed, M failed`.
#
#   scripts/conformance.sh [--verbose] [--only SUBSTRING]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_python_tools
bin="$(ferry_bin)"
python tests/conformance/conformance.py --ferry "$bin" "$@"
