"""A real worker keeps its PostgreSQL connection between tasks and replaces a broken one.

Celery's Django fixup closes every connection around each task unless CELERY_DB_REUSE_MAX is
set: one new PostgreSQL backend per task (the deploy-throughput benchmark measured ~18 ms of
PostgreSQL CPU per apply for it). portal/celery.py recycles connections as Django does around
a request instead: CONN_MAX_AGE, and a health check before the first query of each task.
"""

import time

import pytest
from django.db import connection

from deployments.endpoints.tasks import sync_statuses

pytestmark = pytest.mark.e2e
TASKS = 6


def _sessions() -> int:
    """Sessions opened on this test database since the statistics were reset."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _worker_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def _run_tasks(worker, count: int, timeout: float = 60.0) -> None:
    done = worker.logs.count("succeeded")
    for _ in range(count):
        sync_statuses.delay()
    deadline = time.monotonic() + timeout
    while worker.logs.count("succeeded") < done + count:
        assert time.monotonic() < deadline, worker.logs[-3000:]
        assert "raised unexpected" not in worker.logs, worker.logs[-3000:]
        time.sleep(0.05)


@pytest.fixture
def worker(start_celery_worker, kube_cluster):
    """A solo worker (the fixture's default): every task runs on the one connection if it is
    kept. CONN_MAX_AGE as deployed (the fixture's default of 0 closes after each task)."""
    return start_celery_worker(
        KUBECONFIG=str(kube_cluster.kubeconfig_path), DATABASE_CONN_MAX_AGE="60"
    )


def test_tasks_reuse_one_database_connection(worker):
    _run_tasks(worker, 1)  # the worker's first connection
    before = _sessions()
    _run_tasks(worker, TASKS)
    opened = _sessions() - before
    assert opened <= 1, f"{opened} new database sessions for {TASKS} tasks"


def test_a_broken_connection_is_replaced_before_the_next_task(worker):
    _run_tasks(worker, 1)
    backends = _worker_backends()
    assert backends, "the worker should hold a connection between tasks"
    with connection.cursor() as cursor:
        for pid in backends:  # as a database restart or an idle-session timeout would
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    _run_tasks(worker, 2)
    assert "raised unexpected" not in worker.logs
    assert set(_worker_backends()).isdisjoint(backends)
