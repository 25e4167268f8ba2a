#!/usr/bin/env bash
# Set up and run ModelPort as users will see it, on embedded defaults: the production web server
# (gunicorn with portal/gunicorn.conf.py, as the image and the chart run it), DEBUG off, static
# files collected and served by WhiteNoise, SQLite, tasks run in-process (no broker, no Redis),
# no cluster and no Prometheus needed. A SECRET_KEY is generated once and kept in
# $MODELPORT_VAR/secret_key. Demo data comes from `manage.py seed_demo`.
#
# To develop: `bash scripts/run.sh --dev` runs Django's runserver with DEBUG on (auto-reload,
# debug pages, static files from the source tree) on the same database.
#
# With a local cluster: `bash scripts/run.sh --with-cluster` (or MODELPORT_LOCAL_CLUSTER=1)
# also builds (cached) and starts the local control plane the tests use (`manage.py devcluster`:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the real KServe controller and
# KEDA operator, kube-state-metrics, a Prometheus scraping it, one fake GPU node per catalog
# offering served by a fake kubelet), exports its environment (KUBECONFIG, PROMETHEUS_URL, ...)
# to the portal and to a Celery worker with beat (broker: files under var/, no server needed),
# so the demo endpoints are applied, go Ready and show metrics and cost. First run: the Go
# builds take ~30-50 min on 2 cores (docs/testing.md); later starts are warm (README).
# Everything started here stops on Ctrl-C.
#
# Knobs (for tests and tinkering): PORT, MODELPORT_VENV (default .venv), MODELPORT_SKIP_SETUP=1,
# MODELPORT_SKIP_BUILD=1 (use the binaries already built), MODELPORT_VAR (default var: the
# database, the secret key, collected static files, the broker and cluster state all live there),
# MODELPORT_DEVCLUSTER_ARGS (extra `manage.py devcluster` arguments, e.g. --no-real-controllers),
# MODELPORT_SAMPLE_HISTORY=0 (no sample Prometheus: empty charts, as on a fresh install),
# MODELPORT_DEMO_ENDPOINT (default search/query-rewriter: with --with-cluster, the endpoint whose
# pods run the real engine when `bash tools/build-vllm.sh` has built it; its playground answers
# and `manage.py demo_traffic` fills its charts).
#
# Without a cluster, a local Prometheus is filled with sample history from the demo endpoints
# (`manage.py sample_metrics`, labelled "Sample data" on every page), so the charts, team costs
# and the savings advisor have something to show on the first walk; Ctrl-C stops it too.
set -euo pipefail
cd "$(dirname "$0")/.."

with_cluster=${MODELPORT_LOCAL_CLUSTER:-0}
dev=0
for arg in "$@"; do
  case $arg in
    --with-cluster) with_cluster=1 ;;
    --dev) dev=1 ;;
    *) echo "unknown argument: $arg (use --dev, --with-cluster, both or nothing)" >&2; exit 2 ;;
  esac
done
case $with_cluster in 1|true|yes) with_cluster=1 ;; *) with_cluster=0 ;; esac

VENV=${MODELPORT_VENV:-.venv}
DEMO_ENDPOINT=${MODELPORT_DEMO_ENDPOINT:-search/query-rewriter}
VAR=${MODELPORT_VAR:-var}
PORT=${PORT:-8000}
[ "${MODELPORT_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd)
export MODELPORT_VAR=$VAR  # portal/settings.py: the SQLite database and the file broker
PY="$VENV/bin/python"
T0=$(date +%s)

if [ -z "${SECRET_KEY:-}" ] && [ -z "${SECRET_KEY_FILE:-}" ]; then
  if [ ! -s "$VAR/secret_key" ]; then
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(50))' >"$VAR/secret_key")
  fi
  export SECRET_KEY_FILE="$VAR/secret_key"
fi
if [ "$dev" = 1 ]; then
  export DEBUG=${DEBUG:-true}
else
  export DEBUG=false STATIC_HASHED_NAMES=true STATIC_ROOT="$VAR/staticfiles"
fi

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo
[ "$dev" = 1 ] || "$PY" manage.py collectstatic --noinput >/dev/null

pids=()
stop_all() {  # newest first: the portal and the worker stop before the cluster they talk to
  local i
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}

