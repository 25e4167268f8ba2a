"""Endpoint -> Kubernetes manifests. PURE: no I/O.

What the cluster says back is read by `deployments.endpoints.observe` (status), and the
off-hours schedule's arithmetic (crons, pre-warm lead, working hours) is
`deployments.endpoints.schedule`.

What one endpoint becomes (applied in this order by `deployments.k8s.ClusterClient.apply`):

1. `Namespace` of the team (`Team.namespace`), labelled `modelport.io/team`.
   Then the portal's `RoleBinding`s in it (`settings.KUBE_TEAM_ROLE_BINDINGS`, set by the Helm
   chart: its identities hold team rights only in the namespaces it manages; docs/rbac.md).
2. `ResourceQuota` `modelport-gpu` capping `requests.nvidia.com/gpu` at `Team.max_gpus`.
3. `InferenceService` (serving.kserve.io/v1beta1) named after the endpoint, deployment mode
   `Standard`, `autoscalerClass: external` (the portal owns autoscaling), Prometheus scraping
   on, `serving.kserve.io/stop: "true"` while the endpoint is stopped. The predictor runs vLLM
   through `settings.VLLM_RUNTIME`: `kserve-huggingfaceserver` (model format `huggingface`,
   vLLM backend) or `kserve-vllmserver` (model format `vLLM`).
4. `ScaledObject` (keda.sh/v1alpha1) `<isvc>-predictor` scaling Deployment `<isvc>-predictor`
   on running + waiting requests per replica (`deployments.endpoints.promql.busy_requests_query`), with a
   scale-down stabilisation window of one cold start; with an off-hours schedule
   `minReplicaCount: 0` plus a cron trigger that holds `min_replicas` during working hours and
   starts one cold start (measured, else estimated from the model size) early. While the
   endpoint is stopped the ScaledObject is paused.
5. `PodDisruptionBudget` `<isvc>-predictor` (at most one replica evicted at a time) when the
   endpoint may run more than one replica.

KServe copies the InferenceService's labels and annotations into the Deployment's pod
template, so everything there is static per endpoint: a change to it rolls every GPU pod.
The generation annotation therefore sits on the ScaledObject and the PDB only; replica
counts live in the ScaledObject alone (KServe ignores min/max replicas with the `external`
class). A pod is valid on the real controller only with limits >= requests: the runtimes'
`limits: {cpu: "1", memory: 2Gi}` are merged under ours, so we set every limit ourselves
(`deployments.workloads.sizing.pod_resources`).

Gated models: the storage-initializer (not vLLM: it reads `/mnt/models`) downloads `hf://`
weights. KServe v0.20 gives it `HF_TOKEN` from the Secret named by the pod annotation
`serving.kserve.io/storageSecretName` (the `credentials.storageSecretNameAnnotation` of the
`inferenceservice-config` ConfigMap), taking key `HF_TOKEN`. Without that Secret the pod
webhook refuses the pod; `deployments.endpoints.reconcile` explains it on the endpoint page.

Every value placed in a manifest comes from a validated model field (DNS labels, choices,
integers, `STORAGE_URI`-validated URIs) and is placed as a whole list item or map value,
never spliced into YAML text, so user input cannot add fields.

`manifest_yaml(endpoint)` is the exact text `manage.py render_manifests` and
`GET /api/v1/endpoints/{uuid}/manifests/` show: the same dicts `apply` sends.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from django.conf import settings

from deployments.endpoints import schedule
from deployments.endpoints.promql import busy_requests_query as _busy_query
from deployments.workloads import sizing
from deployments.workloads.choices import DesiredState
from deployments.workloads.labels import (
    ANNOTATION_GENERATION,
    LABEL_ENDPOINT,
    LABEL_ENDPOINT_UUID,
    LABEL_MANAGED_BY,
    LABEL_TEAM,
    MANAGED_BY,
)
from portal.validators import DNS_LABEL_RE, STORAGE_URI, label_problems, time_zones

ISVC_API = "serving.kserve.io/v1beta1"
KEDA_API = "keda.sh/v1alpha1"
PDB_API = "policy/v1"
QUOTA_NAME = "modelport-gpu"
HF_TOKEN_KEY = "HF_TOKEN"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
ANNOTATION_STOP = "serving.kserve.io/stop"
ANNOTATION_STORAGE_SECRET = "serving.kserve.io/storageSecretName"
ANNOTATION_NODE_GROUP = "serving.kserve.io/nodegroup"
ANNOTATION_DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
ANNOTATION_PAUSED = "autoscaling.keda.sh/paused"
GPU_MEMORY_UTILIZATION = "0.9"
KEDA_POLLING_SECONDS = 15
KEDA_COOLDOWN_SECONDS = 300
# Port of the model server in both upstream LLM runtimes.
SERVING_PORT = 8080
# Where a cluster's Prometheus scrapes each predictor pod (the common annotation-based pod
# scrape, and deploy/prometheus-predictors.yml): vLLM's /metrics on the serving port.
PROMETHEUS_ANNOTATIONS = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(SERVING_PORT),
    "prometheus.io/path": "/metrics",
}

# Endpoint quantisation -> (vLLM --dtype or None, vLLM --quantization or None).
# Only fp8 is quantised at load time. AWQ, GPTQ and INT8 (W8A8 compressed-tensors) come from
# checkpoints made in that format (CatalogModel.storage_uri_for); vLLM reads the method from
# their config and picks the fastest kernel itself (awq_marlin, gptq_marlin, ...): naming the
# method (--quantization=awq) would force the slower non-Marlin kernel. The 16-bit dtype of
# those checkpoints is left to vLLM ("auto") too.
VLLM_PRECISION = {
    "bf16": ("bfloat16", None),
    "fp16": ("float16", None),
    "fp8": ("bfloat16", "fp8"),
    "int8": (None, None),
    "awq": (None, None),
    "gptq": (None, None),
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
    if str(endpoint.quantization) not in VLLM_PRECISION:
        problems.append(f"unknown quantization {endpoint.quantization!r}")
    else:
        uri = endpoint.model.storage_uri_for(str(endpoint.quantization))
        if uri is None:
            problems.append(
                f"{endpoint.model.name} has no {endpoint.quantization} weights in the catalog "
                "(an admin must add their storage URI)"
            )
        elif not isinstance(uri, str) or not re.match(STORAGE_URI.regex, uri):
            problems.append(f"storage URI {uri!r} is not allowed")
    heads = endpoint.model.tensor_parallel_problem(int(endpoint.gpu_count))
    if heads:
        problems.append(heads)
    if str(endpoint.kv_cache_dtype) not in ("auto", "fp8"):
        problems.append(f"unknown KV cache dtype {endpoint.kv_cache_dtype!r}")
    selector = dict((endpoint.offering.node_labels or {}) if endpoint.offering else {})
    selector[GPU_NAME_LABEL] = endpoint.gpu_type.node_label_value or ""
    selector[CAPACITY_TYPE_LABEL] = str(endpoint.capacity_type)
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


def pdb_name(endpoint) -> str:
    return f"{endpoint.isvc_name}-predictor"


def _meta(
    endpoint, name: str, annotations: dict[str, str] | None = None, *, generation: bool = True
) -> dict[str, Any]:
    """Metadata of an endpoint object. `generation=False` for the InferenceService: KServe
    copies its annotations into the pod template, where a per-change value rolls every pod."""
    stamp = {ANNOTATION_GENERATION: str(endpoint.generation)} if generation else {}
    return {
        "name": name,
        "namespace": endpoint.namespace,
        "labels": endpoint_labels(endpoint),
        "annotations": {**stamp, **(annotations or {})},
    }


# --- per team ---------------------------------------------------------------------------------


def namespace(team) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": team.namespace, "labels": team_labels(team)},
    }


def role_bindings(team) -> list[dict[str, Any]]:
    """The portal's own rights in the team namespace (settings.KUBE_TEAM_ROLE_BINDINGS): one
    RoleBinding per ClusterRole the Helm chart installs, so its identities hold team rights only
    in the namespaces it manages (docs/rbac.md)."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": team.namespace, "labels": team_labels(team)},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": sa_namespace}],
        }
        for role, sa_namespace, name in settings.KUBE_TEAM_ROLE_BINDINGS
    ]


