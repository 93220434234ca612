#!/usr/bin/env python3
"""Structural checks of Vigil's deployment files (issue 9).

No Docker engine and no Kubernetes cluster are available where the tests
run, so this checks what can be checked without them: that compose.yaml,
the Kubernetes manifests, the Prometheus and Grafana files, the Dockerfile
and the production config have the shape the real systems need, and that
they agree with each other and with the code (metric names, ports, topic
names, the consumer group).

usage: check_deploy.py ROOT RESOLVED_COMPOSE_YAML

Prints one line per check: "PASS name", "FAIL name: why" or "SKIP name: why".
tests/deploy/check.sh counts them.
"""
import glob
import json
import os
import re
import sys

import yaml

from deploylib import ROOT, check, path, read, report

COMPOSE_RESOLVED = sys.argv[2] if len(sys.argv) > 2 else ""


def duration_s(text):
    """Seconds of a compose duration such as "60s", "1m30s", "1h"."""
    total, found = 0.0, False
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)", str(text)):
        found = True
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}[unit]
    return total if found else None


# -- the production config ---------------------------------------------------

PROD_CONF = read("config", "vigil.production.conf")


def conf_block(text, name):
    """Body of the first `name = { ... };` group (no nesting beyond one level)."""
    m = re.search(r"^\s*" + re.escape(name) + r"\s*=\s*\{(.*?)^\s*\};", text, re.S | re.M)
    return m.group(1) if m else ""


def strip_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


CONF = strip_comments(PROD_CONF)
PARTITIONS = {k: int(v) for k, v in
              re.findall(r"(\w+)\s*=\s*(\d+);", conf_block(CONF, "partitions"))}
TOPICS = dict(re.findall(r'(\w+)\s*=\s*"([^"]+)";', conf_block(CONF, "topics")))
GROUP = (re.search(r'group\s*=\s*"([^"]+)";', conf_block(CONF, "worker")) or [None, None])[1]


def check_config():
    check("config: production config defines no tenant keys",
          not re.search(r'keys_sha256\s*=\s*\[\s*"', CONF) and re.search(r"tenants\s*=\s*\(\s*\)\s*;", CONF),
          "config/vigil.production.conf must ship `tenants = ( );` and no keys_sha256")
    listens = re.findall(r'listen\s*=\s*"([^"]*)"', CONF)
    check("config: every server listens on 0.0.0.0 (the producer's API and internal listener, "
          "the worker's, the scheduler's, the notifier's and the query's)",
          len(listens) == 6 and all(v == "0.0.0.0" for v in listens), f"listen values: {listens}")
    check("config: no secrets in the production config",
          not re.search(r"(command_secret|token_secret)\s*=", CONF)
          and not re.search(r"postgres(ql)?://[^:@/\"]+:[^@\"]+@", CONF),
          "secrets and passwords belong in the environment")
    check("config: topics, partitions and the worker group are readable",
          set(TOPICS) == {"events", "heartbeats", "commands", "summaries", "dlq"}
          and set(PARTITIONS) == set(TOPICS) and GROUP,
          f"topics={TOPICS} partitions={PARTITIONS} group={GROUP}")


# -- metric names: dashboards and alerts against the code ----------------------

def code_metric_names():
    names = set()
    for d in ("common", "producer", "worker", "scheduler", "notifier", "query", "tools"):
        for f in glob.glob(path(d, "*.c")):
            with open(f, encoding="utf-8", errors="replace") as fh:
                names.update(re.findall(r'"(vigil_[a-z0-9_]+)"', fh.read()))
    return names


def referenced_metrics(exprs):
    found = set()
    for e in exprs:
        for name in re.findall(r"\b(vigil_[a-z0-9_]+)", e):
            found.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return found


