"""Predictor pods and nodes as the apiserver returns them, with the stage times a test picks
(seconds relative to a frozen `at`), for the cold-start measurements."""

from datetime import datetime, timedelta

from deployments.endpoints import manifests


def iso(at: datetime, seconds: float) -> str:
    return (at + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    at: datetime,
    *,
    created: float,
    scheduled: float | None,
    ready: float | None,
    weights: float | None = None,
    uid: str = "pod-uid-1",
    name: str = "chat-predictor-abc",
    node: str = "gpu-node-1",
    restarts: int = 0,
    endpoint=None,
    cached: bool = False,
) -> dict:
    """A predictor pod; ``weights`` None = no storage-initializer (the cache's PVC instead)."""
    conditions = []
    if scheduled is not None:
        conditions.append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": iso(at, scheduled)}
        )
    conditions.append(
        {
            "type": "Ready",
            "status": "True" if ready is not None else "False",
            "lastTransitionTime": iso(at, ready if ready is not None else created),
        }
    )
    status = {
        "phase": "Running",
        "conditions": conditions,
        "containerStatuses": [
            {"name": "kserve-container", "ready": ready is not None, "restartCount": restarts}
        ],
    }
    if weights is not None:
        status["initContainerStatuses"] = [
            {
                "name": "storage-initializer",
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": iso(at, scheduled or created),
                        "finishedAt": iso(at, weights),
                    }
                },
            }
        ]
    labels = manifests.endpoint_labels(endpoint) if endpoint is not None else {}
    if cached:
        labels["internal.serving.kserve.io/localmodel"] = "cache"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": endpoint.namespace if endpoint is not None else "team-a",
            "uid": uid,
            "creationTimestamp": iso(at, created),
            "labels": labels,
        },
        "spec": {"nodeName": node},
        "status": status,
    }


def node(at: datetime, *, created: float, ready: float, name: str = "gpu-node-1", pool=None):
    labels = {"karpenter.sh/nodepool": pool} if pool else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": iso(at, created), "labels": labels},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": iso(at, ready)}
            ]
        },
    }


def nodeclaim(at: datetime, *, created: float, node_name: str = "gpu-node-1") -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "gpu-abcde", "creationTimestamp": iso(at, created)},
        "status": {"nodeName": node_name},
    }
