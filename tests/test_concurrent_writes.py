"""20 people create endpoints at the same moment through a live server (gunicorn, 20 threads):
none is answered 500, on the embedded SQLite default and on PostgreSQL.

SQLite's default deferred transactions take the write lock on their first write and fail with
"database is locked" at once when another writer holds it; settings.py opens SQLite
transactions IMMEDIATE with a busy timeout, so writers queue instead."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib import request
from urllib.error import HTTPError

import pytest

from tests.infra.fixtures import services_required

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 20

SEED = """
from catalog.seed import seed_catalog
from portal.models import Membership, Team, User
from portal.tokens import create_token
seed_catalog()
team = Team.objects.create(name="Load", slug="load", max_gpus=10000)
user = User.objects.create_user("loader", password="x")
Membership.objects.create(team=team, user=user, role=Membership.Role.ADMIN)
print(create_token(user, 'load')[1])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env, *args, **kw):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
        **kw,
    )


def _server_answers(database_url: str) -> list[tuple[int, str]]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    env.pop("KUBECONFIG", None)
    _manage(env, "migrate", "--noinput")
    token = _manage(env, "shell", "-c", SEED).stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "-b", f"127.0.0.1:{port}"]
        + ["--worker-class", "gthread", "--threads", str(WRITERS), "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)

        def create(i: int) -> tuple[int, str]:
            body = {
                "team": "load",
                "name": f"chat-{i}",
                "model": "llama-3-1-8b-instruct",
                "gpu_type": "L4",
                "max_context_length": 4096,
                "quantization": "bf16",
            }
            req = request.Request(
                f"http://127.0.0.1:{port}/api/v1/endpoints/",
                data=json.dumps(body).encode(),
                headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            )
            try:
                with request.urlopen(req, timeout=60) as resp:
                    return resp.status, ""
            except HTTPError as exc:
                return exc.code, exc.read().decode()[:300]

        with ThreadPoolExecutor(WRITERS) as pool:
            return list(pool.map(create, range(WRITERS)))
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_twenty_concurrent_creates_on_sqlite_answer_no_500(tmp_path):
    answers = _server_answers(f"sqlite:///{tmp_path / 'load.sqlite3'}")
    codes = [code for code, _ in answers]
    assert codes.count(500) == 0, answers
    assert codes.count(202) == WRITERS, answers


@pytest.fixture
def postgres_database_url():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        if services_required():
            pytest.fail("MODELPORT_REQUIRE_SERVICES=1 and DATABASE_URL is not PostgreSQL")
        pytest.skip("DATABASE_URL is not PostgreSQL (scripts/services.sh start)")
    import psycopg

    name = f"load_{uuid.uuid4().hex[:8]}"
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_twenty_concurrent_creates_on_postgresql_answer_no_500(postgres_database_url):
    answers = _server_answers(postgres_database_url)
    codes = [code for code, _ in answers]
    assert codes.count(500) == 0, answers
    assert codes.count(202) == WRITERS, answers
