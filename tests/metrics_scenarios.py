"""Scenarios for the metric layer's integration tests, and their expected answers computed from
the generator's inputs (``tests/promdata.py``), never through PromQL.

Each scenario is one endpoint ``(namespace, model_name)`` whose pods show one hard case:
steady load, a burst with queueing, pre-0.9 vLLM metric names, an OOM-killed pod, a replica
scaled to zero and back, and a scrape gap longer than Prometheus' 5 minute lookback.

``expected(scenario, pods, start, end)`` mirrors the contract's definitions:
counter means = total counted by the generator / window seconds; error_rate = (abort+error) /
all finished; TTFT quantiles = every observation put into vLLM's buckets, then linear
interpolation inside the bucket (what a histogram can tell); gauges per replica = mean / max
of every emitted sample; gpu_util_mean = mean of every DCGM engine-active sample of the GPUs
the endpoint's pods held.
"""

from __future__ import annotations

import bisect
import math
import time
import uuid

import pytest

from tests.promdata import TTFT_BUCKETS, Latency, Load, Node, Pod, Scenario

HOUR = 3600


CASES = ("steady", "burst", "oldnames", "oom", "scaled", "gap", "idle")
# The window figures of the metrics contract (API, `manage.py endpoint_metrics --json`).
CONTRACT = [
    "generation_tokens_per_s",
    "prompt_tokens_per_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "kv_cache_usage_mean",
    "kv_cache_usage_max",
    "queue_depth_mean",
    "queue_depth_max",
    "request_rate_per_s",
    "error_rate",
    "gpu_util_mean",
]


def build(
    run: str, end: float, dcgm_style: str = "exported", gaps=(), only=CASES
) -> tuple[Scenario, dict]:
    """A 3 h scenario with up to seven endpoints (the last one idle on two GPUs) (``only``); returns it and
    ``{case: (namespace, model, [pods])}``. Prometheus-wide ``gaps`` hit every series."""
    start = end - 3 * HOUR
    s = Scenario(
        start, end, scrape_interval=30, scrape_offset=7, seed=11, dcgm_style=dcgm_style, gaps=gaps
    )
    for i in range(7):
        s.add_node(Node(f"gpu-{run}-{i}", instance_type="g6e.xlarge", gpus=2, gpu="L40S"))
    cases = {}

    def add(case, node, pods):
        if case not in only:
            return
        ns = f"mp-{case}-{run}"
        model = f"{case}-llm"
        for p in pods:
            p.namespace, p.isvc, p.node = ns, model, f"gpu-{run}-{node}"
            p.load.model_name = model
            s.add_pod(p)
        cases[case] = (ns, model, [p.name for p in pods])

    add(
        "steady",
        0,
        [
            Pod(
                "steady-llm-predictor-6f7c9-aaaaa",
                "",
                start=start,
                load=Load("", requests_per_s=2.0, num_requests_waiting=1, kv_cache_usage=0.4),
            )
        ],
    )
    add(
        "burst",
        1,
        [
            Pod(
                "burst-llm-predictor-6f7c9-bbbbb",
                "",
                start=start,
                load=Load(
                    "",
                    requests_per_s=lambda t: 8.0 if start + HOUR <= t < start + 2 * HOUR else 1.0,
                    num_requests_waiting=lambda t: (
                        25 if start + HOUR <= t < start + 2 * HOUR else 0
                    ),
                    ttft=Latency(0.3, 0.6),
                    finish_reasons={"stop": 0.8, "length": 0.1, "abort": 0.05, "error": 0.05},
                ),
            )
        ],
    )
    add(
        "oldnames",
        2,
        [
            Pod(
                "oldnames-llm-predictor-6f7c9-ccccc",
                "",
                start=start,
                load=Load("", requests_per_s=1.5, metric_names="old"),
            ),
            Pod(
                "oldnames-llm-predictor-6f7c9-ddddd",
                "",
                start=start + HOUR,
                load=Load("", requests_per_s=1.0, metric_names="both"),
            ),
        ],
    )
    add(
        "oom",
        3,
        [
            Pod(
                "oom-llm-predictor-6f7c9-eeeee",
                "",
                start=start,
                restarts=[(start + 70 * 60, "OOMKilled"), (start + 130 * 60, "OOMKilled")],
                load=Load("", requests_per_s=3.0, num_requests_waiting=lambda t: 2 + int(t) % 3),
            )
        ],
    )
    add(
        "scaled",
        4,
        [
            Pod(
                "scaled-llm-predictor-6f7c9-fffff",
                "",
                start=start,
                end=start + 50 * 60,
                load=Load("", requests_per_s=2.5),
            ),
            Pod(
                "scaled-llm-predictor-6f7c9-ggggg",
                "",
                start=start + 110 * 60,
                load=Load("", requests_per_s=1.0),
            ),
            Pod(
                "scaled-llm-predictor-6f7c9-hhhhh",
                "",
                start=start + 120 * 60,
                load=Load("", requests_per_s=1.0),
            ),
        ],
    )
    add(
        "gap",
        5,
        [
            Pod(
                "gap-llm-predictor-6f7c9-iiiii",
                "",
                start=start,
                gaps=[(start + 40 * 60, start + 65 * 60)],
                load=Load("", requests_per_s=2.0),
            )
        ],
    )
    add(
        "idle",
        6,
        [
            Pod(
                "idle-llm-predictor-6f7c9-jjjjj",
                "",
                start=start,
                gpus=2,
                load=Load("", requests_per_s=0.0, gpu_util=0),
            )
        ],
    )
    return s, cases


