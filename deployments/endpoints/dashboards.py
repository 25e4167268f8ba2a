"""Page data for the metrics pages, built from the metric layer (deployments.endpoints.metrics).

Each builder runs its fixed set of queries (in parallel, each with the adapter's timeout) and
returns plain dicts the templates and the API render. :func:`with_last_good` keeps the last
good result of every page in the cache: when Prometheus is down, slow or rejects a query, the
page still renders (HTTP 200) with that result marked stale and the reason in a banner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

from deployments.endpoints import metrics, promql
from portal.gcpause import gc_paused
from portal.prometheus import PrometheusClient, PrometheusError, PrometheusUnavailable, get_client

logger = logging.getLogger(__name__)

LAST_GOOD_SECONDS = 7 * 86400


def _scraped(window: promql.Window) -> promql.Window:
    return window.scraped_every(settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS)


@dataclass
class PageData:
    data: dict | None
    stale: bool = False
    error: str = ""
    computed_at: datetime | None = None
    extra: dict = field(default_factory=dict)
    # "not_configured" (PROMETHEUS_URL unset) or "unreachable" (never answered, nothing
    # stored): a setup state to explain calmly, not an outage banner (see prometheus_setup).
    setup: str = ""

    @property
    def age_seconds(self) -> float | None:
        if self.computed_at is None:
            return None
        return (datetime.now(UTC) - self.computed_at).total_seconds()


UNREACHABLE_KEY = "metrics:prometheus-unreachable"


def prometheus_setup() -> str:
    """What is missing for metrics and cost collection: "not_configured" when PROMETHEUS_URL
    is unset, "unreachable" when the last call to it failed (pages and the collector note
    it), "" when it answers. Reads settings and the cache only, never Prometheus itself."""
    if not settings.PROMETHEUS_URL:
        return "not_configured"
    return "unreachable" if cache.get(UNREACHABLE_KEY) else ""


def note_prometheus_reachable(ok: bool) -> None:
    """Record whether the last call to Prometheus got through (for prometheus_setup)."""
    if ok:
        cache.delete(UNREACHABLE_KEY)
    else:
        cache.set(UNREACHABLE_KEY, True, LAST_GOOD_SECONDS)


def with_last_good(cache_key: str, compute: Callable[[PrometheusClient], dict]) -> PageData:
    """Run ``compute(client)``; on any Prometheus failure fall back to the last good result.

    Without PROMETHEUS_URL nothing is tried: the page is in the "not_configured" setup state.
    A failure with nothing stored is the "unreachable" setup state (nothing to show as stale).
    """
    if not settings.PROMETHEUS_URL:
        return PageData(None, setup="not_configured")
    key = f"metrics:last-good:{cache_key}"
    try:
        data = compute(get_client())
    except PrometheusError as exc:
        logger.warning("metrics page %s: Prometheus failed: %s", cache_key, exc)
        if isinstance(exc, PrometheusUnavailable):
            note_prometheus_reachable(False)
        last = cache.get(key)
        if last is None:
            setup = "unreachable" if isinstance(exc, PrometheusUnavailable) else ""
            return PageData(None, stale=True, error=str(exc), setup=setup)
        return PageData(last["data"], stale=True, error=str(exc), computed_at=last["at"])
    note_prometheus_reachable(True)
    now = datetime.now(UTC)
    cache.set(key, {"data": data, "at": now}, LAST_GOOD_SECONDS)
    return PageData(data, computed_at=now)


def run_parallel(jobs: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run independent query jobs on a few threads within one page budget.

    The first failure is raised at once (queued jobs are cancelled; running ones end on their
    own timeout in the background), and a page never waits more than twice
    PROMETHEUS_TIMEOUT in total, however many queries are slow.
    """
    budget = 2 * float(settings.PROMETHEUS_TIMEOUT)
    threads = settings.METRICS_QUERY_THREADS
    if threads <= 1:
        return {name: job() for name, job in jobs.items()}
    deadline = time.monotonic() + budget
    pool = ThreadPoolExecutor(max_workers=min(threads, len(jobs) or 1))
    try:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout as exc:
                raise PrometheusUnavailable(
                    f"Prometheus did not answer within {budget:g} s"
                ) from exc
        return results
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _grid(start: float, end: float, step: int) -> list[float]:
    return [start + i * step for i in range(int((end - start) // step) + 1)]


def _aligned(
    points: list[tuple[float, float | None]] | None, grid: list[float]
) -> list[float | None]:
    values = dict(points or [])
    return [values.get(t) for t in grid]


# ---------------------------------------------------------------------------------- one endpoint
CHART_GROUPS = [
    ("tokens", "Tokens per second", "tokens/s", ["generation_tokens_per_s", "prompt_tokens_per_s"]),
    (
        "latency",
        "Latency",
        "s",
        ["ttft_p50_s", "ttft_p95_s", "ttft_p99_s", "itl_p95_s", "e2e_p95_s"],
    ),
    (
        "cache",
        "KV cache, prefix cache and GPU",
        "ratio",
        ["kv_cache_usage", "prefix_cache_hit_rate", "gpu_util", "gpu_memory_used"],
    ),
    ("queue", "Queue depth and running requests", "count", ["queue_depth", "running"]),
    (
        "requests",
        "Requests, HTTP 5xx and preemptions per second",
        "req/s",
        ["request_rate_per_s", "http_5xx_per_s", "preemptions_per_s"],
    ),
    ("errors", "Share of requests that failed (abort or error)", "ratio", ["error_rate"]),
    ("replicas", "Replicas and restarts", "count", ["replicas", "restarts"]),
]
TILES = [
    "generation_tokens_per_s",
    "ttft_p95_s",
    "itl_p95_s",
    "e2e_p95_s",
    "kv_cache_usage",
    "prefix_cache_hit_rate",
    "queue_depth",
    "running",
    "request_rate_per_s",
    "error_rate",
    "gpu_util",
    "gpu_memory_used",
    "replicas",
    "restarts",
]


def endpoint_page(
    key: promql.Key, window: promql.Window, now: datetime, slo: tuple[float, float]
) -> Callable[[PrometheusClient], dict]:
    """Compute function for one endpoint's Metrics tab: tiles, charts, window figures, SLOs."""

    window = _scraped(window)

    def compute(client: PrometheusClient) -> dict:
        start, end = metrics.range_bounds(window, now)
        queries = promql.chart_queries([key], window)
        jobs = {
            name: (lambda q=q: client.query_range(q, start, end, window.step))
            for name, q in queries.items()
        }
        jobs["summary"] = lambda: metrics.window_summary(client, [key], start, end)[key]
        results = run_parallel(jobs)
        grid = _grid(start, end, window.step)
        series = {
            name: _aligned(metrics.series_by_key(results[name]).get(key), grid) for name in queries
        }
        summary = results["summary"]
        return {
            "start": start,
            "end": end,
            "step": window.step,
            "window": window.key,
            "summary": summary,
            "slo": metrics.slo_block(summary, *slo),
            "tiles": [_tile(name, series[name]) for name in TILES],
            "charts": [_chart(g, grid, series) for g in CHART_GROUPS],
        }

    return compute


def _tile(name: str, values: list[float | None]) -> dict:
    signal = promql.SIGNALS_BY_KEY[name]
    t = metrics.trend([(i, v) for i, v in enumerate(values)])
    spark = _thin([v for v in values if v is not None], 40)
    return {"key": name, "label": signal.label, "unit": signal.unit, **t, "spark": spark}


def _chart(group, grid, series) -> dict:
    key, title, unit, names = group
    return {
        "key": key,
        "title": title,
        "unit": unit,
        "x": grid,
        "series": [
            {"key": n, "label": promql.SIGNALS_BY_KEY[n].label, "values": series[n]} for n in names
        ],
    }


# ---------------------------------------------------------------------------------- many endpoints
SPARK_POINTS = 40  # a 120 px sparkline shows no more


def overview_requests(
    keys: list[promql.Key] | None, window: promql.Window, now: datetime
) -> dict[str, tuple[str, str, dict]]:
    """The team/fleet page's Prometheus requests: ``{name: (kind, promql, params)}``.

    Seven, whatever the number of endpoints: one range query (tokens/s at SPARK_POINTS
    points: sparkline, trend, tokens generated) and six instant queries. bench/metrics_page.py
    sends exactly these raw to compare."""
    window = _scraped(window)
    window = replace(window, step=max(window.step, window.seconds // SPARK_POINTS))
    start, end = metrics.range_bounds(window, now)
    out = {}
    for name, q in promql.overview_queries(keys, window).items():
        if name == "tokens":
            out[name] = ("query_range", q, {"start": start, "end": end, "step": window.step})
        else:
            out[name] = ("query", q, {"at": end})
    return out


def overview_page(
    keys: list[promql.Key] | None, window: promql.Window, now: datetime
) -> Callable[[PrometheusClient], dict]:
    """Compute function for the team page (keys) or the fleet page (None: every endpoint)."""

    def compute(client: PrometheusClient) -> dict:
        with gc_paused():  # decoding ~100 k samples: no heap walks meanwhile (portal/gcpause.py)
            return _overview(client)

    def _overview(client: PrometheusClient) -> dict:
        requests = overview_requests(keys, window, now)
        jobs = {}
        for name, (kind, q, params) in requests.items():
            method = client.query_range if kind == "query_range" else client.query
            jobs[name] = lambda method=method, q=q, params=params: method(q, **params)
        results = run_parallel(jobs)
        step = requests["tokens"][2]["step"]
        tokens = metrics.series_by_key(results.pop("tokens"))
        start, end = requests["tokens"][2]["start"], requests["tokens"][2]["end"]
        held = metrics.held_gpu_hours(results.pop("gpu_hours"), start, end)
        values = {name: metrics.by_key(rows) for name, rows in results.items()}
        values["gpu_hours"] = held
        known = set(tokens) | {k for v in values.values() for k in v}
        rows = {}
        for key in keys if keys is not None else sorted(known):
            rows[key] = _overview_row(key, tokens.get(key, []), values, window, step)
        return {
            "start": start,
            "end": end,
            "step": step,
            "window": window.key,
            "rows": {f"{ns}/{m}": row for (ns, m), row in rows.items()},
        }

    return compute


def _overview_row(key, points, values, window, step) -> dict:
    t = metrics.trend(points)
    generated = metrics.token_total(points, step)
    gpu_hours = values["gpu_hours"].get(key)
    return {
        "namespace": key[0],
        "model_name": key[1],
        "tokens_per_s": t["current"],
        "trend": t["direction"],
        "change": t["change"],
        "spark": [v for _, v in points if v is not None],
        "tokens_generated": generated,
        "ttft_p95_s": values["ttft_p95"].get(key),
        "error_rate": values["error_rate"].get(key),
        "kv_cache_usage": values["kv_cache"].get(key),
        "queue_depth": values["queue"].get(key),
        "gpu_util": values["gpu_util"].get(key),
        "gpu_hours": gpu_hours,
        "idle": metrics.is_idle(gpu_hours, generated, window),
    }


def _thin(values: list[float], most: int) -> list[float]:
    """At most ``most`` evenly spaced values (a 120 px sparkline shows no more)."""
    if len(values) <= most:
        return values
    step = len(values) / most
    return [values[int(i * step)] for i in range(most - 1)] + [values[-1]]
