"""Manifests: golden files, CRD schema validation, and the status mapping (all pure)."""

from datetime import time

import jsonschema
import pytest
import yaml

from deployments.endpoints import manifests, observe, promql
from deployments.endpoints.choices import EndpointStatus
from deployments.workloads.choices import DesiredState
from tests.deployments.conftest import crd_validator

pytestmark = pytest.mark.dates


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


# --- golden files --------------------------------------------------------------------------------


def test_default_endpoint_matches_golden(golden_endpoint, golden):
    golden("endpoint_default.yaml", manifests.manifest_yaml(golden_endpoint))


def test_vllm_runtime_awq_tp2_matches_golden(golden_endpoint, golden, settings):
    settings.VLLM_RUNTIME = "kserve-vllmserver"
    ep = golden_endpoint
    ep.quantization, ep.kv_cache_dtype, ep.gpu_count = "awq", "fp8", 2
    golden("endpoint_vllm_awq_tp2.yaml", manifests.manifest_yaml(ep))


def test_stopped_endpoint_matches_golden(golden_endpoint, golden):
    golden_endpoint.desired_state = DesiredState.STOPPED
    golden("endpoint_stopped.yaml", manifests.manifest_yaml(golden_endpoint))


def test_scheduled_endpoint_matches_golden(scheduled, golden):
    golden("endpoint_scheduled.yaml", manifests.manifest_yaml(scheduled))


# --- CRD schemas (the real KServe v0.20 / KEDA CRDs, unknown fields rejected) -------------------


def _validate(obj, group, plural, version):
    validator = crd_validator(group, plural, version)
    if validator is None:
        pytest.skip(f"{plural}.{group} CRD not available (run tools/fetch-crds.sh)")
    validator.validate(obj)


@pytest.mark.parametrize(
    "variant", ["default", "stopped", "scheduled", "vllm-awq", "fp8", "spot-fallback", "public"]
)
def test_rendered_objects_validate_against_their_crds(scheduled, settings, variant):
    ep = scheduled
    if variant == "stopped":
        ep.desired_state = DesiredState.STOPPED
    elif variant == "default":
        ep.schedule_enabled = False
    elif variant == "vllm-awq":
        settings.VLLM_RUNTIME = "kserve-vllmserver"
        ep.quantization, ep.gpu_count = "awq", 4
    elif variant == "fp8":
        ep.quantization, ep.kv_cache_dtype = "fp8", "fp8"
    elif variant == "spot-fallback":
        ep.capacity_type, ep.spot_fallback_on_demand = "spot", True
    elif variant == "public":
        ep.model.gated = False
    objs = _by_kind(manifests.render(ep))
    _validate(objs["InferenceService"], "serving.kserve.io", "inferenceservices", "v1beta1")
    _validate(objs["ScaledObject"], "keda.sh", "scaledobjects", "v1alpha1")


def test_schema_check_would_catch_a_misspelt_field(golden_endpoint):
    validator = crd_validator("serving.kserve.io", "inferenceservices", "v1beta1")
    isvc = manifests.inference_service(golden_endpoint)
    validator.validate(isvc)
    isvc["spec"]["predictor"]["nodeSelectr"] = {"a": "b"}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(isvc)


# --- content --------------------------------------------------------------------------------------


def test_every_object_carries_the_managed_by_and_team_labels(golden_endpoint):
    for obj in manifests.render(golden_endpoint):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "modelport"
        assert labels["modelport.io/team"] == "search"
    isvc = manifests.inference_service(golden_endpoint)
    pod_labels = isvc["spec"]["predictor"]["labels"]
    assert pod_labels["modelport.io/endpoint"] == "chat"
    assert pod_labels["modelport.io/endpoint-uuid"] == str(golden_endpoint.uuid)


