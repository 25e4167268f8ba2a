"""GPU usage: measure GPU time from Prometheus, price it and store it as hourly rows.

The flow (see billing/queries.py for how GPU time is integrated):

1. ``fetch_usage`` asks Prometheus, per window (an hour, or part of one), for the GPU-request
   samples of every scheduled pod, the GPU capacity of every node, DCGM busy ratios and vLLM
   token counters, plus the label sets of pods, namespaces and nodes (series API, no samples).
   Where a price changes inside a window, it also asks for the part before the change.
2. ``compute_usage`` (pure) attributes each pod to a team and endpoint, turns samples into
   integer GPU-seconds, prices each piece at the node offering's rate in force at that time
   (÷ GPUs per node), and computes idle capacity per node. Money is ``Decimal`` throughout.
3. ``collect_gpu_usage`` writes the rows: the whole hour is rewritten (upsert on the unique
   key, stale keys deleted) inside one transaction, so running it twice changes nothing and a
   re-run after late scrapes corrects the hour without double counting.
4. ``close_month`` freezes one immutable ``Statement`` per team (compare-and-set on
   ``Chargeback.status``); ``reopen_month`` (staff) bumps the version.
"""

from __future__ import annotations

import gc
import json
import logging
import operator
import uuid as uuid_lib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import CharField
from django.db.models.functions import Cast
from django.utils import timezone

from catalog.choices import CapacityType
from catalog.models import GpuRate, InstanceOffering
from deployments.models import Endpoint
from portal.models import Team
from portal.timeutil import HOUR, floor_hour

from .. import queries
from ..models import UsageKind, UsageRecord

log = logging.getLogger(__name__)

SECONDS_PER_HOUR = Decimal(3600)
UNKNOWN = "unknown"