start_cluster() {
  if [ "${MODELPORT_SKIP_BUILD:-0}" != 1 ]; then
    echo "Building (or checking) the Kubernetes and controller binaries; cached after the first run."
    nice -n 10 bash tools/build-k8s.sh >/dev/null
    nice -n 10 bash tools/build-controllers.sh >/dev/null
  fi
  local cache=${MODELPORT_CACHE:-$HOME/.cache/modelport}
  # shellcheck disable=SC1091
  [ -f "$cache/env.sh" ] && . "$cache/env.sh"
  # shellcheck disable=SC1091
  [ -f "$cache/controllers-env.sh" ] && . "$cache/controllers-env.sh"
  # The real engine for the demo endpoint, when built (bash tools/build-vllm.sh): else played.
  # shellcheck disable=SC1091
  [ -f "$cache/vllm-env.sh" ] && . "$cache/vllm-env.sh"
  local env_file="$VAR/devcluster.env" log="$VAR/devcluster.log"
  rm -f "$env_file"
  # shellcheck disable=SC2086
  "$PY" manage.py devcluster --workdir "$VAR/devcluster" --env-file "$env_file" \
    --catalog-nodes --engine-endpoint "$DEMO_ENDPOINT" ${MODELPORT_DEVCLUSTER_ARGS:-} >"$log" 2>&1 &
  pids+=($!)
  echo "Starting the local cluster (log: $log) ..."
  until grep -q "point the portal" "$log" 2>/dev/null; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "The local cluster did not start; the end of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    sleep 1
  done
  # shellcheck disable=SC1090
  . "$env_file"
  mkdir -p "$VAR/celery-broker"
  CELERY_FILESYSTEM_DIR=$(cd "$VAR/celery-broker" && pwd)
  export CELERY_BROKER_URL=filesystem:// CELERY_FILESYSTEM_DIR
  "$VENV/bin/celery" -A portal worker -B -Q default,billing --concurrency 1 --loglevel INFO \
    --schedule "$VAR/celerybeat-schedule" >"$VAR/worker.log" 2>&1 &
  pids+=($!)
  echo "Cluster up in $(( $(date +%s) - T0 )) s: KUBECONFIG=$KUBECONFIG${PROMETHEUS_URL:+ PROMETHEUS_URL=$PROMETHEUS_URL}"
  echo "Celery worker + beat (log: $VAR/worker.log) apply the endpoints and follow them to Ready."
  if grep -q "^# real engine" "$log"; then
    echo "$DEMO_ENDPOINT runs the real engine (vLLM, a tiny model): ask it in its Use tab's playground;"
    echo "fill its charts with: set -a; . $env_file; set +a; $PY manage.py demo_traffic --endpoint $DEMO_ENDPOINT --requests 50"
  else
    echo "(The real engine is not built: every pod is played. bash tools/build-vllm.sh, then restart.)"
  fi
}

start_sample_history() {  # a local Prometheus with sample history, so charts have data
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "(No Prometheus on this machine: the charts stay empty; apt-get install prometheus.)"
    return 0
  fi
  local env_file="$VAR/sample-metrics.env" log="$VAR/sample-metrics.log"
  rm -f "$env_file"
  "$PY" manage.py sample_metrics --workdir "$VAR/sample-prometheus" --env-file "$env_file" \
    >"$log" 2>&1 &
  pids+=($!)
  echo "Filling a local Prometheus with sample history for the charts (log: $log) ..."
  until [ -f "$env_file" ]; do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "(Sample history did not start, the charts stay empty: the end of $log follows.)" >&2
      tail -n 5 "$log" >&2
      unset 'pids[-1]'
      return 0
    fi
    sleep 1
  done
  # shellcheck disable=SC1090
  set -a; . "$env_file"; set +a
}
trap stop_all EXIT
trap 'exit 130' INT TERM
if [ "$with_cluster" = 1 ]; then
  start_cluster
elif [ "${MODELPORT_SAMPLE_HISTORY:-1}" != 0 ]; then
  start_sample_history
fi

echo
if [ "$dev" = 1 ]; then mode="development server, DEBUG on"; else mode="gunicorn, DEBUG off"; fi
echo "ModelPort is starting on http://127.0.0.1:$PORT/ ($mode)"
echo "Log in as demo / demo (platform staff); alice, bob, vera and carol also use the password demo."
echo
export GUNICORN_BIND="127.0.0.1:$PORT"
serve() {  # the production server, or with --dev Django's development server
  if [ "$dev" = 1 ]; then
    exec "$PY" manage.py runserver "$@" "127.0.0.1:$PORT"
  else
    exec "$VENV/bin/gunicorn" -c portal/gunicorn.conf.py portal.wsgi:application
  fi
}
if [ ${#pids[@]} -gt 0 ]; then  # something to stop with the server: serve beside it
  serve --noreload &
  pids+=($!)
  wait "${pids[-1]}"
else
  serve
fi
