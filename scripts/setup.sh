#!/usr/bin/env bash
# Prepare a machine: Python virtualenv with the project's locked dependencies (requirements.txt,
# with --test requirements-test.txt), and with --test the Debian packages the full test suite
# runs against (PostgreSQL, Redis, Prometheus, Chromium, libfaketime). Idempotent: reinstalls only when
# pyproject.toml or the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Prometheus (with promtool): the first run fills it with sample history so every chart has
# something to show (scripts/run.sh, `manage.py sample_metrics`). Without it the portal still
# runs, with empty charts.
if [ $want_test = 0 ] && ! command -v promtool >/dev/null; then
  apt_install prometheus || echo "(Prometheus could not be installed: the charts stay empty.)"
fi
if [ $want_test = 1 ]; then
  # luajit: the interpreter Envoy embeds, to run the route Lua filter in tests.
  # faketime: libfaketime, to run the date-sensitive tests at shifted instants (scripts/dates.sh).
  # iproute2 + util-linux: the engine pods' network and mount namespaces (tests/infra/engine.py).
  apt_install postgresql redis-server prometheus chromium fonts-dejavu-core luajit faketime iproute2 util-linux
  # The Debian packages start system services on some machines; the suite uses its own
  # private servers (scripts/services.sh), so nothing here depends on those.
fi

# Any supported Python (pyproject.toml requires-python; README "Python versions"): $PYTHON, else
# the machine's python3.
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# The locked versions (requirements*.txt, every file's hash checked), then the project itself
# without resolving anything again. Update the lock with scripts/lock.sh.
lock=requirements.txt
[ $want_test = 1 ] && lock=requirements-test.txt
stamp=.venv/.modelport-deps
want=$(cat pyproject.toml "$lock" | sha1sum | cut -d' ' -f1)-$want_test
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q --require-hashes -r "$lock"
  .venv/bin/pip install -q --no-deps -e .
  echo "$want" >"$stamp"
fi