def team_objects(team) -> list[dict[str, Any]]:
    """The team's shared objects in apply order: the namespace, the portal's RoleBindings in it
    (before anything the bindings allow), the GPU quota."""
    return [namespace(team), *role_bindings(team), resource_quota(team)]


def resource_quota(team) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": team.namespace, "labels": team_labels(team)},
        "spec": {"hard": {f"requests.{GPU_RESOURCE}": str(team.max_gpus)}},
    }


# --- per endpoint -----------------------------------------------------------------------------


def _is_vllm_runtime() -> bool:
    return settings.VLLM_RUNTIME == "kserve-vllmserver"


def vllm_args(endpoint) -> list[str]:
    """Engine flags appended to the runtime's own args.

    The vLLM runtime already passes `--served-model-name={{.Name}}`, the port and
    `--model=/mnt/models`: none of those is repeated. The Hugging Face runtime passes only
    `--model_name={{.Name}}`, which names the KServe model but not vLLM's: without
    `--served-model-name` vLLM labels every metric `model_name="/mnt/models"` (the model path),
    while every serving figure is read by `model_name` = InferenceService name. So it is
    rendered here for that runtime (huggingfaceserver then uses it as the model name too)."""
    dtype, quantization = VLLM_PRECISION[str(endpoint.quantization)]
    if _is_vllm_runtime():
        args = []
    else:
        args = ["--backend=vllm", f"--served-model-name={endpoint.isvc_name}"]
    if dtype:
        args.append(f"--dtype={dtype}")
    if quantization:
        args.append(f"--quantization={quantization}")
    args += [
        f"--max-model-len={int(endpoint.max_context_length)}",
        f"--gpu-memory-utilization={GPU_MEMORY_UTILIZATION}",
        f"--tensor-parallel-size={int(endpoint.gpu_count)}",
    ]
    if str(endpoint.kv_cache_dtype) != "auto":
        args.append(f"--kv-cache-dtype={endpoint.kv_cache_dtype}")
    args.append("--enable-prefix-caching")
    return args