# Metrics of the scheduler and of command execution, declared by work in
# progress when the dashboard was written. Once the code declares them they
# pass like any other; remove them from here then.
PENDING_METRICS = {
    "vigil_scheduler_leader", "vigil_scheduler_commands_emitted_total",
    "vigil_scheduler_emit_failures_total", "vigil_scheduler_last_fired_slot_seconds",
    "vigil_worker_commands_total", "vigil_worker_commands_refused_total",
    "vigil_worker_command_rows_total",
}


def check_metric_names(where, exprs):
    known = code_metric_names()
    for name in sorted(referenced_metrics(exprs)):
        if name in known:
            report("PASS", f"{where}: metric {name} exists in the code")
        elif name in PENDING_METRICS:
            # Being written with the scheduler and commands; the panels and
            # alerts stay silent until the programs export them.
            report("SKIP", f"{where}: metric {name}", "not in the code yet (scheduler and commands)")
        else:
            report("FAIL", f"{where}: metric {name} exists in the code",
                   "no vg_metrics_* declaration names it")


# -- compose ---------------------------------------------------------------------

def check_compose():
    if not COMPOSE_RESOLVED or not os.path.exists(COMPOSE_RESOLVED):
        report("SKIP", "compose: resolved configuration", "docker-compose config produced nothing")
        return
    with open(COMPOSE_RESOLVED, encoding="utf-8") as f:
        c = yaml.safe_load(f)
    if not isinstance(c, dict):
        report("FAIL", "compose: resolved configuration", "docker-compose config failed (see above)")
        return
    svcs = c.get("services", {})
    need = ["postgres", "kafka", "migrate", "producer", "worker", "scheduler", "notifier", "prometheus",
            "grafana"]
    check("compose: services " + ", ".join(need), all(s in svcs for s in need),
          f"missing: {[s for s in need if s not in svcs]}")
    if not all(s in svcs for s in need):
        return
    # Grafana and Prometheus are for the operator on this host: published on
    # loopback only (a reverse proxy or an SSH tunnel reaches them).
    def loopback(p):
        if isinstance(p, dict):
            return p.get("host_ip") == "127.0.0.1"
        return str(p).startswith("127.0.0.1:")
    for name in ("grafana", "prometheus"):
        ports = svcs[name].get("ports") or []
        check(f"compose: {name} is published on 127.0.0.1 only",
              all(loopback(p) for p in ports), f"ports: {ports}")
    genv = svcs["grafana"].get("environment") or {}
    check("compose: Grafana's admin password is the operator's (GRAFANA_ADMIN_PASSWORD)",
          genv.get("GF_SECURITY_ADMIN_PASSWORD") not in (None, "", "admin"),
          f"GF_SECURITY_ADMIN_PASSWORD={genv.get('GF_SECURITY_ADMIN_PASSWORD')}")
    w = svcs["worker"]
    check("compose: worker has no container_name (scales)", "container_name" not in w)
    check("compose: worker publishes no host port (scales)", not w.get("ports"),
          f"ports: {w.get('ports')}")
    grace = duration_s(w.get("stop_grace_period", ""))
    check("compose: worker stop_grace_period longer than a batch (>= 30s)",
          grace is not None and grace >= 30, f"stop_grace_period: {w.get('stop_grace_period')}")
    for name in ("kafka", "postgres"):
        hc = svcs[name].get("healthcheck") or {}
        test = hc.get("test")
        check(f"compose: {name} has a health check",
              bool(test) and not hc.get("disable") and test != ["NONE"], f"healthcheck: {hc}")
    kenv = svcs["kafka"].get("environment", {})
    check("compose: Kafka is the official image in KRaft mode",
          str(svcs["kafka"].get("image", "")).startswith("apache/kafka:")
          and "broker" in str(kenv.get("KAFKA_PROCESS_ROLES", ""))
          and "controller" in str(kenv.get("KAFKA_PROCESS_ROLES", "")),
          f"image {svcs['kafka'].get('image')}, roles {kenv.get('KAFKA_PROCESS_ROLES')}")
    check("compose: PostgreSQL 15", str(svcs["postgres"].get("image", "")).startswith("postgres:15"))
    dep = svcs["migrate"].get("depends_on") or {}
    check("compose: migrate waits for healthy Kafka and PostgreSQL",
          isinstance(dep, dict) and all(dep.get(s, {}).get("condition") == "service_healthy"
                                        for s in ("postgres", "kafka")), f"depends_on: {dep}")
    cmd = " ".join(svcs["migrate"].get("command") or []) + " " + " ".join(svcs["migrate"].get("entrypoint") or [])
    check("compose: migrate runs vigilctl migrate and vigilctl topics",
          "vigilctl migrate" in cmd and "vigilctl topics" in cmd, f"command: {cmd}")
    for name in ("producer", "worker", "scheduler", "notifier"):
        d = svcs[name].get("depends_on") or {}
        check(f"compose: {name} starts after a successful migrate",
              isinstance(d, dict) and d.get("migrate", {}).get("condition") == "service_completed_successfully",
              f"depends_on: {d}")
    for name in ("migrate", "producer", "worker", "scheduler", "notifier"):
        env = svcs[name].get("environment") or {}
        missing = [k for k in ("VIGIL_KAFKA_BROKERS", "VIGIL_DATABASE_URL", "VIGIL_COMMAND_SECRET",
                               "VIGIL_TOKEN_SECRET") if not env.get(k)]
        check(f"compose: {name} is configured through the environment", not missing,
              f"missing {missing}")
    for name, var, port in (("producer", "VIGIL_PRODUCER_LISTEN", None),
                            ("worker", "VIGIL_WORKER_LISTEN", "VIGIL_WORKER_HTTP_PORT"),
                            ("scheduler", "VIGIL_SCHEDULER_LISTEN", "VIGIL_SCHEDULER_HTTP_PORT"),
                            ("notifier", "VIGIL_NOTIFIER_LISTEN", "VIGIL_NOTIFIER_HTTP_PORT")):
        env = svcs[name].get("environment") or {}
        check(f"compose: {name} listens on all interfaces", env.get(var) == "0.0.0.0",
              f"{var}={env.get(var)}")
    # Every file a service mounts from this repository exists.
    for sname, s in svcs.items():
        for v in s.get("volumes") or []:
            src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
            if src and src.startswith(ROOT):
                check(f"compose: {sname} mounts existing {os.path.relpath(src, ROOT)}",
                      os.path.exists(src))

    # Prometheus scrapes every program, workers by DNS.
    prom = yaml.safe_load(read("deploy", "prometheus", "prometheus.yml"))
    jobs = {j["job_name"]: j for j in prom.get("scrape_configs", [])}
    static = lambda j: [t for sc in j.get("static_configs", []) for t in sc.get("targets", [])]
    check("prometheus: scrapes the producer's internal listener, producer:9102",
          static(jobs.get("vigil-producer", {})) == ["producer:9102"])
    check("prometheus: scrapes scheduler:9101", "scheduler:9101" in static(jobs.get("vigil-scheduler", {})))
    check("prometheus: scrapes notifier:9121", "notifier:9121" in static(jobs.get("vigil-notifier", {})))
    dns = [d for d in jobs.get("vigil-worker", {}).get("dns_sd_configs", [])]
    check("prometheus: discovers every worker replica by DNS on 9111",
          any("worker" in d.get("names", []) and d.get("port") == 9111 and d.get("type", "SRV") == "A"
              for d in dns), f"dns_sd_configs: {dns}")
    mounts = [str(v.get("target") if isinstance(v, dict) else v) for v in svcs["prometheus"].get("volumes", [])]
    check("prometheus: its rule files are mounted",
          all(any(r in m for m in mounts) for r in prom.get("rule_files", [])),
          f"rule_files {prom.get('rule_files')} vs mounts {mounts}")

    # Grafana: provisioned data sources and the dashboard folder.
    gmounts = {(v.get("target") if isinstance(v, dict) else str(v).split(":")[1]):
               (v.get("source") if isinstance(v, dict) else str(v).split(":")[0])
               for v in svcs["grafana"].get("volumes", [])}
    prov = yaml.safe_load(read("deploy", "grafana", "provisioning", "dashboards", "vigil.yaml"))
    dpath = prov["providers"][0]["options"]["path"]
    check("grafana: the dashboard folder is mounted where the provider looks", dpath in gmounts,
          f"provider path {dpath}, mounts {list(gmounts)}")
    check("grafana: provisioning is mounted at /etc/grafana/provisioning",
          "/etc/grafana/provisioning" in gmounts)


