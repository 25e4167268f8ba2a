"""Endpoint -> Kubernetes manifests, and cluster objects -> endpoint status. PURE: no I/O.

What one endpoint becomes (applied in this order by `deployments.k8s.ClusterClient.apply`):

1. `Namespace` of the team (`Team.namespace`), labelled `modelport.io/team`.
2. `ResourceQuota` `modelport-gpu` capping `requests.nvidia.com/gpu` at `Team.max_gpus`.
3. `InferenceService` (serving.kserve.io/v1beta1) named after the endpoint, deployment mode
   `Standard`, `autoscalerClass: external` (the portal owns autoscaling), Prometheus scraping
   on, `serving.kserve.io/stop: "true"` while the endpoint is stopped. The predictor runs vLLM
   through `settings.VLLM_RUNTIME`: `kserve-huggingfaceserver` (model format `huggingface`,
   vLLM backend) or `kserve-vllmserver` (model format `vLLM`).
4. `ScaledObject` (keda.sh/v1alpha1) `<isvc>-predictor` scaling Deployment `<isvc>-predictor`
   on queue depth (`vllm:num_requests_waiting` of that model); with an off-hours schedule
   `minReplicaCount: 0` plus a cron trigger that holds `min_replicas` during working hours and
   starts `SCHEDULE_PREWARM_MINUTES` early so the cold start (node + image + weights) is over
   when people arrive. While the endpoint is stopped the ScaledObject is paused.

Every value placed in a manifest comes from a validated model field (DNS labels, choices,
integers, `STORAGE_URI`-validated URIs) and is placed as a whole list item or map value,
never spliced into YAML text, so user input cannot add fields. The Hugging Face token is an
env var *reference* to Secret `settings.KUBE_HF_TOKEN_SECRET` (key `HF_TOKEN`, optional).

`manifest_yaml(endpoint)` is the exact text `manage.py render_manifests` and
`GET /api/v1/endpoints/{uuid}/manifests/` show: the same dicts `apply` sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import yaml
from django.conf import settings

from portal.validators import DNS_LABEL_RE, STORAGE_URI, label_problems, time_zones

from .choices import DesiredState, EndpointStatus

MANAGED_BY = "modelport"
LABEL_TEAM = "modelport.io/team"
LABEL_ENDPOINT = "modelport.io/endpoint"
LABEL_ENDPOINT_UUID = "modelport.io/endpoint-uuid"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
ANNOTATION_GENERATION = "modelport.io/generation"
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"

ISVC_API = "serving.kserve.io/v1beta1"
KEDA_API = "keda.sh/v1alpha1"
QUOTA_NAME = "modelport-gpu"
HF_TOKEN_KEY = "HF_TOKEN"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
GPU_MEMORY_UTILIZATION = "0.9"
SCHEDULE_PREWARM_MINUTES = 15
KEDA_POLLING_SECONDS = 15
KEDA_COOLDOWN_SECONDS = 300
# CPU and memory per replica on top of the GPUs (vLLM's tokenizer, API server, weight loading).
CPU_PER_GPU = 2
MEMORY_GIB_PER_GPU = 8

# Endpoint quantisation -> (vLLM --dtype, vLLM --quantization or None).
VLLM_PRECISION = {
    "bf16": ("bfloat16", None),
    "fp16": ("float16", None),
    "fp8": ("bfloat16", "fp8"),
    "int8": ("bfloat16", "compressed-tensors"),  # catalogue int8 = W8A8 compressed-tensors
    "awq": ("float16", "awq"),
    "gptq": ("float16", "gptq"),
}


# --- input checks (defence in depth: the models validate too) ----------------------------------


class ManifestError(ValueError):
    """A stored value cannot be placed in a manifest safely; nothing is rendered."""


def check_renderable(endpoint) -> None:
    """Raise ManifestError unless every value is safe to place in a manifest."""
    problems = []
    if len(endpoint.name) > 40 or not DNS_LABEL_RE.match(endpoint.name):
        problems.append(f"endpoint name {endpoint.name!r} is not a DNS label")
    if not DNS_LABEL_RE.match(endpoint.namespace):
        problems.append(f"namespace {endpoint.namespace!r} is not a DNS label")
    if not DNS_LABEL_RE.match(endpoint.team.slug):
        problems.append(f"team slug {endpoint.team.slug!r} is not a DNS label")
    if not re.match(STORAGE_URI.regex, endpoint.model.storage_uri):
        problems.append(f"storage URI {endpoint.model.storage_uri!r} is not allowed")
    if str(endpoint.quantization) not in VLLM_PRECISION:
        problems.append(f"unknown quantization {endpoint.quantization!r}")
    if str(endpoint.kv_cache_dtype) not in ("auto", "fp8"):
        problems.append(f"unknown KV cache dtype {endpoint.kv_cache_dtype!r}")
    selector = dict((endpoint.offering.node_labels or {}) if endpoint.offering else {})
    selector[GPU_NAME_LABEL] = endpoint.gpu_type.node_label_value or ""
    selector["karpenter.sh/capacity-type"] = str(endpoint.capacity_type)
    problems += label_problems(selector)
    if endpoint.schedule_enabled and endpoint.schedule_timezone not in time_zones():
        problems.append(f"unknown time zone {endpoint.schedule_timezone!r}")
    if problems:
        raise ManifestError("Cannot render manifests: " + "; ".join(problems) + ".")


# --- names and labels -----------------------------------------------------------------------


def team_labels(team) -> dict[str, str]:
    return {LABEL_TEAM: team.slug, LABEL_MANAGED_BY: MANAGED_BY}


def endpoint_labels(endpoint) -> dict[str, str]:
    return {
        **team_labels(endpoint.team),
        LABEL_ENDPOINT: endpoint.name,
        LABEL_ENDPOINT_UUID: str(endpoint.uuid),
    }


def scaled_object_name(endpoint) -> str:
    return f"{endpoint.isvc_name}-predictor"


def predictor_deployment_name(endpoint) -> str:
    return f"{endpoint.isvc_name}-predictor"


def _meta(endpoint, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": endpoint.namespace,
        "labels": endpoint_labels(endpoint),
        "annotations": {ANNOTATION_GENERATION: str(endpoint.generation), **(annotations or {})},
    }


# --- per team ---------------------------------------------------------------------------------


def namespace(team) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": team.namespace, "labels": team_labels(team)},
    }


def resource_quota(team) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": team.namespace, "labels": team_labels(team)},
        "spec": {"hard": {f"requests.{GPU_RESOURCE}": str(team.max_gpus)}},
    }


# --- per endpoint -----------------------------------------------------------------------------


def vllm_args(endpoint) -> list[str]:
    dtype, quantization = VLLM_PRECISION[str(endpoint.quantization)]
    served_name = (
        f"--served-model-name={endpoint.isvc_name}"
        if _is_vllm_runtime()
        else f"--model_name={endpoint.isvc_name}"
    )
    args = [served_name]
    if not _is_vllm_runtime():
        args.append("--backend=vllm")
    args += [f"--dtype={dtype}"]
    if quantization:
        args.append(f"--quantization={quantization}")
    args += [
        f"--max-model-len={int(endpoint.max_context_length)}",
        f"--gpu-memory-utilization={GPU_MEMORY_UTILIZATION}",
        f"--tensor-parallel-size={int(endpoint.gpu_count)}",
        f"--kv-cache-dtype={str(endpoint.kv_cache_dtype)}",
        "--enable-prefix-caching",
    ]
    return args


def _is_vllm_runtime() -> bool:
    return settings.VLLM_RUNTIME == "kserve-vllmserver"


def node_selector(endpoint) -> dict[str, str]:
    selector: dict[str, str] = {}
    offering = endpoint.offering
    if offering is not None:
        selector.update({str(k): str(v) for k, v in (offering.node_labels or {}).items()})
        selector["node.kubernetes.io/instance-type"] = offering.instance_type
    if endpoint.gpu_type.node_label_value:
        selector[GPU_NAME_LABEL] = endpoint.gpu_type.node_label_value
    selector["karpenter.sh/capacity-type"] = str(endpoint.capacity_type)
    return selector


def inference_service(endpoint) -> dict[str, Any]:
    gpus = str(int(endpoint.gpu_count))
    stopped = endpoint.desired_state == DesiredState.STOPPED
    annotations = {
        "serving.kserve.io/deploymentMode": "Standard",
        "serving.kserve.io/autoscalerClass": "external",
        "serving.kserve.io/enable-prometheus-scraping": "true",
        "serving.kserve.io/stop": "true" if stopped else "false",
    }
    model_format = "vLLM" if _is_vllm_runtime() else "huggingface"
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": _meta(endpoint, endpoint.isvc_name, annotations),
        "spec": {
            "predictor": {
                "minReplicas": int(endpoint.min_replicas),
                "maxReplicas": int(endpoint.max_replicas),
                "labels": endpoint_labels(endpoint),
                "nodeSelector": node_selector(endpoint),
                "tolerations": [
                    {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
                ],
                "model": {
                    "modelFormat": {"name": model_format},
                    "runtime": settings.VLLM_RUNTIME,
                    "storageUri": endpoint.model.storage_uri,
                    "args": vllm_args(endpoint),
                    "env": [
                        {
                            "name": HF_TOKEN_KEY,
                            "valueFrom": {
                                "secretKeyRef": {
                                    "name": settings.KUBE_HF_TOKEN_SECRET,
                                    "key": HF_TOKEN_KEY,
                                    "optional": True,
                                }
                            },
                        }
                    ],
                    "resources": {
                        "requests": {
                            "cpu": str(CPU_PER_GPU * int(endpoint.gpu_count)),
                            "memory": f"{MEMORY_GIB_PER_GPU * int(endpoint.gpu_count)}Gi",
                            GPU_RESOURCE: gpus,
                        },
                        "limits": {GPU_RESOURCE: gpus},
                    },
                },
            }
        },
    }


def queue_depth_query(endpoint) -> str:
    return (
        f'sum(vllm:num_requests_waiting{{namespace="{endpoint.namespace}",'
        f'model_name="{endpoint.isvc_name}"}})'
    )


def _cron(at: time, days: str) -> str:
    return f"{at.minute} {at.hour} * * {days}"


def schedule_window(endpoint) -> tuple[str, str]:
    """(start, end) 5-field crons; start is pre-warmed SCHEDULE_PREWARM_MINUTES early.

    Weekdays-only windows run Mon-Fri (1-5); when pre-warming moves the start before midnight
    the start days shift back one day (0-4 = Sun-Thu), and when the window ends after midnight
    (end <= start) the end days shift forward one day (2-6 = Tue-Sat).
    """
    start, end = endpoint.schedule_start, endpoint.schedule_end
    anchor = datetime(2000, 1, 3, start.hour, start.minute)  # any Monday
    warm = anchor - timedelta(minutes=SCHEDULE_PREWARM_MINUTES)
    if not endpoint.schedule_weekdays_only:
        return _cron(warm.time(), "*"), _cron(end, "*")
    start_days = "0-4" if warm.date() < anchor.date() else "1-5"
    end_days = "2-6" if (end.hour, end.minute) <= (start.hour, start.minute) else "1-5"
    return _cron(warm.time(), start_days), _cron(end, end_days)


def scaled_object(endpoint) -> dict[str, Any]:
    triggers: list[dict[str, Any]] = [
        {
            "type": "prometheus",
            "name": "queue-depth",
            "metadata": {
                "serverAddress": settings.KEDA_PROMETHEUS_URL,
                "query": queue_depth_query(endpoint),
                "threshold": str(int(endpoint.target_queue_depth)),
            },
        }
    ]
    min_count = int(endpoint.min_replicas)
    if endpoint.schedule_enabled:
        start, end = schedule_window(endpoint)
        triggers.append(
            {
                "type": "cron",
                "name": "working-hours",
                "metadata": {
                    "timezone": str(endpoint.schedule_timezone),
                    "start": start,
                    "end": end,
                    "desiredReplicas": str(max(min_count, 1)),
                },
            }
        )
        min_count = 0
    annotations = {}
    if endpoint.desired_state == DesiredState.STOPPED:
        annotations["autoscaling.keda.sh/paused"] = "true"
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": _meta(endpoint, scaled_object_name(endpoint), annotations),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": predictor_deployment_name(endpoint),
            },
            "minReplicaCount": min_count,
            "maxReplicaCount": int(endpoint.max_replicas),
            "pollingInterval": KEDA_POLLING_SECONDS,
            "cooldownPeriod": KEDA_COOLDOWN_SECONDS,
            "triggers": triggers,
        },
    }


def render(endpoint) -> list[dict[str, Any]]:
    """Every object the endpoint needs, in apply order (ManifestError on unsafe values)."""
    check_renderable(endpoint)
    return [
        namespace(endpoint.team),
        resource_quota(endpoint.team),
        inference_service(endpoint),
        scaled_object(endpoint),
    ]


def endpoint_objects(endpoint) -> list[dict[str, Any]]:
    """The objects owned by this endpoint alone (deleted with it; namespace/quota stay)."""
    check_renderable(endpoint)
    return [inference_service(endpoint), scaled_object(endpoint)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


def manifest_yaml(endpoint) -> str:
    return to_yaml(render(endpoint))


# --- observed status --------------------------------------------------------------------------

# KServe `modelStatus.lastFailureInfo.reason` values that no amount of waiting fixes.
TERMINAL_FAILURE_REASONS = {
    "ModelLoadFailed",
    "RuntimeDisabled",
    "NoSupportingRuntime",
    "RuntimeNotRecognized",
    "InvalidPredictorSpec",
    "InvalidWorkerSpecNotSet",
    "InvalidGPUAllocation",
}
CONDITION_ORDER = ["PredictorReady", "IngressReady", "LatestDeploymentReady", "Ready"]


@dataclass(frozen=True)
class Observed:
    status: str
    message: str
    url: str | None = None


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def status_from(obj: dict[str, Any]) -> Observed | None:
    """Map an InferenceService (dict) to the endpoint status; None = no news yet.

    None means KServe has not caught up with what we applied (observedGeneration behind, or
    the stop annotation not yet reflected in the Stopped condition): keep the current status.
    """
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    conditions = _conditions(obj)
    stop_wanted = (meta.get("annotations") or {}).get("serving.kserve.io/stop") == "true"
    stopped = (conditions.get("Stopped") or {}).get("status") == "True"
    if stop_wanted:
        return Observed(EndpointStatus.STOPPED, "Stopped.", "") if stopped else None
    if stopped:
        return None  # start applied, KServe still reports the old stop
    if not status:
        return Observed(EndpointStatus.PROVISIONING, "Waiting for the KServe controller.")
    observed_gen = status.get("observedGeneration")
    if observed_gen is not None and observed_gen < (meta.get("generation") or 0):
        return None
    failure = (status.get("modelStatus") or {}).get("lastFailureInfo") or {}
    transition = (status.get("modelStatus") or {}).get("transitionStatus")
    if failure.get("reason") in TERMINAL_FAILURE_REASONS or transition == "InvalidSpec":
        text = failure.get("message") or failure.get("reason") or "KServe reports an invalid spec."
        return Observed(EndpointStatus.FAILED, f"{failure.get('reason', 'Failed')}: {text}")
    if (conditions.get("Ready") or {}).get("status") == "True":
        return Observed(EndpointStatus.READY, "Serving.", status.get("url") or "")
    return Observed(EndpointStatus.PROVISIONING, not_ready_reasons(conditions))


def not_ready_reasons(conditions: dict[str, dict[str, Any]]) -> str:
    parts = []
    for ctype in CONDITION_ORDER:
        cond = conditions.get(ctype)
        if cond and cond.get("status") != "True":
            detail = cond.get("message") or cond.get("reason") or cond.get("status")
            parts.append(f"{ctype}: {detail}")
    return "; ".join(parts) or "Waiting for the predictor to become ready."
