"""Benchmark: the team metrics page with many endpoints against a real Prometheus.

Checks the two promises of issue 5:

* the page sends a fixed number of PromQL queries (<= 8) whatever the number of endpoints;
* its server time is <= 1.3x the time of the same PromQL sent raw (plain HTTP, no Django).

It backfills a scenario (one team namespace, N endpoints with one vLLM pod each, 2 h at 30 s
scrapes) into a throw-away Prometheus (tests/infra/prom.py), creates the team and endpoints
in a throw-away SQLite database, then times, per round (Prometheus cache off, same "now"):

* raw sequential: the page's PromQL sent one after the other with ``requests``;
* raw parallel: the same with the page's concurrency (4 threads) - the fair baseline;
* page: ``GET /teams/<slug>/metrics/`` through the Django test client (DB, PromQL, templates).

Usage::

    .venv/bin/python bench/metrics_page.py [--endpoints 50] [--rounds 15] [--tsdb DIR]

``--tsdb DIR`` keeps the backfilled Prometheus data there and reuses it on the next run with the
same number of endpoints (the backfill of 1,000 endpoints takes many minutes): every round then
asks at the backfill's own "now" (its end + 2 minutes), as a fresh run does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from deployments.endpoints import dashboards, promql  # noqa: E402
from tests.infra.prom import PrometheusServer  # noqa: E402
from tests.promdata import Load, Node, Pod, Scenario  # noqa: E402

HOUR = 3600


PIECE = 200  # endpoints generated and backfilled at a time (1,000 at once need ~15 GB)


def build_scenario(n: int, end: float, first: int = 0) -> Scenario:
    """Endpoints ``first .. n-1`` (``first`` a multiple of 8: each piece has its own nodes)."""
    start = end - 2 * HOUR
    s = Scenario(start, end, scrape_interval=30, scrape_offset=3, seed=5 + first)
    for i in range(first // 8, math.ceil(n / 8)):
        s.add_node(Node(f"bench-gpu-{i}", instance_type="p5.48xlarge", gpus=8, gpu="H100"))
    for i in range(first, n):
        s.add_pod(
            Pod(
                f"ep-{i:03d}-predictor-5d8f-{i:05d}",
                "mp-bench",
                node=f"bench-gpu-{i // 8}",
                start=start,
                isvc=f"ep-{i:03d}",
                load=Load(f"ep-{i:03d}", requests_per_s=0.5 + (i % 5)),
            )
        )
    return s


def setup_db(n: int):
    from tests.factories import EndpointFactory, MembershipFactory, TeamFactory, UserFactory

    connection.creation.create_test_db(verbosity=0)
    team = TeamFactory(name="Bench", slug="bench")
    user = UserFactory(username="bench")
    MembershipFactory(team=team, user=user)
    for i in range(n):
        EndpointFactory(team=team, name=f"ep-{i:03d}")
    client = Client()
    client.force_login(user)
    return team, client


def queries_sent() -> float:
    return sum(
        REGISTRY.get_sample_value("modelport_prometheus_queries_total", {"kind": k}) or 0.0
        for k in ("query", "query_range")
    )


def page_promql(keys, window, now):
    """The exact requests the page sends (deployments.endpoints.dashboards.overview_requests), as HTTP params."""
    out = []
    for kind, q, params in dashboards.overview_requests(keys, window, now).values():
        if kind == "query_range":
            out.append((kind, {"query": q, **params}))
        else:
            out.append((kind, {"query": q, "time": params["at"]}))
    return out


def run_raw(url, requests_list, parallel: bool, threads: int = 4) -> float:
    session = requests.Session()

    def one(item):
        kind, params = item
        r = session.get(f"{url}/api/v1/{kind}", params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    started = time.perf_counter()
    if parallel and threads > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, requests_list))
    else:
        for item in requests_list:
            one(item)
    return time.perf_counter() - started


def start_prometheus(n: int, tsdb: str) -> tuple[PrometheusServer, datetime | None]:
    """A Prometheus holding the scenario, and the fixed "now" to ask at (None: the clock)."""
    meta_path = Path(tsdb) / "bench-meta.json" if tsdb else None
    if meta_path is not None and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["endpoints"] != n:
            raise SystemExit(f"{tsdb} holds {meta['endpoints']} endpoints, not {n}")
        print(f"reusing the backfill in {tsdb}", file=sys.stderr)
        prom = PrometheusServer(workdir=tsdb).start()
        return prom, datetime.fromtimestamp(meta["end"] + 120, tz=UTC)
    end = math.floor(time.time() / 60) * 60 - 120
    t0 = time.perf_counter()
    prom = PrometheusServer(workdir=tsdb or None).start()
    series = 0
    for first in range(0, n, PIECE):  # blocks of the pieces are merged at query time
        scenario = build_scenario(min(n, first + PIECE), end, first)
        series += len(scenario.series)
        prom.backfill(scenario.openmetrics(), restart=first + PIECE >= n)
        del scenario
    print(
        f"backfilled {series} series for {n} endpoints in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    if meta_path is not None:
        meta_path.write_text(json.dumps({"endpoints": n, "end": end}))
        return prom, datetime.fromtimestamp(end + 120, tz=UTC)
    return prom, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoints", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--window", default="1h", choices=list(promql.WINDOWS))
    ap.add_argument(
        "--threads",
        type=int,
        default=settings.METRICS_QUERY_THREADS,
        help="METRICS_QUERY_THREADS for the page (1 = one query after the other)",
    )
    ap.add_argument(
        "--tsdb",
        default="",
        help="keep the backfilled data in this directory and reuse it on the next run",
    )
    args = ap.parse_args()

    prom, fixed_now = start_prometheus(args.endpoints, args.tsdb)
    try:
        settings.PROMETHEUS_URL = prom.url
        settings.PROMETHEUS_CACHE_SECONDS = 0
        settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 30
        settings.ALLOWED_HOSTS = ["*"]
        settings.METRICS_QUERY_THREADS = args.threads
        team, client = setup_db(args.endpoints)
        keys = [(team.namespace, f"ep-{i:03d}") for i in range(args.endpoints)]
        window = promql.WINDOWS[args.window]
        url = f"/teams/{team.slug}/metrics/?window={window.key}"

        results = {"seq": [], "par": [], "page": []}
        counts = []
        for i in range(args.rounds + 2):  # two warm-up rounds
            now = fixed_now or datetime.now(UTC)
            reqs = page_promql(keys, window, now)
            seq = run_raw(prom.url, reqs, parallel=False)
            par = run_raw(prom.url, reqs, parallel=True, threads=args.threads)
            cache.clear()
            before = queries_sent()
            with mock.patch(
                "deployments.endpoints.metrics_views.datetime"
            ) as dt:  # same "now" as the raw runs
                dt.now.return_value = now
                started = time.perf_counter()
                resp = client.get(url)
                page = time.perf_counter() - started
            body = resp.content.decode()
            assert resp.status_code == 200, resp.status_code
            assert 'data-stale="true"' not in body, body[:2000]
            counts.append(queries_sent() - before)
            if i >= 2:
                results["seq"].append(seq)
                results["par"].append(par)
                results["page"].append(page)

        if os.environ.get("BENCH_PROFILE"):  # one more page under cProfile, stats to that file
            import cProfile

            cache.clear()
            cProfile.runctx("client.get(url)", globals(), locals(), os.environ["BENCH_PROFILE"])
        med = {k: statistics.median(v) * 1000 for k, v in results.items()}
        rows = body.count("<tr data-endpoint=")
        print(f"endpoints={args.endpoints} rows={rows} window={window.key} rounds={args.rounds}")
        print(f"PromQL queries per page: {sorted(set(counts))}")
        print(f"raw PromQL sequential: median {med['seq']:.1f} ms")
        print(
            f"raw PromQL with the page's concurrency ({args.threads} threads): median {med['par']:.1f} ms"
        )
        print(f"page server time: median {med['page']:.1f} ms")
        print(f"ratio page / raw sequential: {med['page'] / med['seq']:.2f}")
        print(f"ratio page / raw with the page's concurrency: {med['page'] / med['par']:.2f}")
        ok = max(counts) <= 8 and med["page"] <= 1.3 * med["par"]
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        prom.stop()


if __name__ == "__main__":
    sys.exit(main())
