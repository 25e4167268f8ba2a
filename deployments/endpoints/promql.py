"""The PromQL text of the metric layer: series names, windows, selectors and query builders.

PURE: strings in, strings out; no HTTP, no ORM (an import-linter contract holds it). The reading
and shaping of the answers, the exact window figures and the SLO states are in
:mod:`deployments.endpoints.metrics`, which sends these queries through :mod:`portal.prometheus`.

Endpoints are identified by ``(namespace, model_name)`` (the team namespace and the
InferenceService name, which KServe passes to vLLM as ``--served-model-name``). Every query is
batched for a set of such keys and grouped ``by (namespace, model_name)``, so a page costs one
query per signal, never one per endpoint.

vLLM renames are hidden here: each signal lists the current name first and the pre-0.9 name
second (``kv_cache_usage_perc``/``gpu_cache_usage_perc``, ``inter_token_latency_seconds``/
``time_per_output_token_seconds``, ``prefix_cache_*``/``gpu_prefix_cache_*``); a replica that
exports both names (transition releases) is counted once, under the new name
(:func:`first_of` for instant queries, ``metrics`` for exact increases).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

Key = tuple[str, str]  # (namespace, model_name)

# ---------------------------------------------------------------------------------- names
GENERATION_TOKENS = "vllm:generation_tokens_total"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
REQUEST_SUCCESS = "vllm:request_success_total"
PREEMPTIONS = "vllm:num_preemptions_total"
TTFT_BUCKET = "vllm:time_to_first_token_seconds_bucket"
E2E_BUCKET = "vllm:e2e_request_latency_seconds_bucket"
ITL_BUCKETS = (
    "vllm:inter_token_latency_seconds_bucket",
    "vllm:time_per_output_token_seconds_bucket",
)
KV_CACHE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total")
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total")
WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"
FAILED_REASONS = ("abort", "error")

# KServe names predictor pods "<isvc>-predictor-<hash>-<suffix>" (raw deployment) or
# "<isvc>-predictor-00001-deployment-<hash>-<suffix>" (serverless). Series without a
# model_name label (DCGM, kube-state-metrics, HTTP) are attributed to endpoints by it.
POD_TO_MODEL_REGEX = "(.+)-predictor-.+"


# ---------------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class Window:
    key: str
    label: str
    seconds: int
    step: int  # seconds between chart points
    scrape_interval: float = (
        30.0  # of the vLLM targets (settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS)
    )

    @property
    def rate_range(self) -> str:
        """Range of rate() for chart points: the step, and at least four scrapes."""
        return dur(max(self.step, 4 * self.scrape_interval))

    def scraped_every(self, seconds: float) -> Window:
        return replace(self, scrape_interval=float(seconds))


WINDOWS = {
    w.key: w
    for w in (
        Window("1h", "1 hour", 3600, 30),
        Window("6h", "6 hours", 6 * 3600, 120),
        Window("24h", "24 hours", 24 * 3600, 600),
        Window("7d", "7 days", 7 * 86400, 3600),
    )
}
DEFAULT_WINDOW = "1h"


def get_window(key: str | None) -> Window:
    return WINDOWS.get(key or DEFAULT_WINDOW, WINDOWS[DEFAULT_WINDOW])


def dur(seconds: float) -> str:
    """PromQL duration in whole milliseconds (exact for any window)."""
    return f"{int(round(seconds * 1000))}ms"


# ---------------------------------------------------------------------------------- selectors
def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def alternation(values: Iterable[str]) -> str:
    return "|".join(re.escape(v) for v in sorted(set(values)))


def key_selector(keys: Iterable[Key] | None) -> str:
    """Label matchers for vLLM series of these endpoints (None: every endpoint)."""
    keys = list(keys) if keys is not None else None
    if keys is None:
        return 'model_name!=""'
    if not keys:
        raise ValueError("No endpoints to query.")
    namespaces = {ns for ns, _ in keys}
    models = {m for _, m in keys}
    if len(namespaces) == 1 and len(models) == 1:
        return f"namespace={quote(keys[0][0])},model_name={quote(keys[0][1])}"
    return f"namespace=~{quote(alternation(namespaces))},model_name=~{quote(alternation(models))}"


def namespace_selector(keys: Iterable[Key] | None, label: str = "namespace") -> str:
    if keys is None:
        return f'{label}!=""'
    namespaces = {ns for ns, _ in keys}
    if len(namespaces) == 1:
        return f"{label}={quote(next(iter(namespaces)))}"
    return f"{label}=~{quote(alternation(namespaces))}"


def by_pod_model(expr: str) -> str:
    """Add model_name to series that only know their pod (DCGM, KSM, HTTP)."""
    return f'label_replace({expr}, "model_name", "$1", "pod", "{POD_TO_MODEL_REGEX}")'


FAMILY_LABEL = "mp_family"


def named(expr: str, name: str) -> str:
    """Tag a result with its metric name in an ordinary label, so several families fit in one
    query (``or`` matches label sets without ``__name__``, so the name itself cannot do it)."""
    return f'label_replace({expr}, "{FAMILY_LABEL}", {quote(name)}, "", "")'


def first_of(exprs: Iterable[str]) -> str:
    """``a or b``: per label set, the first name that has data (hides vLLM renames)."""
    return " or ".join(f"({e})" for e in exprs)


# ---------------------------------------------------------------------------------- GPU (DCGM)
def dcgm_by_pod(metric: str, fn: str, rng: str | None, keys: Iterable[Key] | None) -> str:
    """``fn(metric[rng])`` (or the plain metric) summed per (namespace, pod), in both DCGM label
    styles.

    With ``honorLabels: false`` (the chart's default) the exporter's ``pod``/``namespace``
    arrive as ``exported_pod``/``exported_namespace`` (the target's own labels keep the plain
    names); with ``true`` they keep their names and there is no ``exported_pod`` label.
    """

    def inner(sel: str) -> str:
        return f"{fn}({metric}{{{sel}}}[{rng}])" if rng else f"{metric}{{{sel}}}"

    honor_sel = namespace_selector(keys) + ',pod!="",exported_pod=""'
    exported_sel = namespace_selector(keys, "exported_namespace") + ',exported_pod!=""'
    honor = f"sum by (namespace, pod) ({inner(honor_sel)})"
    exported = f"sum by (exported_namespace, exported_pod) ({inner(exported_sel)})"
    exported = (
        f'label_replace(label_replace({exported}, "namespace", "$1", "exported_namespace", "(.+)"),'
        f' "pod", "$1", "exported_pod", "(.+)")'
    )
    return f"sum by (namespace, pod) (({honor}) or ({exported}))"


def gpu_util_by_pod(fn: str, rng: str | None, keys: Iterable[Key] | None) -> str:
    """Engine-active ratio (0-1) per pod: DCGM_FI_PROF_GR_ENGINE_ACTIVE, else GPU_UTIL/100."""
    prof = dcgm_by_pod("DCGM_FI_PROF_GR_ENGINE_ACTIVE", fn, rng, keys)
    util = dcgm_by_pod("DCGM_FI_DEV_GPU_UTIL", fn, rng, keys)
    scale = "" if fn == "count_over_time" else " / 100"
    return f"({prof}) or ({util}{scale})"


# ---------------------------------------------------------------------------------- chart signals
@dataclass(frozen=True)
class Signal:
    key: str
    label: str
    unit: str  # "tokens/s", "s", "ratio", "count", "req/s"
    build: object  # (sel, keys, window) -> PromQL


def _rate_sum(metric: str, extra: str = "") -> object:
    return lambda sel, keys, w: (
        f"sum by (namespace, model_name) (rate({metric}{{{sel}{extra}}}[{w.rate_range}]))"
    )


def _hist_q(q: float, metrics: tuple[str, ...]) -> object:
    def build(sel, keys, w):
        inner = first_of(f"rate({m}{{{sel}}}[{w.rate_range}])" for m in metrics)
        return f"histogram_quantile({q}, sum by (namespace, model_name, le) ({inner}))"

    return build


def _ratio_of_rates(num: tuple[str, ...], den: tuple[str, ...]) -> object:
    def build(sel, keys, w):
        n = first_of(f"rate({m}{{{sel}}}[{w.rate_range}])" for m in num)
        d = first_of(f"rate({m}{{{sel}}}[{w.rate_range}])" for m in den)
        return f"sum by (namespace, model_name) ({n}) / sum by (namespace, model_name) ({d})"

    return build


def _kv_now(sel, keys, w) -> str:
    return f"avg by (namespace, model_name) ({first_of(f'{m}{{{sel}}}' for m in KV_CACHE)})"


def _error_share(sel, keys, w) -> str:
    failed = f'sum by (namespace, model_name) (rate({REQUEST_SUCCESS}{{{sel},finished_reason=~"abort|error"}}[{w.rate_range}]))'
    total = f"sum by (namespace, model_name) (rate({REQUEST_SUCCESS}{{{sel}}}[{w.rate_range}]))"
    return f"{failed} / {total}"


def _http_5xx(sel, keys, w) -> str:
    expr = (
        f'sum by (namespace, pod) (rate(http_requests_total{{{namespace_selector(keys)},status=~"5.."}}'
        f"[{w.rate_range}]))"
    )
    return f"sum by (namespace, model_name) ({by_pod_model(expr)})"


def _restarts(sel, keys, w) -> str:
    """Restarts per chart point: the counter's increase over `rate_range` grown to at least one
    step plus one scrape interval, so that a step of the counter between two points' ranges is
    inside one of them (with a range of exactly the step it fell in none: docs/metrics.md)."""
    expr = (
        f"sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total"
        f"{{{namespace_selector(keys)}}}[{dur(max(w.step, 3 * w.scrape_interval) + w.scrape_interval)}]))"
    )
    return f"sum by (namespace, model_name) ({by_pod_model(expr)})"


def _gpu_util_now(sel, keys, w) -> str:
    return f"avg by (namespace, model_name) ({by_pod_model(gpu_util_by_pod('', None, keys))})"


def _gpu_mem_used(sel, keys, w) -> str:
    used = dcgm_by_pod("DCGM_FI_DEV_FB_USED", "", None, keys)
    free = dcgm_by_pod("DCGM_FI_DEV_FB_FREE", "", None, keys)
    ratio = f"({used}) / (({used}) + ({free}))"
    return f"avg by (namespace, model_name) ({by_pod_model(ratio)})"


def _replicas(sel, keys, w) -> str:
    return f"count by (namespace, model_name) ({RUNNING}{{{sel}}})"


CHART_SIGNALS = [
    Signal(
        "generation_tokens_per_s", "Generation tokens/s", "tokens/s", _rate_sum(GENERATION_TOKENS)
    ),
    Signal("prompt_tokens_per_s", "Prompt tokens/s", "tokens/s", _rate_sum(PROMPT_TOKENS)),
    Signal("ttft_p50_s", "TTFT p50", "s", _hist_q(0.5, (TTFT_BUCKET,))),
    Signal("ttft_p95_s", "TTFT p95", "s", _hist_q(0.95, (TTFT_BUCKET,))),
    Signal("ttft_p99_s", "TTFT p99", "s", _hist_q(0.99, (TTFT_BUCKET,))),
    Signal("itl_p95_s", "Inter-token latency p95", "s", _hist_q(0.95, ITL_BUCKETS)),
    Signal("e2e_p95_s", "End-to-end latency p95", "s", _hist_q(0.95, (E2E_BUCKET,))),
    Signal("kv_cache_usage", "KV-cache use", "ratio", _kv_now),
    Signal(
        "prefix_cache_hit_rate",
        "Prefix-cache hit rate",
        "ratio",
        _ratio_of_rates(PREFIX_HITS, PREFIX_QUERIES),
    ),
    Signal("preemptions_per_s", "Preemptions/s", "req/s", _rate_sum(PREEMPTIONS)),
    Signal(
        "queue_depth",
        "Waiting requests",
        "count",
        lambda sel, keys, w: f"sum by (namespace, model_name) ({WAITING}{{{sel}}})",
    ),
    Signal(
        "running",
        "Running requests",
        "count",
        lambda sel, keys, w: f"sum by (namespace, model_name) ({RUNNING}{{{sel}}})",
    ),
    Signal("request_rate_per_s", "Finished requests/s", "req/s", _rate_sum(REQUEST_SUCCESS)),
    Signal("error_rate", "Engine errors + aborts", "ratio", _error_share),
    Signal("http_5xx_per_s", "HTTP 5xx/s", "req/s", _http_5xx),
    Signal("restarts", "Container restarts", "count", _restarts),
    Signal("gpu_util", "GPU utilisation", "ratio", _gpu_util_now),
    Signal("gpu_memory_used", "GPU memory used", "ratio", _gpu_mem_used),
    Signal("replicas", "Replicas reporting", "count", _replicas),
]
SIGNALS_BY_KEY = {s.key: s for s in CHART_SIGNALS}


def chart_queries(keys: list[Key] | None, window: Window, signals=CHART_SIGNALS) -> dict[str, str]:
    sel = key_selector(keys)
    return {s.key: s.build(sel, keys, window) for s in signals}


def gpu_requests(keys: list[Key] | None) -> str:
    """GPU requests of the endpoints' scheduled pods (kube-state-metrics), a bare selector."""
    return (
        'kube_pod_container_resource_requests{resource="nvidia_com_gpu",node!="",'
        f"{namespace_selector(keys)}}}"
    )


# Raw GPU-request samples are read a little further back than the window; the Python side keeps
# exactly those in [start, end) (held_gpu_hours), so the range's open or closed end never matters.
HELD_MARGIN_S = 60


def overview_queries(keys: list[Key] | None, window: Window) -> dict[str, str]:
    """The team/fleet page: seven queries for any number of endpoints. ``gpu_hours`` is a range
    selector (raw samples at an instant, integrated by :func:`held_gpu_hours`)."""
    sel = key_selector(keys)
    rng = dur(window.seconds)
    return {
        "tokens": _rate_sum(GENERATION_TOKENS)(sel, keys, window),  # range: sparkline + trend
        "ttft_p95": (
            f"histogram_quantile(0.95, sum by (namespace, model_name, le) "
            f"(increase({TTFT_BUCKET}{{{sel}}}[{rng}])))"
        ),
        "error_rate": (
            f'sum by (namespace, model_name) (increase({REQUEST_SUCCESS}{{{sel},finished_reason=~"abort|error"}}[{rng}]))'
            f" / sum by (namespace, model_name) (increase({REQUEST_SUCCESS}{{{sel}}}[{rng}]))"
        ),
        "kv_cache": _kv_now(sel, keys, window),
        "queue": f"sum by (namespace, model_name) ({WAITING}{{{sel}}})",
        "gpu_util": _gpu_util_now(sel, keys, window),
        "gpu_hours": f"{gpu_requests(keys)}[{dur(window.seconds + HELD_MARGIN_S)}]",
    }


# ---------------------------------------------------------------------------------- autoscaling
BUSY = (RUNNING, WAITING)


def busy_requests_query(namespace: str, model_name: str) -> str:
    """Requests running plus waiting on all replicas of one endpoint (one number).

    The KEDA trigger of every endpoint (deployments.endpoints.manifests.scaled_object): KEDA divides it
    by the replica count (AverageValue). Unlike the queue alone it stays high while replicas
    are busy, so adding a replica that empties the queue does not scale it away again.
    """
    sel = key_selector([(namespace, model_name)])
    return f'sum({{__name__=~"{alternation(BUSY)}",{sel}}})'


# ---------------------------------------------------------------------------------- GPU memory held
def gpu_memory_peak_query(keys: list[Key] | None, seconds: float) -> str:
    """Peak DCGM framebuffer memory used (MiB) by one replica, per endpoint: each GPU's peak
    over ``seconds``, summed over the GPUs of its pod, of the largest pod."""
    per_pod = dcgm_by_pod("DCGM_FI_DEV_FB_USED", "max_over_time", dur(seconds), keys)
    return f"max by (namespace, model_name) ({by_pod_model(per_pod)})"
