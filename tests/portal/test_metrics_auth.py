"""The portal's own /metrics is for Prometheus only: a bearer token (METRICS_BEARER_TOKEN or
METRICS_BEARER_TOKEN_FILE) or nothing. Without a token set, /metrics is refused."""

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_scrape_is_refused_without_a_configured_token(client, settings):
    settings.METRICS_BEARER_TOKEN = ""
    resp = client.get("/metrics")
    assert resp.status_code == 403
    assert b"METRICS_BEARER_TOKEN" in resp.content
    assert b"django_http_requests" not in resp.content


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic c2VjcmV0", "Bearer", "secret"])
def test_wrong_or_missing_token_is_401(client, settings, header):
    settings.METRICS_BEARER_TOKEN = "secret"
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    resp = client.get("/metrics", **extra)
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"] == "Bearer"
    assert b"django_http_requests" not in resp.content


def test_the_right_token_scrapes(client, settings):
    settings.METRICS_BEARER_TOKEN = "secret"
    resp = client.get("/metrics", HTTP_AUTHORIZATION="Bearer secret")
    assert resp.status_code == 200
    assert b"django_http_requests" in resp.content


def test_token_from_a_file(tmp_path, monkeypatch):
    from portal.settings import env_secret

    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("METRICS_BEARER_TOKEN_FILE", str(tmp_path / "token"))
    assert env_secret("METRICS_BEARER_TOKEN") == "from-file"