class ChargebackError(Exception):
    """Bad input to a chargeback use case (shown to the user as is)."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a collection builds its many small, acyclic
    objects (parsed samples, tuples, rows; reference counting still frees them). At a month of
    100 teams it would otherwise re-scan the growing heap over and over: ~40% of the CPU time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- price table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offering:
    instance_type: str
    gpus_per_node: int
    gpu_type: str = ""


class PriceTable:
    """Node prices per (instance type, capacity type) with history, and GPUs per node.

    ``rates[(instance_type, capacity_type)]`` is a list of ``(effective_from, node_hourly_price)``
    sorted by time; the rate in force at ``t`` is the last one with ``effective_from <= t``.
    """

    def __init__(
        self,
        offerings: dict[str, Offering],
        rates: dict[tuple[str, str], list[tuple[datetime, Decimal]]],
    ):
        self.offerings = offerings
        self.rates = {key: sorted(history) for key, history in rates.items()}

    @classmethod
    def from_db(cls) -> PriceTable:
        offerings = {
            o.instance_type: Offering(o.instance_type, o.gpus_per_node, o.gpu_type.name)
            for o in InstanceOffering.objects.select_related("gpu_type")
        }
        rates: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = defaultdict(list)
        for instance_type, capacity_type, price, since in GpuRate.objects.values_list(
            "offering__instance_type", "capacity_type", "hourly_price", "effective_from"
        ):
            rates[(instance_type, capacity_type)].append((since, price))
        return cls(offerings, rates)

    @classmethod
    def from_entries(cls, entries: Any) -> PriceTable:
        """From ``[{"instance_type", "capacity_type", "gpus_per_node", "hourly_price"}]`` (one
        constant price per offering, e.g. ``chargeback --prices FILE``). Raises ChargebackError."""
        if not isinstance(entries, list) or not entries:
            raise ChargebackError("The price list must be a non-empty JSON list of objects.")
        offerings: dict[str, Offering] = {}
        rates: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = {}
        since = datetime(1970, 1, 1, tzinfo=UTC)
        for i, entry in enumerate(entries):
            instance_type, capacity_type, gpus, price = _parse_price_entry(i, entry)
            known = offerings.get(instance_type)
            if known is not None and known.gpus_per_node != gpus:
                raise ChargebackError(
                    f"Price entry {i}: {instance_type} has two different gpus_per_node values."
                )
            if (instance_type, capacity_type) in rates:
                raise ChargebackError(
                    f"Price entry {i}: {instance_type} {capacity_type} is listed twice."
                )
            offerings[instance_type] = Offering(instance_type, gpus)
            rates[(instance_type, capacity_type)] = [(since, price)]
        return cls(offerings, rates)

    def node_price(self, instance_type: str, capacity_type: str, at: datetime) -> Decimal | None:
        price = None
        for since, value in self.rates.get((instance_type, capacity_type), ()):
            if since > at:
                break
            price = value
        return price

    def per_gpu_second(
        self, instance_type: str, capacity_type: str, at: datetime
    ) -> Decimal | None:
        offering = self.offerings.get(instance_type)
        price = self.node_price(instance_type, capacity_type, at)
        if offering is None or price is None:
            return None
        return price / offering.gpus_per_node / SECONDS_PER_HOUR

    def node_price_per_gpu(
        self, instance_type: str, capacity_type: str, at: datetime
    ) -> tuple[Decimal, int] | None:
        """(node hourly price, GPUs per node) at ``at``: GPU-seconds cost exactly
        ``price × seconds / (gpus × 3600)``, with a single division."""
        offering = self.offerings.get(instance_type)
        price = self.node_price(instance_type, capacity_type, at)
        if offering is None or price is None:
            return None
        return price, offering.gpus_per_node

    def gpu_type(self, instance_type: str) -> str:
        offering = self.offerings.get(instance_type)
        return offering.gpu_type if offering else ""

    def change_points(self, start: datetime, end: datetime) -> list[datetime]:
        """Times strictly inside (start, end) where any rate changes."""
        return sorted(
            {
                since
                for history in self.rates.values()
                for since, _ in history
                if start < since < end
            }
        )


def _parse_price_entry(i: int, entry: Any) -> tuple[str, str, int, Decimal]:
    required = ("instance_type", "capacity_type", "gpus_per_node", "hourly_price")
    if not isinstance(entry, dict):
        raise ChargebackError(f"Price entry {i} must be an object with keys {', '.join(required)}.")
    missing = [k for k in required if k not in entry]
    if missing:
        raise ChargebackError(f"Price entry {i} lacks {', '.join(missing)}.")
    instance_type, capacity_type = entry["instance_type"], entry["capacity_type"]
    if not isinstance(instance_type, str) or not instance_type.strip():
        raise ChargebackError(f"Price entry {i}: instance_type must be a non-empty string.")
    if capacity_type not in CapacityType.values:
        raise ChargebackError(
            f"Price entry {i}: capacity_type must be one of {', '.join(CapacityType.values)}, not {capacity_type!r}."
        )
    gpus = entry["gpus_per_node"]
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ChargebackError(
            f"Price entry {i}: gpus_per_node must be a positive integer, not {gpus!r}."
        )
    raw = entry["hourly_price"]
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ChargebackError(f"Price entry {i}: hourly_price must be a decimal number or string.")
    try:
        price = Decimal(str(raw))
    except InvalidOperation as exc:
        raise ChargebackError(f"Price entry {i}: hourly_price {raw!r} is not a number.") from exc
    if not price.is_finite() or price < 0:
        raise ChargebackError(
            f"Price entry {i}: hourly_price must be a finite number ≥ 0, not {raw!r}."
        )
    return instance_type.strip(), capacity_type, gpus, price


def load_price_file(path: str) -> PriceTable:
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as exc:
        raise ChargebackError(f"Cannot read the price file {path}: {exc.strerror}.") from exc
    except json.JSONDecodeError as exc:
        raise ChargebackError(f"The price file {path} is not valid JSON: {exc}.") from exc
    return PriceTable.from_entries(entries)


# --- windows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """``[start, end)`` inside one UTC hour (``hour``)."""

    start: datetime
    end: datetime

    @property
    def hour(self) -> datetime:
        return floor_hour(self.start)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def validate_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ChargebackError("Start and end need a time zone (e.g. 2026-11-01T00:00:00Z).")
    if end <= start:
        raise ChargebackError("End must be after start.")
    if end - start > timedelta(days=93):
        raise ChargebackError("A period can be at most 93 days; split longer ones.")


def split_windows(start: datetime, end: datetime) -> list[Window]:
    """``[start, end)`` cut at every UTC hour boundary."""
    validate_period(start, end)
    windows, t = [], start
    while t < end:
        nxt = min(floor_hour(t) + HOUR, end)
        windows.append(Window(t, nxt))
        t = nxt
    return windows


# --- fetching (the only part that talks to Prometheus) ----------------------------------------

PodKey = tuple[str, str]  # (namespace, pod)


@dataclass
class Measurements:
    """Sample sums for one window (multiply by the scrape interval for seconds)."""

    pods: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (ns, pod, node)
    nodes: dict[str, float] = field(default_factory=dict)  # node capacity
    busy: dict[PodKey, float] = field(default_factory=dict)
    prompt_tokens: dict[PodKey, float] = field(default_factory=dict)
    generation_tokens: dict[PodKey, float] = field(default_factory=dict)
    # Cumulative (pods, nodes) from the window start up to each price change point inside it.
    cuts: list[tuple[datetime, dict, dict]] = field(default_factory=list)


@dataclass
class ClusterLabels:
    pods: dict[PodKey, dict[str, str]] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)  # namespace -> team label
    # node -> (instance type, capacity type)
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)


def _config() -> dict[str, Any]:
    return {
        "selector": settings.BILLING_PROMQL_SELECTOR,
        "left_open": settings.BILLING_LEFT_OPEN_RANGES,
        "scrape_interval": Decimal(str(settings.BILLING_SCRAPE_INTERVAL_SECONDS)),
    }


def scrape_interval() -> Decimal:
    """Seconds each stored kube-state-metrics / DCGM sample stands for."""
    return _config()["scrape_interval"]


def billing_client():
    """A Prometheus client for billing: long timeout, no response cache (re-runs must re-read)."""
    from portal.prometheus import PrometheusClient

    return PrometheusClient(
        settings.PROMETHEUS_URL, timeout=settings.BILLING_PROMETHEUS_TIMEOUT, cache_seconds=0
    )


# Independent integrals, fetched concurrently (Prometheus evaluates each query on one core).
_INTEGRALS = {
    "pods": (queries.pod_gpu_samples, "pod_node"),
    "nodes": (queries.node_gpu_capacity_samples, "node"),
    "busy": (queries.gpu_busy_samples, "dcgm_pod"),
    "busy_util": (
        lambda w, s: queries.gpu_busy_samples(w, s, metric="DCGM_FI_DEV_GPU_UTIL"),
        "dcgm_pod",
    ),
    "prompt_tokens": (lambda w, s: queries.token_increase(w, s, "prompt"), "pod"),
    "generation_tokens": (lambda w, s: queries.token_increase(w, s, "generation"), "pod"),
}


def fetch_usage(
    client, windows: list[Window], prices: PriceTable
) -> tuple[list[Measurements], ClusterLabels]:
    cfg = _config()
    data = [Measurements() for _ in windows]
    with (
        _gc_paused(),
        ThreadPoolExecutor(max_workers=settings.BILLING_PROMETHEUS_CONCURRENCY) as pool,
    ):
        labels = pool.submit(
            fetch_labels, client, windows[0].start, windows[-1].end, cfg["selector"]
        )
        futures = {
            attr: _integrate(pool, client, windows, build, _KEYS[key], cfg)
            for attr, (build, key) in _INTEGRALS.items()
        }
        cuts = pool.submit(_fetch_cuts, client, windows, prices, cfg)
        results = {attr: _merged(parts) for attr, parts in futures.items()}
        for i, cut_list in cuts.result().items():
            data[i].cuts = cut_list
        labels = labels.result()
    for attr, per_window in results.items():
        for i, values in per_window.items():
            if (
                attr == "busy_util"
            ):  # DCGM_FI_DEV_GPU_UTIL only where the profiling metric is absent
                for key, value in values.items():
                    data[i].busy.setdefault(key, value)
            else:
                setattr(data[i], attr, values)
    return data, labels


def _fetch_cuts(client, windows: list[Window], prices: PriceTable, cfg) -> dict[int, list]:
    """Cumulative pod and node samples from each window's start to every price change in it."""
    out: dict[int, list] = {}
    for i, window in enumerate(windows):
        for cut in prices.change_points(window.start, window.end):
            part = Window(window.start, cut)
            pods = _instant(client, part, queries.pod_gpu_samples, _pod_node_key, cfg)
            nodes = _instant(client, part, queries.node_gpu_capacity_samples, _node_key, cfg)
            out.setdefault(i, []).append((cut, pods, nodes))
    return out


