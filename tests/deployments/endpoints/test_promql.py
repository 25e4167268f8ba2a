"""The PromQL text of the metric layer (deployments.endpoints.promql): selectors, query
batching (a page costs one query per signal, whatever the endpoint count), vLLM renames, both
DCGM label styles and the window presets. Pure strings; no server."""

import pytest

from deployments.endpoints import promql


# ---------------------------------------------------------------------------------- selectors
def test_one_endpoint_uses_exact_matchers():
    assert promql.key_selector([("mp-a", "chat")]) == 'namespace="mp-a",model_name="chat"'


def test_many_endpoints_use_one_escaped_alternation():
    sel = promql.key_selector([("mp-a", "chat"), ("mp-b", "code.v2")])
    assert sel == 'namespace=~"mp\\\\-a|mp\\\\-b",model_name=~"chat|code\\\\.v2"'


def test_no_endpoints_is_refused():
    with pytest.raises(ValueError):
        promql.key_selector([])


def test_overview_is_seven_queries_whatever_the_endpoint_count():
    few = promql.overview_queries([("mp-a", "e0")], promql.WINDOWS["1h"])
    many = promql.overview_queries([("mp-a", f"e{i}") for i in range(500)], promql.WINDOWS["1h"])
    assert len(few) == len(many) == 7
    held = many.pop("gpu_hours")  # raw samples, integrated in Python (portal.gputime)
    assert held.startswith("kube_pod_container_resource_requests{") and held.endswith("ms]")
    assert all("by (namespace, model_name" in q for q in many.values())


def test_every_chart_query_groups_by_endpoint():
    queries = promql.chart_queries([("mp-a", "chat")], promql.WINDOWS["6h"])
    assert set(queries) == set(promql.SIGNALS_BY_KEY)
    assert all("namespace, model_name" in q for q in queries.values())


def test_renamed_metrics_are_queried_under_both_names():
    queries = promql.chart_queries([("mp-a", "chat")], promql.WINDOWS["1h"])
    assert "vllm:kv_cache_usage_perc" in queries["kv_cache_usage"]
    assert "vllm:gpu_cache_usage_perc" in queries["kv_cache_usage"]
    assert "vllm:time_per_output_token_seconds_bucket" in queries["itl_p95_s"]
    assert "vllm:gpu_prefix_cache_hits_total" in queries["prefix_cache_hit_rate"]


def test_gpu_queries_read_both_dcgm_label_styles():
    q = promql.chart_queries([("mp-a", "chat")], promql.WINDOWS["1h"])["gpu_util"]
    assert 'exported_namespace="mp-a"' in q and 'namespace="mp-a",pod!=""' in q
    assert "DCGM_FI_PROF_GR_ENGINE_ACTIVE" in q and "DCGM_FI_DEV_GPU_UTIL" in q


# ---------------------------------------------------------------------------------- windows
@pytest.mark.parametrize("key,points", [("1h", 120), ("6h", 180), ("24h", 144), ("7d", 168)])
def test_window_presets_give_a_readable_number_of_points(key, points):
    w = promql.WINDOWS[key]
    assert w.seconds // w.step == points


def test_unknown_window_key_falls_back_to_one_hour():
    assert promql.get_window("9y").key == "1h"