# -- Grafana dashboard -----------------------------------------------------------

def check_grafana_role():
    # Grafana's login reads mart and ops, never raw payloads: the dashboards
    # need nothing else, and nothing grants more.
    sql = []
    for f in glob.glob(path("deploy", "grafana", "dashboards", "*.json")):
        sql += re.findall(r'"rawSql":\s*"((?:[^"\\]|\\.)*)"', open(f, encoding="utf-8").read())
    tables = set(re.findall(r"(?:FROM|JOIN)\s+([a-z_]+)\.", " ".join(sql), re.I))
    check("grafana: the dashboards read the mart and ops schemas only",
          sql and tables <= {"mart", "ops"}, f"schemas {sorted(tables)}")
    init = read("deploy", "grafana", "postgres-init", "10-grafana-reader.sh")
    check("grafana: the compose init script grants grafana_reader nothing database-wide",
          not re.search(r"GRANT\s", init, re.I), "it must not GRANT (the migration does)")
    mig = glob.glob(path("schemas", "sql", "*_grafana_reader.sql"))
    text = open(mig[0], encoding="utf-8").read() if mig else ""
    grants = re.findall(r"\bGRANT\s+[A-Z ]+ON\s+(?:ALL TABLES IN )?SCHEMAS?\s+([a-z_, ]+)", text)
    granted = {s.strip() for g in grants for s in g.split(",")}
    check("grafana: a migration grants grafana_reader mart and ops, and no other schema",
          granted == {"mart", "ops"}, f"granted {sorted(granted)}")


