"""Health endpoints for load balancers and Kubernetes probes.

``/healthz``: the process serves requests (liveness; touches nothing else, so a database outage
never gets every pod restarted). ``/readyz``: the database answers and the Celery broker is
reachable (readiness; a pod that cannot do its work gets no traffic). Both are plain text, need
no login and are never cached.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Connect to the broker (Redis) and back; no broker configured (embedded mode) is fine."""
    if not settings.CELERY_BROKER_URL:
        return
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=0, timeout=2)
        conn.default_channel  # noqa: B018  (opens a channel: a real round trip)


CHECKS = {"database": check_database, "broker": check_broker}


@never_cache
@require_GET
def healthz(request):
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def readyz(request):
    failed = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            log.warning("readyz: %s unreachable: %s", name, exc)
            failed.append(f"{name}: {type(exc).__name__}")
    if failed:
        return HttpResponse(
            "not ready\n" + "\n".join(failed) + "\n", status=503, content_type="text/plain"
        )
    return HttpResponse("ready\n", content_type="text/plain")
