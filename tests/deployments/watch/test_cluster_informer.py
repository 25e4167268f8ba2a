"""The status watcher's cluster half on the real kube-apiserver: list + watch with bookmarks,
the resume after a 410 Gone, and the Lease election (deployments/k8s.py, deployments/watch)."""

import base64
import json
import threading
import time
import urllib.request

import pytest

from deployments.k8s import ClusterClient, WatchExpired
from deployments.watch.informer import Informer, Store
from deployments.watch.leader import LeaseElector
from tests.deployments.cluster_helpers import wait_for

pytestmark = pytest.mark.cluster
LABEL = "modelport.io/endpoint-uuid"


@pytest.fixture
def client(settings, kubeconfig_path):
    settings.KUBECONFIG = kubeconfig_path
    settings.KUBE_CONTEXT = ""
    settings.KUBE_IN_CLUSTER = False
    return ClusterClient.for_watching()


def _config_map(namespace: str, name: str, value: str = "1") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {LABEL: name}},
        "data": {"v": value},
    }


def compact_etcd(kube_cluster) -> int:
    """Compact etcd's history up to its current revision (what the apiserver does every 5
    minutes); returns that revision. Older resourceVersions are then gone for good."""
    base = f"http://127.0.0.1:{kube_cluster.etcd_port}/v3/kv"

    def post(path, body):
        req = urllib.request.Request(
            f"{base}/{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    key = base64.b64encode(b"/").decode()
    revision = int(post("range", {"key": key, "limit": 1})["header"]["revision"])
    post("compaction", {"revision": str(revision), "physical": True})
    return revision


def _informer(client, namespace, store, seen, timeout=60):
    return Informer(
        client, "v1", "ConfigMap", namespace, LABEL, store, seen.append, timeout_seconds=timeout
    )


def _run(informer):
    thread = threading.Thread(target=informer.run, daemon=True)
    thread.start()
    return thread


def _held(store, name):
    return [o["data"]["v"] for o in store.by_label("ConfigMap", LABEL, name)]


def test_informer_lists_then_follows_changes_by_watch(client, kube_namespace):
    client.apply([_config_map(kube_namespace, "a")])
    store, seen = Store((LABEL,)), []
    informer = _informer(client, kube_namespace, store, seen)
    thread = _run(informer)
    try:
        assert informer.synced.wait(10)
        assert _held(store, "a") == ["1"]
        client.apply([_config_map(kube_namespace, "a", "2"), _config_map(kube_namespace, "b")])
        wait_for(lambda: _held(store, "a") == ["2"] and _held(store, "b") == ["1"], "the watch")
        client.delete(_config_map(kube_namespace, "b"))
        wait_for(lambda: _held(store, "b") == [], "the deletion")
        assert informer.lists == 1  # everything after the first list came by watch
    finally:
        informer.stop()
    client.apply([_config_map(kube_namespace, "c")])  # the next event ends the thread
    thread.join(10)
    assert not thread.is_alive()


def _restart_apiserver_after_compaction(kube_cluster) -> None:
    """etcd compacted and the apiserver restarted (an upgrade, a crash): its watch cache starts
    at the current revision, so every older resourceVersion is gone (410 Gone)."""
    compact_etcd(kube_cluster)
    kube_cluster.stop_apiserver()
    kube_cluster.start_apiserver()


def test_informer_lists_again_after_410_and_loses_nothing(client, kube_namespace, kube_cluster):
    """Resumed from a version the apiserver no longer serves, the informer gets 410 Gone, lists
    again and reports what changed meanwhile, deletions included."""
    client.apply([_config_map(kube_namespace, "kept"), _config_map(kube_namespace, "gone")])
    store, seen = Store((LABEL,)), []
    informer = _informer(client, kube_namespace, store, seen)
    informer._list()  # the first list, as run() does; then the watcher is away
    old_version = informer.resource_version
    assert _held(store, "gone") == ["1"]
    client.apply([_config_map(kube_namespace, "kept", "2"), _config_map(kube_namespace, "new")])
    client.delete(_config_map(kube_namespace, "gone"))
    _restart_apiserver_after_compaction(kube_cluster)
    fresh = ClusterClient.for_watching()
    with pytest.raises(WatchExpired):
        list(fresh.watch("v1", "ConfigMap", kube_namespace, LABEL, old_version, 5))
    seen.clear()
    thread = _run(informer)
    try:
        wait_for(lambda: informer.lists == 2, "the list after the 410")
        assert _held(store, "kept") == ["2"]
        assert _held(store, "new") == ["1"]
        assert _held(store, "gone") == []
        names = {o["metadata"]["name"] for o in seen}
        assert names == {"kept", "new", "gone"}  # every change reported, the deletion too
        fresh.apply([_config_map(kube_namespace, "new", "3")])
        wait_for(lambda: _held(store, "new") == ["3"], "the watch after the fresh list")
        assert informer.lists == 2
    finally:
        informer.stop()
        thread.join(10)


def test_watch_with_bookmarks_resumes_from_the_last_version(client, kube_namespace):
    """A watch the apiserver ends (timeoutSeconds) is reopened from the last resourceVersion
    it saw, without a new list."""
    store, seen = Store((LABEL,)), []
    informer = _informer(client, kube_namespace, store, seen, timeout=2)
    thread = _run(informer)
    try:
        assert informer.synced.wait(10)
        time.sleep(5)  # at least two watches ended by the apiserver and resumed
        client.apply([_config_map(kube_namespace, "late")])
        wait_for(lambda: _held(store, "late") == ["1"], "the change after the resumes")
        assert informer.lists == 1
    finally:
        informer.stop()
        thread.join(10)


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_lease_one_leader_and_a_successor_once_it_stops_renewing(client, kube_namespace):
    clock = _Clock()
    first = LeaseElector(client, "watcher", kube_namespace, "first", 15, clock=clock)
    second = LeaseElector(client, "watcher", kube_namespace, "second", 15, clock=clock)
    assert first.try_lead()
    assert not second.try_lead()
    clock.now += 10
    assert first.try_lead()  # renewed
    assert not second.try_lead()  # it saw the renewal: waits a whole lease again
    clock.now += 14
    assert not second.try_lead()
    # "first" is killed here: it renews no more. Its record stays unchanged for 15 s.
    clock.now += 16
    assert second.try_lead()
    lease = client.get_lease("watcher", kube_namespace)
    assert lease["spec"]["holderIdentity"] == "second"
    assert lease["spec"]["leaseTransitions"] == 1
    assert not first.try_lead()  # the old leader comes back: it must not lead
    assert not first.leading


def test_lease_released_on_shutdown_is_taken_at_once(client, kube_namespace):
    clock = _Clock()
    first = LeaseElector(client, "watcher", kube_namespace, "first", 15, clock=clock)
    second = LeaseElector(client, "watcher", kube_namespace, "second", 15, clock=clock)
    assert first.try_lead()
    assert not second.try_lead()
    first.release()
    assert second.try_lead()


def test_two_electors_racing_for_a_free_lease_never_both_lead(client, kube_namespace):
    electors = [
        LeaseElector(client, "race", kube_namespace, f"r{i}", 15, clock=_Clock()) for i in range(4)
    ]
    results = []
    threads = [threading.Thread(target=lambda e=e: results.append(e.try_lead())) for e in electors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