def cache_node_group(gpu_type) -> str:
    """The LocalModelNodeGroup of a GPU type's nodes (deployments.endpoints.modelcache)."""
    value = re.sub(r"[^a-z0-9-]+", "-", f"gpu-{gpu_type.node_label_value or gpu_type.name}".lower())
    return value.strip("-")[:63].strip("-")


def is_cached(endpoint) -> bool:
    """Whether the platform team caches this model's weights on this GPU type's nodes (a read
    of the ModelCache rows through the model, like the renderer's other related rows)."""
    if endpoint.model_id is None or endpoint.gpu_type_id is None:
        return False
    return endpoint.model.caches.filter(
        gpu_type_id=endpoint.gpu_type_id, quantization=str(endpoint.quantization)
    ).exists()


def pod_resources(endpoint) -> sizing.PodResources:
    return sizing.pod_resources(
        float(endpoint.model.parameters_b), str(endpoint.quantization), int(endpoint.gpu_count)
    )


def cold_start_seconds(endpoint) -> int:
    """One replica from nothing: the last measured cold start, else the estimate."""
    return int(endpoint.cold_start_seconds or pod_resources(endpoint).cold_start_seconds)


def _offering_labels(offering, gpu_type) -> dict[str, str]:
    selector: dict[str, str] = {}
    if offering is not None:
        selector.update({str(k): str(v) for k, v in (offering.node_labels or {}).items()})
        selector["node.kubernetes.io/instance-type"] = offering.instance_type
    if gpu_type.node_label_value:
        selector[GPU_NAME_LABEL] = gpu_type.node_label_value
    return selector


def node_selector(endpoint) -> dict[str, str]:
    selector = _offering_labels(endpoint.offering, endpoint.gpu_type)
    if not spot_falls_back(endpoint):
        selector[CAPACITY_TYPE_LABEL] = str(endpoint.capacity_type)
    return selector


def node_labels(offering, capacity_type: str) -> dict[str, str]:
    """The labels a node of `offering` carries: what `node_selector` asks for (the local dev
    cluster's fake GPU nodes are made with them)."""
    return {**_offering_labels(offering, offering.gpu_type), CAPACITY_TYPE_LABEL: capacity_type}


def spot_falls_back(endpoint) -> bool:
    return str(endpoint.capacity_type) == "spot" and bool(endpoint.spot_fallback_on_demand)


