"""Fetching: the only part of billing that asks Prometheus (through portal.prometheus).

GPU time is read as raw samples (a range selector evaluated at an instant returns every stored
sample) and integrated in Python from each sample's span (portal/gputime.py), one query per
gauge and chunk of up to ``SAMPLE_CHUNK_HOURS`` windows (the samples are exactly those of the
windows, so the chunk size changes the cost, never the result). Counters (vLLM tokens) use
``increase``. Windows are ``[start, end)``: a query at ``end - 1 ms`` with a range one ms short
of the window on Prometheus 2 (closed ranges) or exactly the window on Prometheus 3 (left-open
ranges), told apart by the server's build info.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings

from catalog.choices import CapacityType
from portal.gcpause import gc_paused
from portal.gputime import RunIntegrator, integrate, to_unix
from portal.prometheus import PrometheusClient, RemoteReadUnsupported
from portal.timeutil import HOUR

from ... import queries
from ._base import UNKNOWN
from ._types import ClusterLabels, Measurements, PodKey
from .prices import PriceTable
from .windows import Window

log = logging.getLogger(__name__)

# Samples after the period only end the spans of the period's last samples: looked for this far.
LOOKAHEAD = timedelta(minutes=15)
# Raw samples are read this many hour windows per query: a day of 1-minute samples of 2,000
# pods is ~3 M samples at most, and a month costs ~31 queries per gauge instead of ~720.
SAMPLE_CHUNK_HOURS = 24


def billing_client() -> PrometheusClient:
    """A Prometheus client for billing: long timeout, no response cache (re-runs must re-read)."""
    return PrometheusClient(
        settings.PROMETHEUS_URL, timeout=settings.BILLING_PROMETHEUS_TIMEOUT, cache_seconds=0
    )


def _config(client) -> dict:
    return {
        "selector": settings.BILLING_PROMQL_SELECTOR,
        "left_open": client.major_version() >= 3,
    }


# Gauges integrated from their samples: (PromQL selector builder, key of a series, scale).
_GAUGES = {
    "pods": (queries.pod_gpu_requests, "pod_node", 1.0),
    "nodes": (queries.node_gpu_capacity, "node", 1.0),
    "busy": (queries.gpu_busy, "dcgm_pod", 1.0),
    "busy_util": (lambda s: queries.gpu_busy(s, metric="DCGM_FI_DEV_GPU_UTIL"), "dcgm_pod", 0.01),
}
# Counters: increase per window, the prompt and generation tokens in one query (by kind).
_TOKENS = {"prompt": "prompt_tokens", "generation": "generation_tokens"}


def fetch_usage(
    client,
    windows: list[Window],
    prices: PriceTable | Callable[[], PriceTable],
    while_waiting: Callable | None = None,
) -> tuple[list[Measurements], ClusterLabels]:
    """GPU-seconds (pods, node capacity, busy) and tokens of every window, and the label sets.
    ``while_waiting`` is called once on this thread, when the remote read is sent and the
    label and token requests are sent after it, before the remote read's answer is
    read (the collector reads the database meanwhile: no thread of its own to hand over to and
    back). ``prices``: the price table, or a function that gives it, called after
    ``while_waiting``. The gauges' series are integrated as the remote read decodes them."""
    cfg = _config(client)
    data = [Measurements() for _ in windows]
    end = windows[-1].end
    chunks = [*_sample_chunks(windows), Window(end, end + LOOKAHEAD)]
    bounds = [*to_unix(w.start for w in windows), end.timestamp()]
    pool = _requests_pool()
    asked: dict[str, object] = {}

    def send_the_others() -> list[list[float]]:
        """Once the remote read is sent: the series request and the tokens' (sent ahead from
        this thread, read once the stream is decoded: no thread waits for the GIL the
        decoding holds), then the caller's work, and the price changes that cut the windows
        (unix seconds), which the integration of the first series decoded needs."""
        asked["labels"] = labels_ahead(client, windows[0].start, end, cfg["selector"])
        asked["tokens"] = _integrate(
            pool, client, windows, queries.token_increases, _token_key, cfg
        )
        if while_waiting is not None:
            while_waiting()
        table = prices() if callable(prices) else prices
        asked["cut_times"] = cut_times = [table.change_points(w.start, w.end) for w in windows]
        return [to_unix(c) for c in cut_times]

    with gc_paused():
        # the gauges' samples on this thread, decoded and integrated as they stream in
        # (decoding in a thread of its own made the other threads wait for the GIL)
        gauges = _gauge_integrals(pool, client, chunks, cfg, bounds, send_the_others)
        labels, counters = asked["labels"], asked["tokens"]
        cut_times = asked["cut_times"]
        tokens = _merged(counters)
        labels = labels()
    for i, m in enumerate(data):
        m.pods, m.nodes, m.busy = gauges["pods"][0][i], gauges["nodes"][0][i], gauges["busy"][0][i]
        for k, value in gauges["busy_util"][0][
            i
        ].items():  # only where the profiling metric is absent
            m.busy.setdefault(k, value)
        m.cuts = [
            (cut, gauges["pods"][1][i][j], gauges["nodes"][1][i][j])
            for j, cut in enumerate(cut_times[i])
        ]
        for (kind, pod), value in tokens.get(i, {}).items():
            getattr(m, _TOKENS[kind])[pod] = value
    return data, labels


