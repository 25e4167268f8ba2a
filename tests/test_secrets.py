"""Credentials in upstream URLs (PROMETHEUS_URL, the apiserver, webhooks) never reach a user:
not in API bodies, pages, stored error messages or log lines. Errors say what failed in words."""

import logging
import socket

import pytest
import urllib3
from django.core.cache import cache

from portal.logutil import RedactCredentials, redact
from portal.models import Membership
from portal.prometheus import PrometheusUnavailable
from tests.factories import EndpointFactory, MembershipFactory

pytestmark = pytest.mark.django_db

SECRET = "s3cretpw"


@pytest.fixture
def prometheus_with_password(settings):
    cache.clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.PROMETHEUS_URL = f"http://admin:{SECRET}@127.0.0.1:{port}"
    settings.PROMETHEUS_TIMEOUT = 1.0
    yield
    cache.clear()


@pytest.fixture
def endpoint(member):
    ep = EndpointFactory()
    MembershipFactory(team=ep.team, user=member, role=Membership.Role.VIEWER)
    return ep


def test_metrics_api_503_does_not_show_the_prometheus_password(
    api_client, endpoint, prometheus_with_password, caplog
):
    resp = api_client.get(f"/api/v1/endpoints/{endpoint.uuid}/metrics/")
    assert resp.status_code == 503
    body = resp.content.decode()
    assert SECRET not in body and "127.0.0.1" not in body, body
    assert "Prometheus" in resp.json()["detail"]
    assert SECRET not in caplog.text


def test_metrics_page_does_not_show_the_prometheus_password(
    member_client, endpoint, prometheus_with_password, caplog
):
    resp = member_client.get(f"/endpoints/{endpoint.uuid}/metrics/")
    assert resp.status_code == 200
    assert SECRET not in resp.content.decode()
    assert "127.0.0.1" not in resp.content.decode()
    assert SECRET not in caplog.text


def test_prometheus_adapter_errors_name_no_url(prometheus_with_password):
    from portal.prometheus import get_client

    with pytest.raises(PrometheusUnavailable) as exc:
        get_client().query("up")
    assert SECRET not in str(exc.value) and "127.0.0.1" not in str(exc.value)


def test_cluster_adapter_errors_name_no_url():
    from deployments.k8s import translate

    exc = urllib3.exceptions.MaxRetryError(
        None, f"https://kube:{SECRET}@10.0.0.1:6443/apis/x", reason=OSError("refused")
    )
    message = str(translate(exc, "apply InferenceService mp-a/chat"))
    assert SECRET not in message and "10.0.0.1" not in message, message
    assert "cannot reach the Kubernetes API" in message


@pytest.mark.parametrize(
    "text",
    [
        f"GET http://admin:{SECRET}@prom:9090/api/v1/query failed",
        f"redis://:{SECRET}@redis:6379/0",
        f"postgres://app:{SECRET}@db/modelport",
        f"see https://user%40corp:{SECRET}@host/x and more",
    ],
)
def test_redact_removes_url_credentials(text):
    out = redact(text)
    assert SECRET not in out and "://" in out and "***@" in out


def test_log_lines_are_redacted_by_the_configured_filter(settings):
    record = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "prometheus %s: %s",
        ("query", f"http://a:{SECRET}@h"),
        None,
    )
    assert RedactCredentials().filter(record)
    assert SECRET not in record.getMessage()
    handler = settings.LOGGING["handlers"]["console"]
    assert "redact" in handler.get("filters", [])
    assert settings.LOGGING["filters"]["redact"]["()"] == "portal.logutil.RedactCredentials"
