"""The status watcher's product glue (deployments/watch/products.py): the objects an informer
holds -> each product's observe + compare-and-set record. No cluster: the Store is filled with
the objects the controllers write (shapes as in tests/deployments/kserve_shapes.py)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from deployments.batch.choices import BatchJobStatus
from deployments.batch.manifests import LABEL_BATCH_RUN, LABEL_BATCH_UUID
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.watch import products
from deployments.watch.informer import Store
from deployments.workloads.labels import LABEL_ENDPOINT_UUID
from tests.factories import BatchJobFactory, EndpointFactory

pytestmark = pytest.mark.dates

T0 = datetime(2026, 12, 4, 19, tzinfo=UTC)
READY_AT = T0 + timedelta(seconds=240)  # the pod's Ready transition (the last one)
NOW = T0 + timedelta(seconds=300)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cond(ctype, status, at):
    return {"type": ctype, "status": status, "lastTransitionTime": _iso(at)}


def _obj(name, labels, **rest):
    return {"metadata": {"name": name, "namespace": "mp-x", "labels": labels}, **rest}


class _NoCluster:
    applied: list = []
    present: dict = {}  # kind -> the name a list finds

    def apply(self, objects):
        self.applied.extend(objects)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        name = self.present.get(kind)
        return [{"kind": kind, "metadata": {"name": name}}] if name else []


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch):
    fake = _NoCluster()
    fake.applied, fake.present = [], {}
    monkeypatch.setattr(products.ClusterClient, "from_settings", classmethod(lambda cls: fake))
    return fake


@pytest.fixture
def endpoint(team):
    ep = EndpointFactory(
        team=team, status=EndpointStatus.PROVISIONING, generation=2, applied_generation=2
    )
    Endpoint.objects.filter(pk=ep.pk).update(
        status_changed_at=T0, created_at=T0 - timedelta(minutes=1)
    )
    return ep


def _serving(store: Store, ep, ready: bool = True) -> set:
    labels = {LABEL_ENDPOINT_UUID: str(ep.uuid)}
    store.put(
        "InferenceService",
        _obj(
            ep.isvc_name,
            labels,
            status={
                "url": "http://chat.example.com",
                "conditions": [
                    _cond("PredictorReady", "True", T0 + timedelta(seconds=5)),
                    _cond("IngressReady", "True", T0 + timedelta(seconds=5)),
                    _cond("Ready", "True", T0 + timedelta(seconds=5)),
                ],
            },
        ),
    )
    store.put(
        "Deployment",
        _obj(
            f"{ep.isvc_name}-predictor",
            labels,
            spec={"replicas": 1},
            status={"readyReplicas": int(ready), "updatedReplicas": 1},
        ),
    )
    pod = _obj(
        f"{ep.isvc_name}-predictor-abc",
        labels,
        status={
            "conditions": [
                _cond("PodScheduled", "True", T0 + timedelta(seconds=2)),
                _cond("Ready", str(ready), READY_AT),
            ]
        },
    )
    pod["metadata"].update(uid=f"pod-{ep.pk}", creationTimestamp=_iso(T0))
    store.put("Pod", pod)
    return {(LABEL_ENDPOINT_UUID, str(ep.uuid))}


def test_a_ready_endpoint_is_recorded_at_the_controllers_transition_time(endpoint):
    store = Store(products.INDEX_LABELS)
    keys = _serving(store, endpoint)
    with time_machine.travel(NOW, tick=False):
        assert products.record(keys, store) == 1
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.READY
    assert endpoint.url == "http://chat.example.com"
    # the pod became ready after KServe's Ready condition: its transition is the one recorded
    assert endpoint.status_changed_at == READY_AT
    # the pod's start, from its own stages (created -> scheduled -> Ready)
    assert endpoint.cold_starts.get().seconds == 240


def test_recording_the_same_objects_twice_changes_nothing(endpoint):
    store = Store(products.INDEX_LABELS)
    keys = _serving(store, endpoint)
    with time_machine.travel(NOW, tick=False):
        assert products.record(keys, store) == 1
        before = Endpoint.objects.values().get(pk=endpoint.pk)
        events = endpoint.events.count()
        assert products.record(keys, store) == 0
    assert Endpoint.objects.values().get(pk=endpoint.pk) == before
    assert endpoint.events.count() == events


def test_an_endpoint_whose_apply_is_in_flight_is_left_to_its_apply(endpoint):
    Endpoint.objects.filter(pk=endpoint.pk).update(generation=3)
    store = Store(products.INDEX_LABELS)
    assert products.record(_serving(store, endpoint), store) == 0
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.PROVISIONING


def test_a_still_waiting_endpoint_keeps_the_resyncs_wording(endpoint):
    """Provisioning -> Provisioning: the watch has no news; the periodic sync's message (with
    the pods' Warning events, a quota refusal) is not replaced by the bare conditions."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        status_message="Starting: ... Events: FailedScheduling: 0/3 nodes are available"
    )
    store = Store(products.INDEX_LABELS)
    keys = _serving(store, endpoint, ready=False)
    assert products.record(keys, store) == 0
    endpoint.refresh_from_db()
    assert endpoint.status_message.endswith("0/3 nodes are available")


