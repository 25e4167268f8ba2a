"""Production settings pass `manage.py check --deploy` with no warning, and every page carries
a Content-Security-Policy it complies with (no inline script, style or handler; no external
host)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import EndpointFactory

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION_ENV = {
    "MODELPORT_ENV": "production",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-with-enough-entropy-0123456789",
    "DATABASE_URL": "sqlite:////tmp/modelport-check-deploy.sqlite3",
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    "PROMETHEUS_URL": "http://prometheus:9090",
    "KUBE_IN_CLUSTER": "true",
    "ALLOWED_HOSTS": "portal.example.com",
    "REDIS_CACHE_URL": "redis://127.0.0.1:1/1",
    "TRUSTED_PROXIES": "10.42.0.0/16",
}


def test_check_deploy_is_clean_in_production_mode():
    env = {  # the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; not a deployment
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "SESSION_")) and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, **PRODUCTION_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "unset,check",
    [("REDIS_CACHE_URL", "portal.W001"), ("TRUSTED_PROXIES", "portal.W002")],
)
def test_check_deploy_warns_about_a_per_process_cache_and_no_trusted_proxy(unset, check):
    """Without REDIS_CACHE_URL each gunicorn worker keeps its own API brake counters; without
    TRUSTED_PROXIES the TLS proxy's X-Forwarded-Proto is ignored (an HTTPS redirect loop)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "SESSION_")) and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    production = {k: v for k, v in PRODUCTION_ENV.items() if k != unset}
    env.pop(unset, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, **production},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and check in result.stdout + result.stderr


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I), "inline script"),
    (re.compile(r"<style", re.I), "inline <style>"),
    (re.compile(r"\sstyle=\"", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+=\"", re.I), "inline event handler"),
    (re.compile(r"(src|href)=\"(https?:)?//", re.I), "external host"),
]


@pytest.mark.django_db
def test_pages_pass_their_content_security_policy(owner_client, staff_client, team, owner):
    ep = EndpointFactory(team=team)
    pages = [
        (owner_client, "/"),
        (owner_client, "/endpoints/"),
        (owner_client, f"/endpoints/{ep.uuid}/"),
        (owner_client, "/endpoints/new/"),
        (owner_client, "/approvals/"),
        (owner_client, f"/teams/{team.slug}/settings/"),
        (owner_client, "/account/api-token/"),
        (staff_client, "/costs/platform/"),
        (staff_client, "/api/docs/"),
    ]
    problems = []
    for client, path in pages:
        resp = client.get(path)
        if resp.status_code != 200:
            problems.append(f"{path}: HTTP {resp.status_code}")
            continue
        policy = resp["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        body = resp.content.decode()
        for pattern, what in INLINE:
            for match in pattern.finditer(body):
                problems.append(f"{path}: {what}: {match.group(0)[:80]}")
    assert not problems, "\n".join(problems)
