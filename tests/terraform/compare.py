"""The Terraform rendering equals the JSON rendering, statement for statement.

    python compare.py TERRAFORM_DIR JSON_DIR

TERRAFORM_DIR holds `ferry policy render --format terraform` (one `<side>-<account>/main.tf`
per account), JSON_DIR `ferry policy render --format json` for the same environment. Each
module is parsed with python-hcl2; every `aws_iam_policy_document` data source is rebuilt as
IAM JSON with the module's variables at their defaults and compared with the JSON file of the
same name (`-` as `_`). Every JSON document must be rendered exactly once. Exit 1 on any
difference, printing each.
"""

import glob
import json
import os
import re
import sys

import hcl2

ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def unquote(raw, variables):
    """An HCL string literal as python-hcl2 keeps it ('"..."'), escapes and templates applied,
    `${var.NAME}` replaced by the variable's default. Any other template is an error."""
    if not (isinstance(raw, str) and len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"'):
        raise ValueError(f"not a string literal: {raw!r}")
    s, out, i = raw[1:-1], [], 0
    while i < len(s):
        if s.startswith("$${", i) or s.startswith("%%{", i):
            out.append(s[i + 1 : i + 3])
            i += 3
        elif s.startswith("${", i):
            end = s.index("}", i)
            m = re.fullmatch(r"var\.([a-z0-9_]+)", s[i + 2 : end])
            if not m or m.group(1) not in variables:
                raise ValueError(f"unknown interpolation {s[i:end + 1]!r} in {raw!r}")
            out.append(variables[m.group(1)])
            i = end + 1
        elif s.startswith("%{", i):
            raise ValueError(f"template directive in {raw!r}")
        elif s[i] == "\\":
            nxt = s[i + 1]
            if nxt == "u":
                out.append(chr(int(s[i + 2 : i + 6], 16)))
                i += 6
            else:
                out.append(ESCAPES[nxt])
                i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def as_list(v):
    return v if isinstance(v, list) else [v]


def normalize_json(statement):
    """IAM's equivalent spellings made one: lists for Action/Resource, principal and condition
    values as lists."""
    out = {"Sid": statement.get("Sid"), "Effect": statement["Effect"]}
    out["Action"] = as_list(statement["Action"])
    if "Resource" in statement:
        out["Resource"] = as_list(statement["Resource"])
    p = statement.get("Principal")
    if p == "*":
        out["Principal"] = {"*": ["*"]}
    elif p is not None:
        out["Principal"] = {k: as_list(v) for k, v in p.items()}
    if "Condition" in statement:
        out["Condition"] = {
            test: {k: as_list(v) for k, v in keys.items()}
            for test, keys in statement["Condition"].items()
        }
    extra = set(statement) - {"Sid", "Effect", "Action", "Resource", "Principal", "Condition"}
    if extra:
        out["unrendered"] = sorted(extra)
    return out


def from_hcl(block, variables):
    u = lambda raw: unquote(raw, variables)  # noqa: E731
    out = {"Sid": u(block["sid"]) if "sid" in block else None, "Effect": u(block.get("effect", '"Allow"'))}
    out["Action"] = [u(a) for a in block["actions"]]
    if "resources" in block:
        out["Resource"] = [u(r) for r in block["resources"]]
    if block.get("principals"):
        out["Principal"] = {}
        for p in block["principals"]:
            out["Principal"].setdefault(u(p["type"]), []).extend(u(i) for i in p["identifiers"])
    if block.get("condition"):
        out["Condition"] = {}
        for c in block["condition"]:
            out["Condition"].setdefault(u(c["test"]), {})[u(c["variable"])] = [u(v) for v in c["values"]]
    return out


def ident(name):
    return re.sub(r"[^A-Za-z0-9]", "_", name)


def main(tf_dir, json_dir):
    expected = {}
    for path in glob.glob(os.path.join(json_dir, "*.json")):
        stem = os.path.basename(path)[: -len(".json")]
        with open(path) as f:
            expected[ident(stem)] = (stem, json.load(f))
    problems, seen = [], {}
    modules = sorted(glob.glob(os.path.join(tf_dir, "*", "main.tf")))
    if not modules:
        problems.append(f"no */main.tf under {tf_dir}")
    for module in modules:
        with open(module) as f:
            tree = hcl2.load(f)
        variables = {}
        for block in tree.get("variable", []):
            for name, body in block.items():
                variables[name.strip('"')] = unquote(body["default"], {})
        for block in tree.get("data", []):
            for kind, named in block.items():
                if kind.strip('"') != "aws_iam_policy_document":
                    continue
                for name, body in named.items():
                    name = name.strip('"')
                    if name in seen:
                        problems.append(f"{name}: rendered in {seen[name]} and {module}")
                    seen[name] = module
                    if name not in expected:
                        problems.append(f"{module}: {name} has no JSON document")
                        continue
                    stem, doc = expected[name]
                    want = [normalize_json(s) for s in doc["Statement"]]
                    got = [from_hcl(s, variables) for s in body.get("statement", [])]
                    if doc.get("Version") != "2012-10-17":
                        problems.append(f"{stem}.json: Version {doc.get('Version')!r}")
                    if len(want) != len(got):
                        problems.append(f"{module} {name}: {len(got)} statements, {stem}.json has {len(want)}")
                    for w, g in zip(want, got):
                        if w != g:
                            problems.append(
                                f"{module} {name} statement {w.get('Sid')}:\n  json: {json.dumps(w, sort_keys=True)}\n  hcl:  {json.dumps(g, sort_keys=True)}"
                            )
    for name, (stem, _) in expected.items():
        if name not in seen:
            problems.append(f"{stem}.json is not rendered as Terraform")
    for p in problems:
        print(p)
    count = sum(len(doc["Statement"]) for _, doc in expected.values())
    print(f"{len(expected)} documents, {count} statements: {len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
