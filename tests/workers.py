"""A real Celery worker process for end-to-end tests (pytest plugin: fixtures below).

    worker = CeleryWorker(env)      # env: DATABASE_URL of the *test* database, CELERY_BROKER_URL
                                    # (pool="solo" by default; pool="prefork", concurrency=2 ...)
    worker.start()                  # waits until the worker is ready (consuming)
    worker.kill(signal.SIGKILL)     # crash it (acks_late: the message is redelivered)
    worker.start()                  # start a fresh process again
    worker.stop()                   # warm shutdown (SIGTERM), SIGKILL after a timeout
    worker.logs                     # everything it printed, all incarnations

Fixtures:
    e2e_services     -> dict of env for the worker; skips unless DATABASE_URL is PostgreSQL and
                        CELERY_BROKER_URL is set (fails instead with MODELPORT_REQUIRE_SERVICES=1).
                        Uses `transactional_db` so the worker sees committed rows.
    start_celery_worker -> factory: start_celery_worker(KUBECONFIG=path, ...) -> started worker
                        with extra env; all stopped after the test.
    celery_worker    -> start_celery_worker() with no extra env.
                        Worker logs are attached to the report of a failed test.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.infra.fixtures import services_required

ROOT = Path(__file__).resolve().parents[1]
_ACTIVE: list[CeleryWorker] = []  # attached to failed test reports
_LIVE: set[CeleryWorker] = set()  # stopped at interpreter exit


def _die_with_parent() -> None:
    """Runs in the child before exec: get SIGTERM when the process that started us dies, so a
    crashed test run or benchmark never leaves workers consuming from a shared broker."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@atexit.register
def _stop_leftover_workers() -> None:
    for worker in list(_LIVE):
        worker.stop(timeout=5)


class CeleryWorker:
    def __init__(
        self,
        env: dict[str, str],
        queues: str = "default,billing",
        loglevel: str = "INFO",
        ready_timeout: float = 60.0,
        pool: str = "solo",
        concurrency: int | None = None,
    ):
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.queues = queues
        self.pool = pool
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None
        self._log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        self._offset = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def logs(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def start(self) -> CeleryWorker:
        if self.running:
            raise RuntimeError(f"worker pid {self.pid} is already running")
        self._offset = len(self.logs)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            self.queues,
            "--pool",
            self.pool,
            "--loglevel",
            self.loglevel,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"e2e-{uuid.uuid4().hex[:8]}@%h",
        ]
        if self.concurrency is not None:
            command += ["--concurrency", str(self.concurrency)]
        with self._log.open("a") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _LIVE.add(self)
        self.wait_for_log("ready.", timeout=self.ready_timeout)
        return self

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        """Wait until `text` appears in what this incarnation printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logs[self._offset :]:
                return
            if not self.running:
                raise RuntimeError(
                    f"celery worker exited ({self.process.returncode}):\n{self.logs[-4000:]}"
                )
            time.sleep(0.1)
        raise TimeoutError(f"worker did not log {text!r} within {timeout}s:\n{self.logs[-4000:]}")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int | None:
        """Send `sig` to the worker (only the process this object started) and wait for it."""
        if not self.running:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if sig != signal.SIGKILL:
                self.process.kill()
            return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self.running:
            self.kill(signal.SIGTERM, timeout=timeout)
        _LIVE.discard(self)

    def __enter__(self) -> CeleryWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"


def _unavailable(message: str):
    if services_required():
        pytest.fail(f"MODELPORT_REQUIRE_SERVICES=1 and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def e2e_services(transactional_db, settings):
    """Env that points a worker process at this test's database and the real broker."""
    from django.db import connection

    broker = os.environ.get("CELERY_BROKER_URL", "")
    if connection.vendor != "postgresql":
        _unavailable("e2e tests need PostgreSQL (set DATABASE_URL=postgres://...)")
    if not broker:
        _unavailable("e2e tests need a broker (set CELERY_BROKER_URL=redis://...)")
    from portal.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = broker
    saved = (app.conf.task_always_eager, app.conf.broker_url)
    app.conf.task_always_eager = False
    app.conf.broker_url = broker
    yield {
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    app.conf.task_always_eager, app.conf.broker_url = saved


@pytest.fixture
def start_celery_worker(e2e_services):
    """Factory: start_celery_worker(KUBECONFIG=...) -> a started CeleryWorker with extra env.
    Every worker it made is stopped after the test; logs go to a failed test's report."""
    workers: list[CeleryWorker] = []

    def start(**extra_env: str) -> CeleryWorker:
        worker = CeleryWorker({**e2e_services, **extra_env})
        workers.append(worker)
        _ACTIVE.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
        _ACTIVE.remove(worker)


@pytest.fixture
def celery_worker(start_celery_worker):
    """A started worker on queues default,billing (no cluster configured)."""
    return start_celery_worker()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _ACTIVE:
        for worker in _ACTIVE:
            report.sections.append((f"celery worker pid {worker.pid} log", worker.logs[-20000:]))


class StatusWatcherProcess:
    """`manage.py watch_status` as its own process (the chart's status-watcher container).

    watcher = StatusWatcherProcess(env, identity="a").start()
    watcher.wait_for_log("leading")     # it took the Lease
    watcher.kill(signal.SIGKILL)        # crash it: it renews the Lease no more
    """

    def __init__(self, env: dict[str, str], identity: str):
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.identity = identity
        self.process: subprocess.Popen | None = None
        self._log = Path(tempfile.mkstemp(prefix=f"watcher-{identity}-", suffix=".log")[1])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def logs(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def start(self) -> StatusWatcherProcess:
        command = [
            sys.executable,
            "manage.py",
            "watch_status",
            "--identity",
            self.identity,
        ]
        with self._log.open("a") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _LIVE.add(self)
        return self

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logs:
                return
            if not self.running:
                raise RuntimeError(f"watcher {self.identity} exited:\n{self.logs[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"watcher {self.identity} did not log {text!r}:\n{self.logs[-4000:]}")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 15.0) -> int | None:
        """Send `sig` to this watcher (only the process this object started) and wait."""
        if not self.running:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15.0) -> None:
        self.kill(signal.SIGTERM, timeout=timeout)
        _LIVE.discard(self)