def bucket_quantile(q: float, observations: list[float], bounds=TTFT_BUCKETS) -> float | None:
    """Quantile a cumulative histogram with these bounds reports for the observations."""
    if not observations:
        return None
    counts = [0] * (len(bounds) + 1)
    for v in observations:
        counts[bisect.bisect_left(bounds, v)] += 1
    cum, acc = [], 0
    for c in counts:
        acc += c
        cum.append(acc)
    rank = q * acc
    i = next(i for i, c in enumerate(cum) if c >= rank)
    if i == len(bounds):
        return bounds[-1]
    lower = 0.0 if i == 0 else bounds[i - 1]
    below = 0 if i == 0 else cum[i - 1]
    return lower + (bounds[i] - lower) * (rank - below) / (cum[i] - below)


def _samples(
    scenario: Scenario, name: str, pods: list[str], start: float, end: float, pod_label="pod"
):
    out = []
    for s in scenario.series:
        if s.name == name and s.labels.get(pod_label) in pods:
            out.extend(v for t, v in s.samples if start < t <= end)
    return out


def expected(scenario: Scenario, pods: list[str], start: float, end: float) -> dict:
    """The contract's numbers for these pods over (start, end]; the window must cover their life."""
    truths = [scenario.truth[p] for p in pods]
    seconds = end - start
    reasons: dict[str, int] = {}
    for t in truths:
        for r, n in t.requests_by_reason.items():
            reasons[r] = reasons.get(r, 0) + n
    total = sum(reasons.values())
    failed = reasons.get("abort", 0) + reasons.get("error", 0)
    ttft = [v for t in truths for v in t.ttft]
    kv = []
    for p in pods:  # the new name where a pod has it, else the old one (renames)
        new = _samples(scenario, "vllm:kv_cache_usage_perc", [p], start, end)
        kv.extend(new or _samples(scenario, "vllm:gpu_cache_usage_perc", [p], start, end))
    waiting = _samples(scenario, "vllm:num_requests_waiting", pods, start, end)
    pod_label = "exported_pod" if scenario.dcgm_style == "exported" else "pod"
    util = _samples(scenario, "DCGM_FI_PROF_GR_ENGINE_ACTIVE", pods, start, end, pod_label)
    return {
        "generation_tokens_per_s": sum(t.generation_tokens for t in truths) / seconds,
        "prompt_tokens_per_s": sum(t.prompt_tokens for t in truths) / seconds,
        "ttft_p50_s": bucket_quantile(0.5, ttft),
        "ttft_p95_s": bucket_quantile(0.95, ttft),
        "kv_cache_usage_mean": sum(kv) / len(kv),
        "kv_cache_usage_max": max(kv),
        "queue_depth_mean": sum(waiting) / len(waiting),
        "queue_depth_max": max(waiting),
        "request_rate_per_s": total / seconds,
        "error_rate": failed / total if total else None,
        "gpu_util_mean": sum(util) / len(util),
    }


def close(got, want, rel=0.02) -> bool:
    if want is None or got is None:
        return got is want
    if want == 0:
        return abs(got) < 1e-9
    return math.isclose(got, want, rel_tol=rel)


_BACKFILLED: dict[str, dict] = {}
# The newest backfill per Prometheus server, for the pages that read "the last hour from now".
_RECENT: dict[str, dict] = {}
# Its data ends 600 s before it was made; a page's last hour still holds > 45 of its minutes
# while it is younger than this (the idle case's "two GPUs for most of the hour").
RECENT_MAX_AGE_S = 120


def _backfill(prometheus_server) -> dict:
    run = uuid.uuid4().hex[:6]
    end = math.floor(time.time() / 60) * 60 - 600
    main, cases = build(run, end)
    outage = (end - 2 * HOUR, end - 2 * HOUR + 720)
    honor, honor_cases = build(
        run + "h", end, dcgm_style="honor", gaps=[outage], only=("steady", "oom")
    )
    prometheus_server.backfill(main.openmetrics(), restart=False)
    prometheus_server.backfill(honor.openmetrics())
    out = {case: (*v, main) for case, v in cases.items()}
    out.update({f"{case}-honor": (*v, honor) for case, v in honor_cases.items()})
    return {
        "url": prometheus_server.url,
        "start": main.start - 1,
        "end": end,
        "made": time.monotonic(),
        "cases": out,
    }


@pytest.fixture(scope="session")
def backfilled_metrics(prometheus_server):
    """The six cases (DCGM ``exported_*`` labels) plus steady/oom again with DCGM ``pod`` labels
    and a 12 minute Prometheus outage, backfilled once per session: for tests that ask for the
    scenario's own window (``start``, ``end``).

    Returns ``{"url": ..., "start": ..., "end": ..., "cases": {case: (ns, model, pods, scenario)}}``.
    """
    # Test modules import this fixture, so pytest sees one definition per module: backfill once
    # per Prometheus server anyway.
    if prometheus_server.url not in _BACKFILLED:
        _BACKFILLED[prometheus_server.url] = _backfill(prometheus_server)
        _RECENT[prometheus_server.url] = _BACKFILLED[prometheus_server.url]
    return _BACKFILLED[prometheus_server.url]


@pytest.fixture
def recent_metrics(prometheus_server):
    """The same scenario, for pages that show the last hour from *now*: backfilled again under a
    new run id when the last one is older than ``RECENT_MAX_AGE_S`` (other tests ran between, the
    hour moved on; a session-wide backfill once left a page's hour with 45 of its minutes)."""
    data = _RECENT.get(prometheus_server.url)
    if data is None or time.monotonic() - data["made"] > RECENT_MAX_AGE_S:
        data = _RECENT[prometheus_server.url] = _backfill(prometheus_server)
    return data