def test_an_endpoint_without_its_inference_service_is_left_to_the_resync(endpoint):
    store = Store(products.INDEX_LABELS)
    assert products.record({(LABEL_ENDPOINT_UUID, str(endpoint.uuid))}, store) == 0


def test_a_deleting_endpoint_is_deleted_once_its_objects_are_gone(endpoint, no_cluster):
    """The InferenceService's DELETED event: its ScaledObject (not watched) is read on the
    follow-up thread; the endpoint is Deleted only when nothing of it is left."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        desired_state="absent", status=EndpointStatus.DELETING
    )
    store, later = Store(products.INDEX_LABELS), []
    keys = _serving(store, endpoint)
    assert products.record(keys, store, lambda fn, *args: later.append((fn, args))) == 0
    assert later == []  # its InferenceService is still there (finalizers)

    [isvc] = store.by_label("InferenceService", LABEL_ENDPOINT_UUID, str(endpoint.uuid))
    store.delete("InferenceService", isvc)
    assert products.record(keys, store, lambda fn, *args: later.append((fn, args))) == 0
    [(fn, args)] = later
    no_cluster.present = {"ScaledObject": f"{endpoint.isvc_name}-predictor"}  # KEDA's finalizer
    fn(*args)
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.DELETING
    no_cluster.present = {}
    fn(*args)
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DELETED and endpoint.deleted_at is not None


def test_a_finished_batch_run_is_recorded_at_the_job_controllers_time(team):
    job = BatchJobFactory(
        team=team, status=BatchJobStatus.RUNNING, generation=1, applied_generation=1, shards=2
    )
    labels = {LABEL_BATCH_UUID: str(job.uuid), LABEL_BATCH_RUN: str(job.run)}
    done = T0 + timedelta(minutes=30)
    store = Store(products.INDEX_LABELS)
    store.put(
        "Job",
        _obj(
            job.job_name,
            labels,
            status={"completedIndexes": "0-1", "conditions": [_cond("Complete", "True", done)]},
        ),
    )
    keys = {(LABEL_BATCH_UUID, str(job.uuid))}
    with time_machine.travel(done + timedelta(seconds=20), tick=False):
        assert products.record(keys, store) == 1
        assert products.record(keys, store) == 0
    job.refresh_from_db()
    assert job.status == BatchJobStatus.SUCCEEDED
    assert job.status_changed_at == done and job.finished_at == done


def test_the_cold_start_follow_up_is_handed_off_the_recording_path(endpoint, no_cluster):
    """A new pod start (its stages recorded, the planned cold start moved, the ScaledObject
    pushed: apiserver calls) runs on the watcher's follow-up thread, after the row is written."""
    store, later = Store(products.INDEX_LABELS), []
    keys = _serving(store, endpoint)
    with time_machine.travel(NOW, tick=False):
        assert products.record(keys, store, lambda fn, *args: later.append((fn, args))) == 1
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.READY
    assert no_cluster.applied == []  # nothing pushed on the recording path
    [(fn, args)] = later
    with time_machine.travel(NOW, tick=False):
        fn(*args)
    assert [o["kind"] for o in no_cluster.applied] == ["ScaledObject"]


def test_a_complexity_route_is_ready_by_watch_only_once_its_router_answers(team):
    """The watcher records routes through the routes' own observe and record hooks: the
    gateway's Accepted is held back while the Semantic Router has no available replica."""
    from deployments.routing.manifests import LABEL_ROUTE_UUID
    from deployments.routing.models import Route

    route = Route.objects.create(
        team=team,
        name="chat",
        policy="complexity",
        status="provisioning",
        generation=1,
        applied_generation=1,
    )
    labels = {LABEL_ROUTE_UUID: str(route.uuid)}
    accepted = [
        {"type": t, "status": "True", "observedGeneration": 1} for t in ("Accepted", "ResolvedRefs")
    ]
    store = Store(products.INDEX_LABELS)
    http_route = _obj("chat", labels, status={"parents": [{"conditions": accepted}]})
    http_route["metadata"]["generation"] = 1
    store.put("HTTPRoute", http_route)
    router = _obj("chat-router", labels, status={"observedGeneration": 1, "availableReplicas": 0})
    router["metadata"]["generation"] = 1
    store.put("Deployment", router)
    keys = {(LABEL_ROUTE_UUID, str(route.uuid))}
    assert products.record(keys, store) == 1
    route.refresh_from_db()
    assert route.status == "provisioning" and "Semantic Router" in route.status_message
    router["status"]["availableReplicas"] = 1
    store.put("Deployment", router)
    assert products.record(keys, store) == 1
    assert products.record(keys, store) == 0
    assert Route.objects.get(pk=route.pk).status == "ready"