def affinity(endpoint) -> dict[str, Any] | None:
    """Spot with the admin's on-demand fallback: spot or on-demand nodes required, spot
    preferred (the scheduler and Karpenter take on-demand only when no spot is left)."""
    if not spot_falls_back(endpoint):
        return None
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": CAPACITY_TYPE_LABEL,
                                "operator": "In",
                                "values": ["spot", "on-demand"],
                            }
                        ]
                    }
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {
                        "matchExpressions": [
                            {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["spot"]}
                        ]
                    },
                }
            ],
        }
    }


def _probes(res) -> dict[str, Any]:
    """Startup allowance for the model load (the kubelet restarts the container, and KServe
    would report it failed, only after `res.startup_seconds`), plus readiness for the
    Hugging Face runtime, which declares no probes (it would be Ready before the model)."""
    path = "/v1/models" if _is_vllm_runtime() else "/v2/health/ready"

    def check() -> dict[str, Any]:  # a fresh dict per probe (no YAML anchors in the output)
        return {"httpGet": {"path": path, "port": SERVING_PORT}, "timeoutSeconds": 10}

    probes = {
        "startupProbe": {
            **check(),
            "initialDelaySeconds": 30,
            "periodSeconds": sizing.STARTUP_PERIOD_SECONDS,
            "failureThreshold": res.startup_failure_threshold,
            "successThreshold": 1,
        }
    }
    if not _is_vllm_runtime():
        probes["readinessProbe"] = {
            **check(),
            "periodSeconds": 10,
            "failureThreshold": 3,
            "successThreshold": 1,
        }
    return probes


def inference_service(endpoint) -> dict[str, Any]:
    gpus = str(int(endpoint.gpu_count))
    res = pod_resources(endpoint)
    stopped = endpoint.desired_state == DesiredState.STOPPED
    annotations = {
        "serving.kserve.io/deploymentMode": "Standard",
        "serving.kserve.io/autoscalerClass": "external",
        # "true" would make KServe's pod webhook point prometheus.io/port at 9091, the
        # queue-proxy of Serverless mode, which a Standard-mode pod does not run: nothing
        # answers there. The predictor's own prometheus.io/* annotations below name the model
        # server's port instead (deploy/prometheus-predictors.yml scrapes by them).
        "serving.kserve.io/enable-prometheus-scraping": "false",
        ANNOTATION_STOP: "true" if stopped else "false",
    }
    if endpoint.model.gated:
        annotations[ANNOTATION_STORAGE_SECRET] = settings.KUBE_HF_TOKEN_SECRET
    if is_cached(endpoint):
        # KServe's webhook matches the storageUri to a LocalModelCache on this node group and
        # mounts its PVC instead of downloading (deployments.endpoints.modelcache).
        annotations[ANNOTATION_NODE_GROUP] = cache_node_group(endpoint.gpu_type)
    model_format = "vLLM" if _is_vllm_runtime() else "huggingface"
    size = {
        "cpu": str(res.cpu),
        "memory": f"{res.memory_gib}Gi",
        "ephemeral-storage": f"{res.ephemeral_gib}Gi",
        GPU_RESOURCE: gpus,
    }
    predictor: dict[str, Any] = {
        "labels": endpoint_labels(endpoint),
        # Karpenter: no voluntary disruption (consolidation, drift) of a loaded GPU replica.
        "annotations": {ANNOTATION_DO_NOT_DISRUPT: "true", **PROMETHEUS_ANNOTATIONS},
        "nodeSelector": node_selector(endpoint),
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        # A new pod only once an old one is gone: a surge pod would need GPUs beyond the
        # team's quota (the ResourceQuota refuses it and the rollout stalls).
        "deploymentStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
        },
        # Merged by name over the runtime's `devshm` volume (medium Memory, no size).
        "volumes": [
            {"name": "devshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{res.shm_gib}Gi"}}
        ],
        "model": {
            "modelFormat": {"name": model_format},
            "runtime": settings.VLLM_RUNTIME,
            "storageUri": endpoint.model.storage_uri_for(str(endpoint.quantization)),
            "args": vllm_args(endpoint),
            "resources": {"requests": dict(size), "limits": dict(size)},
            **_probes(res),
        },
    }
    spot_affinity = affinity(endpoint)
    if spot_affinity:
        predictor["affinity"] = spot_affinity
    return {
        "apiVersion": ISVC_API,
        "kind": "InferenceService",
        "metadata": _meta(endpoint, endpoint.isvc_name, annotations, generation=False),
        "spec": {"predictor": predictor},
    }


