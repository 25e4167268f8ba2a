"""A locked, unwritable or missing database: the API answers JSON 503 with Retry-After (never
Django's HTML 500), pages answer a plain 503, at once; /readyz checks the tables requests use
and, for writers, that the database takes writes."""

import time

import pytest
from django.db import OperationalError, connection
from django.test import Client

pytestmark = pytest.mark.django_db


def _locked(execute, sql, params, many, context):
    raise OperationalError("database is locked")


@pytest.fixture
def no_raise_client(member):
    client = Client(raise_request_exception=False)
    client.force_login(member)
    return client


def test_the_api_answers_json_503_with_retry_after_when_the_database_is_locked(api_client):
    with connection.execute_wrapper(_locked):
        api_client.raise_request_exception = False
        response = api_client.get("/api/v1/endpoints/")
    assert response.status_code == 503, response.content[:200]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"].startswith("The database is unavailable")
    assert int(response["Retry-After"]) > 0


def test_a_page_answers_503_not_a_500_when_the_database_is_locked(no_raise_client):
    with connection.execute_wrapper(_locked):
        response = no_raise_client.get("/endpoints/")
    assert response.status_code == 503 and "Retry-After" in response
    assert "Traceback" not in response.content.decode()


def test_sqlite_waits_for_a_lock_a_few_seconds_not_twenty(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        assert db["OPTIONS"]["timeout"] <= 5
    else:
        assert int(db["OPTIONS"]["connect_timeout"]) <= 5


def test_readyz_checks_a_real_table_not_select_1(client):
    assert client.get("/readyz").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE django_session RENAME TO django_session_gone")
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        assert response.status_code == 503, response.content
        assert b"database" in response.content and time.monotonic() - started < 5
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE django_session_gone RENAME TO django_session")


def test_readyz_refuses_traffic_when_the_database_takes_no_writes(client, monkeypatch):
    from portal import health

    monkeypatch.setattr(health, "database_read_only", lambda: True)
    response = client.get("/readyz")
    assert response.status_code == 503 and b"read-only" in response.content
