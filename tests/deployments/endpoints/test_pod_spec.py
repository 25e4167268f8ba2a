"""What the predictor pod will look like once KServe v0.20 merges our InferenceService with the
upstream ClusterServingRuntime (pure: the merge is replayed here the way KServe does it, with
the runtime YAMLs of the kserve/kserve@v0.20.0 module when the Go module cache has them)."""

import copy
import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from deployments.endpoints import manifests
from deployments.workloads import sizing
from deployments.workloads.choices import DesiredState
from tests.deployments.endpoints.test_manifests import RUNTIME_ARGS
from tests.factories import CatalogModelFactory

KSERVE_MODULE = (
    Path(os.environ.get("GOMODCACHE", Path.home() / "go" / "pkg" / "mod"))
    / "github.com/kserve/kserve@v0.20.0"
)

# What both upstream LLM runtimes declare (config/runtimes/kserve-{huggingface,vllm}server.yaml).
RUNTIME_RESOURCES = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "1", "memory": "2Gi"},
}


def _runtime_container(runtime: str) -> dict:
    path = KSERVE_MODULE / "config" / "runtimes" / f"{runtime}.yaml"
    if path.exists():
        return yaml.safe_load(path.read_text())["spec"]["containers"][0]
    return {"name": "kserve-container", "resources": copy.deepcopy(RUNTIME_RESOURCES)}


def _merged_resources(runtime: dict, ours: dict) -> dict:
    """Strategic merge of two ResourceRequirements: maps merge key by key, ours win."""
    merged = copy.deepcopy(runtime.get("resources") or {})
    for part in ("requests", "limits"):
        merged.setdefault(part, {}).update(ours.get(part) or {})
    return merged


_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": Decimal("0.001")}


def quantity(value: str) -> Decimal:
    for suffix, factor in _SUFFIX.items():
        if value.endswith(suffix):
            return Decimal(value[: -len(suffix)]) * Decimal(factor)
    return Decimal(value)


@pytest.mark.parametrize("runtime", ["kserve-huggingfaceserver", "kserve-vllmserver"])
@pytest.mark.parametrize("gpus, quant", [(1, "bf16"), (1, "awq"), (2, "fp8"), (4, "bf16")])
def test_limits_cover_requests_after_kserves_merge(golden_endpoint, settings, runtime, gpus, quant):
    settings.VLLM_RUNTIME = runtime
    golden_endpoint.gpu_count, golden_endpoint.quantization = gpus, quant
    ours = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["model"]["resources"]
    merged = _merged_resources(_runtime_container(runtime), ours)
    for resource in ("cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"):
        assert quantity(merged["requests"][resource]) <= quantity(merged["limits"][resource])
    # Guaranteed QoS: limits equal requests.
    assert merged["requests"] == merged["limits"]


