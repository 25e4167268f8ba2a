"""Benchmark: N endpoints requested through the API and applied by a real Celery worker into a
real kube-apiserver, against a bare script server-side-applying the same N manifest sets.

Goal (issue 4): portal time <= 1.5 x bare time.

* portal: N `POST /api/v1/endpoints/` through DRF (token auth, validation, sizing, quota,
  pricing, audit, events), each enqueueing `deployments.apply_endpoint` on commit into Redis;
  one real worker (tests/workers.py; prefork pool with 2 processes by default, `--worker-pool
  solo` for one task at a time) renders and server-side-applies
  Namespace + ResourceQuota + InferenceService + ScaledObject under the row lock and records
  the result. Timed from the first POST until every endpoint has `applied_generation == 1`.
* worker only: N more requests sent while the worker is stopped (they wait in Redis), then the
  worker is started and timed until it has applied all of them.
* bare: the same N manifest sets (rendered beforehand, into another namespace) applied by a
  plain `kubernetes.dynamic` client in one loop: 4 x N server-side applies, nothing else.

Needs PostgreSQL + Redis (`scripts/services.sh start` then `source var/services/env`) and the
kube-apiserver/etcd binaries (`tools/build-k8s.sh`). Creates and drops its own database.

Each of `--repeat` rounds (default 3) uses a new team and its own bare run right after; the
reported ratios are the medians of the rounds' ratios (the machine is shared: single runs vary
by +-20 %). CPU per endpoint of each process group is reported for every phase.

Usage::

    source var/services/env && .venv/bin/python bench/deploy_throughput.py [--n 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _bench_database(url: str) -> tuple[str, str]:
    """Create a fresh database next to DATABASE_URL's; return (its URL, its name)."""
    import psycopg

    parsed = urlparse(url)
    name = f"modelport_bench_{uuid.uuid4().hex[:8]}"
    admin = urlunparse(parsed._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parsed._replace(path=f"/{name}")), name


def _bench_broker(url: str) -> str:
    """The broker URL with Redis database 15, emptied first: messages left over in the
    broker's default database (e.g. from a profiling run) would otherwise be consumed by the
    benchmark's worker and timed."""
    import redis

    bench_url = urlunparse(urlparse(url)._replace(path="/15"))
    redis.Redis.from_url(bench_url).flushdb()
    return bench_url


