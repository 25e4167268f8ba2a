"""The Pods tab's one live cluster read (deployments.endpoints.pods.live_pods) against a stand-in
cluster client: every cluster failure becomes a sentence, logs are fetched for the first few
started pods only. The real apiserver path is test_cluster_endpoint_pods.py."""

from types import SimpleNamespace

import pytest

from deployments.endpoints import pods
from deployments.workloads.errors import PermanentClusterError, TransientClusterError

ENDPOINT = SimpleNamespace(namespace="mp-team", uuid="0b1c", name="chat")


def pod(name, started=True, created="2026-12-01T10:00:00Z"):
    state = {"running": {"startedAt": created}} if started else {"waiting": {"reason": "Init"}}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"nodeName": "node-a"},
        "status": {
            "phase": "Running" if started else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if started else "False"}],
            "containerStatuses": [{"name": "kserve-container", "state": state, "restartCount": 0}],
        },
    }


class FakeCluster:
    def __init__(self, listed=(), list_error=None, log_errors=()):
        self.listed, self.list_error, self.log_errors = list(listed), list_error, log_errors
        self.log_calls = []

    def predictor_pods(self, namespace, endpoint_uuid):
        assert (namespace, endpoint_uuid) == (ENDPOINT.namespace, ENDPOINT.uuid)
        if self.list_error:
            raise self.list_error
        return self.listed

    def pod_log_tail(self, namespace, name, container, lines):
        self.log_calls.append((name, container, lines))
        if name in self.log_errors:
            raise TransientClusterError("kubelet: connection refused")
        return f"log of {name}"


@pytest.fixture
def cluster(monkeypatch):
    def use(fake):
        monkeypatch.setattr(pods, "cluster_configured", lambda: True)
        monkeypatch.setattr(pods.ClusterClient, "from_settings", classmethod(lambda cls: fake))
        return fake

    return use


def test_without_a_cluster_nothing_is_called_and_the_page_says_so(monkeypatch):
    monkeypatch.setattr(pods, "cluster_configured", lambda: False)
    monkeypatch.setattr(pods.ClusterClient, "from_settings", None)  # calling it would fail
    live = pods.live_pods(ENDPOINT)
    assert live.as_context() == {"cluster_error": pods.NO_CLUSTER}


@pytest.mark.parametrize(
    "error", [PermanentClusterError("forbidden"), TransientClusterError("503")]
)
def test_a_list_the_cluster_refuses_is_a_sentence_with_its_words(cluster, error):
    cluster(FakeCluster(list_error=error))
    live = pods.live_pods(ENDPOINT)
    assert live.pods == []
    assert live.cluster_error == f"The cluster did not list the pods: {error}"


def test_logs_are_read_for_the_first_started_pods_only(cluster):
    fake = cluster(FakeCluster([pod("p1"), pod("p2", started=False), pod("p3"), pod("p4")]))
    live = pods.live_pods(ENDPOINT)
    assert [(row.name, log) for row, log in live.pods] == [
        ("p1", {"text": "log of p1"}),
        ("p2", {"missing": pods.NO_LOG_YET}),
        ("p3", {"text": "log of p3"}),
        ("p4", None),  # past MAX_LOG_PODS: no call made
    ]
    assert fake.log_calls == [
        ("p1", "kserve-container", pods.LOG_LINES),
        ("p3", "kserve-container", pods.LOG_LINES),
    ]
    assert "cluster_error" not in live.as_context()


def test_a_log_the_kubelet_does_not_serve_keeps_the_pod_row(cluster):
    cluster(FakeCluster([pod("p1")], log_errors={"p1"}))
    [(row, log)] = pods.live_pods(ENDPOINT).pods
    assert row.name == "p1" and row.ready and row.phase == "Running"
    assert log == {"missing": pods.NO_LOG_SERVED, "detail": "kubelet: connection refused"}