def _node_key(labels: dict) -> str:
    return labels.get("node", "")


def _pod_key(labels: dict) -> PodKey:
    return labels.get("namespace", ""), labels.get("pod", "")


def _pod_node_key(labels: dict) -> tuple[str, str, str]:
    return labels.get("namespace", ""), labels.get("pod", ""), labels.get("node", "")


def _dcgm_pod_key(labels: dict) -> PodKey:
    if labels.get("exported_pod"):
        return labels.get("exported_namespace", ""), labels["exported_pod"]
    return labels.get("namespace", ""), labels.get("pod", "")


_KEYS = {"pod": _pod_key, "pod_node": _pod_node_key, "node": _node_key, "dcgm_pod": _dcgm_pod_key}


def _integrate(pool, client, windows: list[Window], build, key, cfg) -> list[Future]:
    """Submit ``build(range)`` for every window to ``pool``: one range query per week of full
    hours, instant queries for partial ones. Each future gives {window index: {key(labels):
    summed value}} for its own windows (the weeks run concurrently, like the integrals)."""
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
        for chunk in _chunks(windows[full[0]].end, windows[full[-1]].end):
            parts.append(pool.submit(_range_chunk, client, promql, chunk, by_end, key))
    return parts


def _range_chunk(client, promql: str, chunk: tuple[datetime, datetime], by_end: dict, key) -> dict:
    """One range query (step 1 h) over ``chunk`` (first and last window end), by window index."""
    first, last = chunk
    out: dict[int, dict] = {
        i: {} for t, i in by_end.items() if first.timestamp() - 1 < t < last.timestamp()
    }
    for series in client.query_range(
        promql, first.timestamp() - 0.001, last.timestamp() - 0.001, 3600
    ):
        k = key(series["labels"])
        for ts, value in series["values"]:
            i = by_end.get(round(ts, 3))
            if i is not None:
                out[i][k] = out[i].get(k, 0.0) + value
    return out


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