def _drop_database(url: str, name: str) -> None:
    import psycopg

    admin = urlunparse(urlparse(url)._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class CpuMeter:
    """CPU seconds (user + system, from /proc) used by each group of processes between two
    snapshots: the benchmark process itself (the API and the polling), the worker (main
    process and pool children), kube-apiserver, etcd and PostgreSQL (postmaster and
    backends). Read-only: nothing is signalled."""

    def __init__(self, groups: dict[str, callable]):
        self.groups = groups  # name -> () -> list of PIDs
        self.tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def children(pid: int | None) -> list[int]:
        if not pid:
            return []
        found = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            for child in task.read_text().split():
                found += CpuMeter.children(int(child))
        return found

    def _cpu(self, pid: int) -> float:
        """utime + stime, plus cutime + cstime (exited pool children or backends) except for
        this process, whose waited-for children are not the API's work."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        end = 13 if pid == os.getpid() else 15
        return sum(int(f) for f in fields[11:end]) / self.tick

    def snapshot(self) -> dict[str, float]:
        return {name: sum(map(self._cpu, pids())) for name, pids in self.groups.items()}

    @staticmethod
    def delta(before: dict, after: dict, n: int) -> dict[str, float]:
        """CPU milliseconds per endpoint for each group."""
        return {name: round((after[name] - before[name]) * 1000 / n, 1) for name in before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds, each on a new team with its own bare run; the ratios are the medians",
    )
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--worker-pool",
        default="prefork",
        choices=["prefork", "solo", "threads"],
        help="Celery pool of the worker (solo: one task at a time, as before 2026-11-28)",
    )
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=2,
        help="worker processes/threads (ignored by the solo pool); 2 = one per core here",
    )
    args = parser.parse_args()
    base_url, broker = os.environ.get("DATABASE_URL", ""), os.environ.get("CELERY_BROKER_URL", "")
    if not base_url.startswith("postgres") or not broker:
        sys.exit(
            "Set DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL: "
            "scripts/services.sh start && source var/services/env"
        )
    db_url, db_name = _bench_database(base_url)
    broker = _bench_broker(broker)
    os.environ.update(
        {
            "DATABASE_URL": db_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_BROKER_URL": broker,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            # As deployed (MODELPORT_ENV=production implies it): the dev default DEBUG=true
            # routes every SQL statement of the API and the worker through the debug cursor.
            "DEBUG": os.environ.get("DEBUG", "false"),
        }
    )
    from tests.infra.kube import ControlPlane

    cluster = ControlPlane(with_controllers=False).start()
    try:
        result = _run(args, cluster, db_url, broker)
    finally:
        cluster.stop()
        _drop_database(base_url, db_name)
    print(json.dumps(result))


def _run(args, cluster, db_url: str, broker: str) -> dict:
    import statistics

    import django

    os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path)
    os.environ["KUBE_NAMESPACE_PREFIX"] = "bench-api-"
    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    user, client = _seed()
    from tests.workers import CeleryWorker

    worker = CeleryWorker(
        {
            "DATABASE_URL": db_url,
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DEBUG": os.environ["DEBUG"],
            "KUBECONFIG": os.environ["KUBECONFIG"],
            "KUBE_NAMESPACE_PREFIX": "bench-api-",
        },
        pool=args.worker_pool,
        concurrency=None if args.worker_pool == "solo" else args.worker_concurrency,
    )
    meter = _meter(cluster, worker)
    rounds = []
    try:
        for number in range(1, args.repeat + 1):
            rounds.append(_round(args, number, user, client, worker, cluster, meter))
    finally:
        worker.stop()

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rounds), 2)

    return {
        "n": args.n,
        "objects_per_endpoint": 4,
        "repeat": args.repeat,
        "ratio": median("ratio"),
        "ratio_worker_only": median("ratio_worker_only"),
        "portal_s": median("portal_s"),
        "api_accept_s": median("api_accept_s"),
        "worker_drain_s": median("worker_drain_s"),
        "bare_s": median("bare_s"),
        "ratios": [r["ratio"] for r in rounds],
        "rounds": rounds,
        "debug": os.environ["DEBUG"],
        "worker_pool": args.worker_pool,
        "worker_concurrency": 1 if args.worker_pool == "solo" else args.worker_concurrency,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


def _round(args, number: int, user, client, worker, cluster, meter) -> dict:
    """One round on a new team (so every round starts from an empty team and namespaces):
    API only, worker only, end to end, then the bare loop on the same manifests."""
    from django.conf import settings

    team, body = _team(args.n, f"bench{number}", user)
    worker.stop()  # requests of the queued phase wait in Redis
    queued = _queued_phase(args, team, client, body, worker, meter)  # starts the worker
    portal = _portal_phase(args, team, client, body, meter)
    worker.stop()
    settings.KUBE_NAMESPACE_PREFIX = "bench-raw-"
    try:
        bare = _bare_phase(team, cluster, meter)
    finally:
        settings.KUBE_NAMESPACE_PREFIX = "bench-api-"
    return {
        "round": number,
        **portal,
        **queued,
        **bare,
        "ratio": round(portal["portal_s"] / bare["bare_s"], 2),
        "ratio_worker_only": round(queued["worker_drain_s"] / bare["bare_s"], 2),
    }


def _meter(cluster, worker) -> CpuMeter:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    stat = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
    postmaster = int(stat[1])  # the backend's parent (same machine: 127.0.0.1)

    def pid_of(name: str) -> list[int]:
        proc = cluster._procs.get(name)
        return [proc.popen.pid] if proc and proc.popen else []

    return CpuMeter(
        {
            "api_client": lambda: [os.getpid()],
            "worker": lambda: CpuMeter.children(worker.pid),
            "kube_apiserver": lambda: pid_of("kube-apiserver"),
            "etcd": lambda: pid_of("etcd"),
            "postgres": lambda: CpuMeter.children(postmaster),
        }
    )


def _seed():
    from rest_framework.test import APIClient

    from catalog.seed import seed_catalog
    from portal.models import User
    from portal.tokens import create_token

    seed_catalog()
    user = User.objects.create_user("bench", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(user, 'bench')[1]}")
    return user, client


def _team(n: int, slug: str, user):
    from catalog.models import CatalogModel
    from portal.models import Membership, Team

    team = Team.objects.create(name=slug.title(), slug=slug, max_gpus=10 * n)  # two phases of n
    Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
    model = CatalogModel.objects.get(slug="llama-3-1-8b-instruct")
    body = {
        "team": team.slug,
        "model": model.slug,
        "gpu_type": "L4",
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 1,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }
    return team, body


def _request(client, body, names) -> float:
    start = time.perf_counter()
    for name in names:
        response = client.post("/api/v1/endpoints/", {**body, "name": name}, format="json")
        if response.status_code != 202:
            raise SystemExit(f"request {name} failed: {response.status_code} {response.content!r}")
    return time.perf_counter() - start


def _wait_applied(team, prefix: str, n: int, start: float, timeout: float) -> float:
    from deployments.models import Endpoint

    applied = Endpoint.objects.filter(team=team, name__startswith=prefix, applied_generation=1)
    while applied.count() < n:
        if time.perf_counter() > start + timeout:
            raise SystemExit("timed out waiting for the worker")
        time.sleep(0.05)
    return time.perf_counter() - start


def _queued_phase(args, team, client, body, worker, meter) -> dict:
    """Requests first (they wait in Redis), then time only the worker draining them."""
    cpu0 = meter.snapshot()
    accepted = _request(client, body, [f"q-{i}" for i in range(args.n)])
    cpu1 = meter.snapshot()
    worker.start()
    cpu2 = meter.snapshot()
    drain = _wait_applied(team, "q-", args.n, time.perf_counter(), args.timeout)
    cpu3 = meter.snapshot()
    return {
        "cpu_ms_per_endpoint_api_only": meter.delta(cpu0, cpu1, args.n),
        "cpu_ms_per_endpoint_worker_only": meter.delta(cpu2, cpu3, args.n),
        "api_accept_s": round(accepted, 2),
        "api_per_request_ms": round(accepted * 1000 / args.n, 1),
        "worker_drain_s": round(drain, 2),
        "worker_per_endpoint_ms": round(drain * 1000 / args.n, 1),
    }


def _portal_phase(args, team, client, body, meter) -> dict:
    """End to end: requests and applies overlap, timed until the last one is applied."""
    from deployments.models import Endpoint

    cpu0 = meter.snapshot()
    start = time.perf_counter()
    _request(client, body, [f"ep-{i}" for i in range(args.n)])
    total = _wait_applied(team, "ep-", args.n, start, args.timeout)
    cpu1 = meter.snapshot()
    failed = Endpoint.objects.filter(team=team, status="failed").count()
    return {
        "cpu_ms_per_endpoint_end_to_end": meter.delta(cpu0, cpu1, args.n),
        "portal_s": round(total, 2),
        "portal_failed": failed,
        "portal_per_endpoint_ms": round(total * 1000 / args.n, 1),
    }


def _bare_phase(team, cluster, meter) -> dict:
    from kubernetes import config
    from kubernetes.dynamic import DynamicClient

    from deployments.endpoints import manifests
    from deployments.models import Endpoint

    sets = [
        manifests.render(ep)
        for ep in Endpoint.objects.filter(team=team, name__startswith="ep-").select_related(
            "team", "model", "gpu_type", "offering"
        )
    ]
    dyn = DynamicClient(config.new_client_from_config(config_file=str(cluster.kubeconfig_path)))
    kinds = {
        (o["apiVersion"], o["kind"]): dyn.resources.get(api_version=o["apiVersion"], kind=o["kind"])
        for o in sets[0]
    }
    cpu0 = meter.snapshot()
    start = time.perf_counter()
    for objects in sets:
        for obj in objects:
            dyn.server_side_apply(
                kinds[(obj["apiVersion"], obj["kind"])],
                body=obj,
                name=obj["metadata"]["name"],
                namespace=obj["metadata"].get("namespace"),
                field_manager="bench",
                force_conflicts=True,
            )
    total = time.perf_counter() - start
    cpu = meter.delta(cpu0, meter.snapshot(), len(sets))
    cpu["bare_client"] = cpu.pop("api_client")
    return {
        "bare_s": round(total, 2),
        "bare_per_endpoint_ms": round(total * 1000 / len(sets), 1),
        "cpu_ms_per_endpoint_bare": cpu,
    }


if __name__ == "__main__":
    main()
