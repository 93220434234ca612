#!/usr/bin/env python3
"""Checks of the operations files that the structural checks missed (issue 19).

  - the job label every scrape path gives (compose's prometheus.yml, the
    PodMonitor, the annotation scrape config) is the one the alerts ask for;
  - every alert of alerts.yml is under test in alerts.test.yml, firing and
    quiet (check.sh runs the tests themselves with promtool);
  - every Strimzi object uses an API version its CRD serves, as the @Crd
    annotations of io.strimzi:api's sources say (the release pinned by
    deploy/strimzi/pom.xml; ./dev fetches the jar into .local/strimzi-api),
    and the fields of that version;
  - the Kubernetes pieces an operator expects on day one.

usage: check_ops.py ROOT [KUSTOMIZE_OUTPUT_DIR]

Prints "PASS name", "FAIL name: why" or "SKIP name: why", one per line, as
check_deploy.py does; tests/deploy/check.sh counts them.
"""
import copy
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile

import yaml

from deploylib import check, path, report

BUILT = sys.argv[2] if len(sys.argv) > 2 else ""


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
            if got:  # an endpoint whose relabelings drop the pod does not scrape it
                podmonitor.setdefault(comp, set()).add(got["job"])
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

    for comp in ("producer", "worker", "scheduler", "notifier", "query"):
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


# -- Strimzi --------------------------------------------------------------------
#
# The apiVersions Strimzi's CRDs serve come from io.strimzi:api's sources, the
# model Strimzi's crd-generator builds its CRD YAML from: every custom resource
# class carries
#   @Crd(spec = @Crd.Spec(names = @Crd.Spec.Names(kind = X.RESOURCE_KIND, ...),
#        group = X.RESOURCE_GROUP,
#        versions = {@Crd.Spec.Version(name = Constants.V1, served = true, storage = true)}))
# with the names as String constants. ./dev fetches the jar with Maven, pinned
# by deploy/strimzi/pom.xml (the Strimzi release the overlay targets).

STRIMZI_GROUP = "kafka.strimzi.io"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


class SourceError(Exception):
    """The sources do not say what the check needs (a layout it cannot read)."""


def strimzi_pin():
    """(release, jar path): what deploy/strimzi/pom.xml pins and ./dev fetches."""
    pom = ET.parse(path("deploy", "strimzi", "pom.xml")).getroot()
    version = pom.findtext("m:properties/m:strimzi.version", namespaces=POM_NS).strip()
    return version, path(".local", "strimzi-api", f"api-{version}-sources.jar")


# A string or char literal, a comment, or anything else; comments are dropped
# and literals kept whole, so "//" in a string or ")" in a jsonPath is no issue.
JAVA_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/|//[^\n]*', re.S)


def strip_comments(src):
    return JAVA_TOKEN.sub(lambda m: " " if m.group(0)[0] == "/" else m.group(0), src)


def balanced(src, start):
    """The text between the "(" at src[start] and its matching ")"."""
    depth, i = 0, start
    while i < len(src):
        m = JAVA_TOKEN.match(src, i)
        if m:  # a literal: skip it whole
            i = m.end()
            continue
        depth += {"(": 1, ")": -1}.get(src[i], 0)
        if depth == 0:
            return src[start + 1:i]
        i += 1
    raise SourceError(f"unbalanced parentheses after offset {start}")


EXPR = r'"(?:\\.|[^"\\])*"|[A-Za-z_][\w.]*'


