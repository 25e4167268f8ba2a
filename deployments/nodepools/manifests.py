"""The platform's GPU node pools, rendered from the admin catalog (what Karpenter provisions).

One Karpenter ``NodePool`` per instance family (``g6e`` of ``g6e.xlarge``) and capacity type
(on-demand, spot) that has at least one enabled offering priced for that capacity type:

* requirements: exactly the catalog's instance types of the family, ``karpenter.sh/capacity-type``,
  the GPU-name label the endpoints' nodeSelector asks for (``karpenter.k8s.aws/instance-gpu-name``),
  and each offering's extra node labels;
* the GPU taint ``nvidia.com/gpu:NoSchedule`` (every GPU workload tolerates it; nothing else
  lands on a GPU node);
* ``limits: {nvidia.com/gpu: <ceiling>}`` from ``GpuType.max_gpus_per_pool`` (the lowest of the
  family's GPU types): Karpenter launches no node that would take the pool past it;
* disruption fit for GPU nodes: ``consolidationPolicy: WhenEmpty`` (a node that serves a
  replica is never consolidated; the predictor pods also carry ``karpenter.sh/do-not-disrupt``),
  ``expireAfter: Never`` (no forced replacement of a loaded node), a budget of one node at a
  time, and a ``terminationGracePeriod`` (90 s on spot, inside the two-minute interruption
  notice; 30 min on-demand) after which a deleted node's do-not-disrupt pods are removed
  anyway (without it their drain stalls for ever);
* ``weight``: spot pools are tried before on-demand ones (Karpenter picks the highest weight
  first); an endpoint that allows the on-demand fallback requires either and prefers spot.

The pools reference one NodeClass, the cloud's: AWS ``EC2NodeClass`` (``karpenter.k8s.aws/v1``)
by default, or Karpenter's ``KWOKNodeClass`` (``KARPENTER_NODE_CLASS=kwok``, the test cluster).

:func:`kwok_instance_types` is the same catalog as the KWOK provider's instance-types file
(``--instance-types-file-path``): name, resources (vCPUs, memory, GPUs), one offering per
capacity type priced at the rate in force, so Karpenter launches exactly what the catalog prices.

Pure functions of :class:`Pool` rows; :func:`pools` reads the catalog once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml
from django.conf import settings

from catalog.pricing import offering_prices
from deployments.workloads.labels import LABEL_MANAGED_BY, MANAGED_BY
from portal.validators import DNS_LABEL_RE

NODEPOOL_API = "karpenter.sh/v1"
NODECLAIM_API = "karpenter.sh/v1"
EC2_NODECLASS_API = "karpenter.k8s.aws/v1"
KWOK_NODECLASS_API = "karpenter.kwok.sh/v1alpha1"
NODE_CLASS_NAME = "modelport-gpu"
POOL_PREFIX = "modelport-gpu-"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NAME_LABEL = "karpenter.k8s.aws/instance-gpu-name"
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
LABEL_POOL_FAMILY = "modelport.io/instance-family"
POOL_CAPACITY_TYPES = ("spot", "on-demand")  # reserved capacity needs reservations: not pooled
WEIGHTS = {"spot": 20, "on-demand": 10}
GPU_TAINT = {"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"}
CONSOLIDATE_AFTER = "10m"
# How long a deleted node (a spot interruption, a person) waits for its pods before Karpenter
# removes them anyway: the predictor pods carry karpenter.sh/do-not-disrupt, which otherwise
# stalls the drain for ever. Spot: inside the cloud's two-minute interruption notice.
TERMINATION_GRACE = {"spot": "90s", "on-demand": "30m"}
KWOK_ZONE = "kwok-zone-a"
# Kubernetes' default pods per node (the KWOK provider's default too).
PODS_PER_NODE = "110"


class PoolError(ValueError):
    """The catalog cannot be rendered into pools safely (nothing is applied)."""


@dataclass(frozen=True)
class PoolOffering:
    instance_type: str
    gpus: int
    gpu_label: str  # karpenter.k8s.aws/instance-gpu-name value ("" when unset)
    vcpus: int | None
    memory_gib: int | None
    node_labels: dict[str, str]
    hourly_price: Decimal


@dataclass(frozen=True)
class Pool:
    family: str
    capacity_type: str
    max_gpus: int
    offerings: tuple[PoolOffering, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return pool_name(self.family, self.capacity_type)

    @property
    def instance_types(self) -> list[str]:
        return sorted(o.instance_type for o in self.offerings)


def pool_name(family: str, capacity_type: str) -> str:
    return f"{POOL_PREFIX}{family}-{capacity_type}"


def pools() -> list[Pool]:
    """The pools the catalog asks for now, in name order (reads the catalog)."""
    grouped: dict[tuple[str, str], list] = {}
    for price in offering_prices():
        if price.capacity_type not in POOL_CAPACITY_TYPES:
            continue
        grouped.setdefault((price.offering.family, price.capacity_type), []).append(price)
    result = []
    for (family, capacity), prices in grouped.items():
        result.append(
            Pool(
                family=family,
                capacity_type=capacity,
                max_gpus=min(p.offering.gpu_type.max_gpus_per_pool for p in prices),
                offerings=tuple(
                    PoolOffering(
                        instance_type=p.offering.instance_type,
                        gpus=p.offering.gpus_per_node,
                        gpu_label=p.offering.gpu_type.node_label_value,
                        vcpus=p.offering.vcpus,
                        memory_gib=p.offering.memory_gib,
                        node_labels={
                            str(k): str(v)
                            for k, v in (p.offering.node_labels or {}).items()
                            if k != INSTANCE_TYPE_LABEL
                        },
                        hourly_price=p.hourly_price,
                    )
                    for p in sorted(prices, key=lambda p: p.offering.instance_type)
                ),
            )
        )
    return sorted(result, key=lambda p: p.name)


def check_renderable(pool: Pool) -> None:
    if len(pool.name) > 63 or not DNS_LABEL_RE.match(pool.name):
        raise PoolError(
            f"instance family {pool.family!r} does not make a valid NodePool name ({pool.name!r})"
        )


def _requirements(pool: Pool) -> list[dict[str, Any]]:
    reqs = [
        {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": pool.instance_types},
        {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": [pool.capacity_type]},
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    gpu_labels = sorted({o.gpu_label for o in pool.offerings if o.gpu_label})
    if gpu_labels:
        reqs.append({"key": GPU_NAME_LABEL, "operator": "In", "values": gpu_labels})
    extra: dict[str, set[str]] = {}
    for o in pool.offerings:
        for key, value in o.node_labels.items():
            extra.setdefault(key, set()).add(value)
    for key in sorted(extra):
        if key not in (GPU_NAME_LABEL, CAPACITY_TYPE_LABEL):
            reqs.append({"key": key, "operator": "In", "values": sorted(extra[key])})
    return reqs


def node_class_ref() -> dict[str, str]:
    if settings.KARPENTER_NODE_CLASS == "kwok":
        return {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": NODE_CLASS_NAME}
    return {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS_NAME}


def _labels(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, **(extra or {})}


def node_pool(pool: Pool) -> dict[str, Any]:
    check_renderable(pool)
    return {
        "apiVersion": NODEPOOL_API,
        "kind": "NodePool",
        "metadata": {"name": pool.name, "labels": _labels({LABEL_POOL_FAMILY: pool.family})},
        "spec": {
            "template": {
                "metadata": {"labels": _labels({LABEL_POOL_FAMILY: pool.family})},
                "spec": {
                    "nodeClassRef": node_class_ref(),
                    "requirements": _requirements(pool),
                    "taints": [dict(GPU_TAINT)],
                    "expireAfter": "Never",
                    "terminationGracePeriod": TERMINATION_GRACE[pool.capacity_type],
                },
            },
            "limits": {GPU_RESOURCE: str(pool.max_gpus)},
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": CONSOLIDATE_AFTER,
                "budgets": [{"nodes": "1"}],
            },
            "weight": WEIGHTS[pool.capacity_type],
        },
    }


def node_class() -> dict[str, Any]:
    """The NodeClass every pool references: AWS EC2NodeClass (default) or KWOKNodeClass."""
    meta = {"name": NODE_CLASS_NAME, "labels": _labels()}
    if settings.KARPENTER_NODE_CLASS == "kwok":
        return {"apiVersion": KWOK_NODECLASS_API, "kind": "KWOKNodeClass", "metadata": meta}
    discovery = {"karpenter.sh/discovery": settings.KARPENTER_CLUSTER_NAME}
    return {
        "apiVersion": EC2_NODECLASS_API,
        "kind": "EC2NodeClass",
        "metadata": meta,
        "spec": {
            "role": settings.KARPENTER_NODE_ROLE,
            # AL2023's NVIDIA variant is picked for GPU instance types by the alias.
            "amiSelectorTerms": [{"alias": settings.KARPENTER_AMI_ALIAS}],
            "subnetSelectorTerms": [{"tags": discovery}],
            "securityGroupSelectorTerms": [{"tags": discovery}],
            # Room for images and model weights on the node's root volume.
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "volumeSize": f"{settings.KARPENTER_ROOT_VOLUME_GIB}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                    },
                }
            ],
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        },
    }


def render(pool_rows: list[Pool] | None = None) -> list[dict[str, Any]]:
    """The NodeClass, then every NodePool: exactly what the worker applies."""
    rows = pools() if pool_rows is None else pool_rows
    return [node_class(), *(node_pool(p) for p in rows)]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)


# --- the KWOK provider's instance-types file ---------------------------------------------------


def kwok_instance_types(pool_rows: list[Pool] | None = None) -> list[dict[str, Any]]:
    """The KWOK provider's ``--instance-types-file-path`` JSON (kwok/cloudprovider/helpers.go's
    InstanceTypeOptions): one entry per instance type, an offering per pooled capacity type at
    the rate in force. Offerings without vCPUs and memory are refused (Karpenter fits pods
    against them)."""
    rows = pools() if pool_rows is None else pool_rows
    by_type: dict[str, dict[str, Any]] = {}
    for pool in rows:
        for o in pool.offerings:
            if not o.vcpus or not o.memory_gib:
                raise PoolError(
                    f"offering {o.instance_type} has no vCPUs/memory in the catalog: set them "
                    "(Karpenter fits pods against them)"
                )
            entry = by_type.setdefault(
                o.instance_type,
                {
                    "name": o.instance_type,
                    "offerings": [],
                    "architecture": "amd64",
                    "operatingSystems": ["linux"],
                    "resources": {
                        "cpu": str(o.vcpus),
                        "memory": f"{o.memory_gib}Gi",
                        "ephemeral-storage": "500Gi",
                        "pods": PODS_PER_NODE,
                        GPU_RESOURCE: str(o.gpus),
                    },
                },
            )
            entry["offerings"].append(
                {
                    "Price": float(o.hourly_price),
                    "Available": True,
                    "Requirements": [
                        {
                            "key": CAPACITY_TYPE_LABEL,
                            "operator": "In",
                            "values": [pool.capacity_type],
                        },
                        {
                            "key": "topology.kubernetes.io/zone",
                            "operator": "In",
                            "values": [KWOK_ZONE],
                        },
                    ],
                }
            )
    return [by_type[name] for name in sorted(by_type)]