def test_isvc_annotations_and_vllm_args(golden_endpoint):
    isvc = manifests.inference_service(golden_endpoint)
    ann = isvc["metadata"]["annotations"]
    assert ann["serving.kserve.io/deploymentMode"] == "Standard"
    assert ann["serving.kserve.io/autoscalerClass"] == "external"
    # KServe's own scraping switch would point prometheus.io/port at a queue-proxy port that a
    # Standard-mode pod lacks; the predictor names the model server's port itself.
    assert ann["serving.kserve.io/enable-prometheus-scraping"] == "false"
    assert isvc["spec"]["predictor"]["annotations"]["prometheus.io/port"] == "8080"
    assert isvc["spec"]["predictor"]["annotations"]["prometheus.io/scrape"] == "true"
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert model["runtime"] == "kserve-huggingfaceserver"
    assert model["storageUri"] == "hf://meta-llama/Llama-3.1-8B-Instruct"
    assert "--dtype=bfloat16" in model["args"]
    assert "--max-model-len=8192" in model["args"]
    assert "--tensor-parallel-size=1" in model["args"]
    assert "--enable-prefix-caching" in model["args"]
    assert model["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_gpu_count_sets_tensor_parallel_and_gpu_requests(golden_endpoint):
    golden_endpoint.gpu_count = 4
    model = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["model"]
    assert "--tensor-parallel-size=4" in model["args"]
    assert model["resources"]["requests"]["nvidia.com/gpu"] == "4"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "4"


@pytest.mark.parametrize(
    "quant, dtype, flag",
    [
        ("fp8", "bfloat16", "--quantization=fp8"),  # the only precision quantised at load time
        ("awq", None, None),  # vLLM reads the method from the checkpoint, picks awq_marlin
        ("gptq", None, None),
        ("int8", None, None),
        ("fp16", "float16", None),
        ("bf16", "bfloat16", None),
    ],
)
def test_quantisation_maps_to_vllm_flags(golden_endpoint, quant, dtype, flag):
    golden_endpoint.quantization = quant
    args = manifests.vllm_args(golden_endpoint)
    assert [a for a in args if a.startswith("--dtype")] == ([f"--dtype={dtype}"] if dtype else [])
    quant_flags = [a for a in args if a.startswith("--quantization")]
    assert quant_flags == ([flag] if flag else [])


@pytest.mark.parametrize(
    "quant, uri",
    [
        ("bf16", "hf://meta-llama/Llama-3.1-8B-Instruct"),
        ("fp8", "hf://meta-llama/Llama-3.1-8B-Instruct"),
        ("awq", "hf://hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"),
    ],
)
def test_weights_match_the_precision(golden_endpoint, quant, uri):
    golden_endpoint.quantization = quant
    model = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["model"]
    assert model["storageUri"] == uri


def test_a_precision_without_weights_in_that_format_is_not_rendered(golden_endpoint):
    golden_endpoint.quantization = "gptq"
    with pytest.raises(manifests.ManifestError, match="no gptq weights"):
        manifests.render(golden_endpoint)


def test_tensor_parallel_must_divide_the_attention_heads(golden_endpoint):
    golden_endpoint.model.num_attention_heads = 28  # Qwen2.5-7B
    golden_endpoint.gpu_count = 8
    with pytest.raises(manifests.ManifestError, match="28 attention heads"):
        manifests.render(golden_endpoint)
    golden_endpoint.gpu_count = 4
    manifests.render(golden_endpoint)


# What the upstream v0.20 ClusterServingRuntimes (config/runtimes/) pass themselves.
RUNTIME_ARGS = {
    "kserve-huggingfaceserver": ["--model_name={{.Name}}"],
    "kserve-vllmserver": ["--port=8080", "--served-model-name={{.Name}}", "--model=/mnt/models"],
}


@pytest.mark.parametrize("runtime", sorted(RUNTIME_ARGS))
def test_no_flag_repeats_one_the_runtime_already_passes(golden_endpoint, settings, runtime):
    settings.VLLM_RUNTIME = runtime
    args = manifests.vllm_args(golden_endpoint)
    runtime_flags = {a.split("=", 1)[0] for a in RUNTIME_ARGS[runtime]}
    assert not [a for a in args if a.split("=", 1)[0] in runtime_flags]
    assert len({a.split("=", 1)[0] for a in args}) == len(args)


@pytest.mark.parametrize("runtime", sorted(RUNTIME_ARGS))
def test_vllm_serves_under_the_inference_service_name(golden_endpoint, settings, runtime):
    """vLLM labels its metrics `model_name=<--served-model-name>`, else the model path
    (/mnt/models); every serving figure is keyed by the InferenceService name."""
    settings.VLLM_RUNTIME = runtime
    merged = [a.replace("{{.Name}}", golden_endpoint.isvc_name) for a in RUNTIME_ARGS[runtime]]
    merged += manifests.vllm_args(golden_endpoint)
    served = [a.split("=", 1)[1] for a in merged if a.startswith("--served-model-name=")]
    assert served == [golden_endpoint.isvc_name]


def test_vllm_runtime_uses_vllm_model_format(golden_endpoint, settings):
    settings.VLLM_RUNTIME = "kserve-vllmserver"
    model = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "vLLM"}
    assert "--backend=vllm" not in model["args"]
    assert model["startupProbe"]["httpGet"] == {"path": "/v1/models", "port": 8080}
    assert "readinessProbe" not in model  # the runtime's own (/v1/models) applies