_pool_lock = threading.Lock()
_pool: tuple[tuple[int, int], ThreadPoolExecutor] | None = None


def _requests_pool() -> ThreadPoolExecutor:
    """This process's threads for billing's Prometheus requests, started once and kept: a pool
    per collection started its threads on every run, and each start waited for the GIL. Only
    requests run on it, and none of them waits for another, so its size only limits how many
    are in flight. A forked worker (or another concurrency setting) gets a pool of its own."""
    global _pool
    key = (os.getpid(), settings.BILLING_PROMETHEUS_CONCURRENCY)
    with _pool_lock:
        if _pool is None or _pool[0] != key:
            if _pool is not None and _pool[0][0] == key[0]:
                _pool[1].shutdown(wait=False)  # this process's old pool: its idle threads end
            _pool = (
                key,
                ThreadPoolExecutor(max_workers=key[1], thread_name_prefix="billing-prometheus"),
            )
        return _pool[1]


def _sample_chunks(windows: list[Window], hours: int = SAMPLE_CHUNK_HOURS) -> list[Window]:
    """Consecutive windows merged into pieces of at most ``hours`` windows."""
    return [
        Window(windows[i].start, windows[min(i + hours, len(windows)) - 1].end)
        for i in range(0, len(windows), hours)
    ]


def _gauge_integrals(
    pool,
    client,
    chunks: list[Window],
    cfg: dict,
    bounds: list[float],
    while_waiting: Callable[[], list[list[float]]],
) -> dict[str, tuple[list[dict], list[list[dict]]]]:
    """Every gauge's integral over the windows of ``bounds`` (``gputime.integrate``'s result)
    from every sample of the chunks: through remote read's streamed chunks, all gauges in one
    request, each series integrated as soon as it is decoded; or, where the server or selector
    does not allow it, through the query API (the same samples either way). ``while_waiting``
    is called once, while Prometheus works on the request, and gives each window's cut times."""
    selectors = {attr: build(cfg["selector"]) for attr, (build, _, _) in _GAUGES.items()}
    names = list(selectors)
    scales = [_GAUGES[attr][2] for attr in names]
    cuts: list[list[list[float]]] = []
    integrators: list[RunIntegrator] = []

    def wait():
        cuts.append(while_waiting())
        integrators.extend(RunIntegrator(_KEYS[_GAUGES[a][1]], bounds, cuts[0]) for a in names)

    def each(index: int, labels: dict, runs: list) -> None:
        if scales[index] != 1.0:
            runs = [(t, d, n, v * scales[index]) for t, d, n, v in runs]
        integrators[index].add(labels, runs)

    try:
        start_ms = round(chunks[0].start.timestamp() * 1000)
        end_ms = round(chunks[-1].end.timestamp() * 1000)
        client.read_runs_many(
            list(selectors.values()), start_ms, end_ms, _KEY_LABELS, while_waiting=wait, each=each
        )
        return {
            attr: integrator.result() for attr, integrator in zip(names, integrators, strict=True)
        }
    except RemoteReadUnsupported as exc:
        log.info("billing: remote read not used (%s); reading samples with queries", exc)
    parts = {
        attr: [pool.submit(_raw_samples, client, selector, w, cfg) for w in chunks]
        for attr, selector in selectors.items()
    }
    if not cuts:
        wait()
    return {
        attr: integrate(
            _joined((f.result() for f in parts[attr]), scale), _KEYS[key], bounds, cuts[0]
        )
        for attr, (_, key, scale) in _GAUGES.items()
    }