def fetch_labels(client, start: datetime, end: datetime, selector: str = "") -> ClusterLabels:
    labels = ClusterLabels()
    for s in sorted(
        client.series(queries.series_match("kube_pod_labels", selector), start, end),
        key=lambda s: sorted(s.items()),
    ):
        key = (s.get("namespace", ""), s.get("pod", ""))
        if key not in labels.pods or s.get(queries.POD_TEAM_LABEL):
            labels.pods[key] = s
    for s in client.series(queries.series_match("kube_namespace_labels", selector), start, end):
        if s.get(queries.NAMESPACE_TEAM_LABEL) or s.get("namespace") not in labels.namespaces:
            labels.namespaces[s.get("namespace", "")] = s.get(queries.NAMESPACE_TEAM_LABEL, "")
    for s in client.series(queries.series_match("kube_node_labels", selector), start, end):
        labels.nodes[s.get("node", "")] = (
            s.get(queries.NODE_INSTANCE_TYPE_LABEL) or UNKNOWN,
            node_capacity_type(s),
        )
    return labels


def node_capacity_type(labels: dict[str, str]) -> str:
    """Karpenter's capacity-type label, else the EKS managed node group one, else unknown."""
    value = labels.get(queries.NODE_CAPACITY_TYPE_LABEL)
    if value:
        return value
    eks = labels.get(queries.NODE_EKS_CAPACITY_TYPE_LABEL, "")
    return {"ON_DEMAND": CapacityType.ON_DEMAND, "SPOT": CapacityType.SPOT}.get(eks, UNKNOWN)


# --- pure computation --------------------------------------------------------------------------


def attribute(namespace: str, pod: str, labels: ClusterLabels) -> tuple[str, str]:
    """(team key, endpoint key): pod label modelport.io/team, else the namespace's label, else
    the namespace name; endpoint from modelport.io/endpoint, else the KServe isvc label."""
    pod_labels = labels.pods.get((namespace, pod), {})
    team = pod_labels.get(queries.POD_TEAM_LABEL) or labels.namespaces.get(namespace) or namespace
    endpoint = (
        pod_labels.get(queries.POD_ENDPOINT_LABEL) or pod_labels.get(queries.POD_ISVC_LABEL) or ""
    )
    return team, endpoint


