"""/healthz and /readyz against the real PostgreSQL and Redis (scripts/services.sh), and a
broker that is down. Without those servers (no DATABASE_URL / CELERY_BROKER_URL) the real-server
tests skip, or fail under MODELPORT_REQUIRE_SERVICES=1."""

import os
import socket

import pytest
from django.db import connection

from tests.infra.fixtures import services_required


def _need(condition: bool, what: str):
    if condition:
        return
    if services_required():
        pytest.fail(f"MODELPORT_REQUIRE_SERVICES=1 and {what}", pytrace=False)
    pytest.skip(what)


@pytest.fixture
def real_broker(settings):
    url = os.environ.get("CELERY_BROKER_URL", "")
    _need(url.startswith("redis://"), "no Redis broker (source var/services/env)")
    settings.CELERY_BROKER_URL = url
    return url


@pytest.fixture
def real_postgres(db):
    _need(connection.vendor == "postgresql", "the test database is not PostgreSQL")


@pytest.fixture
def real_postgres_outside_transaction(transactional_db):
    _need(connection.vendor == "postgresql", "the test database is not PostgreSQL")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_needs_no_login_and_no_backing_service(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_with_the_real_database_and_broker(client, real_postgres, real_broker):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.content == b"ready\n"


def test_readyz_refuses_traffic_when_the_broker_is_down(client, real_postgres, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert b"broker: OperationalError" in response.content
    assert b"database" not in response.content


def test_readyz_refuses_traffic_when_the_database_is_down(
    client, real_postgres_outside_transaction, real_broker
):
    from portal import health

    real_settings = connection.settings_dict.copy()
    connection.close()
    connection.settings_dict["PORT"] = str(_closed_port())
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict.update(real_settings)
    assert response.status_code == 503
    assert b"database: OperationalError" in response.content
    health.check_database()  # back to the real server


def test_readyz_without_a_broker_checks_only_the_database(client, db, settings):
    settings.CELERY_BROKER_URL = ""
    assert client.get("/readyz").status_code == 200
