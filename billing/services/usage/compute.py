"""Pure computation: GPU-seconds per window -> priced hourly rows (Decimal money)."""

from __future__ import annotations

import operator
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from catalog.pricing import gpu_seconds_cost
from portal.gcpause import gc_paused

from ... import queries
from ...models import UsageKind
from ._base import UNKNOWN
from ._types import ClusterLabels, Measurements, PodKey, UsageRow
from .prices import PriceTable
from .windows import Window


def attribute(namespace: str, pod: str, labels: ClusterLabels) -> tuple[str, str]:
    """(team key, endpoint key): pod label modelport.io/team, else the namespace's label, else
    the namespace name; endpoint from modelport.io/endpoint, else the KServe isvc label; a
    batch job's pods (modelport.io/batch-job) are keyed "batch/<job name>"."""
    pod_labels = labels.pods.get((namespace, pod), {})
    team = pod_labels.get(queries.POD_TEAM_LABEL) or labels.namespaces.get(namespace) or namespace
    batch = pod_labels.get(queries.POD_BATCH_JOB_LABEL)
    if batch:
        return team, queries.BATCH_KEY_PREFIX + batch
    endpoint = (
        pod_labels.get(queries.POD_ENDPOINT_LABEL) or pod_labels.get(queries.POD_ISVC_LABEL) or ""
    )
    return team, endpoint


def _segments(window: Window, full: dict, cuts: list, index: int) -> list[tuple[datetime, dict]]:
    """[(segment start, {key: GPU-seconds in segment})] from cumulative sums at the cut points."""
    if not cuts:
        return [(window.start, full)]
    bounds = [(window.start, {})] + [(c[0], c[index]) for c in cuts] + [(window.end, full)]
    out = []
    for (a, before), (_, upto) in zip(bounds, bounds[1:], strict=False):
        out.append((a, {k: upto.get(k, 0.0) - before.get(k, 0.0) for k in set(upto) | set(before)}))
    return out


class _Pricing:
    """Per-collection look-ups that repeat for every pod and hour: a pod's (team, endpoint,
    endpoint-uuid label), a node's offering, and the cost of GPU-seconds on an offering at a
    time (the price history is only walked once per offering and price segment)."""

    def __init__(self, labels: ClusterLabels, prices: PriceTable):
        self.labels, self.prices = labels, prices
        self._owners: dict[PodKey, tuple[str, str, str]] = {}
        self._rates: dict[tuple[str, str, datetime], tuple[Decimal, int] | None] = {}

    def owner(self, namespace: str, pod: str) -> tuple[str, str, str]:
        key = (namespace, pod)
        found = self._owners.get(key)
        if found is None:
            team, endpoint = attribute(namespace, pod, self.labels)
            pod_labels = self.labels.pods.get(key, {})
            uuid = pod_labels.get(queries.POD_ENDPOINT_UUID_LABEL) or pod_labels.get(
                queries.POD_BATCH_UUID_LABEL, ""
            )
            found = self._owners[key] = (team, endpoint, uuid)
        return found

    def offering(self, node: str) -> tuple[str, str]:
        return self.labels.nodes.get(node, (UNKNOWN, UNKNOWN))

    def cost(self, instance_type: str, capacity_type: str, at: datetime, seconds: int):
        """Decimal cost of ``seconds`` GPU-seconds at the price in force at ``at``
        (catalog.pricing.gpu_seconds_cost), or None when the offering has no price."""
        key = (instance_type, capacity_type, at)
        if key not in self._rates:
            self._rates[key] = self.prices.node_price_per_gpu(instance_type, capacity_type, at)
        rate = self._rates[key]
        return None if rate is None else gpu_seconds_cost(rate[0], rate[1], seconds)


def compute_usage(
    windows: list[Window],
    data: list[Measurements],
    labels: ClusterLabels,
    prices: PriceTable,
) -> list[UsageRow]:
    """Hourly rows from the GPU-seconds of each window. GPU time is summed as integer seconds per row and price
    segment, and priced once per (row, segment): node price × seconds ÷ (GPUs per node × 3600),
    in Decimal."""
    rows: dict[tuple, UsageRow] = {}
    pricing = _Pricing(labels, prices)
    with gc_paused():
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
    _add_pod_extras(pod_rows, m)


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
    kind, owners, owner, nodes = (
        UsageKind.ALLOCATED,
        pricing._owners,
        pricing.owner,
        pricing.offering,
    )
    for (ns, pod, node), value in pods.items():  # the hot loop of a month: one turn per pod-hour
        seconds = round(value)
        requested[node] += seconds
        if seconds <= 0:
            continue
        team, endpoint, endpoint_uuid = owners.get((ns, pod)) or owner(ns, pod)
        key = (hour, kind, team, endpoint, *nodes(node))
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
        idle = round(value) - requested.get(node, 0)
        if idle > 0:
            key = (hour, UsageKind.IDLE, "", "", *pricing.offering(node))
            if key not in rows:
                _new_row(rows, key, pricing.prices)
            seconds_by_key[key] += idle
    _charge_all(rows, seconds_by_key, pricing, seg_start)


def _add_pod_extras(pod_rows: dict[PodKey, UsageRow], m: Measurements) -> None:
    """Busy GPU time (DCGM) and vLLM tokens of the pods, added to each pod's row."""
    for key, value in m.busy.items():
        row = pod_rows.get(key)
        if row is not None:
            row.used_gpu_seconds = (row.used_gpu_seconds or 0) + round(value)
    for key, value in m.prompt_tokens.items():
        if key in pod_rows:
            pod_rows[key].prompt_tokens += int(round(value))
    for key, value in m.generation_tokens.items():
        if key in pod_rows:
            pod_rows[key].generation_tokens += int(round(value))
