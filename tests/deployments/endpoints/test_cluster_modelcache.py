"""The model cache on the real apiserver and the real KServe v0.20.0 webhooks: the portal's
LocalModelNodeGroup and LocalModelCache are validated against KServe's CRDs and applied twice
to no change; with `localModel.enabled` in inferenceservice-config, KServe's InferenceService
webhook matches the endpoint's storageUri to the cache and its pod webhook mounts the cache's
PVC instead of injecting the storage-initializer, so the start has no 'weights ready' stage.

Real: apiserver + CRDs, KServe controller and webhooks, scheduler (binds the pod through the
local PV's node affinity), the PV controller (binds the PVC), and KServe's local-model
controller (cmd/localmodel) when built (tools/build-localmodel.sh): it makes the PV/PVC in the
endpoint's namespace. Played: those two objects when it is not built (said in the test's
output); the node agent that downloads onto each node's disk is never run (no real disk)."""

import json
import time

import pytest

from deployments.endpoints import manifests, modelcache, modelcaches
from deployments.endpoints.choices import EndpointStatus
from tests.deployments.cluster_helpers import (
    endpoint_body,
    node_for,
    pods,
    real_controllers,
    request_endpoint,
    sync_until,
    wait_for,
)
from tests.infra import localmodel
from tests.infra.kube import MissingBinaries

pytestmark = pytest.mark.cluster
LOCAL_MODEL_LABEL = "internal.serving.kserve.io/localmodel"


@pytest.fixture
def real(request, live_cluster, kube_cluster, fake_gpu_node):
    return real_controllers(request, live_cluster, kube_cluster, fake_gpu_node)


@pytest.fixture
def local_models(real, kube_cluster):
    """The local-model CRDs, `localModel.enabled` (restored after) and the local-model
    controller (None when not built)."""
    from kubernetes import client

    kube_cluster.install_crds(localmodel.crd_paths())
    core = client.CoreV1Api(kube_cluster.api_client())
    cm = core.read_namespaced_config_map("inferenceservice-config", "kserve")
    before = cm.data["localModel"]
    config = {**json.loads(before), "enabled": True}
    core.patch_namespaced_config_map(
        "inferenceservice-config", "kserve", {"data": {"localModel": json.dumps(config)}}
    )
    try:
        controller = localmodel.LocalModelController(kube_cluster)
    except MissingBinaries as exc:
        print(f"PLAYED: the local-model controller's PV/PVC ({exc})")
        controller = None
    if controller is not None:
        controller.start()
        controller.wait_ready()
    try:
        yield controller
    finally:
        _remove_caches(real["client"], kube_cluster)
        core.patch_namespaced_config_map(
            "inferenceservice-config", "kserve", {"data": {"localModel": before}}
        )
        if controller is not None:
            controller.stop()


def _remove_caches(cluster, kube_cluster, timeout: float = 60.0):
    """Delete every cache object and wait until they are gone: the local-model controller's
    finalizers hold them in Terminating, and a LocalModelCache left behind keeps KServe's
    webhook mounting its PVC into later tests' pods of the same model (they never start).
    What is still there after `timeout` loses its finalizers (the controller may be dead)."""
    from kubernetes import client

    custom = client.CustomObjectsApi(kube_cluster.api_client())
    group, version = modelcache.API.split("/")
    for kind in modelcaches.KINDS:
        for obj in cluster.list(modelcache.API, kind):
            cluster.delete({"apiVersion": modelcache.API, "kind": kind, **obj})

    def left():
        return [(k, o) for k in modelcaches.KINDS for o in cluster.list(modelcache.API, k)]

    for stripped in (False, True):
        deadline = time.monotonic() + timeout
        while left() and time.monotonic() < deadline:
            time.sleep(0.5)
        if not left():
            return
        if not stripped:
            for kind, obj in left():
                custom.patch_cluster_custom_object(
                    group, version, kind.lower() + "s", obj["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )  # fmt: skip
    raise AssertionError(f"cache objects left behind: {[o['metadata']['name'] for _, o in left()]}")


def _subset(want, have) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    return want == have


def _play_volumes(client, ep, pvc_name: str, group: dict):
    """What cmd/localmodel does for a namespace using a cache (ReconcileForIsvcs)."""
    pv_name = f"{pvc_name}-{ep.namespace}"
    client.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": pv_name},
                "spec": group["spec"]["persistentVolumeSpec"],
            },
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": pvc_name, "namespace": ep.namespace},
                "spec": {**group["spec"]["persistentVolumeClaimSpec"], "volumeName": pv_name},
            },
        ]
    )


