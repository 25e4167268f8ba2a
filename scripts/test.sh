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
# The router CRDs model routes render (Envoy Gateway + Gateway API HTTPRoute), cached by version.
MODELPORT_ROUTE_CRD_DIR=$(bash tools/fetch-route-crds.sh | tail -n 1)
export MODELPORT_ROUTE_CRD_DIR

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
.venv/bin/python -m pytest -p no:cacheprovider "$@"
echo "scripts/test.sh took $(( $(date +%s) - start )) s"
