"""Pure parts of the metric layer: quantiles from buckets, SLO states, trends, chart ranges,
window bounds and the idle rule (no server; the PromQL text is tested in test_promql.py)."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from deployments.endpoints import metrics, promql
from portal.templatetags.metrics import metric, sparkline_points


# ---------------------------------------------------------------------------------- quantiles
def test_quantile_interpolates_inside_the_bucket():
    # 10 observations <= 0.1, 10 more <= 0.5: the median sits at the top of the first bucket,
    # p75 half way through the second
    buckets = {0.1: 10, 0.5: 20, math.inf: 20}
    assert metrics.histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert metrics.histogram_quantile(0.75, buckets) == pytest.approx(0.3)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound():
    assert metrics.histogram_quantile(0.99, {1.0: 1, 2.0: 2, math.inf: 10}) == 2.0


def test_quantile_of_nothing_is_none():
    assert metrics.histogram_quantile(0.5, {0.1: 0, math.inf: 0}) is None
    assert metrics.histogram_quantile(0.5, {}) is None


def test_quantile_repairs_non_monotonic_buckets():
    assert metrics.histogram_quantile(0.5, {0.1: 10, 0.5: 9, math.inf: 20}) == pytest.approx(0.1)


# ---------------------------------------------------------------------------------- SLOs
@pytest.mark.parametrize(
    "value,state",
    [
        (None, "no_data"),
        (float("nan"), "no_data"),
        (0.5, "met"),
        (1.6, "met"),
        (1.61, "at_risk"),
        (2.0, "at_risk"),
        (2.01, "breached"),
    ],
)
def test_slo_states(value, state):
    assert metrics.evaluate_slo(value, 2.0) == state


def test_slo_block_reads_ttft_and_error_rate():
    block = metrics.slo_block({"ttft_p95_s": 0.4, "error_rate": 0.05}, 2.0, 0.01)
    assert [(b["name"], b["state"]) for b in block] == [
        ("Time to first token p95", "met"),
        ("Error rate", "breached"),
    ]


# ---------------------------------------------------------------------------------- trends
def test_trend_compares_the_last_point_with_the_first_quarter():
    t = metrics.trend([(i, v) for i, v in enumerate([10, 10, 10, 10, 12, 14, 16, 20])])
    assert t["current"] == 20 and t["direction"] == "up" and t["change"] == pytest.approx(1.0)


def test_trend_ignores_gaps_and_handles_no_data():
    assert metrics.trend([(0, None), (1, None)])["current"] is None
    t = metrics.trend([(0, 5.0), (1, None), (2, 5.1)])
    assert t["direction"] == "flat" and t["current"] == 5.1


def test_range_ends_at_most_five_seconds_ago_on_a_shared_grid():
    w = promql.WINDOWS["6h"]
    now = datetime(2026, 1, 1, 12, 3, 59, tzinfo=UTC)
    start, end = metrics.range_bounds(w, now)
    assert end % 5 == 0 and 0 <= now.timestamp() - end < 5 and end - start == w.seconds
    assert metrics.range_bounds(w, now - timedelta(seconds=3)) == (start, end)


def test_window_bounds_parse_iso_and_default_to_the_last_hour():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert metrics.parse_window_bounds(None, None, now) == (now - timedelta(hours=1), now)
    start, end = metrics.parse_window_bounds(
        "2026-01-01T10:00:00", "2026-01-01T12:30:00+01:00", now
    )
    assert start == datetime(2026, 1, 1, 10, tzinfo=UTC)  # no offset: UTC
    assert end == datetime(2026, 1, 1, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "start,end,message",
    [
        ("soon", None, "start is not an ISO 8601"),
        ("2026-01-01T10:00:00Z", "2026-01-01T09:00:00Z", "end must be after start"),
        ("2025-11-01T00:00:00Z", "2026-01-01T00:00:00Z", "at most 31 days"),
    ],
)
def test_bad_window_bounds_say_what_is_wrong(start, end, message):
    with pytest.raises(ValueError, match=message):
        metrics.parse_window_bounds(start, end, datetime(2026, 1, 1, 12, tzinfo=UTC))


# ---------------------------------------------------------------------------------- idle
def test_idle_needs_gpus_held_and_almost_no_tokens():
    w = promql.WINDOWS["24h"]
    assert metrics.is_idle(gpu_hours=24, tokens=0, window=w)
    assert metrics.is_idle(gpu_hours=24, tokens=2000, window=w)  # 83 tokens per GPU-hour
    assert not metrics.is_idle(gpu_hours=24, tokens=10_000, window=w)
    assert not metrics.is_idle(gpu_hours=1, tokens=0, window=w)  # held for under a quarter
    assert not metrics.is_idle(gpu_hours=None, tokens=0, window=w)


def test_token_total_integrates_rate_points():
    assert metrics.token_total([(0, 2.0), (60, None), (120, 4.0)], 60) == 360.0


# ---------------------------------------------------------------------------------- formatting
@pytest.mark.parametrize(
    "value,unit,text",
    [
        (397.13, "tokens/s", "397 tokens/s"),
        (3.456, "req/s", "3.46 req/s"),
        (0.4262, "s", "426 ms"),
        (2.5, "s", "2.50 s"),
        (0.4, "ratio", "40.0 %"),
        (3.0, "count", "3"),
        (None, "s", "—"),
        ("", "s", "—"),
        (float("nan"), "ratio", "—"),
        (1.66, "gpu-h", "1.7 GPU-h"),
    ],
)
def test_metric_filter(value, unit, text):
    assert metric(value, unit) == text


def test_sparkline_needs_two_points():
    assert sparkline_points([1.0]) == ""
    assert sparkline_points([0.0, 1.0], "10x10").split() == ["0.0,8.0", "10.0,2.0"]


def test_overview_row_escapes_labels_that_come_from_prometheus():
    from portal.templatetags.metrics import overview_row

    html = overview_row(
        {
            "endpoint": None,
            "key": 'mp-a/<script>x</script>"',
            "metrics": {"idle": True},
            "ttft_state": "no_data",
            "error_state": "no_data",
        }
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'class="is-idle"' in html and "not in portal" in html