def test_a_cached_model_starts_without_the_download(
    real, local_models, api_client, team, llama_8b, gpu_l4, django_capture_on_commit_callbacks
):
    client, kubelet = real["client"], real["kubelet"]
    gpu_l4.node_label_value = "l4"
    gpu_l4.save()
    cache = modelcaches.cache_model(llama_8b, gpu_l4, "bf16")
    modelcaches.apply_model_caches(client)
    rendered = {o["kind"]: o for o in modelcaches.wanted()}
    live = {
        kind: client.get(modelcache.API, kind, rendered[kind]["metadata"]["name"])
        for kind in modelcaches.KINDS
    }
    for kind in modelcaches.KINDS:  # accepted as rendered: nothing pruned by the CRD schema
        assert _subset(rendered[kind]["spec"], live[kind]["spec"]), (kind, live[kind]["spec"])
    modelcaches.apply_model_caches(client)  # twice: no change
    for kind in modelcaches.KINDS:
        again = client.get(modelcache.API, kind, rendered[kind]["metadata"]["name"])
        assert again["metadata"]["generation"] == live[kind]["metadata"]["generation"]

    body = endpoint_body(team, llama_8b, gpu_l4, name="cached", max_replicas=1)
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    kubelet.hold(ep.namespace)
    node_for(real, ep)
    name = modelcache.cache_name(cache)
    pvc_name = f"{name}-{modelcache.node_group_name(gpu_l4)}"
    isvc = client.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)
    # KServe's webhook matched the storageUri to the cache, on the node group we named.
    assert isvc["metadata"]["labels"][LOCAL_MODEL_LABEL] == name
    annotations = isvc["metadata"]["annotations"]
    assert annotations["internal.serving.kserve.io/localmodel-pvc-name"] == pvc_name
    if local_models is None:
        _play_volumes(client, ep, pvc_name, rendered["LocalModelNodeGroup"])
    pvc = wait_for(
        lambda: client.get("v1", "PersistentVolumeClaim", pvc_name, ep.namespace),
        "the cache's PVC in the endpoint's namespace",
    )
    assert pvc["spec"]["volumeName"] == f"{pvc_name}-{ep.namespace}"
    if local_models is not None:  # what the real local-model controller did
        live_cache = wait_for(
            lambda: (
                (c := client.get(modelcache.API, "LocalModelCache", name))
                and (c.get("status") or {}).get("inferenceServices")
                and c
            ),
            "the local-model controller to list the endpoint on the cache",
        )
        assert {"namespace": ep.namespace, "name": ep.isvc_name} in live_cache["status"][
            "inferenceServices"
        ]
        assert live_cache["metadata"]["finalizers"]
        assert client.get("v1", "PersistentVolume", f"{pvc_name}-{ep.namespace}")
    [pod] = wait_for(lambda: pods(client, ep), "the predictor pod")
    spec = pod["spec"]
    assert "storage-initializer" not in [c["name"] for c in spec.get("initContainers") or []]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == [pvc_name]
    wait_for(lambda: (pods(client, ep)[0].get("spec") or {}).get("nodeName"), "scheduled")
    kubelet.release(ep.namespace)
    sync_until(ep, EndpointStatus.READY, "Ready")
    start = wait_for(lambda: ep.cold_starts.first(), "the start's record")
    assert start.accepted and start.cached, start.note
    assert start.weights_ready_at is None  # no download stage at all
    assert ep.events.filter(message__contains="weights from the node's model cache").exists()
