"""gunicorn settings: the one place for the production web server (Dockerfile, docker-compose.yml
and the Helm chart all run ``gunicorn -c portal/gunicorn.conf.py portal.wsgi:application``).

Overridable through the environment: GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT,
GUNICORN_BIND (``PORT`` also sets the port), GUNICORN_ACCESS_LOG (``-`` = stdout, empty = off),
TRUSTED_PROXIES / GUNICORN_FORWARDED_ALLOW_IPS (who may set X-Forwarded-Proto).
"""

import os

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# 2 workers x 4 threads suit a pod with 1 CPU; Prometheus-backed pages wait on I/O.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A metrics page may wait for Prometheus (PROMETHEUS_TIMEOUT) a few times; anything longer is hung.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never takes a pod down (jitter: not all at once).
max_requests = 2000
max_requests_jitter = 200
# Load the app before forking: a broken configuration fails the pod at start, not per request.
preload_app = True
# /dev/shm: the worker heartbeat files live in memory (read-only root filesystems, slow disks).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# X-Forwarded-Proto (and the other forwarding headers) only from the reverse proxies in front:
# TRUSTED_PROXIES (addresses or CIDRs, the same list the portal believes X-Forwarded-For from,
# portal/clientip.py), or GUNICORN_FORWARDED_ALLOW_IPS to set gunicorn's alone. Default: loopback.
forwarded_allow_ips = (
    os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS")
    or os.environ.get("TRUSTED_PROXIES")
    or "127.0.0.1,::1"
)
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# One JSON object per request, with the request id the portal answered with (portal/logs.py).
logger_class = "portal.logs.GunicornJsonLogger"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# A new connection holds one of the worker's threads until its first request arrives, for up to
# gunicorn's 5 s (gunicorn.workers.gthread.DEFAULT_WORKER_DATA_TIMEOUT, which has no setting).
# Browsers open connections before they send on them, so a few idle ones stalled every other
# request: on free cores bench/web_load.py saw clients' p95 at 0.7-1 s while each page's own p95
# was under 140 ms. After this long without data a connection waits on the worker's poller,
# holding no thread. (The same bound limits draining a request body the portal did not read.)
NEW_CONNECTION_WAIT_S = 0.2


def post_worker_init(worker):
    from gunicorn.workers import gthread

    gthread.DEFAULT_WORKER_DATA_TIMEOUT = NEW_CONNECTION_WAIT_S
