#!/usr/bin/env bash
# Prepare a machine: Python virtualenv with the project's dependencies, and with --test the
# Debian packages the full test suite runs against (PostgreSQL, Redis, Prometheus, Chromium).
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

if [ $want_test = 1 ]; then
  apt_install postgresql redis-server prometheus chromium fonts-dejavu-core
  # The Debian packages start system services on some machines; the suite uses its own
  # private servers (scripts/services.sh), so nothing here depends on those.
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.modelport-deps
want=$(cat pyproject.toml | sha1sum | cut -d' ' -f1)-$want_test
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  if [ $want_test = 1 ]; then
    .venv/bin/pip install -q -e ".[test]"
  else
    .venv/bin/pip install -q -e .
  fi
  echo "$want" >"$stamp"
fi
