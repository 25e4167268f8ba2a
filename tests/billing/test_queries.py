"""PromQL builders: raw-sample integrals over [start, end) windows, no subqueries."""

import pytest

from billing import queries

pytestmark = pytest.mark.dates


def test_range_is_one_ms_short_for_closed_ranges():
    assert queries.range_ms(3600) == "3599999ms"
    assert queries.range_ms(3600, left_open=True) == "3600000ms"
    assert queries.range_ms(90.5) == "90499ms"
    with pytest.raises(ValueError):
        queries.range_ms(0.001)


def test_gpu_selectors_are_bare_raw_samples_of_scheduled_pods():
    q = queries.pod_gpu_requests('cluster="prod"')
    assert q == (
        'kube_pod_container_resource_requests{resource="nvidia_com_gpu",node!="",cluster="prod"}'
    )
    assert "(" not in q  # no function: every stored sample comes back, nothing is looked back
    assert queries.gpu_busy(metric="DCGM_FI_DEV_GPU_UTIL") == "DCGM_FI_DEV_GPU_UTIL{}"


def test_tokens_kind_is_checked():
    assert "vllm:generation_tokens_total{}" in queries.token_increase("1h", kind="generation")
    with pytest.raises(ValueError):
        queries.token_increase("1h", kind="cached")


def test_both_token_kinds_come_in_one_query_labelled_by_kind():
    selector = 'cluster="prod"'
    prompt, generation = queries.token_increases("1h", selector).split(" or ")
    alone = queries.token_increase("1h", selector, "prompt")
    assert prompt == f'label_replace({alone}, "token_kind", "prompt", "", "")'
    assert "vllm:generation_tokens_total" in generation and '"generation"' in generation