def _raw_samples(client, selector: str, window: Window, cfg: dict) -> list[dict]:
    """Every stored sample of ``selector`` in ``[window.start, window.end)``."""
    promql = f"{selector}[{queries.range_ms(window.seconds, cfg['left_open'])}]"
    return client.query(promql, at=window.end.timestamp() - 0.001)


def _joined(parts, scale: float) -> list[tuple[dict, list]]:
    """The samples of each series across consecutive chunks, in time order."""
    by_series: dict[tuple, tuple[dict, list]] = {}
    for part in parts:
        for s in part:
            key = tuple(sorted(s["labels"].items()))
            found = by_series.get(key)
            if found is None:
                found = by_series[key] = (s["labels"], [])
            values = s["values"]
            found[1].extend(values if scale == 1.0 else [(t, v * scale) for t, v in values])
    return list(by_series.values())


def _node_key(labels: dict) -> str:
    return labels.get("node", "")


def _pod_key(labels: dict) -> PodKey:
    return labels.get("namespace", ""), labels.get("pod", "")


def _pod_node_key(labels: dict) -> tuple[str, str, str]:
    return labels.get("namespace", ""), labels.get("pod", ""), labels.get("node", "")


def _token_key(labels: dict) -> tuple[str, PodKey]:
    return labels.get(queries.TOKEN_KIND_LABEL, ""), _pod_key(labels)


def _dcgm_pod_key(labels: dict) -> PodKey:
    if labels.get("exported_pod"):
        return labels.get("exported_namespace", ""), labels["exported_pod"]
    return labels.get("namespace", ""), labels.get("pod", "")


_KEYS = {"pod": _pod_key, "pod_node": _pod_node_key, "node": _node_key, "dcgm_pod": _dcgm_pod_key}
# Every label the keys above read: a gauge's series read by remote read keep only these.
_KEY_LABELS = frozenset({"namespace", "pod", "node", "exported_namespace", "exported_pod"})


def _integrate(pool, client, windows: list[Window], build, key, cfg: dict) -> list:
    """Ask ``build(range)`` for every window: one range query per week of full hours, instant
    queries for partial ones. Each part's ``result()`` gives {window index: {key(labels):
    summed value}} for its own windows. Range queries few enough to be in flight at once
    (``BILLING_PROMETHEUS_CONCURRENCY``) are sent ahead from this thread and read when their
    result is asked for; more (a month's weeks) and the instant queries run on ``pool``."""
    full = [i for i, w in enumerate(windows) if w.seconds == 3600 and w.start == w.hour]
    full_set = set(full)
    parts = [
        pool.submit(_instant_part, client, i, w, build, key, cfg)
        for i, w in enumerate(windows)
        if i not in full_set
    ]
    if full:
        by_end = {round(windows[i].end.timestamp() - 0.001, 3): i for i in full}
        promql = build(queries.range_ms(3600, cfg["left_open"]), cfg["selector"])
        chunks = list(_chunks(windows[full[0]].end, windows[full[-1]].end))
        ahead = len(chunks) <= settings.BILLING_PROMETHEUS_CONCURRENCY
        for chunk in chunks:
            if ahead:
                parts.append(_Answer(_range_chunk_ahead(client, promql, chunk, by_end, key)))
            else:
                parts.append(pool.submit(_range_chunk, client, promql, chunk, by_end, key))
    return parts


class _Answer:
    """The answer of a request sent ahead, read when its ``result()`` is asked for (as a
    future's)."""

    def __init__(self, read: Callable[[], object]):
        self.result = read


def _range_chunk(client, promql: str, chunk: tuple[datetime, datetime], by_end: dict, key) -> dict:
    """One range query (step 1 h) over ``chunk`` (first and last window end), by window index."""
    return _range_chunk_ahead(client, promql, chunk, by_end, key)()


