#!/usr/bin/env bash
# Start or stop private PostgreSQL and Redis servers for the test suite (never the system ones).
#   scripts/services.sh start   -> writes var/services/env (DATABASE_URL, CELERY_BROKER_URL, ...)
#   scripts/services.sh stop    -> stops exactly the processes it started (by recorded PID)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${MODELPORT_SERVICES_DIR:-$PWD/var/services}"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  dirname "$(command -v initdb)"
}

as_pg() {  # PostgreSQL refuses to run as root: run its tools as the postgres user then.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  mkdir -p "$STATE"
  if [ -f "$STATE/env" ]; then stop; fi
  local bin pgdata pgport redis_port
  bin=$(pg_bin)
  pgdata=$(mktemp -d /tmp/modelport-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$pgdata"
  pgport=$(free_port)
  as_pg "$bin/initdb" -D "$pgdata/data" -U postgres -A trust -E UTF8 >"$STATE/initdb.log" 2>&1
  as_pg "$bin/pg_ctl" -D "$pgdata/data" -l "$pgdata/postgres.log" -w -t 60 \
    -o "-p $pgport -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  head -1 "$pgdata/data/postmaster.pid" >"$STATE/postgres.pid"
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$pgport" -U postgres modelport
  echo "$pgdata" >"$STATE/postgres.dir"

  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --dir "$STATE"
  for _ in $(seq 50); do [ -s "$STATE/redis.pid" ] && break; sleep 0.1; done

  cat >"$STATE/env" <<ENV
export DATABASE_URL=postgres://postgres@127.0.0.1:$pgport/modelport
export CELERY_BROKER_URL=redis://127.0.0.1:$redis_port/0
export REDIS_URL=redis://127.0.0.1:$redis_port/0
ENV
  echo "PostgreSQL on 127.0.0.1:$pgport, Redis on 127.0.0.1:$redis_port ($STATE/env)"
}

stop() {
  local pid
  if [ -f "$STATE/postgres.dir" ]; then
    local dir; dir=$(cat "$STATE/postgres.dir")
    as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    if [ -f "$STATE/postgres.pid" ]; then
      pid=$(cat "$STATE/postgres.pid"); kill -0 "$pid" 2>/dev/null && kill "$pid" || true
    fi
    rm -rf "$dir"
  fi
  if [ -f "$STATE/redis.pid" ]; then
    pid=$(cat "$STATE/redis.pid"); kill -0 "$pid" 2>/dev/null && kill "$pid" || true
  fi
  rm -f "$STATE/env" "$STATE/postgres.pid" "$STATE/postgres.dir" "$STATE/redis.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