def test_gated_model_names_the_token_secret_for_the_storage_initializer(golden_endpoint, settings):
    """KServe v0.20 gives the storage-initializer HF_TOKEN from the Secret that the pod
    annotation serving.kserve.io/storageSecretName names; the model container gets no token
    (it reads /mnt/models), and nothing is `optional`."""
    settings.KUBE_HF_TOKEN_SECRET = "team-hf"
    isvc = manifests.inference_service(golden_endpoint)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/storageSecretName"] == "team-hf"
    assert "env" not in isvc["spec"]["predictor"]["model"]
    assert "optional" not in manifests.to_yaml([isvc])
    golden_endpoint.model.gated = False
    isvc = manifests.inference_service(golden_endpoint)
    assert "serving.kserve.io/storageSecretName" not in isvc["metadata"]["annotations"]


def test_node_selector_pins_offering_gpu_and_capacity_type(golden_endpoint):
    golden_endpoint.capacity_type = "spot"
    sel = manifests.inference_service(golden_endpoint)["spec"]["predictor"]["nodeSelector"]
    assert sel == {
        "karpenter.sh/nodepool": "gpu",
        "node.kubernetes.io/instance-type": "g6e.xlarge",
        "karpenter.k8s.aws/instance-gpu-name": "l40s",
        "karpenter.sh/capacity-type": "spot",
    }


def test_quota_and_namespace_come_from_the_team(golden_endpoint):
    objs = _by_kind(manifests.render(golden_endpoint))
    assert objs["Namespace"]["metadata"]["name"] == "mp-search"
    assert objs["ResourceQuota"]["spec"]["hard"] == {"requests.nvidia.com/gpu": "12"}
    assert objs["ResourceQuota"]["metadata"]["namespace"] == "mp-search"


