#!/usr/bin/env bash
# Run the date-sensitive tests (marker `dates`, without the real-server ones) at shifted
# instants under libfaketime (Debian package faketime), so a test that reads the real date
# fails the day it is written rather than on the 1st of some month (docs/testing.md).
#   bash scripts/dates.sh              # every instant below
#   bash scripts/dates.sh --quick      # three of them (scripts/test.sh runs this)
#   bash scripts/dates.sh '2027-06-01 00:30:00' [-- pytest args]
# The instants are UTC. Exit status: non-zero when any instant fails.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=(
  "2027-03-31 23:30:00"  # the last day of a month, 23:30
  "2027-04-01 00:30:00"  # the 1st of a month, 00:30
  "2027-03-28 01:30:00"  # Sunday: Europe/Berlin switches to summer time at 01:00 UTC
  "2027-03-14 07:30:00"  # Sunday: America/New_York switches to daylight time at 07:00 UTC
  "2027-01-04 06:59:00"  # Monday 07:59 in Berlin, a minute before the usual office hours
  "2027-12-31 23:59:00"  # 31 December, 23:59
)
QUICK=("${ALL[0]}" "${ALL[1]}" "${ALL[2]}")

instants=("${ALL[@]}")
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) instants=("${QUICK[@]}") ;;
    --) shift; args=("$@"); break ;;
    *) [ "${custom:-}" ] || instants=(); custom=1; instants+=("$1") ;;
  esac
  shift
done

command -v faketime >/dev/null \
  || { echo "faketime is missing: apt-get install faketime (scripts/setup.sh --test)"; exit 1; }
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-portal.settings}

failed=()
for at in "${instants[@]}"; do
  # FAKETIME_DONT_FAKE_MONOTONIC: timeouts and waits keep real time (tests/infra/shifted_clock.py).
  run=(env TZ=UTC FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "@$at")
  seen=$("${run[@]}" .venv/bin/python -c 'import datetime; print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}")')
  [ "$seen" = "${at:0:16}" ] \
    || { echo "libfaketime did not take effect: Python reads $seen, wanted $at"; exit 1; }
  echo "== dates: the date-sensitive tests at $at UTC"
  t0=$(date +%s)
  if "${run[@]}" .venv/bin/python -m pytest -p tests.infra.shifted_clock -p no:cacheprovider -q \
    -m "dates and not cluster and not prometheus and not e2e and not browser" "${args[@]}"; then
    echo "== dates: $at passed in $(( $(date +%s) - t0 )) s"
  else
    failed+=("$at")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  printf '== dates: failed at %s UTC\n' "${failed[@]}"
  exit 1
fi
