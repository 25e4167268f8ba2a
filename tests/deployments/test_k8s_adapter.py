"""deployments.k8s: error translation (unit) and every adapter call on the real apiserver."""

import json
from types import SimpleNamespace

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from deployments.endpoints import manifests
from deployments.k8s import ClusterClient, ClusterNotConfigured, cluster_configured, translate
from deployments.workloads import labels
from deployments.workloads.errors import PermanentClusterError, TransientClusterError


def _api_error(status, message="boom"):
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"kind": "Status", "message": message})
    return exc


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_transient(status):
    err = translate(_api_error(status, "etcdserver: request timed out"), "apply X")
    assert isinstance(err, TransientClusterError)
    assert str(err) == f"apply X: etcdserver: request timed out (HTTP {status})"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_permanent_with_the_apiserver_message(status):
    err = translate(_api_error(status, 'InferenceService "x" is invalid'), "apply X")
    assert isinstance(err, PermanentClusterError)
    assert 'InferenceService "x" is invalid' in str(err)
    assert err.status == status  # callers tell a 404 from the rest by it (ClusterClient.list)


class _Resource:
    """A dynamic-client resource whose list answers `outcome` (a response body or an error)."""

    def __init__(self, outcome):
        self.outcome = outcome

    def get(self, **kwargs):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return SimpleNamespace(data=json.dumps(self.outcome).encode())


def _client_listing(monkeypatch, outcome) -> ClusterClient:
    from kubernetes import client as k8s_client

    client = ClusterClient(k8s_client.ApiClient())
    monkeypatch.setattr(client, "_resource", lambda api_version, kind: _Resource(outcome))
    return client


def test_list_gives_the_items_and_list_versioned_also_the_resource_version(monkeypatch):
    body = {"metadata": {"resourceVersion": "42"}, "items": [{"metadata": {"name": "a"}}]}
    client = _client_listing(monkeypatch, body)
    assert client.list("v1", "Pod", "ns") == body["items"]
    assert client.list_versioned("v1", "Pod", "ns") == (body["items"], "42")


def test_list_of_a_namespace_that_does_not_exist_is_empty_but_list_versioned_raises(monkeypatch):
    client = _client_listing(monkeypatch, _api_error(404, 'namespaces "ns" not found'))
    assert client.list("v1", "Pod", "ns") == []
    with pytest.raises(PermanentClusterError, match="HTTP 404"):
        client.list_versioned("v1", "Pod", "ns")


@pytest.mark.parametrize(
    "status, error", [(403, PermanentClusterError), (503, TransientClusterError)]
)
def test_list_raises_other_failures_in_words(monkeypatch, status, error):
    client = _client_listing(monkeypatch, _api_error(status, "pods is forbidden"))
    with pytest.raises(error, match=rf"list Pod in ns: pods is forbidden \(HTTP {status}\)"):
        client.list("v1", "Pod", "ns")


def test_connection_errors_are_transient():
    err = translate(urllib3.exceptions.MaxRetryError(None, "/version", "refused"), "discovery")
    assert isinstance(err, TransientClusterError)
    assert isinstance(translate(ConnectionRefusedError(), "x"), TransientClusterError)


def test_no_configuration_is_reported_clearly(settings):
    settings.KUBECONFIG, settings.KUBE_IN_CLUSTER = "", False
    assert not cluster_configured()
    with pytest.raises(ClusterNotConfigured, match="KUBECONFIG"):
        ClusterClient.from_settings()