@dataclass
class UsageRow:
    """One usage row before it is stored (same field names as UsageRecord)."""

    hour: datetime
    kind: str
    team_key: str
    endpoint_key: str
    instance_type: str
    capacity_type: str
    gpu_type: str = ""
    gpu_seconds: int = 0
    used_gpu_seconds: int | None = None
    cost: Decimal = Decimal("0")
    unpriced_gpu_seconds: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    endpoint_uuid: str = ""  # modelport.io/endpoint-uuid pod label, when allow-listed

    @property
    def key(self) -> tuple:
        return (
            self.hour,
            self.kind,
            self.team_key,
            self.endpoint_key,
            self.instance_type,
            self.capacity_type,
        )


def _segments(window: Window, full: dict, cuts: list, index: int) -> list[tuple[datetime, dict]]:
    """[(segment start, {key: samples in segment})] from cumulative sums at the cut points."""
    if not cuts:
        return [(window.start, full)]
    bounds = [(window.start, {})] + [(c[0], c[index]) for c in cuts] + [(window.end, full)]
    out = []
    for (a, before), (_, upto) in zip(bounds, bounds[1:], strict=False):
        out.append((a, {k: upto.get(k, 0.0) - before.get(k, 0.0) for k in set(upto) | set(before)}))
    return out


def _seconds(samples: float, interval: Decimal | float) -> int:
    """Samples × scrape interval as whole seconds (GPU counts are integers, so this is exact)."""
    return round(samples * float(interval))


class _Pricing:
    """Per-collection look-ups that repeat for every pod and hour: a pod's (team, endpoint,
    endpoint-uuid label), a node's offering, and the cost of GPU-seconds on an offering at a
    time (the price history is only walked once per offering and price segment)."""

    def __init__(self, labels: ClusterLabels, prices: PriceTable, scrape_interval: Decimal):
        self.labels, self.prices = labels, prices
        self.interval = float(scrape_interval)
        self._owners: dict[PodKey, tuple[str, str, str]] = {}
        self._rates: dict[tuple[str, str, datetime], tuple[Decimal, int] | None] = {}

    def owner(self, namespace: str, pod: str) -> tuple[str, str, str]:
        key = (namespace, pod)
        found = self._owners.get(key)
        if found is None:
            team, endpoint = attribute(namespace, pod, self.labels)
            uuid = self.labels.pods.get(key, {}).get(queries.POD_ENDPOINT_UUID_LABEL, "")
            found = self._owners[key] = (team, endpoint, uuid)
        return found

    def offering(self, node: str) -> tuple[str, str]:
        return self.labels.nodes.get(node, (UNKNOWN, UNKNOWN))

    def cost(self, instance_type: str, capacity_type: str, at: datetime, seconds: int):
        """Decimal cost of ``seconds`` GPU-seconds at the price in force at ``at`` (exact up to
        Decimal's 28 digits), or None when the offering has no price."""
        key = (instance_type, capacity_type, at)
        if key not in self._rates:
            found = self.prices.node_price_per_gpu(instance_type, capacity_type, at)
            self._rates[key] = found and (found[0], found[1] * 3600)
        rate = self._rates[key]
        return None if rate is None else rate[0] * seconds / rate[1]


def compute_usage(
    windows: list[Window],
    data: list[Measurements],
    labels: ClusterLabels,
    prices: PriceTable,
    scrape_interval: Decimal,
) -> list[UsageRow]:
    """Hourly rows from the sample sums. GPU time is summed as integer seconds per row and price
    segment, and priced once per (row, segment): node price × seconds ÷ (GPUs per node × 3600),
    in Decimal."""
    rows: dict[tuple, UsageRow] = {}
    pricing = _Pricing(labels, prices, scrape_interval)
    with _gc_paused():
        for window, m in zip(windows, data, strict=True):
            _add_window(rows, window, m, pricing)
        return sorted(rows.values(), key=_row_order)


_row_order = operator.attrgetter("hour", "kind", "team_key", "endpoint_key", "instance_type")


