"""The collection use cases: measure (fetch + compute) and collect (measure + store)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from portal.gcpause import gc_paused
from portal.timeutil import HOUR, floor_hour

from ._base import ChargebackError
from ._types import UsageRow
from .compute import compute_usage
from .fetch import billing_client, fetch_usage
from .prices import PriceTable
from .store import Prefetched, prefetch, save_usage
from .windows import split_windows

log = logging.getLogger(__name__)


def measure_usage(
    start: datetime, end: datetime, prices: PriceTable | None = None, client=None
) -> list[UsageRow]:
    """GPU usage rows for ``[start, end)`` straight from Prometheus (nothing is stored)."""
    windows = split_windows(start, end)
    prices = prices or PriceTable.from_db()
    client = client or billing_client()
    data, labels = fetch_usage(client, windows, prices)
    return compute_usage(windows, data, labels, prices)


@dataclass
class CollectResult:
    hours: int
    rows: int
    deleted: int
    unpriced: dict[tuple[str, str], int]


def collect_gpu_usage(start: datetime, end: datetime, client=None) -> CollectResult:
    """Measure the whole hours in ``[start, end)`` and rewrite their usage rows. The price table
    and the stored rows that must be read whatever the measurement (hours without a digest) are
    read on this thread's database connection while Prometheus answers."""
    start, end = floor_hour(start), floor_hour(end)
    if end <= start:
        raise ChargebackError("Collect at least one whole hour.")
    windows, prices = split_windows(start, end), cache(PriceTable.from_db)
    stored: list[Prefetched] = []

    def read_ahead():  # the database, while Prometheus answers
        prices()
        stored.append(prefetch(start, end))

    # No cyclic collection from the first sample read to the last row saved (portal/gcpause.py):
    # the collection's many small acyclic objects made the collector re-scan a growing heap
    # (~40 % of a month's CPU), and a pause that ended after the fetch let the first allocation
    # of the computation collect everything fetched (0.5-1 ms of the hourly task's ~15).
    with gc_paused():
        data, labels = fetch_usage(client or billing_client(), windows, prices, read_ahead)
        rows = compute_usage(windows, data, labels, prices())
        deleted = save_usage(rows, start, end, stored=stored[0])
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
