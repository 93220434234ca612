#!/usr/bin/env bash
# Validation of the deployment files (issue 9): compose.yaml, the Dockerfile,
# deploy/k8s, deploy/prometheus, deploy/grafana and the production config.
#
# There is no Docker engine and no Kubernetes cluster here, so this checks
# structure, with the real tools where they run offline: `docker-compose
# config`, `kubectl kustomize` and `promtool` (each skipped if missing, except
# docker-compose, which ./dev installs), the programs' own --check-config,
# and tests/deploy/check_deploy.py for everything else (probes, kinds,
# required fields, metric names against the code, ...).
#
# Prints one line per check and "N passed, M failed, K skipped"; exits 1 if
# anything failed.
set -uo pipefail

ROOT=${VIGIL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
BIN=${VIGIL_BIN_DIR:-$ROOT/build/bin}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0 failed=0 skipped=0
result() { # result PASS|FAIL|SKIP NAME [WHY]
  case $1 in
    PASS) passed=$((passed + 1)); printf 'ok   %s\n' "$2" ;;
    FAIL) failed=$((failed + 1)); printf 'FAIL %s%s\n' "$2" "${3:+: $3}" ;;
    SKIP) skipped=$((skipped + 1)); printf 'skip %s%s\n' "$2" "${3:+: $3}" ;;
  esac
}
# expect NAME CMD...: passes when CMD exits 0; its output is shown on failure.
expect() {
  local name=$1; shift
  if "$@" > "$TMP/out" 2>&1; then result PASS "$name"
  else result FAIL "$name" "$(tail -n 5 "$TMP/out" | tr '\n' ' ')"; fi
}

# -- docker compose ---------------------------------------------------------
# A clean environment and an empty env file: neither the caller's VIGIL_*
# variables nor a developer's .env may change what is checked.
: > "$TMP/empty.env"
if command -v docker-compose > /dev/null; then
  COMPOSE=(docker-compose)
elif docker compose version > /dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  COMPOSE=()
fi
compose() { # compose [VAR=value...] -- ARGS...: in a clean environment
  local vars=()
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${vars[@]}" \
    "${COMPOSE[@]}" -f "$ROOT/compose.yaml" --env-file "$TMP/empty.env" "$@"
}
SECRETS=(VIGIL_COMMAND_SECRET=test-command-secret-0123456789abcdef VIGIL_TOKEN_SECRET=test-token-secret-0123456789abcdef
  GRAFANA_ADMIN_PASSWORD=test-grafana-password)
if [ ${#COMPOSE[@]} -eq 0 ]; then
  result FAIL "compose: docker-compose config -q" "docker-compose is not installed (./dev installs it)"
else
  expect "compose: ${COMPOSE[*]} -f compose.yaml config -q" compose "${SECRETS[@]}" -- config -q
  if compose -- config -q > "$TMP/out" 2>&1; then
    result FAIL "compose: refuses to start without VIGIL_COMMAND_SECRET and VIGIL_TOKEN_SECRET"
  else
    result PASS "compose: refuses to start without VIGIL_COMMAND_SECRET and VIGIL_TOKEN_SECRET"
  fi
  if compose "${SECRETS[@]:0:2}" -- config -q > "$TMP/out" 2>&1; then
    result FAIL "compose: refuses to start without GRAFANA_ADMIN_PASSWORD"
  else
    result PASS "compose: refuses to start without GRAFANA_ADMIN_PASSWORD"
  fi
  compose "${SECRETS[@]}" -- config > "$TMP/compose.yaml" 2> /dev/null || : > "$TMP/compose.yaml"
  # --scale must be accepted for the worker (compose resolves it without an engine).
  if compose "${SECRETS[@]}" -- config --services 2> /dev/null | grep -qx worker; then
    result PASS "compose: a worker service to scale"
  else
    result FAIL "compose: a worker service to scale"
  fi
fi

# -- structural checks (Python + PyYAML) ------------------------------------
PY=
for p in /usr/bin/python3 python3; do
  if command -v "$p" > /dev/null && "$p" -c 'import yaml' 2> /dev/null; then PY=$p; break; fi
done
# counted SCRIPT: counts the "PASS|FAIL|SKIP name[: why]" lines on stdin.
counted() {
  local line status rest
  while IFS= read -r line; do
    status=${line%% *} rest=${line#* }
    case $status in
      PASS) result PASS "$rest" ;;
      SKIP) result SKIP "${rest%%: *}" "${rest#*: }" ;;
      FAIL) result FAIL "${rest%%: *}" "$([ "$rest" != "${rest#*: }" ] && echo "${rest#*: }")" ;;
      *) result FAIL "$1 output" "$line" ;;
    esac
  done
}
if [ -z "$PY" ]; then
  result FAIL "python3 with PyYAML" "install python3-yaml (./dev does)"
else
  counted check_deploy.py < <("$PY" "$ROOT/tests/deploy/check_deploy.py" "$ROOT" "$TMP/compose.yaml" 2>&1)
fi

