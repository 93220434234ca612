#!/usr/bin/env python3
"""Checks of the operations files that the structural checks missed (issue 19).

  - the job label every scrape path gives (compose's prometheus.yml, the
    PodMonitor, the annotation scrape config) is the one the alerts ask for;
  - every alert of alerts.yml is under test in alerts.test.yml, firing and
    quiet (check.sh runs the tests themselves with promtool);
  - every Strimzi object uses an API version its CRD serves
    (tests/deploy/strimzi-crds.yaml) and the fields of that version;
  - the Kubernetes pieces an operator expects on day one.

usage: check_ops.py ROOT [KUSTOMIZE_OUTPUT_DIR]

Prints "PASS name", "FAIL name: why" or "SKIP name: why", one per line, as
check_deploy.py does; tests/deploy/check.sh counts them.
"""
import glob
import os
import re
import sys

import yaml

ROOT = sys.argv[1]
BUILT = sys.argv[2] if len(sys.argv) > 2 else ""


def report(status, name, why=""):
    print(f"{status} {name}" + (f": {why}" if why else ""), flush=True)


def check(name, cond, why=""):
    report("PASS" if cond else "FAIL", name, "" if cond else why)
    return cond


def path(*parts):
    return os.path.join(ROOT, *parts)


def load(*parts):
    with open(path(*parts), encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_all(f):
    with open(f, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


# -- relabeling, as Prometheus does it (action replace, the default) ---------

def relabel(labels, rules, camel=False):
    """Applies replace/keep rules to a dict of labels; None if dropped."""
    labels = dict(labels)
    for r in rules:
        src = r.get("sourceLabels" if camel else "source_labels") or []
        target = r.get("targetLabel" if camel else "target_label")
        regex = r.get("regex", "(.*)")
        action = r.get("action", "replace")
        value = r.get("separator", ";").join(labels.get(s, "") for s in src)
        m = re.fullmatch(regex, value)
        if action == "keep":
            if not m:
                return None
        elif action == "drop":
            if m:
                return None
        elif action == "replace" and m and target:
            repl = r.get("replacement", "$1")
            out = re.sub(r"\$\{?(\d+)\}?", lambda g: m.group(int(g.group(1))) or "", repl)
            if out:
                labels[target] = out
            else:
                labels.pop(target, None)
    return labels


def base_pods():
    """(component, pod labels, annotations) of every workload in the base."""
    pods = []
    for f in sorted(glob.glob(path("deploy", "k8s", "base", "*.yaml"))):
        for d in load_all(f):
            if d.get("kind") in ("Deployment", "StatefulSet"):
                meta = d["spec"]["template"].get("metadata") or {}
                labels = meta.get("labels") or {}
                pods.append((labels.get("app.kubernetes.io/component"), labels,
                             meta.get("annotations") or {}))
    return pods


def meta_labels(labels, annotations):
    def name(prefix, k):
        return prefix + re.sub(r"[^a-zA-Z0-9_]", "_", k)
    m = {name("__meta_kubernetes_pod_label_", k): v for k, v in labels.items()}
    m.update({name("__meta_kubernetes_pod_annotation_", k): v for k, v in annotations.items()})
    m["__meta_kubernetes_namespace"] = "vigil"
    m["__address__"] = "10.0.0.1:8080"
    return m


def alert_jobs(rules):
    """The job values the alerts name exactly, and the regexes they match."""
    exact, regexes = set(), set()
    for r in rules:
        for op, val in re.findall(r'\bjob\s*(=~|=)\s*"([^"]*)"', r.get("expr", "")):
            (regexes if op == "=~" else exact).add(val)
    return exact, regexes


def check_job_labels():
    alerts = load("deploy", "prometheus", "alerts.yml")
    rules = [r for g in alerts["groups"] for r in g["rules"]]
    exact, regexes = alert_jobs(rules)
    check("jobs: the alerts name the workers' job", "vigil-worker" in exact, f"{exact}")
    pods = base_pods()
    check("jobs: the base has producer, worker and scheduler pods",
          {"producer", "worker", "scheduler"} <= {c for c, _, _ in pods}, f"{pods}")

    # The PodMonitor: job from jobLabel (the operator's default is
    # <namespace>/<name>), then the endpoint's relabelings.
    pm = load("deploy", "k8s", "monitoring", "podmonitor.yaml")
    spec = pm.get("spec") or {}
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    podmonitor = {}
    for comp, labels, ann in pods:
        if not all(labels.get(k) == v for k, v in sel.items()):
            continue
        job = labels.get(spec["jobLabel"]) if spec.get("jobLabel") else \
            f"vigil/{pm['metadata']['name']}"
        for ep in spec.get("podMetricsEndpoints") or []:
            got = relabel({**meta_labels(labels, ann), "job": job}, ep.get("relabelings") or [],
                          camel=True)
            podmonitor.setdefault(comp, set()).add(got["job"] if got else None)
    # The annotation scrape config.
    sc = load("deploy", "prometheus", "scrape-kubernetes.yml")
    annotations = {}
    for j in sc["scrape_configs"]:
        for comp, labels, ann in pods:
            got = relabel({**meta_labels(labels, ann), "job": j["job_name"]},
                          j.get("relabel_configs") or [])
            if got:
                annotations[comp] = got["job"]
    # compose: the job names of prometheus.yml.
    prom = load("deploy", "prometheus", "prometheus.yml")
    compose = {j["job_name"] for j in prom["scrape_configs"]}

    for comp in ("producer", "worker", "scheduler"):
        want = f"vigil-{comp}"
        check(f"jobs: the PodMonitor names the {comp} pods' job {want}",
              podmonitor.get(comp) == {want}, f"got {podmonitor.get(comp)}")
        check(f"jobs: the annotation scrape config names the {comp} pods' job {want}",
              annotations.get(comp) == want, f"got {annotations.get(comp)}")
        check(f"jobs: compose's prometheus.yml has the job {want}", want in compose, f"{compose}")
        for rx in regexes:
            check(f"jobs: {want} matches the alerts' job=~\"{rx}\"", re.fullmatch(rx, want))
    for job in exact:
        check(f"jobs: the alerts' job=\"{job}\" is a job every scrape path gives",
              job in compose and job in annotations.values()
              and any(job in s for s in podmonitor.values()))


def check_alert_tests():
    alerts = load("deploy", "prometheus", "alerts.yml")
    names = [r["alert"] for g in alerts["groups"] for r in g["rules"] if "alert" in r]
    tests = load("deploy", "prometheus", "alerts.test.yml")
    check("alert tests: alerts.test.yml loads alerts.yml", "alerts.yml" in tests.get("rule_files", []))
    fires, quiet = set(), set()
    for t in tests.get("tests", []):
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    for n in names:
        check(f"alert tests: {n} is tested firing", n in fires)
        check(f"alert tests: {n} is tested quiet", n in quiet)


def main():
    check_job_labels()
    check_alert_tests()


if __name__ == "__main__":
    main()