def _add_window(
    rows: dict[tuple, UsageRow], window: Window, m: Measurements, pricing: _Pricing
) -> None:
    hour = window.hour
    pod_rows: dict[PodKey, UsageRow] = {}
    pod_segments = _segments(window, m.pods, m.cuts, 1)
    node_segments = _segments(window, m.nodes, m.cuts, 2)
    for (seg_start, pods), (_, capacity) in zip(pod_segments, node_segments, strict=True):
        requested = _add_allocated(rows, hour, seg_start, pods, pricing, pod_rows)
        _add_idle(rows, hour, seg_start, capacity, requested, pricing)
    _add_pod_extras(pod_rows, m, pricing.interval)


def _add_allocated(
    rows: dict[tuple, UsageRow],
    hour: datetime,
    seg_start: datetime,
    pods: dict[tuple[str, str, str], float],
    pricing: _Pricing,
    pod_rows: dict[PodKey, UsageRow],
) -> dict[str, int]:
    """One price segment of allocated GPU time: every pod into its (team, endpoint, offering)
    row, noted in ``pod_rows`` (for busy time and tokens). Returns GPU-seconds per node."""
    seconds_by_key: dict[tuple, int] = defaultdict(int)
    requested: dict[str, int] = defaultdict(int)
    for (ns, pod, node), value in pods.items():
        seconds = round(value * pricing.interval)
        requested[node] += seconds
        if seconds <= 0:
            continue
        team, endpoint, endpoint_uuid = pricing.owner(ns, pod)
        key = (hour, UsageKind.ALLOCATED, team, endpoint, *pricing.offering(node))
        row = rows.get(key) or _new_row(rows, key, pricing.prices)
        if not row.endpoint_uuid:
            row.endpoint_uuid = endpoint_uuid
        seconds_by_key[key] += seconds
        pod_rows[(ns, pod)] = row
    _charge_all(rows, seconds_by_key, pricing, seg_start)
    return requested


def _new_row(rows: dict[tuple, UsageRow], key: tuple, prices: PriceTable) -> UsageRow:
    row = rows[key] = UsageRow(*key, gpu_type=prices.gpu_type(key[4]))
    return row


def _charge_all(
    rows: dict[tuple, UsageRow], seconds_by_key: dict[tuple, int], pricing: _Pricing, at: datetime
) -> None:
    """Add each row's GPU-seconds of one price segment, priced at the price in force at ``at``."""
    for key, seconds in seconds_by_key.items():
        row = rows[key]
        row.gpu_seconds += seconds
        cost = pricing.cost(row.instance_type, row.capacity_type, at, seconds)
        if cost is None:
            row.unpriced_gpu_seconds += seconds
        else:
            row.cost += cost


def _add_idle(
    rows: dict[tuple, UsageRow],
    hour: datetime,
    seg_start: datetime,
    capacity: dict[str, float],
    requested: dict[str, int],
    pricing: _Pricing,
) -> None:
    """Idle = node GPU capacity − GPUs requested by pods on it, in one price segment."""
    seconds_by_key: dict[tuple, int] = defaultdict(int)
    for node, value in capacity.items():
        idle = round(value * pricing.interval) - requested.get(node, 0)
        if idle > 0:
            key = (hour, UsageKind.IDLE, "", "", *pricing.offering(node))
            if key not in rows:
                _new_row(rows, key, pricing.prices)
            seconds_by_key[key] += idle
    _charge_all(rows, seconds_by_key, pricing, seg_start)


def _add_pod_extras(pod_rows: dict[PodKey, UsageRow], m: Measurements, interval: float) -> None:
    """Busy GPU time (DCGM) and vLLM tokens of the pods, added to each pod's row."""
    for key, value in m.busy.items():
        row = pod_rows.get(key)
        if row is not None:
            row.used_gpu_seconds = (row.used_gpu_seconds or 0) + _seconds(value, interval)
    for key, value in m.prompt_tokens.items():
        if key in pod_rows:
            pod_rows[key].prompt_tokens += int(round(value))
    for key, value in m.generation_tokens.items():
        if key in pod_rows:
            pod_rows[key].generation_tokens += int(round(value))


def measure_usage(
    start: datetime, end: datetime, prices: PriceTable | None = None, client=None
) -> list[UsageRow]:
    """GPU usage rows for ``[start, end)`` straight from Prometheus (nothing is stored)."""
    windows = split_windows(start, end)
    prices = prices or PriceTable.from_db()
    client = client or billing_client()
    data, labels = fetch_usage(client, windows, prices)
    return compute_usage(windows, data, labels, prices, _config()["scrape_interval"])


