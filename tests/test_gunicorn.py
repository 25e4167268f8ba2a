"""The production web server for real: gunicorn started with portal/gunicorn.conf.py serves the
health endpoints, echoes the request id and writes one JSON access line per request with it, and
believes X-Forwarded-Proto only from the configured proxies."""

import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.infra import stop_process_group
from tests.infra.kube import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gunicorn(tmp_path, request):
    extra_env = getattr(request, "param", {})
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUNICORN_"))},
        "PORT": str(port),
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        "CELERY_BROKER_URL": "",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ALLOWED_HOSTS": "127.0.0.1",
        **extra_env,
    }
    gunicorn_bin = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen(
        [str(gunicorn_bin), "-c", "portal/gunicorn.conf.py", "portal.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=2, allow_redirects=False)
                break
            except (requests.ConnectionError, requests.Timeout):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "gunicorn.log").read_text())
                time.sleep(0.2)
        yield url, tmp_path / "gunicorn.log"
    finally:
        stop_process_group(proc)
        log.close()


def test_gunicorn_serves_health_with_the_request_id_in_a_json_access_log(gunicorn):
    url, log = gunicorn
    response = requests.get(f"{url}/healthz", headers={"X-Request-ID": "lb-42"}, timeout=5)
    assert response.status_code == 200 and response.text == "ok\n"
    assert response.headers["X-Request-ID"] == "lb-42"
    # The SQLite file answers but was never migrated: the tables requests read are missing, so
    # the pod is not ready (SELECT 1 said it was).
    ready = requests.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 503 and "database" in ready.text, ready.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith('{"time"')]
        access = [x for x in lines if x["logger"] == "gunicorn.access"]
        if {"/healthz", "/readyz"} <= {x["path"] for x in access}:
            break  # both requests' lines are written (the second may land after the response)
        time.sleep(0.1)
    mine = next(x for x in access if x["request_id"] == "lb-42")
    assert mine["path"] == "/healthz" and mine["status"] == 200 and mine["method"] == "GET"
    assert any(
        x["path"] == "/readyz" and x["status"] == 503 and len(x["request_id"]) == 32 for x in access
    )


@pytest.mark.parametrize(
    "gunicorn",
    [
        {
            "TRUSTED_PROXIES": "10.42.0.0/16",
            "SECURE_SSL_REDIRECT": "true",
            "SESSION_COOKIE_SECURE": "",
        }
    ],
    indirect=True,
)
def test_forwarded_proto_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(gunicorn):
    """127.0.0.1 is not the ingress: its X-Forwarded-Proto: https makes nothing HTTPS."""
    url, _log = gunicorn
    response = requests.get(
        f"{url}/login/",
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 301, response.status_code
    assert response.headers["Location"].startswith("https://")


def _forwarded_allow_ips(monkeypatch, **environ) -> str:
    for name in ("GUNICORN_FORWARDED_ALLOW_IPS", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "portal" / "gunicorn.conf.py"))["forwarded_allow_ips"]


def test_gunicorn_trusts_forwarding_headers_from_loopback_only_by_default(monkeypatch):
    assert _forwarded_allow_ips(monkeypatch) == "127.0.0.1,::1"


def test_gunicorn_trusts_the_configured_proxies(monkeypatch):
    assert _forwarded_allow_ips(monkeypatch, TRUSTED_PROXIES="10.42.0.0/16") == "10.42.0.0/16"
    assert _forwarded_allow_ips(monkeypatch, GUNICORN_FORWARDED_ALLOW_IPS="10.1.2.3") == "10.1.2.3"


@pytest.mark.parametrize("gunicorn", [{"GUNICORN_THREADS": "1"}], indirect=True)
def test_idle_new_connections_do_not_hold_the_only_thread(gunicorn):
    """Two connections opened and never written to (a browser's preconnect) before a request:
    gunicorn alone would give each the worker's only thread for 5 s first."""
    import socket
    from urllib.parse import urlsplit

    url, _ = gunicorn
    address = urlsplit(url)
    idle = [socket.create_connection((address.hostname, address.port)) for _ in range(2)]
    try:
        started = time.monotonic()
        response = requests.get(f"{url}/healthz", timeout=15)
        waited = time.monotonic() - started
        assert response.status_code == 200
        assert waited < 3, f"answered after {waited:.1f} s, behind the idle connections"
    finally:
        for sock in idle:
            sock.close()