def _range_chunk_ahead(
    client, promql: str, chunk: tuple[datetime, datetime], by_end: dict, key
) -> Callable[[], dict]:
    """:func:`_range_chunk` sent now, read when the function returned is called."""
    first, last = chunk
    answer = client.query_range_ahead(
        promql, first.timestamp() - 0.001, last.timestamp() - 0.001, 3600
    )

    def by_window() -> dict:
        out: dict[int, dict] = {
            i: {} for t, i in by_end.items() if first.timestamp() - 1 < t < last.timestamp()
        }
        for series in answer():
            k = key(series["labels"])
            for ts, value in series["values"]:
                i = by_end.get(round(ts, 3))
                if i is not None:
                    out[i][k] = out[i].get(k, 0.0) + value
        return out

    return by_window


def _instant_part(client, i: int, window: Window, build, key, cfg) -> dict[int, dict]:
    return {i: _instant(client, window, build, key, cfg)}


def _merged(parts: list[Future]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for part in parts:
        out.update(part.result())
    return out


def _chunks(first_end: datetime, last_end: datetime, hours: int = 24 * 7):
    """Split a long range query into week-long pieces (bounded memory per answer)."""
    t = first_end
    while t <= last_end:
        chunk_end = min(t + timedelta(hours=hours - 1), last_end)
        yield t, chunk_end
        t = chunk_end + HOUR


def _instant(client, window: Window, build, key, cfg) -> dict:
    promql = build(queries.range_ms(window.seconds, cfg["left_open"]), cfg["selector"])
    out: dict = {}
    for series in client.query(promql, at=window.end.timestamp() - 0.001):
        k = key(series["labels"])
        out[k] = out.get(k, 0.0) + series["value"]
    return out


_LABEL_METRICS = ("kube_pod_labels", "kube_namespace_labels", "kube_node_labels")


def fetch_labels(client, start: datetime, end: datetime, selector: str = "") -> ClusterLabels:
    """Pod, namespace and node labels of the period: one series request for the three."""
    return labels_ahead(client, start, end, selector)()


def labels_ahead(
    client, start: datetime, end: datetime, selector: str = ""
) -> Callable[[], ClusterLabels]:
    """:func:`fetch_labels`, its request sent now and its answer read when the function
    returned is called."""
    matches = [queries.series_match(name, selector) for name in _LABEL_METRICS]
    answer = client.series_ahead(matches, start, end)
    return lambda: _cluster_labels(answer())


def _cluster_labels(series: list[dict]) -> ClusterLabels:
    by_metric: dict[str, list[dict]] = {name: [] for name in _LABEL_METRICS}
    for s in series:
        found = by_metric.get(s.get("__name__", ""))
        if found is not None:
            found.append(s)
    labels = ClusterLabels()
    pods: dict[PodKey, list[dict]] = {}
    for s in by_metric["kube_pod_labels"]:
        pods.setdefault((s.get("namespace", ""), s.get("pod", "")), []).append(s)
    for key, found in pods.items():
        labels.pods[key] = found[0] if len(found) == 1 else _pod_labels(found)
    for s in by_metric["kube_namespace_labels"]:
        if s.get(queries.NAMESPACE_TEAM_LABEL) or s.get("namespace") not in labels.namespaces:
            labels.namespaces[s.get("namespace", "")] = s.get(queries.NAMESPACE_TEAM_LABEL, "")
    for s in by_metric["kube_node_labels"]:
        labels.nodes[s.get("node", "")] = (
            s.get(queries.NODE_INSTANCE_TYPE_LABEL) or UNKNOWN,
            node_capacity_type(s),
        )
    return labels


def _pod_labels(found: list[dict]) -> dict:
    """One pod's label set among several (its labels changed in the period): in a fixed
    order, the last one with a team label, else the first."""
    chosen = None
    for s in sorted(found, key=lambda s: sorted(s.items())):
        if chosen is None or s.get(queries.POD_TEAM_LABEL):
            chosen = s
    return chosen


def node_capacity_type(labels: dict[str, str]) -> str:
    """Karpenter's capacity-type label, else the EKS managed node group one, else unknown."""
    value = labels.get(queries.NODE_CAPACITY_TYPE_LABEL)
    if value:
        return value
    eks = labels.get(queries.NODE_EKS_CAPACITY_TYPE_LABEL, "")
    return {"ON_DEMAND": CapacityType.ON_DEMAND, "SPOT": CapacityType.SPOT}.get(eks, UNKNOWN)
