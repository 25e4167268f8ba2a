"""GPU usage: measure GPU time from Prometheus, price it and store it as hourly rows.

Split by responsibility (arrows point down the list; no module imports one above it):

* ``collect``: the use cases ``measure_usage`` (fetch + compute) and ``collect_gpu_usage``
  (measure + store: the whole hour is rewritten inside one transaction, so a re-run changes
  nothing and a re-run after late scrapes corrects the hour without double counting);
* ``fetch``: the only part that asks Prometheus: raw GPU samples per window, token increases,
  label sets of pods, namespaces and nodes;
* ``compute`` (pure): attribute each pod to a team and endpoint, price each piece at the node
  offering's rate in force at that time (÷ GPUs per node), idle capacity per node; Decimal;
* ``store``: upsert the rows of an hour, delete its stale keys;
* GPU time from the samples themselves (each sample spans to the next one) is
  ``portal.gputime``: the one definition, shared with the idle detector of the metrics pages;
* ``prices``, ``windows``, ``months``: the price table, hour windows, month totals;
* ``live``: the hour so far (measured, never stored) for the team's cost page.
"""

from ._base import ChargebackError
from ._types import ClusterLabels, Measurements, UsageRow
from .collect import CollectResult, collect_gpu_usage, measure_usage
from .compute import attribute, compute_usage
from .fetch import billing_client, fetch_labels, fetch_usage, node_capacity_type
from .live import HourSoFar, team_hour_so_far
from .months import rows_total
from .prices import Offering, PriceTable, load_price_file
from .store import save_usage
from .windows import Window, split_windows, validate_period

__all__ = [
    "ChargebackError",
    "HourSoFar",
    "team_hour_so_far",
    "ClusterLabels",
    "CollectResult",
    "Measurements",
    "Offering",
    "PriceTable",
    "UsageRow",
    "Window",
    "attribute",
    "billing_client",
    "collect_gpu_usage",
    "compute_usage",
    "fetch_labels",
    "fetch_usage",
    "load_price_file",
    "measure_usage",
    "node_capacity_type",
    "rows_total",
    "save_usage",
    "split_windows",
    "validate_period",
]
