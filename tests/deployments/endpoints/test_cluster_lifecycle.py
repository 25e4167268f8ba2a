"""Integration: every user path on the real kube-apiserver, with the real KServe controller,
KEDA operator and kube-controller-manager where a path needs them.

The API is called for real, the Celery task runs eagerly on commit (the same code a worker
runs), objects land in the real apiserver, and the controllers answer; only the kubelet is
played (tests/infra FakeKubelet). No test writes an InferenceService status. Marked
`cluster` (skipped locally without binaries, required in CI).
"""

import time

import pytest

from deployments.endpoints import manifests, reconcile
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.tasks import apply_endpoint, sync_statuses
from tests.deployments.cluster_helpers import (
    deployment,
    endpoint_body,
    node_for,
    pods,
    request_endpoint,
    sync_until,
    wait_for,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def request_body(team, llama_8b, gpu_l4):
    return endpoint_body(team, llama_8b, gpu_l4)


def _post(api_client, path, data, capture):
    with capture(execute=True):
        response = api_client.post(path, data, format="json")
    assert response.status_code in (200, 201, 202), response.content
    return response


@pytest.fixture
def requested(api_client, request_body, live_cluster, django_capture_on_commit_callbacks):
    return request_endpoint(api_client, request_body, django_capture_on_commit_callbacks)


def _live(client, endpoint, kind="InferenceService"):
    api = manifests.ISVC_API if kind == "InferenceService" else manifests.KEDA_API
    name = (
        endpoint.isvc_name if kind == "InferenceService" else manifests.scaled_object_name(endpoint)
    )
    return client.get(api, kind, name, endpoint.namespace)


def test_request_becomes_ready_with_url(requested, live_cluster, real):
    ep = requested
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING and ep.applied_generation == 1
    isvc = _live(live_cluster, ep)
    assert isvc["metadata"]["labels"]["modelport.io/endpoint-uuid"] == str(ep.uuid)
    assert isvc["metadata"]["managedFields"][0]["manager"] == "modelport"
    quota = live_cluster.get("v1", "ResourceQuota", "modelport-gpu", ep.namespace)
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "16"}
    assert (
        _live(live_cluster, ep, "ScaledObject")["spec"]["scaleTargetRef"]["name"]
        == "chat-predictor"
    )

    real["kubelet"].hold(ep.namespace)  # the model "loads": pod Running, not Ready
    node_for(real, ep)
    wait_for(lambda: pods(live_cluster, ep), "the predictor pod")
    for _ in range(4):
        sync_statuses()
        ep.refresh_from_db()
        assert ep.status == EndpointStatus.PROVISIONING, ep.status_message
        time.sleep(0.5)

    real["kubelet"].release(ep.namespace)
    sync_until(ep, EndpointStatus.READY, "Ready")
    live = _live(live_cluster, ep)
    assert ep.url == live["status"]["url"]  # set by the KServe controller
    assert ep.url.startswith(f"http://chat-{ep.namespace}.")
    ready_event = ep.events.get(new_status=EndpointStatus.READY)
    assert ready_event.duration_seconds is not None  # the cold start
    assert sync_statuses() == 0  # observing again changes nothing


def test_scale_changes_only_the_scaled_object(
    requested, api_client, live_cluster, django_capture_on_commit_callbacks
):
    """Day 2 without restarts: KServe copies the InferenceService into the pod template, so
    a scale must not touch it at all (its generation stays)."""
    before = _live(live_cluster, requested)["metadata"]["generation"]
    _post(
        api_client,
        f"/api/v1/endpoints/{requested.uuid}/scale/",
        {"min_replicas": 2, "max_replicas": 4},
        django_capture_on_commit_callbacks,
    )
    requested.refresh_from_db()
    assert requested.applied_generation == requested.generation == 2
    assert _live(live_cluster, requested)["metadata"]["generation"] == before
    so = _live(live_cluster, requested, "ScaledObject")
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (2, 4)


def test_stop_and_start(
    requested, api_client, live_cluster, real, django_capture_on_commit_callbacks
):
    ep = requested
    node_for(real, ep)
    sync_until(ep, EndpointStatus.READY, "Ready")
    _post(api_client, f"/api/v1/endpoints/{ep.uuid}/stop/", {}, django_capture_on_commit_callbacks)
    isvc = _live(live_cluster, ep)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"
    assert (
        _live(live_cluster, ep, "ScaledObject")["metadata"]["annotations"][
            "autoscaling.keda.sh/paused"
        ]
        == "true"
    )
    sync_until(ep, EndpointStatus.STOPPED, "KServe to report Stopped")
    wait_for(lambda: deployment(live_cluster, ep) is None, "KServe to delete the Deployment")

    _post(api_client, f"/api/v1/endpoints/{ep.uuid}/start/", {}, django_capture_on_commit_callbacks)
    isvc = _live(live_cluster, ep)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/stop"] == "false"
    assert "autoscaling.keda.sh/paused" not in (
        _live(live_cluster, ep, "ScaledObject")["metadata"].get("annotations") or {}
    )
    sync_statuses()  # KServe may still report Stopped for a moment: no flip-flop
    ep.refresh_from_db()
    assert ep.status in (EndpointStatus.APPLYING, EndpointStatus.PROVISIONING, EndpointStatus.READY)
    sync_until(ep, EndpointStatus.READY, "Ready again")