def check_grafana():
    ds = yaml.safe_load(read("deploy", "grafana", "provisioning", "datasources", "vigil.yaml"))
    uids = {d["uid"]: d["type"] for d in ds.get("datasources", [])}
    check("grafana: Prometheus and PostgreSQL data sources",
          uids.get("vigil-prometheus") == "prometheus" and "vigil-postgres" in uids, f"{uids}")
    files = glob.glob(path("deploy", "grafana", "dashboards", "*.json"))
    check("grafana: a dashboard file", bool(files))
    exprs = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            try:
                d = json.load(fh)
            except ValueError as e:
                check(f"grafana: {os.path.basename(f)} is JSON", False, str(e))
                continue
        panels = d.get("panels", [])
        check(f"grafana: {os.path.basename(f)} has a uid and panels", d.get("uid") and panels)
        ids = [p.get("id") for p in panels]
        check(f"grafana: {os.path.basename(f)} panel ids are unique", len(ids) == len(set(ids)))
        bad = []
        for p in panels:
            for t in p.get("targets", []) + ([{"datasource": p["datasource"]}] if "datasource" in p else []):
                uid = (t.get("datasource") or {}).get("uid")
                if uid and uid not in uids:
                    bad.append(f"{p.get('title')}: {uid}")
                if "expr" in t:
                    exprs.append(t["expr"])
        check(f"grafana: {os.path.basename(f)} uses only provisioned data sources", not bad, f"{bad}")
        titles = " | ".join(p.get("title", "").lower() for p in panels)
        for what, words in (("ingest rate", ["ingest"]), ("consumer lag", ["lag"]),
                            ("batch latency", ["batch"]), ("DLQ", ["dead letter"]),
                            ("sessions active", ["sessions active"]), ("timeouts", ["timed out", "timeout"])):
            check(f"grafana: dashboard shows {what}", any(w in titles for w in words))
    check_metric_names("grafana", exprs)


