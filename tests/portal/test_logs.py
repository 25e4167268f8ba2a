"""Structured logs: the request id (X-Request-ID honoured or made) on the response and on every
log line of the request, and one JSON object a line from the production formatter."""

import io
import json
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from portal.logs import JsonFormatter, RequestIdFilter, RequestIdMiddleware, current_request_id

log = logging.getLogger("modelport.test")


def _logging_view(request):
    log.info("inside the view", extra={"endpoint": "chat", "gpus": 2})
    return HttpResponse(current_request_id())


urlpatterns = [path("logged/", _logging_view)]


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield stream
    log.removeHandler(handler)


@override_settings(ROOT_URLCONF=__name__)
def test_a_sane_x_request_id_is_honoured_on_the_response_and_every_log_line(client, captured):
    response = client.get("/logged/", HTTP_X_REQUEST_ID="ingress-1234.abc")
    assert response["X-Request-ID"] == "ingress-1234.abc"
    assert response.content == b"ingress-1234.abc"
    line = json.loads(captured.getvalue().strip())
    assert line["request_id"] == "ingress-1234.abc"
    assert line["message"] == "inside the view"
    assert line["level"] == "INFO" and line["logger"] == "modelport.test"
    assert line["endpoint"] == "chat" and line["gpus"] == 2
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", line["time"])


@pytest.mark.parametrize("sent", [None, "", "x" * 200, "bad id with spaces", "a\nb"])
@override_settings(ROOT_URLCONF=__name__)
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, captured, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = client.get("/logged/", **headers)
    made = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert json.loads(captured.getvalue().strip())["request_id"] == made


@override_settings(ROOT_URLCONF=__name__)
def test_every_request_gets_its_own_id_and_none_leaks_out_of_it(client):
    first = client.get("/logged/")["X-Request-ID"]
    second = client.get("/logged/")["X-Request-ID"]
    assert first != second
    assert current_request_id() == ""


def test_json_formatter_writes_exceptions_and_unserialisable_extras():
    import sys

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("apply",),
            sys.exc_info(),
            extra={"obj": object()},
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed apply" and line["level"] == "ERROR"
    assert "ValueError: boom" in line["exception"]
    assert line["obj"].startswith("<object object")
    assert line["request_id"] is None


def test_production_logs_are_json_with_the_request_id(monkeypatch):
    """settings.LOGGING in production: the console handler formats JSON and adds the id."""
    import importlib

    import portal.settings as settings_module

    monkeypatch.setenv("MODELPORT_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/modelport")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("PROMETHEUS_URL", "http://prometheus:9090")
    monkeypatch.setenv("KUBE_IN_CLUSTER", "true")
    try:
        prod = importlib.reload(settings_module)
        assert prod.LOG_FORMAT == "json"
        config = prod.LOGGING
        assert config["handlers"]["console"]["formatter"] == "json"
        assert config["handlers"]["console"]["filters"] == ["request_id", "redact"]
        assert "CompressedManifest" in prod.STORAGES["staticfiles"]["BACKEND"]
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)
    assert RequestIdMiddleware  # imported by settings.MIDDLEWARE by dotted path
    assert "portal.logs.RequestIdMiddleware" in settings_module.MIDDLEWARE