def test_stop_sets_the_annotation_and_pauses_autoscaling(golden_endpoint):
    golden_endpoint.desired_state = DesiredState.STOPPED
    objs = _by_kind(manifests.render(golden_endpoint))
    assert objs["InferenceService"]["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"
    assert objs["ScaledObject"]["metadata"]["annotations"]["autoscaling.keda.sh/paused"] == "true"
    golden_endpoint.desired_state = DesiredState.PRESENT
    objs = _by_kind(manifests.render(golden_endpoint))
    assert objs["InferenceService"]["metadata"]["annotations"]["serving.kserve.io/stop"] == "false"
    assert "autoscaling.keda.sh/paused" not in objs["ScaledObject"]["metadata"]["annotations"]


def test_scaled_object_scales_the_predictor_on_queue_depth(golden_endpoint):
    so = manifests.scaled_object(golden_endpoint)
    assert so["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "chat-predictor",
    }
    assert so["spec"]["minReplicaCount"] == 1 and so["spec"]["maxReplicaCount"] == 3
    [trigger] = so["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    # The one metric layer's query, not a copy: running + waiting stays high while busy.
    assert trigger["metadata"]["query"] == promql.busy_requests_query("mp-search", "chat")
    assert "vllm:num_requests_running" in trigger["metadata"]["query"]
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    # 26 full 8K sequences fit one L40S next to Llama 8B bf16 (sizing), + 4 queued behind.
    assert trigger["metadata"]["threshold"] == "30"
    assert "metricType" not in trigger  # KEDA's AverageValue: per replica


def test_schedule_scales_to_zero_with_a_prewarmed_cron_window(scheduled):
    so = manifests.scaled_object(scheduled)
    assert so["spec"]["minReplicaCount"] == 0
    cron = so["spec"]["triggers"][1]
    assert cron["type"] == "cron"
    assert cron["metadata"] == {
        "timezone": "Europe/Berlin",
        "start": "45 7 * * 1-5",
        "end": "30 18 * * 1-5",
        "desiredReplicas": "2",
    }


def test_prewarm_before_midnight_moves_weekdays_back(scheduled):
    scheduled.schedule_start = time(0, 5)
    scheduled.schedule_end = time(9, 0)
    assert manifests.schedule_window(scheduled) == ("50 23 * * 0-4", "0 9 * * 1-5")


def test_overnight_window_ends_the_next_day(scheduled):
    scheduled.schedule_start, scheduled.schedule_end = time(22, 0), time(6, 0)
    assert manifests.schedule_window(scheduled) == ("45 21 * * 1-5", "0 6 * * 2-6")


def test_every_day_schedule(scheduled):
    scheduled.schedule_weekdays_only = False
    assert manifests.schedule_window(scheduled) == ("45 7 * * *", "30 18 * * *")


def test_yaml_is_the_same_objects_that_are_rendered(golden_endpoint):
    assert list(yaml.safe_load_all(manifests.manifest_yaml(golden_endpoint))) == manifests.render(
        golden_endpoint
    )


# --- status mapping -----------------------------------------------------------------------------


def _isvc(conditions=None, url=None, generation=2, observed=2, annotations=None, **status):
    obj = {
        "metadata": {"generation": generation, "annotations": annotations or {}},
        "status": {"observedGeneration": observed, **status},
    }
    if conditions is not None:
        obj["status"]["conditions"] = [
            {
                "type": t,
                "status": s,
                **({"reason": r} if r else {}),
                **({"message": m} if m else {}),
            }
            for t, s, r, m in conditions
        ]
    if url:
        obj["status"]["url"] = url
    return obj


def test_ready_isvc_maps_to_ready_with_url():
    obs = observe.status_from(
        _isvc(
            [
                ("PredictorReady", "True", None, None),
                ("IngressReady", "True", None, None),
                ("Ready", "True", None, None),
            ],
            url="http://chat.mp-search",
        )
    )
    assert obs.status == EndpointStatus.READY
    assert obs.url == "http://chat.mp-search"


def test_not_ready_explains_the_conditions():
    obs = observe.status_from(
        _isvc(
            [
                (
                    "PredictorReady",
                    "False",
                    "MinimumReplicasUnavailable",
                    "0 of 1 replicas available",
                ),
                ("IngressReady", "True", None, None),
                ("Ready", "False", "MinimumReplicasUnavailable", None),
            ]
        )
    )
    assert obs.status == EndpointStatus.PROVISIONING
    assert "PredictorReady: 0 of 1 replicas available" in obs.message


def test_model_load_failure_maps_to_failed_with_kserve_message():
    obs = observe.status_from(
        _isvc(
            [("Ready", "False", None, None)],
            modelStatus={
                "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "CUDA out of memory"},
            },
        )
    )
    assert obs.status == EndpointStatus.FAILED
    assert obs.message == "ModelLoadFailed: CUDA out of memory"


def test_stale_observed_generation_is_no_news():
    obs = observe.status_from(_isvc([("Ready", "True", None, None)], generation=3, observed=2))
    assert obs is None


def test_no_status_yet_is_provisioning():
    obs = observe.status_from({"metadata": {"generation": 1}})
    assert obs.status == EndpointStatus.PROVISIONING


def test_stop_annotation_waits_for_the_stopped_condition():
    stop = {"serving.kserve.io/stop": "true"}
    assert observe.status_from(_isvc([("Ready", "True", None, None)], annotations=stop)) is None
    obs = observe.status_from(_isvc([("Stopped", "True", "Stopped", None)], annotations=stop))
    assert obs.status == EndpointStatus.STOPPED


def test_start_waits_until_kserve_drops_the_stopped_condition():
    start = {"serving.kserve.io/stop": "false"}
    assert observe.status_from(_isvc([("Stopped", "True", None, None)], annotations=start)) is None


def test_scale_down_window_is_one_cold_start_unless_a_setting_fixes_it(golden_endpoint, settings):
    def window(ep):
        behavior = manifests.scaled_object(ep)["spec"]["advanced"]["horizontalPodAutoscalerConfig"]
        return behavior["behavior"]["scaleDown"]["stabilizationWindowSeconds"]

    assert window(golden_endpoint) == manifests.cold_start_seconds(golden_endpoint) > 300
    settings.AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS = 30
    assert window(golden_endpoint) == 30
