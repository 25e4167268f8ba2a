"""The metric layer: named LLM-serving signals over vLLM, DCGM and kube-state-metrics series.

The PromQL text lives in :mod:`deployments.endpoints.promql`; this module sends it through
:mod:`portal.prometheus` and does pure arithmetic on the plain lists that adapter returns (no
HTTP of its own and no ORM): results keyed per endpoint, exact counter increases, the window
figures, SLO states, trends and idle GPUs.

Window figures (the ``endpoint_metrics`` contract, the API and the SLO block) use exact
methods, documented on :func:`window_summary`. Charts and tiles use ``rate()`` over a short
range, which is what a time series needs.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime

from deployments.endpoints.promql import (
    E2E_BUCKET,
    FAILED_REASONS,
    FAMILY_LABEL,
    GENERATION_TOKENS,
    ITL_BUCKETS,
    KV_CACHE,
    POD_TO_MODEL_REGEX,
    PREEMPTIONS,
    PREFIX_HITS,
    PREFIX_QUERIES,
    PROMPT_TOKENS,
    REQUEST_SUCCESS,
    RUNNING,
    TTFT_BUCKET,
    WAITING,
    Key,
    Window,
    alternation,
    by_pod_model,
    dur,
    first_of,
    gpu_memory_peak_query,
    gpu_util_by_pod,
    key_selector,
    named,
    quote,
)
from portal import gputime
from portal.prometheus import PrometheusClient, to_unix

# A series whose previous sample is older than this before the window start is treated as
# new (its counters started at 0 inside the window, as a new pod's do).
COUNTER_BASELINE_LOOKBACK_S = 6 * 3600
# Resets are searched this far before the window too (a restart between the baseline
# sample and the first sample inside the window).
RESET_MARGIN_S = 600


# ---------------------------------------------------------------------------------- results
def by_key(rows: list[dict]) -> dict[Key, float]:
    """Instant results keyed by (namespace, model_name); NaN and missing values dropped."""
    out = {}
    for row in rows:
        labels = row["labels"]
        value = row.get("value")
        if value is None or math.isnan(value):
            continue
        out[(labels.get("namespace", ""), labels.get("model_name", ""))] = value
    return out


def series_by_key(rows: list[dict]) -> dict[Key, list[tuple[float, float | None]]]:
    """Range results keyed by (namespace, model_name); NaN and infinities become None."""
    out = {}
    inf = math.inf
    for row in rows:
        labels = row["labels"]
        points = [(t, v if (v == v and v != inf and v != -inf) else None) for t, v in row["values"]]
        out[(labels.get("namespace", ""), labels.get("model_name", ""))] = points
    return out


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile on cumulative bucket counts ``{le: count}``.

    Linear interpolation inside the bucket holding the rank; the lowest bucket starts at 0;
    a rank in the +Inf bucket returns the highest finite bound. None when there are no
    observations.
    """
    if not buckets or math.inf not in buckets:
        return None
    bounds = sorted(buckets)
    counts = [buckets[b] for b in bounds]
    for i in range(1, len(counts)):  # non-monotonic counts (scrape skew): same fix as Prometheus
        counts[i] = max(counts[i], counts[i - 1])
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if i == len(bounds) - 1:
        return bounds[-2] if len(bounds) > 1 else None
    lower = 0.0 if i == 0 else bounds[i - 1]
    below = 0.0 if i == 0 else counts[i - 1]
    if i == 0 and bounds[0] <= 0:
        return bounds[0]
    in_bucket = counts[i] - below
    if in_bucket <= 0:
        return bounds[i]
    return lower + (bounds[i] - lower) * (rank - below) / in_bucket


# ---------------------------------------------------------------------------------- exact counters
def _labels_key(labels: dict) -> frozenset:
    """Series identity: the labels with the metric name moved into FAMILY_LABEL."""
    labels = dict(labels)
    name = labels.pop("__name__", None)
    if name is not None:
        labels[FAMILY_LABEL] = name
    return frozenset(labels.items())


