"""The series generator itself (no server): shapes, names, labels, ground truth, promtool."""

import shutil
import subprocess

import pytest

from tests.promdata import (
    TTFT_BUCKETS,
    Load,
    Node,
    Pod,
    Scenario,
    merge_target_labels,
    quantile_from_observations,
    sanitize_label_name,
)

T0 = 1_750_000_000


def scenario(**kw) -> Scenario:
    s = Scenario(T0, T0 + 2 * 3600, scrape_interval=60, seed=3, **kw)
    s.add_namespace("team-a", {"modelport.io/team": "a"})
    s.add_node(Node("n1", instance_type="g6e.xlarge", capacity_type="spot", gpus=2, gpu="L40S"))
    s.add_pod(
        Pod(
            "p1",
            "team-a",
            node="n1",
            gpus=1,
            created=T0,
            start=T0 + 300,
            end=T0 + 5400,
            isvc="m1",
            team="a",
            restarts=[(T0 + 3600, "OOMKilled")],
            load=Load("m1", requests_per_s=2),
        )
    )
    s.add_pod(
        Pod(
            "p2",
            "team-a",
            node="n1",
            gpus=1,
            start=T0,
            isvc="m2",
            load=Load("m2", metric_names="old"),
        )
    )
    return s


def test_is_deterministic():
    assert scenario().openmetrics() == scenario().openmetrics()


def test_openmetrics_shape():
    text = scenario().openmetrics()
    assert text.endswith("# EOF\n")
    assert "# TYPE vllm:generation_tokens counter\n" in text
    assert "# TYPE vllm:time_to_first_token_seconds histogram\n" in text
    assert (
        "vllm:time_to_first_token_seconds_bucket{" in text
        and 'le="+Inf"' in text
        and 'le="1.0"' in text
    )
    assert 'resource="nvidia_com_gpu"' in text and 'unit="integer"' in text
    assert 'label_karpenter_sh_capacity_type="spot"' in text
    assert 'label_node_kubernetes_io_instance_type="g6e.xlarge"' in text
    assert 'label_serving_kserve_io_inferenceservice="m1"' in text


@pytest.mark.skipif(
    not shutil.which("promtool"), reason="promtool not installed (apt-get install prometheus)"
)
def test_promtool_accepts_it(tmp_path):
    src = scenario().write(tmp_path / "s.om")
    res = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", src, str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr


def test_counters_are_monotonic_between_restarts_and_reset_at_restart():
    s = scenario()
    (gen,) = s.find("vllm:generation_tokens_total", pod="p1")
    values = [v for _, v in gen.samples]
    drops = [i for i in range(1, len(values)) if values[i] < values[i - 1]]
    assert len(drops) == 1 and gen.samples[drops[0]][0] >= T0 + 3600
    assert values[drops[0]] == 0
    # truth counts every token across the restart
    assert s.truth["p1"].generation_tokens == values[drops[0] - 1] + values[-1]


def test_histogram_buckets_are_cumulative_and_match_count():
    s = scenario()
    buckets = {
        ser.labels["le"]: ser.samples[-1][1]
        for ser in s.find("vllm:time_to_first_token_seconds_bucket", pod="p2")
    }
    les = [repr(b) for b in TTFT_BUCKETS] + ["+Inf"]
    assert list(sorted(buckets, key=lambda le: float(le.replace("+Inf", "inf")))) == les
    counts = [buckets[le] for le in les]
    assert counts == sorted(counts)
    (cnt,) = s.find("vllm:time_to_first_token_seconds_count", pod="p2")
    assert cnt.samples[-1][1] == counts[-1] == s.truth["p2"].requests


def test_old_and_new_vllm_names():
    s = scenario()
    assert s.find("vllm:kv_cache_usage_perc", pod="p1") and not s.find(
        "vllm:gpu_cache_usage_perc", pod="p1"
    )
    assert s.find("vllm:gpu_cache_usage_perc", pod="p2") and not s.find(
        "vllm:kv_cache_usage_perc", pod="p2"
    )
    assert s.find("vllm:time_per_output_token_seconds_sum", pod="p2")
    assert s.find("vllm:gpu_prefix_cache_hits_total", pod="p2")
    assert s.find("vllm:inter_token_latency_seconds_sum", pod="p1")


def test_ksm_pending_pod_has_no_node_label_and_truth_counts_scheduled_time():
    s = scenario()
    req = s.find("kube_pod_container_resource_requests", pod="p1", resource="nvidia_com_gpu")
    assert {ser.labels.get("node") for ser in req} == {None, "n1"}
    assert s.truth["p1"].gpu_seconds == 5100
    assert s.truth["p1"].restarts == 1
    (reason,) = s.find("kube_pod_container_status_last_terminated_reason", pod="p1")
    assert reason.labels["reason"] == "OOMKilled" and reason.samples[0][0] >= T0 + 3600


@pytest.mark.parametrize(("style", "pod_label"), [("exported", "exported_pod"), ("honor", "pod")])
def test_dcgm_attribution_styles(style, pod_label):
    s = scenario(dcgm_style=style)
    used = [ser for ser in s.find("DCGM_FI_DEV_FB_USED") if ser.labels.get(pod_label) == "p1"]
    assert len(used) == 1
    assert used[0].labels["gpu"] == str(s.truth["p1"].gpu_indices[0])
    assert {"UUID", "Hostname", "modelName", "gpu"} <= set(used[0].labels)


def test_gaps_remove_samples():
    s = Scenario(T0, T0 + 3600, scrape_interval=60, gaps=[(T0 + 600, T0 + 1200)])
    assert len(s.scrape_times()) == 50
    assert not [t for t in s.scrape_times() if T0 + 600 <= t < T0 + 1200]


def test_helpers():
    assert (
        sanitize_label_name("serving.kserve.io/inferenceservice")
        == "serving_kserve_io_inferenceservice"
    )
    assert merge_target_labels({"pod": "a", "gpu": "0"}, {"pod": "dcgm"}, honor_labels=False) == {
        "exported_pod": "a",
        "gpu": "0",
        "pod": "dcgm",
    }
    assert merge_target_labels({"pod": "a"}, {"pod": "dcgm"}, honor_labels=True) == {"pod": "a"}
    assert quantile_from_observations([1, 2, 3, 4], 0.5) == 2