# -- operations (issue 19): job labels, alerts under test, Strimzi versions ----
if [ -n "$PY" ]; then
  counted check_ops.py < <(
    if command -v kubectl > /dev/null; then
      kubectl kustomize "$ROOT/deploy/k8s/overlays/strimzi" > "$TMP/strimzi.yaml" 2> /dev/null
      kubectl kustomize "$ROOT/deploy/k8s/examples/producer-hpa" > "$TMP/producer-hpa.yaml" 2> /dev/null
    fi
    "$PY" "$ROOT/tests/deploy/check_ops.py" "$ROOT" "$TMP" 2>&1)
fi

# -- kustomize builds ----------------------------------------------------------
if command -v kubectl > /dev/null; then
  for k in base overlays/strimzi monitoring examples/producer-hpa; do
    expect "k8s: kubectl kustomize deploy/k8s/$k" kubectl kustomize "$ROOT/deploy/k8s/$k"
  done
  if kubectl kustomize "$ROOT/deploy/k8s/overlays/strimzi" > "$TMP/strimzi.yaml" 2> /dev/null; then
    n=$(grep -c 'bootstrapServers: vigil-kafka-bootstrap\.vigil\.svc:9093' "$TMP/strimzi.yaml")
    if [ "$n" -eq 2 ] && grep -q 'VIGIL_KAFKA_BROKERS: vigil-kafka-bootstrap' "$TMP/strimzi.yaml"; then
      result PASS "k8s: the Strimzi overlay points the programs and both KEDA triggers at Strimzi"
    else
      result FAIL "k8s: the Strimzi overlay points the programs and both KEDA triggers at Strimzi" \
        "$n triggers patched"
    fi
  fi
else
  result SKIP "k8s: kubectl kustomize" "kubectl not installed"
fi

# -- Prometheus ------------------------------------------------------------------
if command -v promtool > /dev/null; then
  expect "prometheus: promtool check rules alerts.yml" \
    promtool check rules "$ROOT/deploy/prometheus/alerts.yml"
  sed "s|/etc/prometheus/alerts.yml|$ROOT/deploy/prometheus/alerts.yml|" \
    "$ROOT/deploy/prometheus/prometheus.yml" > "$TMP/prometheus.yml"
  expect "prometheus: promtool check config prometheus.yml" promtool check config "$TMP/prometheus.yml"
  # Every alert fires on the series that should fire it and stays quiet
  # otherwise, with the labels of Kubernetes and of compose.
  expect "prometheus: promtool test rules alerts.test.yml" \
    promtool test rules "$ROOT/deploy/prometheus/alerts.test.yml"
else
  result FAIL "prometheus: promtool" "not installed (Debian package prometheus; ./dev installs it)"
fi

# -- the programs accept the shipped configuration -------------------------------
if [ -x "$BIN/vigil-worker" ] && [ -x "$BIN/vigil-producer" ] && [ -n "$PY" ]; then
  for prog in vigil-producer vigil-worker vigil-scheduler vigil-notifier; do
    expect "config: $prog --check-config accepts config/vigil.production.conf" \
      env -i PATH="$PATH" "$BIN/$prog" --check-config -c "$ROOT/config/vigil.production.conf"
  done
  # The Kubernetes ConfigMap's file, with the tenants of the Secret template.
  "$PY" - "$ROOT" "$TMP" << 'EOF'
import sys, yaml
root, tmp = sys.argv[1], sys.argv[2]
docs = list(yaml.safe_load_all(open(f"{root}/deploy/k8s/base/configmap.yaml")))
conf = next(d for d in docs if d and "vigil.conf" in (d.get("data") or {}))["data"]["vigil.conf"]
open(f"{tmp}/k8s.conf", "w").write(conf.replace("/etc/vigil/tenants/tenants.conf", f"{tmp}/tenants.conf"))
docs = list(yaml.safe_load_all(open(f"{root}/deploy/k8s/base/secret.yaml")))
open(f"{tmp}/tenants.conf", "w").write(
    next(d for d in docs if d and "tenants.conf" in (d.get("stringData") or {}))["stringData"]["tenants.conf"])
EOF
  expect "config: vigil-producer --check-config accepts the ConfigMap with the Secret's tenants" \
    env -i PATH="$PATH" "$BIN/vigil-producer" --check-config -c "$TMP/k8s.conf"
else
  result SKIP "config: --check-config" "programs not built in $BIN"
fi

# -- the image's health check script -------------------------------------------
# The Dockerfile writes it with printf under /bin/sh; run that and parse the result.
if [ -n "$PY" ]; then
  "$PY" - "$ROOT/Dockerfile" "$TMP/hc" > "$TMP/hc.sh" << 'EOF'
import re, sys
df = open(sys.argv[1]).read()
m = re.search(r"RUN (printf '%s\\n' \\\n.*?)> /usr/local/bin/vigil-healthcheck", df, re.S)
print(m.group(1) + "> " + sys.argv[2] if m else "exit 1")
EOF
  if sh "$TMP/hc.sh" 2> /dev/null && bash -n "$TMP/hc" 2> "$TMP/out" && grep -q '/healthz' "$TMP/hc"; then
    result PASS "docker: the health check script the Dockerfile writes is valid bash"
  else
    result FAIL "docker: the health check script the Dockerfile writes is valid bash" "$(cat "$TMP/out")"
  fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