def counter_increases(
    client: PrometheusClient, names: Iterable[str], sel: str, start: float, end: float
) -> dict[frozenset, float]:
    """Exact increase of every counter series named ``names`` matching ``sel`` over (start, end].

    Per series: ``last sample in the window - last sample at or before start`` (0 when the
    series has no earlier sample within COUNTER_BASELINE_LOOKBACK_S: a new pod's counters
    start at 0). No extrapolation, so a pod that started or stopped inside the window and a
    scrape gap (the counter keeps counting across it) are both exact. A series that reset
    (restart, OOM kill) is recomputed from its raw samples: each drop adds the post-reset
    value instead of the difference. Three queries for any number of names and series,
    plus one raw read when something reset.
    """
    names = list(names)
    window = end - start
    last = _union_query(client, names, sel, lambda m: f"last_over_time({m}[{dur(window)}])", end)
    base = _union_query(
        client,
        names,
        sel,
        lambda m: f"last_over_time({m}[{dur(COUNTER_BASELINE_LOOKBACK_S)}] offset {dur(window)})",
        end,
    )
    resets = _union_query(
        client, names, sel, lambda m: f"resets({m}[{dur(window + RESET_MARGIN_S)}]) > 0", end
    )
    out: dict[frozenset, float] = {}
    suspect = set(resets)
    for key, value in last.items():
        before = base.get(key, 0.0)
        if value < before:
            suspect.add(key)
        out[key] = value - before
    suspect &= set(last)
    if suspect:
        out.update(_raw_increases(client, names, sel, suspect, base, start, end))
    return out


def _union_query(client, names, sel, fn, at) -> dict[frozenset, float]:
    expr = " or ".join(named(fn(f"{name}{{{sel}}}"), name) for name in names)
    return {_labels_key(r["labels"]): r["value"] for r in client.query(expr, at=at)}


def _raw_increases(client, names, sel, keys, base, start, end) -> dict[frozenset, float]:
    pods = sorted({dict(k).get("pod") for k in keys if dict(k).get("pod")})
    pod_sel = f",pod=~{quote(alternation(pods))}" if pods else ""
    name_sel = f"__name__=~{quote(alternation(names))}"
    rows = client.query(f"{{{name_sel},{sel}{pod_sel}}}[{dur(end - start)}]", at=end)
    out = {}
    for row in rows:
        key = _labels_key(row["labels"])
        if key not in keys:
            continue
        prev = base.get(key, 0.0)
        total = 0.0
        for t, v in row["values"]:
            if t <= start:  # Prometheus 2.x ranges include the left edge; the baseline has it
                continue
            total += v if v < prev else v - prev
            prev = v
        out[key] = total
    return out


def _prefer_first_name(
    increases: dict[frozenset, float], names: list[str]
) -> dict[frozenset, float]:
    """Drop old-name series where the same replica also exports the new name."""
    rank = {n: i for i, n in enumerate(names)}
    best: dict[frozenset, tuple[int, frozenset]] = {}
    for key in increases:
        labels = dict(key)
        ident = frozenset((k, v) for k, v in labels.items() if k != FAMILY_LABEL)
        r = rank.get(labels.get(FAMILY_LABEL), len(names))
        if ident not in best or r < best[ident][0]:
            best[ident] = (r, key)
    return {key: increases[key] for _, key in best.values()}


def _sum_by_key(increases: dict[frozenset, float], extra: str | None = None) -> dict:
    out: dict = defaultdict(float)
    for key, value in increases.items():
        labels = dict(key)
        k = (labels.get("namespace", ""), labels.get("model_name", ""))
        if extra is not None:
            k = (*k, labels.get(extra, ""))
        out[k] += value
    return dict(out)