def busy_requests_query(endpoint) -> str:
    return _busy_query(endpoint.namespace, endpoint.isvc_name)


def busy_threshold(endpoint) -> int:
    """Requests in flight per replica before KEDA adds one: what fits in one replica's KV
    cache at full context (they all run) plus `target_queue_depth` waiting behind them."""
    fit = sizing.size_for_spec(
        {
            "model": endpoint.model,
            "gpu_type": endpoint.gpu_type,
            "gpu_count": int(endpoint.gpu_count),
            "quantization": str(endpoint.quantization),
            "kv_cache_dtype": str(endpoint.kv_cache_dtype),
            "max_context_length": int(endpoint.max_context_length),
        },
        concurrency=1,
    ).max_sequences
    return max(1, fit) + int(endpoint.target_queue_depth)


def prewarm_minutes(endpoint) -> int:
    """How early the working-hours replicas start: one cold start, rounded up."""
    return schedule.prewarm_lead_minutes(cold_start_seconds(endpoint))


def scale_down_window_seconds(endpoint) -> int:
    """Scale-down stabilisation (schedule.scale_down_window_seconds); a test or demo cluster
    fixes it with settings.AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS."""
    fixed = int(getattr(settings, "AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS", 0) or 0)
    if fixed > 0:
        return fixed
    return schedule.scale_down_window_seconds(cold_start_seconds(endpoint))


def schedule_window(endpoint) -> tuple[str, str]:
    """(start, end) crons of the KEDA cron trigger (`schedule.cron_window`)."""
    return schedule.cron_window(
        endpoint.schedule_start,
        endpoint.schedule_end,
        endpoint.schedule_weekdays_only,
        prewarm_minutes(endpoint),
    )


def scaled_object(endpoint) -> dict[str, Any]:
    triggers: list[dict[str, Any]] = [
        {
            "type": "prometheus",
            "name": "busy-requests",
            "metadata": {
                "serverAddress": settings.KEDA_PROMETHEUS_URL,
                "query": busy_requests_query(endpoint),
                "threshold": str(busy_threshold(endpoint)),
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
        annotations[ANNOTATION_PAUSED] = "true"
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
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": scale_down_window_seconds(endpoint),
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        },
                        "scaleUp": {"stabilizationWindowSeconds": 0},
                    }
                }
            },
            "triggers": triggers,
        },
    }


def wants_pdb(endpoint) -> bool:
    return int(endpoint.max_replicas) > 1


def pod_disruption_budget(endpoint) -> dict[str, Any]:
    """At most one replica of the endpoint evicted at a time (node drains, Karpenter)."""
    return {
        "apiVersion": PDB_API,
        "kind": "PodDisruptionBudget",
        "metadata": _meta(endpoint, pdb_name(endpoint)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {LABEL_ENDPOINT_UUID: str(endpoint.uuid)}},
        },
    }


def render(endpoint) -> list[dict[str, Any]]:
    """Every object the endpoint needs, in apply order (ManifestError on unsafe values)."""
    check_renderable(endpoint)
    return [*team_objects(endpoint.team), *_own_objects(endpoint)]


def _own_objects(endpoint) -> list[dict[str, Any]]:
    objects = [inference_service(endpoint), scaled_object(endpoint)]
    if wants_pdb(endpoint):
        objects.append(pod_disruption_budget(endpoint))
    return objects


def endpoint_objects(endpoint) -> list[dict[str, Any]]:
    """The objects owned by this endpoint alone (namespace/quota are the team's)."""
    check_renderable(endpoint)
    return _own_objects(endpoint)


# Every kind of object an endpoint may own (apply order).
REMOVABLE_KINDS = ("InferenceService", "ScaledObject", "PodDisruptionBudget")


def removable_objects(endpoint) -> list[dict[str, Any]]:
    """Every object an endpoint may own, for deletion (apply order: REMOVABLE_KINDS)."""
    check_renderable(endpoint)
    return [inference_service(endpoint), scaled_object(endpoint), pod_disruption_budget(endpoint)]


def unwanted_objects(endpoint) -> list[dict[str, Any]]:
    """Objects an earlier generation may have created that this one does not render."""
    return [] if wants_pdb(endpoint) else [pod_disruption_budget(endpoint)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


def manifest_yaml(endpoint) -> str:
    return to_yaml(render(endpoint))
