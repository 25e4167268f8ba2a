#!/usr/bin/env bash
# Re-resolve the locked dependencies from pyproject.toml: requirements.txt (the portal) and
# requirements-test.txt (the portal + the test tools), one universal lock for every supported
# Python (markers where versions differ), every file pinned by hash. Uses uv (from PyPI).
#   bash scripts/lock.sh                 # keep the pins that still satisfy pyproject.toml
#   bash scripts/lock.sh --upgrade       # newest versions of everything
#   bash scripts/lock.sh --upgrade-package django   # one package
# Then run scripts/test.sh (setup.sh installs the new lock) and commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/uv ] || .venv/bin/pip install -q "uv>=0.5"
for out in requirements.txt requirements-test.txt; do
  extra=()
  [ "$out" = requirements-test.txt ] && extra=(--extra test)
  .venv/bin/uv pip compile pyproject.toml "${extra[@]}" --universal --python-version 3.11 \
    --generate-hashes --custom-compile-command "bash scripts/lock.sh" --quiet "$@" -o "$out"
done
echo "Updated requirements.txt and requirements-test.txt"