def test_runtime_flags_are_read_from_the_upstream_runtime():
    """The flags we must not repeat are the ones the v0.20 runtimes really pass."""
    if not KSERVE_MODULE.exists():
        pytest.skip("kserve/kserve@v0.20.0 is not in the Go module cache (tools/fetch-crds.sh)")
    hf = _runtime_container("kserve-huggingfaceserver")
    vllm = _runtime_container("kserve-vllmserver")
    # Exactly these: the Hugging Face runtime names no served model for vLLM (we render it).
    assert hf["args"] == RUNTIME_ARGS["kserve-huggingfaceserver"]
    assert vllm["args"] == RUNTIME_ARGS["kserve-vllmserver"]
    assert hf["resources"]["limits"] == vllm["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}


def test_memory_covers_shm_and_host_side_loading(golden_endpoint):
    res = manifests.pod_resources(golden_endpoint)
    isvc = manifests.inference_service(golden_endpoint)
    [shm] = isvc["spec"]["predictor"]["volumes"]
    assert shm == {"name": "devshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
    # /dev/shm (medium Memory) counts against the container's memory limit.
    assert res.memory_gib >= res.shm_gib + sizing.MEMORY_BASE_GIB
    limits = isvc["spec"]["predictor"]["model"]["resources"]["limits"]
    assert limits["memory"] == f"{res.memory_gib}Gi"


def test_tensor_parallel_gets_more_shm():
    one = sizing.pod_resources(8.03, "bf16", 1)
    four = sizing.pod_resources(70.6, "bf16", 4)
    assert four.shm_gib > one.shm_gib and four.memory_gib > one.memory_gib


def test_ephemeral_storage_holds_the_download():
    res = sizing.pod_resources(70.6, "bf16", 4)
    assert res.ephemeral_gib >= 2 * res.weights_gib  # repos often carry a second copy


def test_fp8_downloads_the_16_bit_checkpoint():
    assert (
        sizing.pod_resources(8.03, "fp8", 1).weights_gib
        == sizing.pod_resources(8.03, "bf16", 1).weights_gib
    )
    assert sizing.pod_resources(8.03, "awq", 1).weights_gib < 5


def test_startup_allowance_covers_a_multi_minute_load():
    small = sizing.pod_resources(7.62, "bf16", 1)
    big = sizing.pod_resources(70.6, "bf16", 4)
    assert 180 <= small.load_seconds <= 300  # 3-5 minutes for a 7B model
    assert small.startup_seconds >= 2 * small.load_seconds
    assert big.load_seconds > small.load_seconds and big.startup_seconds >= 2 * big.load_seconds


def test_startup_probe_allows_the_estimate(golden_endpoint, settings):
    for runtime in ("kserve-huggingfaceserver", "kserve-vllmserver"):
        settings.VLLM_RUNTIME = runtime
        model = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["model"]
        probe = model["startupProbe"]
        allowed = probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"]
        assert allowed >= manifests.pod_resources(golden_endpoint).startup_seconds
        assert probe["httpGet"]["port"] == 8080


def test_huggingface_runtime_gets_a_readiness_probe(golden_endpoint):
    model = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["model"]
    assert model["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}


# --- day 2 without restarts ------------------------------------------------------------------


def _pod_facing(isvc):
    """What KServe copies into the Deployment's pod template: the InferenceService's labels and
    annotations and the whole predictor spec."""
    return {
        "labels": isvc["metadata"]["labels"],
        "annotations": isvc["metadata"]["annotations"],
        "predictor": isvc["spec"]["predictor"],
    }


@pytest.mark.parametrize(
    "change",
    [
        {"min_replicas": 2, "max_replicas": 6},
        {"target_queue_depth": 12},
        {"generation": 9},
        {"schedule_enabled": True},
    ],
)
def test_scale_and_queue_target_do_not_touch_the_pod_template(scheduled, change):
    scheduled.schedule_enabled = False
    before = _pod_facing(manifests.inference_service(scheduled))
    so_before = manifests.scaled_object(scheduled)
    for field, value in change.items():
        setattr(scheduled, field, value)
    assert _pod_facing(manifests.inference_service(scheduled)) == before
    assert manifests.scaled_object(scheduled) != so_before or "generation" in change


def test_stop_changes_only_the_stop_annotation(golden_endpoint):
    before = manifests.inference_service(golden_endpoint)
    golden_endpoint.desired_state = DesiredState.STOPPED
    after = manifests.inference_service(golden_endpoint)
    assert after["spec"] == before["spec"]
    changed = {
        k
        for k in after["metadata"]["annotations"]
        if after["metadata"]["annotations"][k] != before["metadata"]["annotations"].get(k)
    }
    assert changed == {"serving.kserve.io/stop"}


def test_a_model_change_changes_the_pod_template(golden_endpoint):
    before = _pod_facing(manifests.inference_service(golden_endpoint))
    golden_endpoint.max_context_length = 16384
    assert _pod_facing(manifests.inference_service(golden_endpoint)) != before


def test_rollouts_never_surge_beyond_the_quota(golden_endpoint):
    strategy = manifests.inference_service(golden_endpoint)["spec"]["predictor"][
        "deploymentStrategy"
    ]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }


# --- autoscaling that does not flap ----------------------------------------------------------


def test_scale_down_waits_at_least_one_cold_start(golden_endpoint):
    so = manifests.scaled_object(golden_endpoint)
    behavior = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    window = behavior["scaleDown"]["stabilizationWindowSeconds"]
    assert window >= manifests.cold_start_seconds(golden_endpoint) >= 300


def test_prewarm_and_window_follow_the_model_size_and_the_measured_cold_start(scheduled):
    assert manifests.prewarm_minutes(scheduled) == 15  # estimate 735 s for 8B bf16
    big = CatalogModelFactory(parameters_b=Decimal("70.6"), num_attention_heads=64)
    scheduled.model, scheduled.gpu_count = big, 4
    assert manifests.prewarm_minutes(scheduled) == 40  # estimate 2251 s
    scheduled.cold_start_seconds = 1500  # measured
    assert manifests.prewarm_minutes(scheduled) == 25
    assert manifests.schedule_window(scheduled)[0] == "35 7 * * 1-5"
    assert manifests.scale_down_window_seconds(scheduled) == 1500


def test_stopped_pauses_autoscaling(golden_endpoint):
    golden_endpoint.desired_state = DesiredState.STOPPED
    so = manifests.scaled_object(golden_endpoint)
    assert so["metadata"]["annotations"]["autoscaling.keda.sh/paused"] == "true"


# --- spot -------------------------------------------------------------------------------------


def test_serving_pods_ask_karpenter_not_to_disrupt_them(golden_endpoint):
    predictor = manifests.inference_service(golden_endpoint)["spec"]["predictor"]
    assert predictor["annotations"]["karpenter.sh/do-not-disrupt"] == "true"


def test_pdb_only_when_more_than_one_replica(golden_endpoint):
    kinds = [o["kind"] for o in manifests.endpoint_objects(golden_endpoint)]
    assert "PodDisruptionBudget" in kinds and manifests.unwanted_objects(golden_endpoint) == []
    pdb = manifests.pod_disruption_budget(golden_endpoint)
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"modelport.io/endpoint-uuid": str(golden_endpoint.uuid)}},
    }
    # the selector matches the pods: KServe copies predictor labels into the pod template
    labels = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    golden_endpoint.max_replicas = golden_endpoint.min_replicas = 1
    assert "PodDisruptionBudget" not in [
        o["kind"] for o in manifests.endpoint_objects(golden_endpoint)
    ]
    assert [o["kind"] for o in manifests.unwanted_objects(golden_endpoint)] == [
        "PodDisruptionBudget"
    ]
    assert "PodDisruptionBudget" in [
        o["kind"] for o in manifests.removable_objects(golden_endpoint)
    ]


def test_spot_fallback_prefers_spot_and_allows_on_demand(golden_endpoint):
    golden_endpoint.capacity_type = "spot"
    predictor = manifests.inference_service(golden_endpoint)["spec"]["predictor"]
    assert predictor["nodeSelector"]["karpenter.sh/capacity-type"] == "spot"
    assert "affinity" not in predictor
    golden_endpoint.spot_fallback_on_demand = True
    predictor = manifests.inference_service(golden_endpoint)["spec"]["predictor"]
    assert "karpenter.sh/capacity-type" not in predictor["nodeSelector"]
    node = predictor["affinity"]["nodeAffinity"]
    [required] = node["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert required["matchExpressions"] == [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot", "on-demand"]}
    ]
    [preferred] = node["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["preference"]["matchExpressions"][0]["values"] == ["spot"]


def test_fallback_is_ignored_for_on_demand(golden_endpoint):
    golden_endpoint.spot_fallback_on_demand = True
    predictor = manifests.inference_service(golden_endpoint)["spec"]["predictor"]
    assert predictor["nodeSelector"]["karpenter.sh/capacity-type"] == "on-demand"
    assert "affinity" not in predictor
