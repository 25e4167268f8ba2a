"""Helpers for the integration tests on the real kube-apiserver: the test plays the KServe
controller by patching InferenceService status through the status subresource."""

from datetime import UTC, datetime

from deployments import manifests
from deployments.k8s import ClusterClient


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def isvc_resource(client: ClusterClient):
    return client.dynamic.resources.get(api_version=manifests.ISVC_API, kind="InferenceService")


def kserve_sets_status(
    client: ClusterClient,
    endpoint,
    *,
    ready=True,
    stopped=False,
    url="http://chat.example.com",
    message=None,
):
    """Write status the way KServe would: conditions, url, observedGeneration."""
    live = client.get(
        manifests.ISVC_API, "InferenceService", endpoint.isvc_name, endpoint.namespace
    )
    state = "True" if ready else "False"
    conditions = [
        {
            "type": t,
            "status": state,
            "lastTransitionTime": now(),
            **(
                {"reason": "MinimumReplicasUnavailable", "message": message}
                if message and not ready
                else {}
            ),
        }
        for t in ("PredictorReady", "IngressReady", "LatestDeploymentReady", "Ready")
    ]
    if stopped:
        conditions = [
            {"type": "Stopped", "status": "True", "reason": "Stopped", "lastTransitionTime": now()},
            {"type": "Ready", "status": "False", "reason": "Stopped", "lastTransitionTime": now()},
        ]
    status = {"observedGeneration": live["metadata"]["generation"], "conditions": conditions}
    if ready and not stopped:
        status["url"] = url
    isvc_resource(client).status.patch(
        body={"status": status},
        name=endpoint.isvc_name,
        namespace=endpoint.namespace,
        content_type="application/merge-patch+json",
    )