class JavaSources:
    """The String constants and @Crd annotations of a sources jar."""

    def __init__(self, files):
        self.files = {}      # class name (package.Class) -> comment-free source
        self.constants = {}  # class name -> {constant: expression}
        for name, text in files.items():
            src = strip_comments(text)
            pkg = re.search(r"^\s*package\s+([\w.]+)\s*;", src, re.M)
            cls = (pkg.group(1) + "." if pkg else "") + os.path.basename(name)[:-len(".java")]
            self.files[cls] = src
            self.constants[cls] = dict(re.findall(
                r"\bstatic\s+final\s+String\s+(\w+)\s*=\s*(" + EXPR + r")\s*;", src))

    def resolve(self, cls, expr, depth=0):
        """The value of a String expression in cls: a literal, NAME or Class.NAME."""
        expr = expr.strip()
        if expr.startswith('"'):
            return expr[1:-1]
        if depth > 10:
            raise SourceError(f"{cls}: {expr} does not resolve to a literal")
        owner, _, name = expr.rpartition(".")
        target = self.qualify(cls, owner) if owner else cls
        value = self.constants.get(target, {}).get(name)
        if value is None:
            raise SourceError(f"{cls}: cannot resolve {expr}"
                              f" (no String constant {name} in {target})")
        return self.resolve(target, value, depth + 1)

    def qualify(self, cls, owner):
        """The class a simple or qualified name means in cls: imported, or in its package."""
        if owner in self.files:
            return owner
        imported = re.search(r"^\s*import\s+([\w.]+\." + re.escape(owner) + r")\s*;",
                             self.files[cls], re.M)
        if imported:
            return imported.group(1)
        return cls.rpartition(".")[0] + "." + owner

    def crds(self):
        """{kind: (group, [served versions], class)} for every class with @Crd."""
        out = {}
        for cls, src in sorted(self.files.items()):
            m = re.search(r"@Crd\s*\(", src)
            if m:
                kind, group, served = self.crd(cls, src, m.end() - 1)
                out[kind] = (group, served, cls)
        return out

    def crd(self, cls, src, start):
        body = balanced(src, start)
        names = re.search(r"@Crd\.Spec\.Names\s*\(", body)
        kind = names and re.search(r"\bkind\s*=\s*(" + EXPR + ")",
                                   balanced(body, names.end() - 1))
        group = re.search(r"\bgroup\s*=\s*(" + EXPR + ")", body)
        if not kind or not group:
            raise SourceError(f"{cls}: @Crd without names.kind or group")
        served = []
        for v in re.finditer(r"@Crd\.Spec\.Version\s*\(", body):
            args = balanced(body, v.end() - 1)
            name = re.search(r"\bname\s*=\s*(" + EXPR + ")", args)
            flag = re.search(r"\bserved\s*=\s*(true|false)\b", args)
            if not name or not flag:  # served() has no default in Strimzi's @Crd
                raise SourceError(f"{cls}: a @Crd.Spec.Version without name or served:"
                                  f" {args.strip()}")
            if flag.group(1) == "true":
                served.append(self.resolve(cls, name.group(1)))
        return self.resolve(cls, kind.group(1)), self.resolve(cls, group.group(1)), served


def read_jar(jar):
    with zipfile.ZipFile(jar) as z:
        return {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".java")}


def version_failure(obj, crds):
    """Why obj's apiVersion is not one its CRD serves, or None if it is."""
    group, _, version = str(obj.get("apiVersion", "")).partition("/")
    crd = crds.get(obj.get("kind"))
    if crd is None:
        return f"no CRD for kind {obj.get('kind')}"
    if crd[0] != group:
        return f"the {obj['kind']} CRD's group is {crd[0]}, not {group}"
    if version not in crd[1]:
        return f"{obj['kind']}'s CRD serves {crd[1]}, not {version}"
    return None


def strimzi_served(objs):
    """(release, {kind: (group, served, class)}) from io.strimzi:api's sources; the
    CRDs are None, after a FAIL, if the jar is missing or cannot be read."""
    release, jar = strimzi_pin()
    rel = os.path.relpath(jar, path())
    if not check(f"strimzi: Strimzi {release}'s API sources are fetched ({rel})",
                 os.path.isfile(jar), "missing: run ./dev build (or ./dev test), which fetches"
                 " them with Maven (deploy/strimzi/pom.xml)"):
        return release, None
    try:
        files = read_jar(jar)
        crds = JavaSources(files).crds()
    except (SourceError, zipfile.BadZipFile, OSError, UnicodeDecodeError) as e:
        check(f"strimzi: the CRDs of {rel} are readable", False, str(e))
        return release, None
    for kind in sorted({d["kind"] for d in objs}):
        crd = crds.get(kind)
        check(f"strimzi: Strimzi {release} declares the {kind} CRD and the versions it serves"
              f" ({crd[1] if crd else None})", crd and crd[0] == STRIMZI_GROUP and crd[1],
              f"{crd}")
    # The check can fail: a served = false in a doctored copy of a CRD's
    # class leaves that kind no version.
    kafka = crds.get("Kafka")
    if kafka:
        cls = kafka[2]
        name = next(n for n in files if n.endswith(cls.replace(".", "/") + ".java"))
        doctored = dict(files)
        doctored[name] = re.sub(r"\bserved\s*=\s*true\b", "served = false", files[name])
        got = JavaSources(doctored).crds().get("Kafka")
        check("strimzi: self-test: a doctored Kafka class with served = false serves nothing",
              got is not None and got[1] == [], f"{got}")
    return release, crds


