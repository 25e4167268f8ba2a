"""The informers' shared Store: objects indexed by the values of a few labels."""

from deployments.watch.informer import Store

A, B = "modelport.io/endpoint-uuid", "modelport.io/route-uuid"


def _obj(name, labels, created="2026-12-01T08:00:00Z"):
    return {
        "metadata": {
            "name": name,
            "namespace": "mp-x",
            "labels": labels,
            "creationTimestamp": created,
        }
    }


def test_objects_are_found_by_each_indexed_label_oldest_first():
    store = Store((A, B))
    store.put("Pod", _obj("new", {A: "u1"}, "2026-12-01T09:00:00Z"))
    store.put("Pod", _obj("old", {A: "u1", B: "r1"}, "2026-12-01T08:00:00Z"))
    store.put("Pod", _obj("other", {A: "u2", "unindexed": "x"}))
    assert [o["metadata"]["name"] for o in store.by_label("Pod", A, "u1")] == ["old", "new"]
    assert [o["metadata"]["name"] for o in store.by_label("Pod", B, "r1")] == ["old"]
    assert store.by_label("Deployment", A, "u1") == []
    assert store.keys_of(_obj("x", {A: "u2", "unindexed": "x"})) == {(A, "u2")}


def test_a_new_version_replaces_the_old_and_drops_labels_it_no_longer_has():
    store = Store((A, B))
    old = _obj("p", {A: "u1", B: "r1"})
    store.put("Pod", old)
    new = _obj("p", {A: "u1"})
    new["status"] = {"phase": "Running"}
    store.put("Pod", new, old)
    assert store.by_label("Pod", A, "u1") == [new]
    assert store.by_label("Pod", B, "r1") == []


def test_delete_removes_the_object_from_every_index():
    store = Store((A, B))
    obj = _obj("p", {A: "u1", B: "r1"})
    store.put("Pod", obj)
    store.delete("Pod", obj)
    assert store.by_label("Pod", A, "u1") == [] and store.by_label("Pod", B, "r1") == []