def _bucket_quantiles(increases, qs) -> dict[Key, dict[float, float | None]]:
    per_key: dict[Key, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for (ns, model, le), value in _sum_by_key(increases, "le").items():
        per_key[(ns, model)][math.inf if le == "+Inf" else float(le)] += value
    return {k: {q: histogram_quantile(q, dict(b)) for q in qs} for k, b in per_key.items()}


# ---------------------------------------------------------------------------------- the contract
CONTRACT_FIELDS = (
    "generation_tokens_per_s",
    "prompt_tokens_per_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "itl_p95_s",
    "e2e_p95_s",
    "kv_cache_usage_mean",
    "kv_cache_usage_max",
    "prefix_cache_hit_rate",
    "preemptions",
    "queue_depth_mean",
    "queue_depth_max",
    "running_mean",
    "request_rate_per_s",
    "requests",
    "failed_requests",
    "error_rate",
    "gpu_util_mean",
)


def window_summary(
    client: PrometheusClient, keys: list[Key], start: datetime | float, end: datetime | float
) -> dict[Key, dict]:
    """The window figures of each endpoint over (start, end].

    Method (also in docs of ``manage.py endpoint_metrics``):

    * Counter means (tokens/s, requests/s): exact increase over the window (see
      :func:`counter_increases`: no extrapolation, restarts, scale-to-zero, several pods and
      scrape gaps handled) divided by the window length in seconds.
    * error_rate: increase of ``request_success_total{finished_reason=~"abort|error"}`` over the
      increase of all finished requests (None when nothing finished).
    * Quantiles: exact per-bucket increases summed over replicas, then Prometheus'
      histogram_quantile interpolation.
    * KV cache (fraction 0-1), queue depth and running requests are per replica: mean =
      every sample of every replica in the window averaged (replica-time weighted, so gaps and
      scaled-to-zero time simply have no samples), max = largest sample.
      queue_depth is per replica because that is what the autoscaler targets.
    * gpu_util_mean: DCGM engine-active ratio (else GPU_UTIL/100) averaged over every sample of
      every GPU held by the endpoint's pods (GPU-time weighted), both DCGM label styles.

    Fields are None when the window holds no data for them.
    """
    start_s, end_s = to_unix(start), to_unix(end)
    if end_s <= start_s:
        raise ValueError("The window must end after it starts.")
    seconds = end_s - start_s
    sel = key_selector(keys)
    itl, prefix_q, prefix_h = list(ITL_BUCKETS), list(PREFIX_QUERIES), list(PREFIX_HITS)
    names = [
        GENERATION_TOKENS,
        PROMPT_TOKENS,
        REQUEST_SUCCESS,
        PREEMPTIONS,
        TTFT_BUCKET,
        E2E_BUCKET,
        *itl,
        *prefix_q,
        *prefix_h,
    ]
    inc = counter_increases(client, names, sel, start_s, end_s)
    fam = defaultdict(dict)
    for key, value in inc.items():
        fam[dict(key)[FAMILY_LABEL]][key] = value

    def merged(group):
        return _prefer_first_name({k: v for n in group for k, v in fam[n].items()}, group)

    gen = _sum_by_key(fam[GENERATION_TOKENS])
    prompt = _sum_by_key(fam[PROMPT_TOKENS])
    by_reason = _sum_by_key(fam[REQUEST_SUCCESS], "finished_reason")
    preempt = _sum_by_key(fam[PREEMPTIONS])
    ttft = _bucket_quantiles(fam[TTFT_BUCKET], (0.5, 0.95, 0.99))
    e2e = _bucket_quantiles(fam[E2E_BUCKET], (0.95,))
    itl_q = _bucket_quantiles(merged(itl), (0.95,))
    hits, queries = _sum_by_key(merged(prefix_h)), _sum_by_key(merged(prefix_q))
    gauges = _window_gauges(client, keys, sel, seconds, end_s)

    out = {}
    for key in keys:
        total = sum(v for (ns, m, _), v in by_reason.items() if (ns, m) == key)
        failed = sum(
            v for (ns, m, r), v in by_reason.items() if (ns, m) == key and r in FAILED_REASONS
        )
        g = {name: values.get(key) for name, values in gauges.items()}
        out[key] = {
            "generation_tokens_per_s": gen.get(key, 0.0) / seconds if key in gen else None,
            "prompt_tokens_per_s": prompt.get(key, 0.0) / seconds if key in prompt else None,
            "ttft_p50_s": ttft.get(key, {}).get(0.5),
            "ttft_p95_s": ttft.get(key, {}).get(0.95),
            "ttft_p99_s": ttft.get(key, {}).get(0.99),
            "itl_p95_s": itl_q.get(key, {}).get(0.95),
            "e2e_p95_s": e2e.get(key, {}).get(0.95),
            "kv_cache_usage_mean": g["kv_mean"],
            "kv_cache_usage_max": g["kv_max"],
            "prefix_cache_hit_rate": hits[key] / queries[key] if queries.get(key) else None,
            "preemptions": preempt.get(key),
            "queue_depth_mean": g["queue_mean"],
            "queue_depth_max": g["queue_max"],
            "running_mean": g["running_mean"],
            "request_rate_per_s": total / seconds if key in gen or total else None,
            "requests": total if key in gen or total else None,
            "failed_requests": failed if total else None,
            "error_rate": failed / total if total else None,
            "gpu_util_mean": g["gpu_util_mean"],
        }
    return out


def _window_gauges(client, keys, sel, seconds, end_s) -> dict[str, dict[Key, float]]:
    rng = dur(seconds)
    kv_sum = first_of(f"sum_over_time({m}{{{sel}}}[{rng}])" for m in KV_CACHE)
    kv_cnt = first_of(f"count_over_time({m}{{{sel}}}[{rng}])" for m in KV_CACHE)
    kv_max = first_of(f"max_over_time({m}{{{sel}}}[{rng}])" for m in KV_CACHE)
    by = "sum by (namespace, model_name)"

    def mean(m):
        return f"{by} (sum_over_time({m}{{{sel}}}[{rng}])) / {by} (count_over_time({m}{{{sel}}}[{rng}]))"

    util_sum = by_pod_model(gpu_util_by_pod("sum_over_time", rng, keys))
    util_cnt = by_pod_model(gpu_util_by_pod("count_over_time", rng, keys))
    q = lambda expr: by_key(client.query(expr, at=end_s))  # noqa: E731
    return {
        "kv_mean": q(f"{by} ({kv_sum}) / {by} ({kv_cnt})"),
        "kv_max": q(f"max by (namespace, model_name) ({kv_max})"),
        "queue_mean": q(mean(WAITING)),
        "queue_max": q(
            f"max by (namespace, model_name) (max_over_time({WAITING}{{{sel}}}[{rng}]))"
        ),
        "running_mean": q(mean(RUNNING)),
        "gpu_util_mean": q(f"{by} ({util_sum}) / {by} ({util_cnt})"),
    }


# ---------------------------------------------------------------------------------- SLOs
SLO_MET, SLO_AT_RISK, SLO_BREACHED, SLO_NO_DATA = "met", "at_risk", "breached", "no_data"
SLO_AT_RISK_SHARE = 0.8  # above 80 % of the target counts as at risk


def evaluate_slo(value: float | None, target: float) -> str:
    """met / at_risk (above 80 % of the target) / breached (above it) / no_data."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return SLO_NO_DATA
    if value > target:
        return SLO_BREACHED
    if value > SLO_AT_RISK_SHARE * target:
        return SLO_AT_RISK
    return SLO_MET


def slo_block(summary: dict, ttft_target_s: float, error_rate_target: float) -> list[dict]:
    return [
        {
            "name": "Time to first token p95",
            "value": summary.get("ttft_p95_s"),
            "target": ttft_target_s,
            "unit": "s",
            "state": evaluate_slo(summary.get("ttft_p95_s"), ttft_target_s),
        },
        {
            "name": "Error rate",
            "value": summary.get("error_rate"),
            "target": error_rate_target,
            "unit": "ratio",
            "state": evaluate_slo(summary.get("error_rate"), error_rate_target),
        },
    ]


RANGE_ALIGN_S = 5


def range_bounds(window: Window, now: datetime) -> tuple[float, float]:
    """Chart range ending at ``now`` rounded down to 5 s: polls within those seconds send
    identical queries (answered by the cache) and the last point is at most 5 s old."""
    end = math.floor(to_unix(now) / RANGE_ALIGN_S) * RANGE_ALIGN_S
    return end - window.seconds, end


def trend(points: list[tuple[float, float | None]]) -> dict:
    """Current value (last point) and change against the mean of the window's first quarter."""
    values = [v for _, v in points if v is not None]
    if not values:
        return {"current": None, "change": None, "direction": "flat"}
    head = values[: max(1, len(values) // 4)]
    base = sum(head) / len(head)
    current = values[-1]
    change = None if base == 0 else (current - base) / abs(base)
    direction = "flat"
    if change is not None and abs(change) >= 0.05:
        direction = "up" if change > 0 else "down"
    elif change is None and current > 0:
        direction = "up"
    return {"current": current, "change": change, "direction": direction}


# ---------------------------------------------------------------------------------- team overview
IDLE_TOKENS_PER_GPU_HOUR = 100.0  # below this many generated tokens per GPU-hour held: idle
IDLE_MIN_HELD_SHARE = 0.25  # ... and GPUs held for at least a quarter of the window


_POD_TO_MODEL = re.compile(POD_TO_MODEL_REGEX)


def _pod_endpoint(labels: dict) -> Key | None:
    match = _POD_TO_MODEL.fullmatch(labels.get("pod", ""))
    return (labels.get("namespace", ""), match.group(1)) if match else None


def held_gpu_hours(series: list[dict], start: float, end: float) -> dict[Key, float]:
    """GPU-hours held per endpoint in ``[start, end)`` from the raw GPU-request samples of
    :func:`gpu_requests`: the same sample-span definition as the statements (portal.gputime)."""
    seconds = gputime.held_seconds(
        ((s["labels"], s["values"]) for s in series), _pod_endpoint, start, end
    )
    return {k: v / 3600 for k, v in seconds.items() if k is not None}


def token_total(points: list[tuple[float, float | None]], step: float) -> float:
    """Tokens generated over a chart range: the rate points integrated over the steps."""
    return sum(v * step for _, v in points if v is not None)


def is_idle(gpu_hours: float | None, tokens: float, window: Window) -> bool:
    if not gpu_hours or gpu_hours < IDLE_MIN_HELD_SHARE * window.seconds / 3600:
        return False
    return tokens / gpu_hours < IDLE_TOKENS_PER_GPU_HOUR


def parse_window_bounds(
    start: str | None, end: str | None, now: datetime, default: timedelta = timedelta(hours=1)
) -> tuple[datetime, datetime]:
    """Parse ISO 8601 ``start``/``end`` (default: the last hour); raises ValueError with a
    message a user can act on."""

    earliest, latest = datetime(1970, 1, 1, tzinfo=UTC), now + timedelta(days=1)

    def parse(label, value):
        try:
            dt = parse_datetime(value)
            if dt is None:
                raise ValueError(value)
            dt = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{label} is not an ISO 8601 date-time: {value!r}") from exc
        if not earliest <= dt <= latest:
            raise ValueError(f"{label} must lie between 1970 and tomorrow.")
        return dt

    # Left out means the default; given empty (`?start=`) is not a date-time.
    end_dt = parse("end", end) if end is not None else now
    start_dt = parse("start", start) if start is not None else end_dt - default
    if start_dt < earliest:
        raise ValueError("start must lie between 1970 and tomorrow.")
    if end_dt <= start_dt:
        raise ValueError("end must be after start.")
    if end_dt - start_dt > timedelta(days=31):
        raise ValueError("The window may be at most 31 days.")
    return start_dt, end_dt


def endpoint_figures(
    client: PrometheusClient, namespace: str, model_name: str, start: datetime, end: datetime
) -> dict:
    """The ``endpoint_metrics`` contract object (also GET /api/v1/endpoints/{uuid}/metrics/)."""
    key = (namespace, model_name)
    figures = window_summary(client, [key], start, end)[key]
    return {
        "namespace": namespace,
        "model_name": model_name,
        "start": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "end": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "window_seconds": to_unix(end) - to_unix(start),
        **figures,
    }


# ---------------------------------------------------------------------------------- GPU memory held
MIB_PER_GIB = 1024.0


def gpu_memory_peak_gib(
    client: PrometheusClient, keys: list[Key], end: datetime, seconds: float
) -> dict[Key, float]:
    """GiB of GPU memory one replica of each endpoint held at its peak in ``(end - seconds,
    end]`` (endpoints without DCGM data are missing)."""
    rows = client.query(gpu_memory_peak_query(keys, seconds), at=end)
    return {key: value / MIB_PER_GIB for key, value in by_key(rows).items()}
