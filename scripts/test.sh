#!/usr/bin/env bash
# Set up and run the whole test suite against real servers: PostgreSQL, Redis, a Celery
# worker, kube-apiserver + etcd with the KServe and KEDA CRDs, Prometheus, headless Chromium.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/deployments -x).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

bash scripts/setup.sh --test

# kube-apiserver, etcd and the CRDs, built from the Go module proxy (cached by version).
mkdir -p var
echo "Building/finding kube-apiserver and etcd (log: var/build-k8s.log) ..."
bash tools/build-k8s.sh >var/build-k8s.log 2>&1 || { tail -50 var/build-k8s.log; exit 1; }
# shellcheck disable=SC1091
source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/env.sh"
export MODELPORT_KUBE_BIN_DIR MODELPORT_CRD_DIR

# helm (no Debian package) from its Go module, and the ServiceMonitor CRD the chart renders.
echo "Building/finding helm (log: var/build-helm.log) ..."
bash tools/build-helm.sh >var/build-helm.log 2>&1 || { tail -50 var/build-helm.log; exit 1; }
# shellcheck disable=SC1091
source "${MODELPORT_CACHE:-$HOME/.cache/modelport}/helm-env.sh"
export MODELPORT_HELM MODELPORT_MONITORING_CRD_DIR

bash scripts/services.sh start
trap 'bash scripts/services.sh stop' EXIT
# shellcheck disable=SC1091
source var/services/env

export MODELPORT_REQUIRE_SERVICES=${MODELPORT_REQUIRE_SERVICES:-1}
export DJANGO_SETTINGS_MODULE=portal.settings

.venv/bin/ruff check . && .venv/bin/ruff format --check . >/dev/null \
  || { echo "Lint or formatting problems: run .venv/bin/ruff check --fix . && .venv/bin/ruff format ."; exit 1; }
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "Model changes without migrations: run manage.py makemigrations"; exit 1; }
.venv/bin/python manage.py spectacular --validate --fail-on-warn --file var/openapi.yaml
"$MODELPORT_HELM" lint --strict charts/modelport --set existingSecret=ci >var/helm-lint.log 2>&1 \
  || { cat var/helm-lint.log; echo "helm lint failed: charts/modelport"; exit 1; }
"$MODELPORT_HELM" template modelport charts/modelport --set existingSecret=ci >var/chart.yaml
.venv/bin/python -m pytest -p no:cacheprovider "$@"
echo "scripts/test.sh took $(( $(date +%s) - start )) s"