def check_strimzi():
    objs = [d for f in sorted(glob.glob(path("deploy", "k8s", "overlays", "strimzi", "*.yaml")))
            for d in load_all(f) if str(d.get("apiVersion", "")).startswith(STRIMZI_GROUP + "/")]
    check("strimzi: the overlay has Strimzi objects", bool(objs))
    release, crds = strimzi_served(objs)
    for d in objs:
        kind, version = d["kind"], d["apiVersion"].split("/", 1)[1]
        name = f"{kind} {d['metadata']['name']}"
        if crds is not None:
            why = version_failure(d, crds)
            check(f"strimzi: {name} uses a version Strimzi {release} serves ({version})",
                  why is None, why)
        spec = d.get("spec") or {}
        if kind == "Kafka":
            # v1: KRaft and node pools only; listeners authenticate.
            check(f"strimzi: {name} has no v1beta2-only fields",
                  "zookeeper" not in spec and not {"replicas", "storage"} & set(spec.get("kafka", {})),
                  f"spec: {list(spec)}, kafka: {list(spec.get('kafka', {}))}")
            listeners = spec.get("kafka", {}).get("listeners", [])
            check(f"strimzi: {name} has a TLS listener with SCRAM-SHA-512",
                  any(l.get("tls") and (l.get("authentication") or {}).get("type") == "scram-sha-512"
                      for l in listeners), f"{listeners}")
            check(f"strimzi: {name} has no unauthenticated listener",
                  all(l.get("authentication") for l in listeners), f"{listeners}")
        if kind == "KafkaUser":
            acls = (spec.get("authorization") or {}).get("acls", [])
            check(f"strimzi: {name} ACLs use v1's operations list",
                  acls and all(isinstance(a.get("operations"), list) and "operation" not in a
                               for a in acls), f"{acls}")
    # The check can fail: a copy of one object of each kind at v1beta2 (the
    # version Strimzi 1.0 stopped serving) must be refused.
    if crds is not None:
        for kind in sorted({d["kind"] for d in objs}):
            d = copy.deepcopy(next(o for o in objs if o["kind"] == kind))
            d["apiVersion"] = f"{STRIMZI_GROUP}/v1beta2"
            check(f"strimzi: self-test: a doctored copy of {kind} {d['metadata']['name']}"
                  f" at {d['apiVersion']} is refused", version_failure(d, crds) is not None,
                  f"accepted; served: {crds.get(kind)}")
    # The clients match the listener.
    env = {}
    for d in load_all(path("deploy", "k8s", "overlays", "strimzi", "patch-env.yaml")):
        env.update(d.get("data") or {})
    port = next((l["port"] for d in objs if d["kind"] == "Kafka"
                 for l in d["spec"]["kafka"]["listeners"] if l.get("tls")), None)
    check("strimzi: the programs' brokers are the TLS listener's port",
          str(env.get("VIGIL_KAFKA_BROKERS", "")).endswith(f":{port}"), f"{env}")
    props = env.get("KAFKA_CLIENT_PROPERTIES", "")
    check("strimzi: the client properties say SASL_SSL and SCRAM-SHA-512",
          "security.protocol=SASL_SSL" in props and "sasl.mechanisms=SCRAM-SHA-512" in props,
          props)
    if BUILT and os.path.exists(os.path.join(BUILT, "strimzi.yaml")):
        built = load_all(os.path.join(BUILT, "strimzi.yaml"))
        so = [d for d in built if d.get("kind") == "ScaledObject"]
        ta = {d["metadata"]["name"] for d in built if d.get("kind") == "TriggerAuthentication"}
        check("strimzi: every KEDA trigger authenticates with a TriggerAuthentication of the overlay",
              so and all((t.get("authenticationRef") or {}).get("name") in ta
                         for d in so for t in d["spec"]["triggers"]), f"{ta}")
        users = {d["metadata"]["name"] for d in built if d.get("kind") == "KafkaUser"}
        # vigil-query reads PostgreSQL only: it never talks to Kafka.
        pods = [d for d in built if d.get("kind") in ("Deployment", "Job")
                and d["metadata"]["name"] != "vigil-query"]
        for d in pods:
            spec = d["spec"]["template"]["spec"]
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                e = {v["name"]: v for v in c.get("env", [])}
                ref = ((e.get("KAFKA_SASL_PASSWORD") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                check(f"strimzi: {d['metadata']['name']}/{c['name']} uses a KafkaUser's password",
                      ref.get("name") in users and "VIGIL_KAFKA_PROPERTIES" in e, f"{list(e)}")


# -- Kubernetes day-one pieces ----------------------------------------------------

def check_k8s_ops():
    base = [d for f in sorted(glob.glob(path("deploy", "k8s", "base", "*.yaml"))) for d in load_all(f)]
    by = lambda kind: [d for d in base if d.get("kind") == kind]
    comp = lambda d: ((d.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).get(
        "app.kubernetes.io/component") or (d.get("metadata", {}).get("labels") or {}).get(
        "app.kubernetes.io/component")
    check("k8s: a PodDisruptionBudget for the scheduler",
          any(comp(d) == "scheduler" for d in by("PodDisruptionBudget")))
    # A Job's pod template is immutable: applying a new image to a Job that
    # still exists fails. With ttlSecondsAfterFinished 0 the finished Job is
    # deleted at once, so every apply (an upgrade) creates and runs it again.
    # Its output then lives on in the init containers that run the same
    # `vigilctl migrate` before each worker and scheduler (docs/operations.md).
    job = next((d for d in by("Job") if d["metadata"]["name"] == "vigil-migrate"), {})
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    check("k8s: the migrate Job is deleted as soon as it finished (ttlSecondsAfterFinished: 0),"
          " so the next apply re-runs it", ttl == 0, f"ttlSecondsAfterFinished: {ttl}")
    if BUILT and os.path.exists(os.path.join(BUILT, "strimzi.yaml")):
        jobs = [d for d in load_all(os.path.join(BUILT, "strimzi.yaml")) if d.get("kind") == "Job"]
        ttls = [(d.get("spec") or {}).get("ttlSecondsAfterFinished") for d in jobs]
        check("k8s: the Strimzi overlay's migrate Job keeps ttlSecondsAfterFinished: 0",
              jobs and all(t == 0 for t in ttls), f"{ttls}")
    for c in ("worker", "scheduler"):
        dep = next((d for d in by("Deployment") if comp(d) == c), {})
        inits = ((((dep.get("spec") or {}).get("template") or {}).get("spec") or {})
                 .get("initContainers") or [])
        check(f"k8s: the {c} runs vigilctl migrate in an init container (waits for the schema;"
              " keeps the migrations' output once the Job is gone)",
              any("migrate" in " ".join(i.get("command") or []) for i in inits))
    nps = by("NetworkPolicy")
    check("k8s: NetworkPolicies in the base", bool(nps))
    def egress_ports(component):
        ports = set()
        for np in nps:
            sel = (np["spec"].get("podSelector") or {}).get("matchLabels") or {}
            if sel.get("app.kubernetes.io/component") not in (component, None):
                continue
            for rule in np["spec"].get("egress", []) or []:
                for p in rule.get("ports", []) or []:
                    ports.add(p.get("port"))
        return ports
    prod = egress_ports("producer")
    check("k8s: the producer reaches Kafka and DNS only, not PostgreSQL",
          prod and 5432 not in prod and ({9092, 9093} & prod), f"{prod}")
    for c in ("worker", "scheduler"):
        check(f"k8s: the {c} may reach PostgreSQL", 5432 in egress_ports(c))
    # The HPA example does not fight a fixed replicas.
    ex = path("deploy", "k8s", "examples", "producer-hpa")
    if BUILT and os.path.exists(os.path.join(BUILT, "producer-hpa.yaml")):
        built = load_all(os.path.join(BUILT, "producer-hpa.yaml"))
        dep = next(d for d in built if d.get("kind") == "Deployment"
                   and d["metadata"]["name"] == "vigil-producer")
        hpa = [d for d in built if d.get("kind") == "HorizontalPodAutoscaler"]
        check("k8s: the producer HPA example has an HPA on vigil-producer",
              any(h["spec"]["scaleTargetRef"]["name"] == "vigil-producer" for h in hpa))
        check("k8s: with the HPA the producer Deployment sets no replicas",
              "replicas" not in dep["spec"], f"replicas: {dep['spec'].get('replicas')}")
        ing = [d for d in built if d.get("kind") == "Ingress"]
        check("k8s: an Ingress with TLS for the producer",
              any(i["spec"].get("tls") for i in ing))
    else:
        report("SKIP", "k8s: the producer HPA and Ingress example", f"not built ({ex})")


def main():
    check_job_labels()
    check_alert_tests()
    check_strimzi()
    check_k8s_ops()


if __name__ == "__main__":
    main()
