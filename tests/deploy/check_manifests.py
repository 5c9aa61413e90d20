"""What the schemas and checkov cannot know about Ferry's rendered manifests.

    check_manifests.py RENDERED.yaml --dockerfile deploy/Dockerfile --config-out FILE
                       [--replicas N] [--irsa]

Checks that the termination grace covers Ferry's shutdown (server.shutdown_grace_secs of
the mounted ferry.toml), that the pods run as the image's user, that the container listens
where ferry.toml says, that selectors select the Deployment's pods, that the database URL
comes from the Secret by reference and no Secret is rendered, that the Job migrates and the
Deployment serves; with --replicas and --irsa, the production overlay's count and role.
Writes the mounted ferry.toml to --config-out for `ferry config check`. Exit 1 on a problem.
"""

import argparse
import re
import sys
import tomllib

import yaml

CONFIG_DIR = "/etc/ferry"
SECRET = ("ferry-database", "url")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--config-out", required=True)
    ap.add_argument("--replicas", type=int)
    ap.add_argument("--irsa", action="store_true")
    args = ap.parse_args()

    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    problems: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    need("Secret" not in by_kind, "a Secret is rendered: secrets are created by the operator, never committed")
    deploy = by_kind["Deployment"]["ferry"]
    job = by_kind["Job"]["ferry-migrate"]
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    # The configuration the pods mount, and what it says.
    (cm_ref,) = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v]
    cm = by_kind["ConfigMap"].get(cm_ref)
    need(cm is not None, f"the pods mount ConfigMap {cm_ref}, which is not rendered")
    toml_text = cm["data"]["ferry.toml"] if cm else ""
    config = tomllib.loads(toml_text)
    with open(args.config_out, "w", encoding="utf-8") as f:
        f.write(toml_text)
    for name, spec in (("Deployment", pod), ("Job", job["spec"]["template"]["spec"])):
        (c,) = spec["containers"]
        need(c["args"][:2] == ["--config", f"{CONFIG_DIR}/ferry.toml"],
             f"{name}: ferry is not given --config {CONFIG_DIR}/ferry.toml")
        need(any(m["mountPath"] == CONFIG_DIR for m in c["volumeMounts"]),
             f"{name}: nothing is mounted at {CONFIG_DIR}")
        refs = [(e["name"], e.get("valueFrom", {}).get("secretKeyRef")) for e in c.get("env", [])]
        need(("DATABASE_URL", {"name": SECRET[0], "key": SECRET[1]}) in refs,
             f"{name}: DATABASE_URL does not come from Secret {SECRET[0]} key {SECRET[1]}")
    need(container["args"][-1] == "serve", "the Deployment does not run `ferry serve`")
    need(job["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "migrate",
         "the Job does not run `ferry migrate`")

    # Shutdown: preStop, then the API's drain and the worker's, each up to the grace.
    grace = config.get("server", {}).get("shutdown_grace_secs", 20)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    tgps = pod.get("terminationGracePeriodSeconds", 30)
    need(tgps >= pre_stop + 2 * grace + 5,
         f"terminationGracePeriodSeconds {tgps} < preStop {pre_stop} + 2 x shutdown_grace_secs "
         f"{grace} + 5 s margin")

    # The port ferry listens on is the container's http port.
    listen = config.get("server", {}).get("listen", "")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    need(listen.rsplit(":", 1)[-1] == str(ports.get("http")),
         f"server.listen {listen!r} is not the container's http port {ports.get('http')}")

    # The metrics listener is the container's metrics port, and the scrape annotations
    # name it.
    metrics = config.get("metrics", {}).get("listen", "")
    need(metrics.rsplit(":", 1)[-1] == str(ports.get("metrics")),
         f"metrics.listen {metrics!r} is not the container's metrics port {ports.get('metrics')}")
    notes = deploy["spec"]["template"]["metadata"].get("annotations", {})
    need(notes.get("prometheus.io/scrape") == "true", "the pods lack prometheus.io/scrape")
    need(notes.get("prometheus.io/port") == str(ports.get("metrics")),
         "prometheus.io/port is not the metrics port")

    # The image's user.
    m = re.search(r"^USER\s+(\d+)(?::(\d+))?\s*$", open(args.dockerfile, encoding="utf-8").read(), re.M)
    need(m is not None, f"{args.dockerfile}: USER is not numeric")
    if m:
        for name, spec in (("Deployment", pod), ("Job", job["spec"]["template"]["spec"])):
            sc = spec.get("securityContext", {})
            need(str(sc.get("runAsUser")) == m.group(1), f"{name}: runAsUser is not the image's {m.group(1)}")
            need(m.group(2) is None or str(sc.get("runAsGroup")) == m.group(2),
                 f"{name}: runAsGroup is not the image's {m.group(2)}")

    # Selectors select the server's pods.
    labels = deploy["spec"]["template"]["metadata"]["labels"]

    def selects(sel: dict) -> bool:
        return all(labels.get(k) == v for k, v in sel.items())

    need(selects(deploy["spec"]["selector"]["matchLabels"]), "the Deployment's selector misses its pods")
    need(selects(by_kind["Service"]["ferry"]["spec"]["selector"]), "the Service misses the pods")
    need(selects(by_kind["PodDisruptionBudget"]["ferry"]["spec"]["selector"]["matchLabels"]),
         "the PodDisruptionBudget misses the pods")
    for name, np in by_kind.get("NetworkPolicy", {}).items():
        need(selects(np["spec"]["podSelector"]["matchLabels"]), f"NetworkPolicy {name} misses the pods")
    need(pod["serviceAccountName"] in by_kind["ServiceAccount"], "the Deployment's ServiceAccount is not rendered")

    if args.replicas is not None:
        need(deploy["spec"].get("replicas") == args.replicas,
             f"replicas {deploy['spec'].get('replicas')}, expected {args.replicas}")
    if args.irsa:
        arn = by_kind["ServiceAccount"][pod["serviceAccountName"]]["metadata"].get("annotations", {}).get(
            "eks.amazonaws.com/role-arn", "")
        need(re.fullmatch(r"arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn) is not None,
             f"the ServiceAccount's eks.amazonaws.com/role-arn is not a role ARN: {arn!r}")

    for p in problems:
        print(f"{args.rendered}: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