def test_broken_kubeconfig_is_a_clear_error(settings, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("not: a kubeconfig")
    settings.KUBECONFIG = str(path)
    with pytest.raises(ClusterNotConfigured, match="Cannot load"):
        ClusterClient.from_settings()


# --- on the real apiserver ---------------------------------------------------------------------


@pytest.fixture
def objects(golden_endpoint, live_cluster):
    return manifests.render(golden_endpoint)


@pytest.mark.cluster
def test_apply_is_server_side_with_our_field_manager_and_idempotent(live_cluster, objects):
    first = live_cluster.apply(objects)
    second = live_cluster.apply(objects)
    isvc1, isvc2 = first[2], second[2]
    # The real KServe controller writes status and its finalizer in between (resourceVersion
    # moves); the second apply changes nothing of ours.
    assert isvc1["metadata"]["generation"] == isvc2["metadata"]["generation"]
    assert isvc1["spec"] == isvc2["spec"]
    ours = [m for m in isvc2["metadata"]["managedFields"] if m["manager"] == "modelport"]
    assert [m["operation"] for m in ours] == ["Apply"]


@pytest.mark.cluster
def test_apply_takes_back_fields_another_manager_changed(live_cluster, objects):
    live_cluster.apply(objects)
    isvc = objects[2]
    res = live_cluster.dynamic.resources.get(
        api_version=manifests.ISVC_API, kind="InferenceService"
    )
    live_cluster.dynamic.server_side_apply(
        res,
        body={
            "apiVersion": manifests.ISVC_API,
            "kind": "InferenceService",
            "metadata": {"name": "chat", "namespace": isvc["metadata"]["namespace"]},
            "spec": {"predictor": {"nodeSelector": {"karpenter.sh/capacity-type": "spot"}}},
        },
        field_manager="kubectl",
        force_conflicts=True,
    )
    stored = live_cluster.apply(objects)[2]
    assert stored["spec"]["predictor"]["nodeSelector"]["karpenter.sh/capacity-type"] == (
        "on-demand"
    )


@pytest.mark.cluster
def test_get_list_and_delete(live_cluster, objects, golden_endpoint):
    live_cluster.apply(objects)
    ns = golden_endpoint.namespace
    assert live_cluster.get(manifests.ISVC_API, "InferenceService", "chat", ns) is not None
    assert live_cluster.get(manifests.ISVC_API, "InferenceService", "nope", ns) is None
    listed = live_cluster.list(manifests.KEDA_API, "ScaledObject", ns, labels.MANAGED_SELECTOR)
    assert [o["metadata"]["name"] for o in listed] == ["chat-predictor"]
    assert (
        live_cluster.list(
            manifests.KEDA_API, "ScaledObject", ns, "app.kubernetes.io/managed-by=someone-else"
        )
        == []
    )
    assert live_cluster.delete(objects[2]) is True
    # KServe's finalizer may hold it a moment (a delete while Terminating is accepted again)
    from .cluster_helpers import wait_for

    wait_for(
        lambda: live_cluster.get(manifests.ISVC_API, "InferenceService", "chat", ns) is None,
        "the InferenceService to go",
    )
    assert live_cluster.delete(objects[2]) is False  # 404 is done


@pytest.mark.cluster
def test_list_in_a_missing_namespace_is_empty(live_cluster):
    assert live_cluster.list(manifests.ISVC_API, "InferenceService", "no-such-ns-x1") == []


@pytest.mark.cluster
def test_invalid_object_is_permanent_with_the_apiserver_message(live_cluster, objects):
    bad = json.loads(json.dumps(objects[2]))
    bad["metadata"]["labels"]["modelport.io/endpoint"] = "not a label value"
    live_cluster.apply(objects[:1])
    with pytest.raises(PermanentClusterError) as exc:
        live_cluster.apply([bad])
    assert 'InferenceService.serving.kserve.io "chat" is invalid' in str(exc.value)
    assert "metadata.labels: Invalid value" in str(exc.value)
    assert "(HTTP 422)" in str(exc.value)


@pytest.mark.cluster
def test_events_lists_core_events(live_cluster, objects, golden_endpoint):
    from kubernetes import client

    live_cluster.apply(objects[:1])
    client.CoreV1Api(live_cluster.api_client).create_namespaced_event(
        golden_endpoint.namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="chat-predictor-1.x"),
            involved_object=client.V1ObjectReference(
                kind="Pod", name="chat-predictor-1", namespace=golden_endpoint.namespace
            ),
            reason="FailedScheduling",
            message="0/1 nodes are available",
            type="Warning",
        ),
    )
    events = live_cluster.events(golden_endpoint.namespace)
    assert [(e["reason"], e["involvedObject"]["name"]) for e in events] == [
        ("FailedScheduling", "chat-predictor-1")
    ]


@pytest.mark.cluster
def test_stopped_apiserver_is_transient(kube_cluster, live_cluster, objects):
    live_cluster.apply(objects)
    kube_cluster.stop_apiserver()
    try:
        with pytest.raises(TransientClusterError, match="cannot reach the Kubernetes API"):
            live_cluster.apply(objects)
    finally:
        kube_cluster.start_apiserver()
    assert live_cluster.apply(objects)[2]["metadata"]["name"] == "chat"


@pytest.mark.cluster
def test_unchanged_team_objects_are_not_sent_again(live_cluster, objects, monkeypatch):
    sent = []
    real = live_cluster.dynamic.server_side_apply

    def counting(resource, body=None, **kw):
        sent.append(body["kind"])
        return real(resource, body=body, **kw)

    monkeypatch.setattr(live_cluster.dynamic, "server_side_apply", counting)
    kinds = ("Namespace", "ResourceQuota")
    live_cluster.apply(objects, reuse_kinds=kinds)
    live_cluster.apply(objects, reuse_kinds=kinds)
    own = ["InferenceService", "ScaledObject", "PodDisruptionBudget"]
    assert sent == ["Namespace", "ResourceQuota", *own, *own]
    changed = json.loads(json.dumps(objects))
    changed[1]["spec"]["hard"]["requests.nvidia.com/gpu"] = "20"
    live_cluster.apply(changed, reuse_kinds=kinds)
    assert sent[8:] == ["ResourceQuota", *own]


@pytest.mark.cluster
def test_a_namespace_that_vanished_is_applied_again(live_cluster, objects):
    import time as _time

    ghost = json.loads(json.dumps(objects))
    ns = ghost[0]["metadata"]["name"] + "-gone"
    ghost[0]["metadata"]["name"] = ns
    for obj in ghost[1:]:
        obj["metadata"]["namespace"] = ns
    # this process believes it applied the namespace a moment ago, but it does not exist
    live_cluster._recent[("Namespace", None, ns)] = (
        json.dumps(ghost[0], sort_keys=True),
        _time.monotonic(),
    )
    stored = live_cluster.apply(ghost, reuse_kinds=("Namespace", "ResourceQuota"))
    assert stored[0]["metadata"]["uid"]  # really applied on the second pass
    assert live_cluster.get("v1", "Namespace", ns) is not None