# --- storing -----------------------------------------------------------------------------------

UPDATE_FIELDS = [
    "team",
    "endpoint",
    "gpu_type",
    "gpu_seconds",
    "used_gpu_seconds",
    "cost",
    "unpriced_gpu_seconds",
    "prompt_tokens",
    "generation_tokens",
    "collected_at",
]
UNIQUE_FIELDS = ["hour", "kind", "team_key", "endpoint_key", "instance_type", "capacity_type"]


@dataclass
class CollectResult:
    hours: int
    rows: int
    deleted: int
    unpriced: dict[tuple[str, str], int]


def collect_gpu_usage(start: datetime, end: datetime, client=None) -> CollectResult:
    """Measure the whole hours in ``[start, end)`` and rewrite their usage rows. The stored rows
    are read (on this thread's database connection) while Prometheus evaluates the integrals."""
    start, end = floor_hour(start), floor_hour(end)
    if end <= start:
        raise ChargebackError("Collect at least one whole hour.")
    windows, prices = split_windows(start, end), PriceTable.from_db()
    with _gc_paused(), ThreadPoolExecutor(max_workers=1) as pool:
        measured = pool.submit(fetch_usage, client or billing_client(), windows, prices)
        stored = list(_stored_rows(start, end))
        data, labels = measured.result()
    rows = compute_usage(windows, data, labels, prices, scrape_interval())
    deleted = save_usage(rows, start, end, stored=stored)
    return CollectResult(int((end - start) / HOUR), len(rows), deleted, _report_unpriced(rows))


def _report_unpriced(rows: list[UsageRow]) -> dict[tuple[str, str], int]:
    """Unpriced GPU-seconds per (instance type, capacity type), each logged as a warning."""
    unpriced: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        if row.unpriced_gpu_seconds:
            unpriced[(row.instance_type, row.capacity_type)] += row.unpriced_gpu_seconds
    for (instance_type, capacity_type), seconds in unpriced.items():
        log.warning(
            "billing: %s GPU-seconds on %s/%s have no price in the price table",
            seconds,
            instance_type,
            capacity_type,
        )
    return dict(unpriced)


def save_usage(
    rows: list[UsageRow], start: datetime, end: datetime, stored: list | None = None
) -> int:
    """Make the rows of ``[start, end)`` equal to ``rows``: upsert new and changed ones, delete
    the ones the new measurement lacks, leave identical ones alone. Returns rows deleted.
    ``stored``: those hours' rows as ``_stored_rows`` read them (read here when not given)."""
    owners = _owner_ids({(r.team_key, r.endpoint_key, r.endpoint_uuid) for r in rows})
    now = timezone.now()
    with _gc_paused(), transaction.atomic():
        wanted = {r.key: (r, _values(r, owners)) for r in rows}
        stale, same = [], set()
        for key, values, pk in _stored_rows(start, end) if stored is None else stored:
            row = wanted.get(key)
            if row is None:
                stale.append(pk)
            elif values == row[1]:
                same.add(key)
        deleted = 0
        for i in range(0, len(stale), 500):
            deleted += UsageRecord.objects.filter(pk__in=stale[i : i + 500]).delete()[0]
        UsageRecord.objects.bulk_create(
            [_record(r, values, now) for key, (r, values) in wanted.items() if key not in same],
            batch_size=1000,
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=UPDATE_FIELDS,
        )
    return deleted


def _stored_rows(start: datetime, end: datetime) -> Iterable[tuple[tuple, tuple, int]]:
    """(unique key, _VALUE_FIELDS, pk) of every stored row of ``[start, end)``, in one query.

    The hour is read as text and mapped back through the period's few distinct hours: decoding
    one timestamp per row (Django's PostgreSQL timestamptz loader is pure Python) would cost more
    than the rest of the comparison."""
    stored = (
        UsageRecord.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(hour_text=Cast("hour", CharField()))
        .order_by()
    )
    hours = dict(stored.values_list("hour_text", "hour").distinct())
    n = len(UNIQUE_FIELDS)
    for row in stored.values_list("hour_text", *UNIQUE_FIELDS[1:], *_VALUE_FIELDS, "pk"):
        yield (hours[row[0]], *row[1:n]), row[n:-1], row[-1]