# -- Prometheus alerts -----------------------------------------------------------

def check_alerts():
    rules = yaml.safe_load(read("deploy", "prometheus", "alerts.yml"))
    flat = [r for g in rules.get("groups", []) for r in g.get("rules", [])]
    check("alerts: rules exist", bool(flat))
    for r in flat:
        check(f"alerts: {r.get('alert')} has expr, severity and summary",
              r.get("alert") and r.get("expr") and (r.get("labels") or {}).get("severity")
              and (r.get("annotations") or {}).get("summary"))
    check_metric_names("alerts", [r.get("expr", "") for r in flat])
    pr = path("deploy", "k8s", "monitoring", "prometheusrule.yaml")
    if os.path.exists(pr):
        with open(pr, encoding="utf-8") as f:
            k = yaml.safe_load(f)
        check("alerts: the PrometheusRule carries the same groups as alerts.yml",
              (k.get("spec") or {}).get("groups") == rules.get("groups"))


# -- Kubernetes --------------------------------------------------------------------

def load_docs(f):
    with open(f, encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def pod_spec(obj):
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s():
    kdir = path("deploy", "k8s")
    files = sorted(glob.glob(os.path.join(kdir, "**", "*.yaml"), recursive=True)
                   + glob.glob(os.path.join(kdir, "**", "*.yml"), recursive=True))
    check("k8s: manifests exist under deploy/k8s", bool(files))
    objs = {}  # relative dir -> [objects]
    for f in files:
        rel = os.path.relpath(f, ROOT)
        try:
            docs = load_docs(f)
        except yaml.YAMLError as e:
            check(f"k8s: {rel} parses", False, str(e).splitlines()[0])
            continue
        ok = bool(docs)
        why = "empty"
        for d in docs:
            if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind"):
                ok, why = False, "a document without apiVersion or kind"
            elif d["kind"] != "Kustomization" and not (d.get("metadata") or {}).get("name"):
                ok, why = False, f"a {d['kind']} without metadata.name"
        check(f"k8s: {rel} parses, with apiVersion, kind and metadata.name", ok, why)
        if os.path.basename(f) == "kustomization.yaml":
            k = docs[0] if docs else {}
            refs = list(k.get("resources", [])) + [p["path"] for p in k.get("patches", []) if "path" in p]
            missing = [r for r in refs if not os.path.exists(os.path.join(os.path.dirname(f), r))]
            check(f"k8s: {rel} lists only existing files", not missing, f"missing {missing}")
        else:
            objs.setdefault(os.path.relpath(os.path.dirname(f), kdir), []).extend(
                d for d in docs if isinstance(d, dict))

    base = objs.get("base", [])
    by_kind = {}
    for o in base:
        by_kind.setdefault(o.get("kind"), []).append(o)

    deps = {}
    for d in by_kind.get("Deployment", []):
        cmd = " ".join((pod_spec(d).get("containers") or [{}])[0].get("command") or [])
        for prog in ("vigil-producer", "vigil-worker", "vigil-scheduler", "vigil-notifier", "vigil-query"):
            if prog in cmd:
                deps[prog] = d
    check("k8s: Deployments for producer, worker, scheduler, notifier and query",
          set(deps) == {"vigil-producer", "vigil-worker", "vigil-scheduler", "vigil-notifier",
              "vigil-query"},
          f"found {sorted(deps)}")
    pdbs = {tuple(sorted(((p.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).items()))
            for p in by_kind.get("PodDisruptionBudget", [])}
    for prog in ("vigil-worker", "vigil-notifier", "vigil-query"):
        if prog in deps:
            want = ((deps[prog]["spec"].get("selector") or {}).get("matchLabels") or {})
            check(f"k8s: a PodDisruptionBudget covers {prog}", tuple(sorted(want.items())) in pdbs)

    for prog, d in sorted(deps.items()):
        spec = pod_spec(d)
        name = d["metadata"]["name"]
        tmpl_labels = ((d["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        check(f"k8s: {name} selector matches its pod labels",
              labels_match((d["spec"].get("selector") or {}).get("matchLabels"), tmpl_labels))
        for c in spec.get("containers", []):
            ports = {p.get("name") for p in c.get("ports", [])} | {p.get("containerPort") for p in c.get("ports", [])}
            for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                http = (c.get(probe) or {}).get("httpGet") or {}
                check(f"k8s: {name} has a {probe} on {want}",
                      http.get("path") == want and http.get("port") in ports,
                      f"{probe}: {c.get(probe)}, ports {ports}")
            res = c.get("resources") or {}
            check(f"k8s: {name} sets resource requests and limits",
                  (res.get("requests") or {}).get("memory") and (res.get("limits") or {}).get("memory"))
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            sc = c.get("securityContext") or {}
            check(f"k8s: {name}/{c.get('name')} runs unprivileged",
                  ((spec.get("securityContext") or {}).get("runAsNonRoot") or sc.get("runAsNonRoot"))
                  and sc.get("allowPrivilegeEscalation") is False,
                  "needs runAsNonRoot and allowPrivilegeEscalation: false")
        if prog == "vigil-worker":
            check("k8s: worker terminationGracePeriodSeconds longer than a batch (>= 30)",
                  (spec.get("terminationGracePeriodSeconds") or 30) >= 30
                  and "terminationGracePeriodSeconds" in spec)

    cms = by_kind.get("ConfigMap", [])
    cm = next((c for c in cms if "vigil.conf" in (c.get("data") or {})), None)
    check("k8s: a ConfigMap holds vigil.conf", cm is not None)
    if cm:
        expected = PROD_CONF.replace("\n  tenants = ( );\n", '\n  @include "/etc/vigil/tenants/tenants.conf"\n')
        check("k8s: the ConfigMap's vigil.conf is config/vigil.production.conf with tenants included",
              cm["data"]["vigil.conf"] == expected,
              "regenerate deploy/k8s/base/configmap.yaml from config/vigil.production.conf")
    secrets = by_kind.get("Secret", [])
    keys = set()
    for s in secrets:
        keys |= set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())
    check("k8s: a Secret template holds the command and token secrets and the database URL",
          {"VIGIL_COMMAND_SECRET", "VIGIL_TOKEN_SECRET", "VIGIL_DATABASE_URL"} <= keys, f"keys {keys}")
    check("k8s: a Secret template holds the tenants and their keys", "tenants.conf" in keys)
    # The base ships no usable HMAC key: left empty, every program refuses to
    # start until an overlay's secretGenerator sets them (a placeholder such
    # as "CHANGE-ME" would be refused too, but an empty value cannot be
    # mistaken for a key, nor applied as is by an overlay).
    shipped = {k: v for s in secrets for k, v in (s.get("stringData") or {}).items()
               if k in ("VIGIL_COMMAND_SECRET", "VIGIL_TOKEN_SECRET")}
    check("k8s: the base ships no value for VIGIL_COMMAND_SECRET and VIGIL_TOKEN_SECRET",
          shipped and all(v in ("", None) for v in shipped.values()),
          f"values {sorted(shipped)} are set: an overlay must supply them")

    # Every ConfigMap and Secret a pod uses is defined.
    names = {(o["kind"], o["metadata"]["name"]) for o in base if o.get("metadata")}
    for o in by_kind.get("Deployment", []) + by_kind.get("Job", []):
        spec = pod_spec(o)
        refs = []
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("envFrom", []):
                if "configMapRef" in e:
                    refs.append(("ConfigMap", e["configMapRef"]["name"]))
                if "secretRef" in e:
                    refs.append(("Secret", e["secretRef"]["name"]))
        for v in spec.get("volumes", []):
            if "configMap" in v:
                refs.append(("ConfigMap", v["configMap"]["name"]))
            if "secret" in v:
                refs.append(("Secret", v["secret"]["secretName"]))
        missing = [r for r in refs if r not in names]
        check(f"k8s: {o['metadata']['name']} refers only to defined ConfigMaps and Secrets",
              not missing, f"missing {missing}")

    svcs = by_kind.get("Service", [])
    for prog, d in sorted(deps.items()):
        tl = d["spec"]["template"]["metadata"]["labels"]
        ports = {p.get("name") for c in pod_spec(d)["containers"] for p in c.get("ports", [])}
        s = [s for s in svcs if labels_match((s.get("spec") or {}).get("selector"), tl)]
        check(f"k8s: a Service selects {d['metadata']['name']}", bool(s))
        for sv in s:
            tps = [p.get("targetPort") for p in sv["spec"].get("ports", [])]
            check(f"k8s: Service {sv['metadata']['name']} targets a declared port",
                  all(tp in ports or isinstance(tp, int) for tp in tps), f"{tps} vs {ports}")

    for prog in ("vigil-worker", "vigil-query"):
        if prog not in deps:
            continue
        wl = deps[prog]["spec"]["template"]["metadata"]["labels"]
        check(f"k8s: a PodDisruptionBudget covers {prog}",
              any(labels_match(((p.get("spec") or {}).get("selector") or {}).get("matchLabels"), wl)
                  for p in by_kind.get("PodDisruptionBudget", [])))
    check("k8s: a migration Job runs vigilctl migrate",
          any("vigilctl migrate" in " ".join(c.get("command", []) + c.get("args", []))
              for j in by_kind.get("Job", []) for c in pod_spec(j).get("containers", [])))

    sos = [o for o in base if o.get("kind") == "ScaledObject"]
    check("k8s: a KEDA ScaledObject (keda.sh/v1alpha1)",
          sos and all(o.get("apiVersion") == "keda.sh/v1alpha1" for o in sos))
    for so in sos:
        spec = so.get("spec") or {}
        wname = deps.get("vigil-worker", {}).get("metadata", {}).get("name")
        check("k8s: the ScaledObject scales the worker Deployment",
              (spec.get("scaleTargetRef") or {}).get("name") == wname)
        kafka = [t for t in spec.get("triggers", []) if t.get("type") == "kafka"]
        check("k8s: the ScaledObject has a kafka trigger", bool(kafka))
        for t in kafka:
            m = t.get("metadata") or {}
            check(f"k8s: kafka trigger on {m.get('topic')} names servers, group, topic and threshold",
                  m.get("bootstrapServers") and m.get("consumerGroup") == GROUP
                  and m.get("topic") in TOPICS.values()
                  and str(m.get("lagThreshold", "")).isdigit()
                  and all(isinstance(v, str) for v in m.values()),
                  f"metadata {m} (consumerGroup must be {GROUP}; KEDA wants strings)")
        cap = min(PARTITIONS.get("events", 0), PARTITIONS.get("heartbeats", 0))
        check("k8s: maxReplicaCount is the partition count",
              spec.get("maxReplicaCount") == cap and spec.get("minReplicaCount", 0) >= 1,
              f"max {spec.get('maxReplicaCount')} vs partitions {cap}; min must keep a worker for commands")

    strimzi = objs.get(os.path.join("overlays", "strimzi"), [])
    kafkas = [o for o in strimzi if o.get("kind") == "Kafka"]
    topics = [o for o in strimzi if o.get("kind") == "KafkaTopic"]
    check("k8s: the Strimzi overlay defines a Kafka (kafka.strimzi.io/v1)",
          kafkas and all(o.get("apiVersion") == "kafka.strimzi.io/v1" for o in kafkas))
    check("k8s: the Strimzi overlay's custom resources are kafka.strimzi.io/v1",
          all(o.get("apiVersion") == "kafka.strimzi.io/v1"
              for o in strimzi if o.get("kind") in ("Kafka", "KafkaTopic", "KafkaNodePool")))
    if kafkas:
        cname = kafkas[0]["metadata"]["name"]
        bad = [t["metadata"]["name"] for t in topics
               if (t["metadata"].get("labels") or {}).get("strimzi.io/cluster") != cname]
        check("k8s: every KafkaTopic belongs to the Kafka cluster", not bad, f"{bad}")
        pools = [o for o in strimzi if o.get("kind") == "KafkaNodePool"]
        check("k8s: the node pools belong to the Kafka cluster",
              pools and all((p["metadata"].get("labels") or {}).get("strimzi.io/cluster") == cname
                            for p in pools))
    by_topic = {(t.get("spec") or {}).get("topicName", t["metadata"]["name"]): t for t in topics}
    for key, tname in sorted(TOPICS.items()):
        t = by_topic.get(tname)
        check(f"k8s: KafkaTopic {tname} with {PARTITIONS.get(key)} partitions",
              t is not None and t["spec"].get("partitions") == PARTITIONS.get(key),
              "missing" if t is None else f"partitions {t['spec'].get('partitions')}")


# -- Dockerfile ---------------------------------------------------------------------

def check_dockerfile():
    df = read("Dockerfile")
    lines = [l for l in df.splitlines() if not l.lstrip().startswith("#")]
    text = "\n".join(lines)
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    check("docker: multi-stage build (Debian 12, slim runtime)",
          len(froms) >= 2 and froms[0].startswith("debian:12") and froms[-1] == "debian:12-slim",
          f"FROM {froms}")
    stages = re.split(r"^FROM\s", text, flags=re.M)
    runtime = stages[-1]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    check("docker: runs as a numeric non-root user",
          users and re.match(r"^[1-9]\d*(:\d+)?$", users[-1]), f"USER {users}")
    check("docker: has a HEALTHCHECK", re.search(r"^HEALTHCHECK\s+", runtime, re.M))
    exposed = set(" ".join(re.findall(r"^EXPOSE\s+(.*)$", runtime, re.M)).split())
    check("docker: exposes 8080, 8081, 9101, 9111 and 9121",
          {"8080", "8081", "9101", "9111", "9121"} <= exposed,
          f"{exposed}")
    build = stages[-2] if len(stages) > 2 else ""
    targets = re.search(r"--target\s+([^\\&\n]+)", build)
    tl = set(targets.group(1).split()) if targets else set()
    check("docker: builds only the six programs",
          tl == {"vigil-producer", "vigil-worker", "vigil-scheduler", "vigil-notifier", "vigil-query",
                 "vigilctl"},
          f"targets {tl}")
    pkgs = re.findall(r"\b(lib[a-z0-9.+-]+)", " ".join(re.findall(r"apt-get install[^&]*", runtime)))
    check("docker: runtime installs shared libraries only (no -dev)",
          pkgs and not any(p.endswith("-dev") for p in pkgs), f"{pkgs}")
    for lib in ("librdkafka1", "libpq5", "libjansson4", "libconfig9", "libmicrohttpd12", "libssl3"):
        check(f"docker: runtime has {lib}", lib in pkgs)
    check("docker: migrations in /usr/share/vigil/sql, config in /etc/vigil",
          re.search(r"COPY\s+schemas/sql/?\s+/usr/share/vigil/sql", runtime)
          and "VIGIL_SCHEMAS_DIR=/usr/share/vigil/sql" in runtime
          and re.search(r"COPY\s+config/vigil\.production\.conf\s+/etc/vigil/vigil\.conf", runtime))
    ign = read(".dockerignore").split()
    check("docker: .dockerignore keeps local builds and .git out", {".git", ".local"} <= set(ign)
          and any(p.startswith("build") for p in ign))


def main():
    for fn in (check_config, check_compose, check_grafana, check_grafana_role, check_alerts, check_k8s,
               check_dockerfile):
        try:
            fn()
        except Exception as e:  # a crash is a failure, never a silent pass
            report("FAIL", f"{fn.__name__} ran to completion", f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
