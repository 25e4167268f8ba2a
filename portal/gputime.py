"""GPU time held, from the samples themselves: the one definition used by the whole code base
(billing's statements and the idle detector of the metrics pages; docs/chargeback.md "How GPU
time is measured"). Pure: no HTTP, no ORM.

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

No setting is involved: the scrape interval is read from the data, per series. The arithmetic
runs over whole slices (``map``/``sum`` over the sample lists, a ``bisect`` per window edge
rather than per sample), so a month of 1-minute samples integrates in well under a second.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime

GAP_CAP_INTERVALS = 10  # gaps up to 10 observed intervals (9 missed scrapes in a row) are filled

Samples = list[tuple[float, float]]  # (unix seconds, value), sorted by time


def _gaps(times: list[float]) -> list[float]:
    return list(map(operator.sub, times[1:], times[:-1]))


def _median(counts: Counter) -> float:
    """The median of a multiset given as value counts (the same as statistics.median)."""
    n = sum(counts.values())
    lo_rank, hi_rank = (n - 1) // 2, n // 2
    seen, lo = 0, None
    for value in sorted(counts):
        seen += counts[value]
        if lo is None and seen > lo_rank:
            lo = value
        if seen > hi_rank:
            return (lo + value) / 2 if lo != value else value
    raise ValueError("median of no values")


def _interval(gaps: list[float]) -> float | None:
    """The median of the positive gaps (None when there is none)."""
    counts = Counter(gaps)
    for gap in [g for g in counts if g <= 0]:
        del counts[gap]
    return _median(counts) if counts else None


def observed_interval(samples: Samples) -> float | None:
    """The median gap between consecutive samples (None with fewer than two)."""
    return _interval(_gaps([t for t, _ in samples]))


def sample_spans(samples: Samples, interval: float) -> list[float]:
    """The span in seconds of each sample of one series whose observed interval is
    ``interval`` (rules in the module docstring)."""
    return _spans(_gaps([t for t, _ in samples]), interval) if samples else []


def _spans(gaps: list[float], interval: float) -> list[float]:
    """Spans of a series' samples from its gaps (one fewer than its samples)."""
    cap = GAP_CAP_INTERVALS * interval
    spans = gaps if not gaps or max(gaps) <= cap else [g if g <= cap else interval for g in gaps]
    return [*spans, interval]


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
    and cut, the cumulative sum of the samples before that cut. A key appears in a window only
    when one of its samples there has a value other than 0.
    """
    columns = [(labels, *zip(*s, strict=True)) for labels, s in series if s]
    gaps = [_gaps(times) for _, times, _ in columns]
    intervals = [_interval(g) for g in gaps]
    known = Counter(i for i in intervals if i is not None)
    fallback = _median(known) if known else 0.0
    n = len(bounds) - 1
    out: list[dict] = [{} for _ in range(n)]
    cuts = cuts or [[] for _ in range(n)]
    upto: list[list[dict]] = [[{} for _ in c] for c in cuts]
    for (labels, times, values), g, interval in zip(columns, gaps, intervals, strict=True):
        amounts = list(map(operator.mul, values, _spans(g, interval or fallback)))
        _add_series(key(labels), times, values, amounts, bounds, cuts, out, upto)
    return out, upto


def _add_series(k, times, values, amounts, bounds, cuts, out, upto) -> None:
    """Add one series' amounts to every window (and cut) its samples fall in."""
    first_w = max(0, bisect_right(bounds, times[0]) - 1)
    last_w = min(len(bounds) - 2, bisect_right(bounds, times[-1]) - 1)
    lo = bisect_left(times, bounds[first_w])
    for i in range(first_w, last_w + 1):
        hi = bisect_left(times, bounds[i + 1], lo)
        if hi > lo and any(values[lo:hi]):
            out[i][k] = out[i].get(k, 0.0) + sum(amounts[lo:hi])
            for j, cut in enumerate(cuts[i]):
                c = bisect_left(times, cut, lo, hi)
                if c > lo and any(values[lo:c]):
                    upto[i][j][k] = upto[i][j].get(k, 0.0) + sum(amounts[lo:c])
        lo = hi


def held_seconds(
    series: Iterable[tuple[dict, Samples]], key: Callable[[dict], object], start: float, end: float
) -> dict:
    """Σ value × span per key for the samples in ``[start, end)``: GPU-seconds held when the
    series are GPU requests (one window of :func:`integrate`)."""
    return integrate(series, key, [start, end])[0][0]


def to_unix(times: Iterable[datetime]) -> list[float]:
    return [t.timestamp() for t in times]


Run = tuple[int, int, int, float]  # portal/promchunks.py: (first ms, step ms, samples, value)


