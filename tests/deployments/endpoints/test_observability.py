"""The portal's own /metrics: endpoints by status, reconcile lag, Celery queue depth (a real
redis-server) and Prometheus query errors."""

import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from deployments.endpoints import observability
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from portal.prometheus import PrometheusClient, PrometheusUnavailable
from tests.factories import EndpointFactory
from tests.infra.fixtures import services_required

FROZEN = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)  # any instant: the figures are elapsed times


@pytest.fixture(autouse=True)
def _metrics_token(settings):
    settings.METRICS_BEARER_TOKEN = "scrape-token"


def _scrape(client) -> dict:
    resp = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert resp.status_code == 200
    out = {}
    for fam in text_string_to_metric_families(resp.content.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.django_db
@pytest.mark.time_machine(FROZEN, tick=False)
def test_endpoints_by_status_and_reconcile_lag(client, team):
    EndpointFactory.create_batch(2, team=team, status=EndpointStatus.READY)
    waiting = EndpointFactory(
        team=team, status=EndpointStatus.PROVISIONING, generation=3, applied_generation=2
    )
    Endpoint.objects.filter(pk=waiting.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    m = _scrape(client)
    assert m[("modelport_endpoints", (("status", "ready"),))] == 2
    assert m[("modelport_endpoints", (("status", "provisioning"),))] == 1
    assert m[("modelport_endpoints", (("status", "failed"),))] == 0
    assert m[("modelport_endpoints_pending_apply", ())] == 1
    assert m[("modelport_reconcile_lag_seconds", ())] == 300


@pytest.mark.django_db
@pytest.mark.time_machine(FROZEN, tick=False)
def test_sync_statuses_success_is_recorded(client):
    from celery.signals import task_success

    class FakeTask:
        name = observability.SYNC_TASK

    task_success.send(sender=FakeTask(), result=0)
    m = _scrape(client)
    assert m[("modelport_reconcile_last_sync_age_seconds", ())] == 0


@pytest.mark.django_db
def test_prometheus_query_errors_are_exposed(client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = (
        REGISTRY.get_sample_value(
            "modelport_prometheus_query_errors_total", {"reason": "unavailable"}
        )
        or 0
    )
    with pytest.raises(PrometheusUnavailable):
        PrometheusClient(f"http://127.0.0.1:{port}", timeout=1).query("up")
    m = _scrape(client)
    assert (
        m[("modelport_prometheus_query_errors_total", (("reason", "unavailable"),))] == before + 1
    )


@pytest.fixture
def redis_url():
    binary = shutil.which("redis-server")
    if not binary:
        message = "redis-server not installed (apt-get install redis-server)"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    conn = redis.Redis(port=port)
    for _ in range(100):
        try:
            conn.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(5)


@pytest.mark.django_db
def test_celery_queue_depth_from_redis(client, settings, redis_url):
    import redis

    settings.CELERY_BROKER_URL = redis_url
    conn = redis.Redis.from_url(redis_url)
    conn.rpush("default", *[b"m"] * 3)
    conn.rpush("billing", b"m")
    m = _scrape(client)
    assert m[("modelport_celery_broker_up", ())] == 1
    assert m[("modelport_celery_queue_length", (("queue", "default"),))] == 3
    assert m[("modelport_celery_queue_length", (("queue", "billing"),))] == 1


@pytest.mark.django_db
def test_unreachable_broker_is_reported_not_raised(client, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    m = _scrape(client)
    assert m[("modelport_celery_broker_up", ())] == 0
    assert ("modelport_endpoints", (("status", "ready"),)) in m