def test_change_rolls_out_a_new_generation(
    requested, api_client, live_cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.patch(
            f"/api/v1/endpoints/{requested.uuid}/",
            {"quantization": "fp8", "kv_cache_dtype": "fp8"},
            format="json",
        )
    assert r.status_code == 202, r.content
    requested.refresh_from_db()
    assert requested.applied_generation == 2
    args = _live(live_cluster, requested)["spec"]["predictor"]["model"]["args"]
    assert "--quantization=fp8" in args and "--kv-cache-dtype=fp8" in args


def test_delete_removes_objects_and_ends_deleted(
    requested, api_client, live_cluster, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.delete(f"/api/v1/endpoints/{requested.uuid}/")
    assert r.status_code == 202
    requested.refresh_from_db()
    # KServe and KEDA hold their objects with finalizers; the apply waited for them, so
    # Deleted means gone: nothing of the endpoint is left when the row says so
    assert requested.status == EndpointStatus.DELETED, requested.status_message
    assert _live(live_cluster, requested) is None
    assert _live(live_cluster, requested, "ScaledObject") is None
    # a second delete run (redelivered task) finds nothing and changes nothing
    assert apply_endpoint(requested.pk, requested.generation) == "already-applied"


HOLD = "tests.modelport.io/hold"


def _finalizers(kube_api_client, endpoint, finalizers: list[str]) -> None:
    from kubernetes import client as k8s

    group, version = manifests.ISVC_API.split("/")
    k8s.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object(
        group,
        version,
        endpoint.namespace,
        "inferenceservices",
        endpoint.isvc_name,
        {"metadata": {"finalizers": finalizers}},
    )


def test_delete_stays_deleting_while_a_finalizer_holds_the_inference_service(
    requested,
    api_client,
    live_cluster,
    kube_api_client,
    settings,
    django_capture_on_commit_callbacks,
):
    """A finalizer that outlasts the apply's wait (a controller that is down or slow): the
    endpoint says Deleting and why, and turns Deleted only once the object is gone."""
    settings.KUBE_DELETE_WAIT_SECONDS = 0.5
    isvc = _live(live_cluster, requested)
    _finalizers(kube_api_client, requested, [*isvc["metadata"].get("finalizers", []), HOLD])
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.delete(f"/api/v1/endpoints/{requested.uuid}/")
    assert r.status_code == 202
    requested.refresh_from_db()
    assert requested.status == EndpointStatus.DELETING
    assert requested.applied_generation == requested.generation
    assert f"InferenceService {requested.isvc_name}" in requested.status_message
    assert _live(live_cluster, requested)["metadata"]["deletionTimestamp"]
    sync_statuses()
    requested.refresh_from_db()
    assert requested.status == EndpointStatus.DELETING and requested.deleted_at is None

    held = _live(live_cluster, requested)["metadata"]["finalizers"]
    _finalizers(kube_api_client, requested, [f for f in held if f != HOLD])
    wait_for(lambda: _live(live_cluster, requested) is None, "the InferenceService to go")
    sync_until(requested, EndpointStatus.DELETED, "the sync to record Deleted")
    assert requested.deleted_at is not None


def test_drift_is_repaired(requested, live_cluster):
    ep = requested
    so_resource = live_cluster.dynamic.resources.get(
        api_version=manifests.KEDA_API, kind="ScaledObject"
    )
    so_resource.patch(
        body={"spec": {"maxReplicaCount": 40}},
        name="chat-predictor",
        namespace=ep.namespace,
        content_type="application/merge-patch+json",
    )
    live_cluster.delete(manifests.inference_service(ep))
    wait_for(lambda: _live(live_cluster, ep) is None, "the InferenceService to go")
    assert sync_statuses() == 1
    assert _live(live_cluster, ep) is not None
    assert _live(live_cluster, ep, "ScaledObject")["spec"]["maxReplicaCount"] == 2
    drift = ep.events.get(kind=EventKind.DRIFT)
    assert "InferenceService chat was missing" in drift.message
    assert "ScaledObject chat-predictor was changed by hand" in drift.message


def test_invalid_spec_fails_with_the_apiservers_message(
    approved_endpoint_live, live_cluster, monkeypatch
):
    """A rule the apiserver enforces and the renderer does not know (here: a label value the
    portal never produces) ends FAILED with the apiserver's own message, not retried."""
    real = manifests.inference_service

    def with_bad_label(endpoint):
        obj = real(endpoint)
        obj["metadata"]["labels"]["modelport.io/note"] = "not a valid label value!"
        return obj

    monkeypatch.setattr(manifests, "inference_service", with_bad_label)
    ep = approved_endpoint_live
    assert apply_endpoint(ep.pk, ep.generation) == "failed"
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.FAILED
    assert 'InferenceService.serving.kserve.io "chat" is invalid' in ep.status_message
    assert "metadata.labels: Invalid value" in ep.status_message
    assert "(HTTP 422)" in ep.status_message
    assert ep.events.filter(kind=EventKind.ERROR).count() == 1
    assert apply_endpoint(ep.pk, ep.generation) == "already-applied"  # not retried


def test_forbidden_by_rbac_fails_with_the_apiservers_message(
    approved_endpoint_live, settings, kubeconfig_path, kube_namespace, kube_api_client, tmp_path
):
    """The portal runs as a ServiceAccount without RBAC for it: 403, FAILED, not retried."""
    import yaml
    from kubernetes import client

    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_service_account(
        kube_namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="portal"))
    )
    token = core.create_namespaced_service_account_token(
        "portal",
        kube_namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    ).status.token
    config = yaml.safe_load(open(kubeconfig_path))
    config["users"][0]["user"] = {"token": token}
    limited = tmp_path / "kubeconfig"
    limited.write_text(yaml.safe_dump(config))
    settings.KUBECONFIG = str(limited)
    ep = approved_endpoint_live
    assert apply_endpoint(ep.pk, ep.generation) == "failed"
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.FAILED
    assert (
        f'User "system:serviceaccount:{kube_namespace}:portal" cannot patch resource "namespaces"'
    ) in ep.status_message
    assert "(HTTP 403)" in ep.status_message