def integrate_runs(
    series: Iterable[tuple[dict, list[Run]]],
    key: Callable[[dict], object],
    bounds: list[float],
    cuts: list[list[float]] | None = None,
) -> tuple[list[dict], list[list[dict]]]:
    """:func:`integrate` over series given as runs (``n`` samples ``t0 + k*d`` of one value,
    millisecond timestamps): the same rules and the same result, without a sample per loop.

    Inside a run every gap is ``d``, so its samples' spans are ``d`` (or ``m`` past the cap)
    but the last one's, which is the gap to the next run; the median gap is taken from gap
    counts. A run of a thousand regular samples costs what one sample costs."""
    integrator = RunIntegrator(key, bounds, cuts)
    for labels, runs in series:
        integrator.add(labels, runs)
    return integrator.result()


class RunIntegrator:
    """:func:`integrate_runs` fed one series at a time, as a stream decodes them: a series with
    gaps of its own is integrated when it is added; one with a single sample waits for
    :meth:`result`, since its span is the median of the others' intervals."""

    def __init__(
        self, key: Callable[[dict], object], bounds: list[float], cuts: list[list[float]] | None
    ):
        n = len(bounds) - 1
        cuts = cuts or [[] for _ in range(n)]
        self._key = key
        self._out: list[dict] = [{} for _ in range(n)]
        self._upto: list[list[dict]] = [[{} for _ in c] for c in cuts]
        self._bounds_ms = [b * 1000 for b in bounds]
        self._cuts_ms = [[c * 1000 for c in cs] for cs in cuts]
        self._known: Counter = Counter()  # the observed intervals (s) of the series so far
        self._waiting: list[tuple[dict, list[Run]]] = []

    def add(self, labels: dict, runs: list[Run]) -> None:
        if not runs:
            return
        if len(runs) == 1 and runs[0][1] > 0 and runs[0][2] > 1:
            interval = runs[0][1] / 1000  # one regular run (most series): its step
        else:
            gaps = _run_gaps(runs)
            if not gaps:
                self._waiting.append((labels, runs))
                return
            interval = _median(gaps) / 1000
        self._known[interval] += 1
        self._add_series(labels, runs, interval)

    def result(self) -> tuple[list[dict], list[list[dict]]]:
        """(per window {key: Σ value × span}, per window and cut the sums before it), as
        :func:`integrate` gives them. Call once, after the last series."""
        fallback = _median(self._known) if self._known else 0.0
        for labels, runs in self._waiting:
            self._add_series(labels, runs, fallback)
        self._waiting = []
        return self._out, self._upto

    def _add_series(self, labels: dict, runs: list[Run], interval: float) -> None:
        m = interval * 1000
        cap = GAP_CAP_INTERVALS * m
        k = self._key(labels)
        bounds_ms, cuts_ms, out, upto = self._bounds_ms, self._cuts_ms, self._out, self._upto
        for j, (t0, d, count, value) in enumerate(runs):
            if not value:
                continue
            inner = d if d <= cap else m
            if j + 1 < len(runs):
                gap = runs[j + 1][0] - (t0 + (count - 1) * d)
                last = gap if gap <= cap else m
            else:
                last = m
            _add_run(k, t0, d, count, value, inner, last, bounds_ms, cuts_ms, out, upto)


def _run_gaps(runs: list[Run]) -> Counter:
    """The positive gaps of a series given as runs, as counts (ms)."""
    counts: Counter = Counter()
    for j, (t0, d, count, _) in enumerate(runs):
        if count > 1 and d > 0:
            counts[d] += count - 1
        if j + 1 < len(runs):
            gap = runs[j + 1][0] - (t0 + (count - 1) * d)
            if gap > 0:
                counts[gap] += 1
    return counts


def _add_run(k, t0, d, count, value, inner, last, bounds_ms, cuts_ms, out, upto) -> None:
    """Add one run's amounts (value x span, seconds) to every window and cut it falls in.
    Sample ``j`` of the run is at ``t0 + j*d``; the samples before time ``t`` number
    ``ceil((t - t0) / d)`` (clamped to the run)."""
    t_last = t0 + (count - 1) * d
    first_w = max(0, bisect_right(bounds_ms, t0) - 1)
    last_w = min(len(bounds_ms) - 2, bisect_right(bounds_ms, t_last) - 1)
    end = count - 1  # index of the run's last sample (its span is ``last``)
    lo = _before(bounds_ms[first_w], t0, d, count)
    for i in range(first_w, last_w + 1):
        hi = _before(bounds_ms[i + 1], t0, d, count)
        if hi > lo:
            spans = (min(hi, end) - lo) * inner if lo < end else 0
            if hi > end:
                spans += last
            window = out[i]
            window[k] = window.get(k, 0.0) + value * spans / 1000
            for j, cut in enumerate(cuts_ms[i]):
                c = min(_before(cut, t0, d, count), hi)
                if c > lo:
                    spans = (min(c, end) - lo) * inner if lo < end else 0
                    if c > end:
                        spans += last
                    upto[i][j][k] = upto[i][j].get(k, 0.0) + value * spans / 1000
        lo = hi


def _before(t: float, t0: int, d: int, count: int) -> int:
    """How many samples of the run ``t0 + j*d`` (``count`` of them) are before ``t``."""
    if t <= t0:
        return 0
    if d == 0:
        return 1
    n = int(-((t0 - t) // d))
    return n if n < count else count
