"""Benchmark: how fast a controller's Ready reaches the portal's row by watch, and what the
status watcher costs the apiserver in steady state (issue 25, P6).

On a real kube-apiserver with the real KServe controller and the real kube-controller-manager
and scheduler (only the kubelet is played: tests/infra FakeKubelet makes pods Running and
Ready without engines), N endpoints are requested through the API (each applied in-process
by apply_endpoint, as the worker would) into ceil(N / --per-team) team namespaces, while
`manage.py watch_status` runs as its own process (the chart's status watcher; no periodic
sync runs at all).

* Latency, per endpoint: from the moment the cluster's objects say Ready (an independent
  observer in this process watches the InferenceServices, Deployments and pods and maps them
  with the same `observe.status_from` the portal uses; the first time it says READY is when
  the controllers finished writing Ready) to the moment the portal's row was written READY
  (its `updated_at`). p50, p95, max over all N.
* Steady state, after every endpoint is Ready, from the apiserver's own /metrics
  (`apiserver_request_total`, summed): a window with the watcher running, a window without it
  (the controllers, the played kubelet, slowed to one pass per 5 s for the windows, and this
  process' own observer), and a window in which one resync runs (sync_statuses, sync_routes,
  sync_batch_jobs, what beat runs every STATUS_SYNC_SECONDS). The watcher's share is the
  difference of the first two; `apiserver_requests_per_min` adds one resync per 300 s (the
  chart's resyncSeconds), and `poll_requests_per_min` is what the 30 s syncs alone cost
  (today's design: one resync every 30 s).

Needs PostgreSQL (`scripts/services.sh start && source var/services/env`; a fresh database is
created and dropped), the kube binaries and the KServe controller (tools/build-k8s.sh,
tools/build-controllers.sh: `source ~/.cache/modelport/env.sh controllers-env.sh`).

Usage::

    .venv/bin/python bench/status_latency.py --endpoints 100 [--per-team 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import ssl
import statistics
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from deploy_throughput import _bench_database, _drop_database  # noqa: E402

RESYNC_SECONDS = 300  # the chart's statusWatcher.resyncSeconds
POLL_SECONDS = 30  # the periodic syncs without the watcher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, required=True, help="N endpoints")
    parser.add_argument("--per-team", type=int, default=100, help="endpoints per team namespace")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per steady window")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args()
    # SIGTERM: clean up like Ctrl-C (stop the watcher, the controllers, the cluster, drop the DB)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.endpoints < 1 or args.per_team < 1 or args.window < 10:
        parser.error("--endpoints and --per-team must be >= 1, --window >= 10 seconds")
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL (PostgreSQL): scripts/services.sh start && source var/services/env"
        )
    db_url, db_name = _bench_database(base_url)
    os.environ.update(
        {
            "DATABASE_URL": db_url,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "CELERY_BROKER_URL": "memory://",
            "DEBUG": "false",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "KUBE_NAMESPACE_PREFIX": "bench-",
        }
    )
    from tests.infra.controllers import ControllerStack
    from tests.infra.kube import ControlPlane

    # one Service ClusterIP per predictor: room for 4,000
    cluster = ControlPlane(with_controllers=True, service_cidr="10.0.0.0/20").start()
    stack = None
    try:
        stack = ControllerStack(cluster, kserve=True, keda=False, ksm=False).start()
        result = _run(args, cluster, db_url)
    finally:
        if stack is not None:
            stack.stop()
        cluster.stop()
        _drop_database(base_url, db_name)
    print(json.dumps(result if args.json else result, indent=None if args.json else 1))


def _say(args, text: str) -> None:
    if not args.json:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _requests(cluster) -> dict[tuple[str, str], float]:
    """apiserver_request_total from the apiserver's /metrics, summed by (verb, resource)."""
    ctx = ssl.create_default_context(cafile=str(cluster.ca_file))
    req = urllib.request.Request(
        cluster.server + "/metrics", headers={"Authorization": f"Bearer {cluster.token}"}
    )
    with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
        text = r.read().decode()
    totals: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        verb = re.search(r'verb="([^"]*)"', labels)
        resource = re.search(r'resource="([^"]*)"', labels)
        key = (verb.group(1) if verb else "", resource.group(1) if resource else "")
        totals[key] = totals.get(key, 0.0) + float(value)
    return totals


def _window(cluster, seconds: float, during=None) -> tuple[float, dict]:
    """Requests per minute over a window (and by verb/resource); `during()` runs inside it."""
    before, start = _requests(cluster), time.monotonic()
    if during is not None:
        during()
    time.sleep(max(0.0, seconds - (time.monotonic() - start)))
    after, took = _requests(cluster), time.monotonic() - start
    diff = {key: after[key] - before.get(key, 0.0) for key in after}
    total = sum(diff.values())
    return total * 60.0 / took, {f"{v} {r}": round(d) for (v, r), d in diff.items() if d}