# Compared with the stored row to skip writing rows that did not change.
_VALUE_FIELDS = [
    "team_id",
    "endpoint_id",
    "gpu_type",
    "gpu_seconds",
    "used_gpu_seconds",
    "cost",
    "unpriced_gpu_seconds",
    "prompt_tokens",
    "generation_tokens",
]


_COST_PLACES = Decimal("0.000001")  # UsageRecord.cost has 6 decimal places


def _owner_ids(keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], tuple]:
    """(team key, endpoint key, endpoint-uuid label) -> (team id, endpoint id), None if unknown."""
    teams = _resolve_teams({team_key for team_key, _, _ in keys if team_key})
    endpoints = _resolve_endpoints({k for k in keys if k[1]}, teams)
    return {
        k: (
            teams[k[0]].pk if k[0] in teams else None,
            endpoints[k].pk if k in endpoints else None,
        )
        for k in keys
    }


def _values(r: UsageRow, owners: dict[tuple[str, str, str], tuple]) -> tuple:
    """The row's _VALUE_FIELDS as stored (comparable with a values_list of the table)."""
    return (
        *owners[(r.team_key, r.endpoint_key, r.endpoint_uuid)],
        r.gpu_type,
        r.gpu_seconds,
        r.used_gpu_seconds,
        r.cost.quantize(_COST_PLACES),
        r.unpriced_gpu_seconds,
        r.prompt_tokens,
        r.generation_tokens,
    )


def _record(r: UsageRow, values: tuple, now: datetime) -> UsageRecord:
    fields = dict(zip(_VALUE_FIELDS, values, strict=True))
    return UsageRecord(
        hour=r.hour,
        kind=r.kind,
        team_key=r.team_key,
        endpoint_key=r.endpoint_key,
        instance_type=r.instance_type,
        capacity_type=r.capacity_type,
        collected_at=now,
        **fields,
    )


def _resolve_teams(keys: set[str]) -> dict[str, Team]:
    """Team keys are slugs (labels) or namespace names (``KUBE_NAMESPACE_PREFIX`` + slug)."""
    prefix = settings.KUBE_NAMESPACE_PREFIX
    slugs = {k for k in keys} | {k[len(prefix) :] for k in keys if prefix and k.startswith(prefix)}
    by_slug = {t.slug: t for t in Team.objects.filter(slug__in=slugs)}
    out = {}
    for key in keys:
        team = by_slug.get(key)
        if team is None and prefix and key.startswith(prefix):
            team = by_slug.get(key[len(prefix) :])
        if team is not None:
            out[key] = team
    return out


def _resolve_endpoints(
    keys: set[tuple[str, str, str]], teams: dict[str, Team]
) -> dict[tuple[str, str, str], Endpoint]:
    """(team key, endpoint label, endpoint-uuid label) -> Endpoint. The UUID label wins (a name
    is reused after a delete); else a label that is a UUID; else the newest endpoint of that
    name in the team (the InferenceService name)."""
    out = {}
    team_ids = {t.pk for t in teams.values()}
    candidates = Endpoint.objects.filter(team_id__in=team_ids).order_by("created_at")
    by_name = {(e.team_id, e.name): e for e in candidates}  # newest wins
    by_uuid = {str(e.uuid): e for e in candidates}
    for team_key, endpoint_key, endpoint_uuid in keys:
        team = teams.get(team_key)
        if team is None:
            continue
        endpoint = (
            by_uuid.get(_uuid_or_none(endpoint_uuid) or "")
            or by_uuid.get(_uuid_or_none(endpoint_key) or "")
            or by_name.get((team.pk, endpoint_key))
        )
        if endpoint is not None and endpoint.team_id == team.pk:
            out[(team_key, endpoint_key, endpoint_uuid)] = endpoint
    return out


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        return None


# --- months ------------------------------------------------------------------------------------


def rows_total(rows: Iterable) -> tuple[int, Decimal]:
    seconds, cost = 0, Decimal("0")
    for r in rows:
        seconds += r.gpu_seconds
        cost += r.cost
    return seconds, cost
