#!/usr/bin/env bash
# Set up and run ModelPort on embedded defaults: SQLite, tasks run in-process (no broker),
# no cluster and no Prometheus needed. Demo data comes from `manage.py seed_demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p var
PORT=${PORT:-8000}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo
echo
echo "ModelPort is starting on http://127.0.0.1:$PORT/"
echo "Log in as demo / demo (platform staff); alice, bob, vera and carol also use the password demo."
echo
exec .venv/bin/python manage.py runserver "127.0.0.1:$PORT"