class ReadyObserver:
    """When the cluster's objects first say READY, per endpoint uuid (by watch, in-process)."""

    def __init__(self, namespaces: list[str]):
        from deployments.endpoints import manifests, observe
        from deployments.endpoints.choices import EndpointStatus
        from deployments.k8s import ClusterClient
        from deployments.watch.informer import Informer, Store
        from deployments.workloads import labels

        self.observe, self.ready_status = observe, EndpointStatus.READY
        self.label = labels.LABEL_ENDPOINT_UUID
        self.store = Store((self.label,))
        self.ready_at: dict[str, float] = {}
        self.informers = [
            Informer(
                ClusterClient.for_watching(),
                api_version,
                kind,
                namespace,
                labels.MANAGED_SELECTOR,
                self.store,
                self._changed,
                300,
            )
            for namespace in namespaces
            for api_version, kind in (
                (manifests.ISVC_API, "InferenceService"),
                ("apps/v1", "Deployment"),
                ("v1", "Pod"),
            )
        ]
        for informer in self.informers:
            threading.Thread(target=informer.run, daemon=True).start()

    def _changed(self, obj: dict) -> None:
        uuid = ((obj.get("metadata") or {}).get("labels") or {}).get(self.label)
        if not uuid or uuid in self.ready_at:
            return
        isvcs = self.store.by_label("InferenceService", self.label, uuid)
        deployments = self.store.by_label("Deployment", self.label, uuid)
        if not isvcs:
            return
        observed = self.observe.status_from(
            isvcs[0],
            deployments[0] if deployments else None,
            pods=self.store.by_label("Pod", self.label, uuid),
        )
        if observed is not None and observed.status == self.ready_status:
            self.ready_at[uuid] = time.time()

    def stop(self) -> None:
        for informer in self.informers:
            informer.stop()


def _seed(n: int, per_team: int):
    from rest_framework.test import APIClient

    from catalog.seed import seed_catalog
    from portal.models import Membership, Team, User
    from portal.tokens import create_token

    seed_catalog()
    user = User.objects.create_user("bench", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(user, 'bench')[1]}")
    teams = []
    for i in range(math.ceil(n / per_team)):
        team = Team.objects.create(name=f"Team {i}", slug=f"t{i}", max_gpus=2 * per_team)
        Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
        teams.append(team)
    return client, teams


def _request(client, team, name: str):
    from deployments.models import Endpoint

    response = client.post(
        "/api/v1/endpoints/",
        {
            "team": team.slug,
            "name": name,
            "model": "qwen2-5-7b-instruct",  # not gated: no Hugging Face token Secret needed
            "gpu_type": "L4",
            "gpu_count": 1,
            "quantization": "bf16",
            "max_context_length": 8192,
            "min_replicas": 1,
            "max_replicas": 1,
            "capacity_type": "on-demand",
        },
        format="json",
    )
    if response.status_code != 202:
        raise SystemExit(f"request {name} failed: {response.status_code} {response.content!r}")
    return Endpoint.objects.get(uuid=response.json()["uuid"])


