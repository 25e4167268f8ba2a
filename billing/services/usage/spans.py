"""GPU time from the samples themselves (pure; docs/chargeback.md "How GPU time is measured").

A sample of a gauge such as ``kube_pod_container_resource_requests`` stands for the time from
its timestamp to the next sample of the same series: the *span* of the sample. The rules:

* ``m``, the observed interval of a series, is the median of the gaps between its samples.
* A gap up to ``GAP_CAP_INTERVALS × m`` is filled: the sample spans it (jitter, missed scrapes,
  a Prometheus restart, a mix of intervals per target are all exact).
* A longer gap means the series stopped and started again: the sample before it spans ``m``.
* The last sample of a series (a pod deleted, a node gone, or simply the end of the data) spans
  ``m``.
* A series with a single sample has no gaps; it spans the median of the observed intervals of
  the other series of the same metric (0 when no series has two samples).

No setting is involved: the scrape interval is read from the data, per series.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime
from statistics import median

GAP_CAP_INTERVALS = 10  # gaps up to 10 observed intervals (9 missed scrapes in a row) are filled

Samples = list[tuple[float, float]]  # (unix seconds, value), sorted by time


def observed_interval(samples: Samples) -> float | None:
    """The median gap between consecutive samples (None with fewer than two)."""
    gaps = [b[0] - a[0] for a, b in zip(samples, samples[1:], strict=False) if b[0] > a[0]]
    return median(gaps) if gaps else None


def sample_spans(samples: Samples, interval: float) -> list[float]:
    """The span in seconds of each sample of one series whose observed interval is
    ``interval`` (rules in the module docstring)."""
    cap = GAP_CAP_INTERVALS * interval
    spans = []
    for a, b in zip(samples, samples[1:], strict=False):
        gap = b[0] - a[0]
        spans.append(gap if gap <= cap else interval)
    if samples:
        spans.append(interval)
    return spans


def integrate(
    series: Iterable[tuple[dict, Samples]],
    key: Callable[[dict], object],
    bounds: list[float],
    cuts: list[list[float]] | None = None,
) -> tuple[list[dict], list[list[dict]]]:
    """Σ value × span per window and key.

    ``series``: (labels, samples sorted by time), samples may reach past the last window (they
    only end spans); ``bounds``: the window edges ``[w0.start, w0.end = w1.start, ..., wN.end]``
    in unix seconds. A sample counts, with its whole span, in the window holding its timestamp.
    ``cuts[i]``: times inside window ``i`` (price changes); the second result holds, per window
    and cut, the cumulative sum of the samples before that cut.
    """
    series = list(series)
    n = len(bounds) - 1
    out: list[dict] = [{} for _ in range(n)]
    cuts = cuts or [[] for _ in range(n)]
    upto: list[list[dict]] = [[{} for _ in c] for c in cuts]
    intervals = [observed_interval(s) for _, s in series]
    known = [i for i in intervals if i is not None]
    fallback = median(known) if known else 0.0
    first, last = bounds[0], bounds[-1]
    for (labels, samples), interval in zip(series, intervals, strict=True):
        k = key(labels)
        for (t, value), span in zip(
            samples, sample_spans(samples, interval or fallback), strict=True
        ):
            if t < first or t >= last or not value:
                continue
            i = bisect_right(bounds, t) - 1
            amount = value * span
            out[i][k] = out[i].get(k, 0.0) + amount
            for j, cut in enumerate(cuts[i]):
                if t < cut:
                    upto[i][j][k] = upto[i][j].get(k, 0.0) + amount
    return out, upto


def to_unix(times: Iterable[datetime]) -> list[float]:
    return [t.timestamp() for t in times]
