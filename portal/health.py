"""Health endpoints for load balancers and Kubernetes probes.

``/healthz``: the process serves requests (liveness; touches nothing else, so a database outage
never gets every pod restarted). ``/readyz``: the tables every request reads (sessions, users)
answer, the database takes writes (not a read-only replica or file), and the Celery broker is
reachable (readiness; a pod that cannot do its work gets no traffic). Both are plain text, need
no login and are never cached.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


class DatabaseReadOnly(Exception):
    pass


def database_read_only() -> bool:
    """Whether the database refuses writes: a PostgreSQL hot standby or read-only transaction
    default, an SQLite file (or its folder) the process may not write."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_read_only")
            return cursor.fetchone()[0] == "on"
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        if connection.is_in_memory_db() or not os.path.exists(name):
            return False
        return not (os.access(name, os.W_OK) and os.access(os.path.dirname(name) or ".", os.W_OK))
    return False


def check_database() -> None:
    """A query on the tables every request reads (SELECT 1 touches none: a missing, locked or
    unreadable table passed it), then the write check. Inside a savepoint: a failed check never
    leaves the connection in an aborted transaction (PostgreSQL) for what runs after it."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.models import Session

    with transaction.atomic(), connection.cursor() as cursor:
        for model in (Session, get_user_model()):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 (our table names)
            cursor.fetchall()
    if database_read_only():
        raise DatabaseReadOnly("the database is read-only")


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
            failed.append(
                f"{name}: {type(exc).__name__}"
                + (f" ({exc})" if isinstance(exc, DatabaseReadOnly) else "")
            )
    if failed:
        return HttpResponse(
            "not ready\n" + "\n".join(failed) + "\n", status=503, content_type="text/plain"
        )
    return HttpResponse("ready\n", content_type="text/plain")