def _room_for(cluster, node: str, pods: int) -> None:
    """Each predictor asks for its model's disk (ephemeral-storage): give the node enough."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    room = {"ephemeral-storage": f"{pods * 200}Gi"}
    core.patch_node_status(node, {"status": {"capacity": room, "allocatable": room}})


# What only the portal asks for in this cluster: its Lease (PUT; the played kubelet PATCHes its
# node leases, the controllers run without leader election), and its reads of the team
# namespaces' objects (the controllers' own watches are cluster-wide and long-lived).
PORTAL_KEYS = {
    ("PUT", "leases"),
    ("GET", "leases"),
    ("POST", "leases"),
    ("GET", "resourcequotas"),
    ("LIST", "inferenceservices"),
    ("LIST", "deployments"),
    ("LIST", "scaledobjects"),
    ("LIST", "poddisruptionbudgets"),
    ("LIST", "jobs"),
    ("LIST", "httproutes"),
    ("LIST", "events"),
    ("WATCH", "inferenceservices"),
    ("WATCH", "jobs"),
    ("WATCH", "httproutes"),
}


def _portal_share(window: dict, baseline: dict) -> float:
    """Requests of the portal's kinds in `window` beyond the same window without the portal."""
    extra = 0.0
    for key, count in window.items():
        verb, _, resource = key.partition(" ")
        if (verb, resource) in PORTAL_KEYS:
            extra += max(0.0, count - baseline.get(key, 0))
    return extra


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def _run(args, cluster, db_url: str) -> dict:
    import django

    os.environ["KUBECONFIG"] = str(cluster.kubeconfig_path)
    django.setup()
    from django.core.management import call_command
    from django.db import close_old_connections

    call_command("migrate", verbosity=0)
    from deployments.batch.reconcile import sync_batch_jobs
    from deployments.endpoints import manifests
    from deployments.endpoints.choices import EndpointStatus
    from deployments.endpoints.reconcile import sync_statuses
    from deployments.models import Endpoint
    from deployments.routing.reconcile import sync_routes
    from tests.workers import StatusWatcherProcess

    client, teams = _seed(args.endpoints, args.per_team)
    namespaces = [t.namespace for t in teams]
    observer = ReadyObserver(namespaces)
    watcher = StatusWatcherProcess(
        {
            "DATABASE_URL": db_url,
            "DATABASE_CONN_MAX_AGE": "60",
            "KUBECONFIG": os.environ["KUBECONFIG"],
            "KUBE_NAMESPACE_PREFIX": os.environ["KUBE_NAMESPACE_PREFIX"],
            "DEBUG": "false",
            "LOG_LEVEL": "INFO",
            "CELERY_BROKER_URL": "memory://",
        },
        identity="bench",
    ).start()
    watcher.wait_for_log("leading", timeout=120)
    started = time.monotonic()
    try:
        names = [(teams[i // args.per_team], f"e{i}") for i in range(args.endpoints)]

        def request(item):
            try:
                return _request(client, *item)
            finally:
                close_old_connections()

        with ThreadPoolExecutor(max_workers=2) as pool:
            first = list(pool.map(request, names))[0]
        applied_s = time.monotonic() - started
        _say(args, f"{args.endpoints} endpoints requested and applied in {applied_s:.0f} s")
        # Only now the GPU nodes (one predictor per GPU, 110 pods per node at most): the pods
        # become Ready while this process does nothing but observe (its observer's clock is
        # not held up by the requests above).
        per_node = 100
        for i in range(math.ceil(args.endpoints / per_node)):
            node = cluster.add_fake_node(
                f"gpu-{i}",
                gpus=per_node,
                labels=manifests.node_selector(first),
                cpu="4000",
                memory="40000Gi",
            )
            _room_for(cluster, node, per_node)
        deadline = time.monotonic() + args.timeout
        while True:
            ready = Endpoint.objects.filter(status=EndpointStatus.READY).count()
            if ready == args.endpoints:
                break
            if time.monotonic() > deadline or not watcher.running:
                raise SystemExit(
                    f"{ready} of {args.endpoints} Ready after {args.timeout:.0f} s "
                    f"(cluster says {len(observer.ready_at)}); watcher log:\n{watcher.logs[-3000:]}"
                )
            time.sleep(1.0)
        all_ready_s = time.monotonic() - started
        _say(args, f"all Ready after {all_ready_s:.0f} s")
        latencies, observed = [], []
        for uuid, updated, changed in Endpoint.objects.values_list(
            "uuid", "updated_at", "status_changed_at"
        ):
            # The controllers' own record: the transition time the row holds (whole seconds,
            # so this is up to 1 s too long: an upper bound the observer's lag cannot shorten)
            latencies.append((updated - changed).total_seconds())
            cluster_ready = observer.ready_at.get(str(uuid))
            if cluster_ready is not None:
                observed.append(updated.timestamp() - cluster_ready)
        # steady state: the played kubelet slowed to one pass per 5 s (its pod lists are the
        # bulk of the baseline and of its noise)
        cluster.fake_kubelet.interval = 5.0
        time.sleep(10)
        with_watcher, with_detail = _window(cluster, args.window)
        watcher.stop()
        time.sleep(10)
        baseline, base_detail = _window(cluster, args.window)

        def resync():
            sync_statuses()
            sync_routes()
            sync_batch_jobs()

        with_resync, resync_detail = _window(cluster, args.window, during=resync)
    finally:
        observer.stop()
        watcher.stop()
    minute = 60.0 / args.window
    watcher_rate = _portal_share(with_detail, base_detail) * minute
    per_resync = _portal_share(resync_detail, base_detail)
    return {
        "n": len(latencies),
        "endpoints": args.endpoints,
        "namespaces": len(namespaces),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(_percentile(latencies, 0.95), 3),
        "max_s": round(max(latencies), 3),
        "observer_n": len(observed),
        "observer_p50_s": round(statistics.median(observed), 3) if observed else None,
        "observer_p95_s": round(_percentile(observed, 0.95), 3) if observed else None,
        "observer_max_s": round(max(observed), 3) if observed else None,
        "observer_min_s": round(min(observed), 3) if observed else None,
        "apiserver_requests_per_min": round(watcher_rate + per_resync * 60 / RESYNC_SECONDS, 1),
        "watcher_requests_per_min": round(watcher_rate, 1),
        "requests_per_resync": round(per_resync),
        "poll_requests_per_min": round(per_resync * 60 / POLL_SECONDS, 1),
        "apiserver_total_delta_per_min": round(with_watcher - baseline, 1),
        "apiserver_total_per_min_with_watcher": round(with_watcher, 1),
        "apiserver_total_per_min_baseline": round(baseline, 1),
        "window_s": args.window,
        "detail_with_watcher": with_detail,
        "detail_baseline": base_detail,
        "detail_with_resync": resync_detail,
        "applied_s": round(applied_s, 1),
        "all_ready_s": round(all_ready_s, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    main()
