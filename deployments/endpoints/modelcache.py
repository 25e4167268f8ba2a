"""The model cache as KServe v0.20 runs it (PURE renderer, no I/O).

The platform team caches a catalog model (one quantization's weights) on the nodes of one GPU
type (`ModelCache` rows). Per GPU type with a cache the portal applies one
`LocalModelNodeGroup` (a local PersistentVolume on every node with that GPU, by the GPU-name
node label) and per cached model one `LocalModelCache` (its `sourceModelUri` is exactly the
storageUri the endpoints' InferenceServices carry, its size from the sizing engine).

How KServe uses them (v0.20 source, `pkg/apis/serving/v1beta1/inference_service_defaults.go`
`setLocalModelLabel` and `pkg/webhook/admission/pod/storage_initializer_injector.go`): when
`localModel.enabled` is true in `inferenceservice-config`, the InferenceService defaulting
webhook finds the LocalModelCache whose `sourceModelUri` matches the storageUri (and whose
`nodeGroups` hold the InferenceService's `serving.kserve.io/nodegroup` annotation), labels the
InferenceService `internal.serving.kserve.io/localmodel` and annotates the PVC name
(`<cache>-<node group>`); the pod mutator then mounts that PVC read-only instead of adding the
storage-initializer, so the pod's 'weights ready' stage is gone. The local-model controller
(`cmd/localmodel`) creates the PV/PVC per namespace and the download Jobs per node.
"""

from __future__ import annotations

import math
import re
from typing import Any

from deployments.endpoints import manifests
from deployments.workloads import labels, sizing

API = "serving.kserve.io/v1alpha1"
LOCAL_PATH = "/mnt/models"  # where each GPU node keeps cached weights (its NVMe)
STORAGE_CLASS = "modelport-local-models"
HEADROOM = 1.2  # disk per node over the sum of the cached checkpoints
MIN_STORAGE_GIB = 10


def _dns(value: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")
    return name[:63].strip("-") or "x"


def node_group_name(gpu_type) -> str:
    return manifests.cache_node_group(gpu_type)


def cache_name(cache) -> str:
    return _dns(f"{cache.model.slug}-{cache.quantization}")


def weights_gib(cache) -> float:
    model, quantization = cache.model, str(cache.quantization)
    return sizing.pod_resources(float(model.parameters_b), quantization, 1).weights_gib


def _labels() -> dict[str, str]:
    return {labels.LABEL_MANAGED_BY: labels.MANAGED_BY}


def node_group(gpu_type, caches: list) -> dict[str, Any]:
    """The LocalModelNodeGroup of a GPU type's nodes, sized for every model cached on them."""
    total = sum(weights_gib(c) for c in caches)
    size = f"{max(MIN_STORAGE_GIB, math.ceil(total * HEADROOM))}Gi"
    return {
        "apiVersion": API,
        "kind": "LocalModelNodeGroup",
        "metadata": {"name": node_group_name(gpu_type), "labels": _labels()},
        "spec": {
            "storageLimit": size,
            "persistentVolumeSpec": {
                "accessModes": ["ReadWriteOnce"],
                "volumeMode": "Filesystem",
                "capacity": {"storage": size},
                "local": {"path": LOCAL_PATH},
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": STORAGE_CLASS,
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": manifests.GPU_NAME_LABEL,
                                        "operator": "In",
                                        "values": [gpu_type.node_label_value],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
            "persistentVolumeClaimSpec": {
                "accessModes": ["ReadWriteOnce"],
                "volumeMode": "Filesystem",
                "resources": {"requests": {"storage": size}},
                "storageClassName": STORAGE_CLASS,
            },
        },
    }


def local_model_cache(cache) -> dict[str, Any]:
    uri = cache.model.storage_uri_for(str(cache.quantization))
    if not uri:
        raise manifests.ManifestError(f"{cache.model} has no {cache.quantization} weights.")
    spec: dict[str, Any] = {
        "sourceModelUri": uri,
        "modelSize": f"{max(1, math.ceil(weights_gib(cache)))}Gi",
        "nodeGroups": [node_group_name(cache.gpu_type)],
    }
    return {
        "apiVersion": API,
        "kind": "LocalModelCache",
        "metadata": {"name": cache_name(cache), "labels": _labels()},
        "spec": spec,
    }


def render(caches: list) -> list[dict[str, Any]]:
    """Every node group (one per GPU type) first, then every LocalModelCache."""
    by_gpu: dict[int, list] = {}
    for cache in caches:
        by_gpu.setdefault(cache.gpu_type_id, []).append(cache)
    groups = [node_group(group[0].gpu_type, group) for group in by_gpu.values()]
    return groups + [local_model_cache(c) for c in caches]
