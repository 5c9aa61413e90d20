#!/usr/bin/env python3
"""Conformance of `ferry sim` against AWS's own service models.

botocore ships the machine-readable models every AWS SDK is generated from
(botocore/data/<service>/<version>/service-2.json.gz). This suite loads them through
botocore's Loader, drives the sim with boto3 through normal and error paths, captures
each RAW HTTP response (status, headers, body) before botocore parses it, and checks it
against the operation's model itself; botocore's parsers are lenient (they accept a
string where a number is modelled, ignore unknown elements, fall back to the HTTP status
when an error code is missing), so they are not trusted here.

Usage:
  conformance.py --ferry BIN        start `BIN sim --port 0 ...` and run against it
  conformance.py --env-file FILE    run against a sim that already wrote FILE
                                    (the clock-advancing cases are then skipped)
Options: --verbose (every violation, also known ones), --only SUBSTRING (operations).

Prints a table of operations x cases, every violation not listed in KNOWN_GAPS, and
closes with `N passed, M failed` (cases). Exits non-zero on any unlisted violation and on
any KNOWN_GAPS entry that no longer occurs (the list must stay true).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
import botocore
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.model
from checker import Checker

# --------------------------------------------------------------------------------------
# Known gaps: violations the suite finds today, each with the reason. A violation is
# "known" when (operation, case, rule) matches; `TODO-fix` marks a sim bug to fix (the
# sim sends X; the model says Y), the other entries are deliberate and explained in
# crates/sim/README.md ("Conformance").
# --------------------------------------------------------------------------------------
KNOWN_GAPS = [
]

# --------------------------------------------------------------------------------------
# The run: clients, the raw-response capture, cases and the table.
# --------------------------------------------------------------------------------------
class Run:
    def __init__(self, env, verbose=False, only=None):
        self.env = env
        self.endpoint = env["SIM_ENDPOINT"]
        self.region = env["REGION"]
        self.verbose = verbose
        self.only = only
        self.results = []  # (service, op, case, violations, known, note)
        self.seen_gaps = set()
        self.cfg = botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        self.loader = botocore.loaders.Loader()
        self.models = {}

    def model(self, service):
        if service not in self.models:
            raw = json_protocol(service, self.loader.load_service_model(service, "service-2"))
            self.models[service] = botocore.model.ServiceModel(raw, service_name=service)
        return self.models[service]

    def client(self, service, key_id, secret, token=None, validate=True):
        cfg = self.cfg.merge(botocore.config.Config(parameter_validation=validate))
        session = boto3.session.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token, region_name=self.region
        )
        if service in JSON_PROTOCOL:
            loader = session._session.get_component("data_loader")
            original = loader.load_service_model

            def load(name, type_name, api_version=None, _original=original):
                return json_protocol(name, _original(name, type_name, api_version))

            loader.load_service_model = load
        c = session.client(service, endpoint_url=self.endpoint, config=cfg)
        c.meta.events.register("before-parse", self._capture)
        return c

    def principal(self, service, who, validate=True):
        p = who.upper().replace("-", "_")
        return self.client(service, self.env[f"{p}_ACCESS_KEY_ID"], self.env[f"{p}_SECRET_ACCESS_KEY"], validate=validate)

    def _capture(self, operation_model, response_dict, **_):
        body = response_dict.get("body")
        self._raw = {
            "op": operation_model.name,
            "status": response_dict["status_code"],
            "headers": {k.lower(): v for k, v in response_dict["headers"].items()},
            "body": body if isinstance(body, (bytes, bytearray)) else None,
        }

    def case(self, client, op_name, case, params=None, expect=None, note=""):
        """Calls `op_name` with `params` and checks the raw answer against the model.
        expect: None (a 2xx), an error code, or a tuple of codes this case is meant to
        provoke (a different outcome means the case did not test what it says)."""
        service = client.meta.service_model.service_name
        if self.only and self.only.lower() not in f"{service}:{op_name}:{case}".lower():
            return None
        model = self.model(service)
        op = model.operation_model(op_name)
        method = {v: k for k, v in client.meta.method_to_api_mapping.items()}[op_name]
        self._raw = None
        parsed, exc = None, None
        try:
            parsed = getattr(client, method)(**(params or {}))
        except botocore.exceptions.ClientError as e:
            exc = e
        except Exception as e:  # noqa: BLE001 - a transport or parser failure is a finding
            exc = e
        raw = self._raw
        checker = Checker(model)
        outcome = None
        if raw is None:
            checker.v("no-response", "<call>", f"no HTTP response captured: {type(exc).__name__}: {exc}")
        else:
            if raw["status"] < 300:
                checker.success(op, raw["status"], raw["headers"], raw["body"])
            else:
                outcome = checker.error(op, raw["status"], raw["headers"], raw["body"], op.http["method"])
            wanted = (expect,) if isinstance(expect, str) else expect
            if wanted is None and raw["status"] >= 300:
                checker.v("case-intent", "<outcome>", f"expected success, got HTTP {raw['status']} {outcome}")
            elif wanted is not None and raw["status"] < 300:
                checker.v("case-intent", "<outcome>", f"expected {'/'.join(wanted)}, got HTTP {raw['status']}")
            elif wanted is not None and outcome not in wanted and not (outcome == "HEAD" and "HEAD" in str(wanted)):
                checker.v("case-intent", "<outcome>", f"expected {'/'.join(wanted)}, got {outcome} (HTTP {raw['status']})")
            if exc is not None and not isinstance(exc, botocore.exceptions.ClientError):
                checker.v("client-parse", "<call>", f"botocore could not handle the response: {type(exc).__name__}: {exc}")
        known, unknown = [], []
        for viol in checker.violations:
            gap = self.gap(op_name, case, viol[0])
            if gap:
                self.seen_gaps.add((gap["operation"], gap["case"], gap["rule"]))
                known.append(viol)
            else:
                unknown.append(viol)
        self.results.append((service, op_name, case, unknown, known, note))
        mark = "FAIL" if unknown else ("gap " if known else "ok  ")
        status = raw["status"] if raw else "-"
        print(f"{mark} {service}:{op_name} [{case}] HTTP {status}" + (f" {outcome}" if outcome else ""))
        for rule, path, detail in unknown + (known if self.verbose else []):
            tag = "known " if (rule, path, detail) in known else ""
            print(f"       {tag}{rule} at {path}: {detail}")
        return parsed

    @staticmethod
    def gap(op, case, rule):
        for g in KNOWN_GAPS:
            if g["operation"] == op and g["case"] in (case, "*") and g["rule"] == rule:
                return g
        return None

    # ---- admin endpoints (faults, clock) ---------------------------------------------
    def admin(self, path, body):
        req = urllib.request.Request(
            f"{self.endpoint}/_sim/{path}", data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def faults(self, rules, **extra):
        cfg = {"rules": rules, "job_duration_ms": 1000}
        cfg.update(extra)
        self.admin("faults", cfg)

    def summary(self):
        print()
        by_op = {}
        for service, op, case, unknown, known, _ in self.results:
            by_op.setdefault((service, op), []).append((case, unknown, known))
        w = max(len(f"{s}:{o}") for s, o in by_op) + 2
        print(f"{'operation'.ljust(w)}cases")
        for (service, op), cases in sorted(by_op.items()):
            cells = []
            for case, unknown, known in cases:
                cells.append(f"{case}={'FAIL' if unknown else ('gap' if known else 'ok')}")
            print(f"{(service + ':' + op).ljust(w)}{', '.join(cells)}")
        stale = [g for g in KNOWN_GAPS if (g["operation"], g["case"], g["rule"]) not in self.seen_gaps
                 and (not self.only or self.only.lower() in g["operation"].lower())]
        for g in stale:
            print(f"STALE known gap (no longer observed; remove it): {g['operation']} [{g['case']}] {g['rule']}")
        ops = len(by_op)
        failed = sum(1 for r in self.results if r[3]) + len(stale)
        gaps = sum(1 for r in self.results if not r[3] and r[4])
        passed = len(self.results) - sum(1 for r in self.results if r[3])
        print(f"{ops} operations, {len(self.results)} cases, {gaps} passing only through known gaps, {len(stale)} stale gaps")
        print(f"{passed} passed, {failed} failed")
        return failed == 0


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def wait_for(predicate, timeout=60.0, step=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


# Services the sim serves in their JSON protocol although botocore's model lists another first:
# CloudWatch's `protocols` are smithy-rpc-v2-cbor, json, query (awsQueryCompatible), and the
# sim (like Ferry's hand-signed call) speaks json. Clients and the checker use that one.
JSON_PROTOCOL = {"cloudwatch"}


def json_protocol(service, raw):
    """`raw` (a service-2 model) speaking the JSON protocol when `service` is in JSON_PROTOCOL."""
    if service in JSON_PROTOCOL and isinstance(raw, dict) and "metadata" in raw:
        raw = dict(raw)
        meta = dict(raw["metadata"])
        assert "json" in meta.get("protocols", [meta.get("protocol")]), f"{service} has no json protocol"
        meta["protocol"] = "json"
        meta["protocols"] = ["json"]
        raw["metadata"] = meta
    return raw


# The cases live in cases.py next to this file.
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ferry", help="the ferry binary: start `ferry sim` and run against it")
    ap.add_argument("--env-file", help="the env file of a sim that is already running")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--only", help="run only cases whose service:Operation:case contains this")
    args = ap.parse_args()
    if bool(args.ferry) == bool(args.env_file):
        ap.error("give exactly one of --ferry or --env-file")

    print(f"botocore {botocore.__version__}, boto3 {boto3.__version__}; models:")
    loader = botocore.loaders.Loader()
    for svc in ("s3", "sts", "iam", "kms", "bedrock", "bedrock-runtime", "service-quotas", "cloudwatch", "sagemaker"):
        version = loader.determine_latest_version(svc, "service-2")
        print(f"  {svc} {version} ({os.path.join(os.path.dirname(botocore.__file__), 'data', svc, version)})")

    from selftest import self_test

    if not self_test():
        print("0 passed, 1 failed")
        return 1

    sim = None
    tmp = None
    env_file = args.env_file
    if args.ferry:
        tmp = tempfile.mkdtemp(prefix="ferry-conformance-")
        env_file = os.path.join(tmp, "sim.env")
        log = open(os.path.join(tmp, "sim.log"), "wb")  # noqa: SIM115 - lives as long as the sim
        sim = subprocess.Popen(
            [args.ferry, "sim", "--port", "0", "--env-file", env_file, "--job-duration", "1"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        if not wait_for(lambda: os.path.exists(env_file) and os.path.getsize(env_file) > 0, timeout=60, step=0.1):
            sim.kill()
            print(f"ferry sim did not start (log: {log.name})")
            return 2
        time.sleep(0.2)
    try:
        from cases import run_cases

        run = Run(read_env(env_file), verbose=args.verbose, only=args.only)
        run.can_advance_clock = sim is not None
        run_cases(run)
        ok = run.summary()
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
