"""PromQL builders: raw-sample integrals over [start, end) windows, no subqueries."""

import pytest

from billing import queries


def test_range_is_one_ms_short_for_closed_ranges():
    assert queries.range_ms(3600) == "3599999ms"
    assert queries.range_ms(3600, left_open=True) == "3600000ms"
    assert queries.range_ms(90.5) == "90499ms"
    with pytest.raises(ValueError):
        queries.range_ms(0.001)


def test_pod_samples_sum_raw_samples_of_scheduled_pods():
    q = queries.pod_gpu_samples("3599999ms", 'cluster="prod"')
    assert q == (
        "sum by (namespace, pod, node) (sum_over_time(kube_pod_container_resource_requests"
        '{resource="nvidia_com_gpu",node!="",cluster="prod"}[3599999ms]))'
    )
    assert ":" not in q.split("[")[1]  # a range, not a subquery (no lookback can add time)


def test_busy_scales_gpu_util_percent_to_a_ratio():
    assert "/ 100" in queries.gpu_busy_samples("1h", metric="DCGM_FI_DEV_GPU_UTIL")
    assert "/ 100" not in queries.gpu_busy_samples("1h")
    assert "exported_pod" in queries.gpu_busy_samples("1h")


def test_tokens_kind_is_checked():
    assert "vllm:generation_tokens_total{}" in queries.token_increase("1h", kind="generation")
    with pytest.raises(ValueError):
        queries.token_increase("1h", kind="cached")
