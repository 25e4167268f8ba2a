"""The one place the UI reads live cluster state: an endpoint's predictor pods and a log tail
of each (the Pods tab), and whether a cluster is connected at all (`cluster_configured`, a
settings check the pages use to say so, taken from the adapter).

Everything else the pages and the API show comes from the database, written by the sync path
(`sync_statuses` -> `observe.status_from` -> `services.record_observed`; STYLE.md §1.2, §4).
Pods and logs are the exception because they change by the second and are only worth reading
while someone looks at them: storing them would mean a write per pod per sync for a tab few
people open. So the views never import `deployments.k8s` (an import-linter contract holds it);
they call this module, which calls the cluster adapter and turns every cluster failure into a
sentence for the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployments.endpoints import page as endpoint_page
from deployments.k8s import ClusterClient, cluster_configured
from deployments.workloads.errors import PermanentClusterError, TransientClusterError

LOG_LINES = 40
MAX_LOG_PODS = 3

NO_CLUSTER = "No cluster is connected, so there are no pods to show."
NO_LOG_YET = "The container has not started yet: no log so far."
NO_LOG_SERVED = (
    "This cluster does not serve the pod's log (the node's kubelet did not answer); "
    "the pod itself may be fine."
)


@dataclass(frozen=True)
class LivePods:
    """The Pods tab's data: (row, log) per pod, or why there is none (``cluster_error``).
    A log is ``{"text": ...}`` or ``{"missing": sentence, "detail"?: the cluster's words}``;
    pods past MAX_LOG_PODS have no log (None)."""

    pods: list[tuple[endpoint_page.PodRow, dict | None]] = field(default_factory=list)
    cluster_error: str = ""

    def as_context(self) -> dict:
        if self.cluster_error:
            return {"cluster_error": self.cluster_error}
        return {"pods": self.pods}


def live_pods(endpoint, log_lines: int = LOG_LINES, max_log_pods: int = MAX_LOG_PODS) -> LivePods:
    """The endpoint's predictor pods (oldest first) with a tail of the first ``max_log_pods``
    pods' logs: one list call plus one log call per started pod shown."""
    if not cluster_configured():
        return LivePods(cluster_error=NO_CLUSTER)
    try:
        client = ClusterClient.from_settings()
        pods = client.predictor_pods(endpoint.namespace, str(endpoint.uuid))
    except (PermanentClusterError, TransientClusterError) as exc:
        return LivePods(cluster_error=f"The cluster did not list the pods: {exc}")
    logs = {}
    for pod in pods[:max_log_pods]:
        name, container = pod["metadata"]["name"], endpoint_page.log_container(pod)
        if container is None:
            logs[name] = {"missing": NO_LOG_YET}
            continue
        try:
            logs[name] = {
                "text": client.pod_log_tail(endpoint.namespace, name, container, log_lines)
            }
        except (PermanentClusterError, TransientClusterError) as exc:
            logs[name] = {"missing": NO_LOG_SERVED, "detail": str(exc)}
    return LivePods(pods=[(row, logs.get(row.name)) for row in endpoint_page.pod_rows(pods)])