@pytest.fixture
def approved_endpoint_live(approved_endpoint, live_cluster):
    return approved_endpoint


@pytest.mark.parametrize("variant", ["default", "scheduled", "stopped", "vllm-awq-tp4"])
def test_server_side_apply_dry_run_accepts_every_rendered_object(
    scheduled, live_cluster, settings, variant
):
    ep = scheduled
    if variant == "default":
        ep.schedule_enabled = False
    elif variant == "stopped":
        ep.desired_state = "stopped"
    elif variant == "vllm-awq-tp4":
        settings.VLLM_RUNTIME = "kserve-vllmserver"
        ep.quantization, ep.gpu_count, ep.kv_cache_dtype = "awq", 4, "fp8"
    objects = manifests.render(ep)
    live_cluster.apply(objects[:1])  # the namespace must exist for namespaced dry runs
    stored = live_cluster.apply(objects, dry_run=True)
    assert [o["kind"] for o in stored] == [o["kind"] for o in objects]
    isvc = stored[2]
    assert (
        isvc["spec"]["predictor"]["model"]["args"]
        == objects[2]["spec"]["predictor"]["model"]["args"]
    )  # nothing pruned
    assert stored[3]["spec"]["triggers"] == objects[3]["spec"]["triggers"]
    assert _live(live_cluster, ep) is None  # dry run stored nothing


def test_reconcile_records_nothing_for_a_healthy_fleet(requested, live_cluster, real):
    node_for(real, requested)
    sync_until(requested, EndpointStatus.READY, "Ready")
    reconcile.sync_statuses()
    events = requested.events.count()
    for _ in range(3):
        assert reconcile.sync_statuses() == 0
    assert requested.events.count() == events


def test_quota_refusal_is_explained_from_real_events(requested, live_cluster, real):
    """The real KServe Deployment's ReplicaSet is refused by the real ResourceQuota admission
    (the quota was lowered by hand, then the serving pod lost); the endpoint's status explains
    it from those Events, and sync puts the team's quota back."""
    ep = requested
    node_for(real, ep)
    sync_until(ep, EndpointStatus.READY, "Ready")
    live_cluster.apply(
        [{**manifests.resource_quota(ep.team), "spec": {"hard": {"requests.nvidia.com/gpu": "0"}}}]
    )
    for pod in pods(live_cluster, ep):
        live_cluster.delete({"apiVersion": "v1", "kind": "Pod", "metadata": pod["metadata"]})
    wait_for(
        lambda: any(
            "exceeded quota" in (e.get("message") or "") for e in live_cluster.events(ep.namespace)
        ),
        "the ReplicaSet to be refused by the quota",
    )
    sync_statuses()
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING
    assert "GPU quota exceeded" in ep.status_message
    quota = live_cluster.get("v1", "ResourceQuota", "modelport-gpu", ep.namespace)
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": str(ep.team.max_gpus)}
    sync_until(ep, EndpointStatus.READY, "Ready once the quota is back", timeout=90)
