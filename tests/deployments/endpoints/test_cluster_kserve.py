"""Integration on the real controllers: the KServe v0.20.0 controller manager (with its
webhooks, so the storage-initializer is really injected), the KEDA v2.21.0 operator and the
real kube-controller-manager/scheduler. Only the kubelet is played (tests/infra FakeKubelet:
pods Running, Ready or held not Ready while "loading", a container crash).

Nothing here writes an InferenceService status, a Deployment or an HPA: the controllers do.
Every status shape the controller produces on the way (cold start, failed start, stop) is
recorded, mapped with `observe.status_from`, and compared with what that phase must show;
the shapes are written to `var/recorded/kserve-v0.20-status.json` for the unit tests'
`kserve_shapes.py` to be checked against.
"""

import json
import time
from pathlib import Path

import pytest

from deployments.endpoints import manifests, observe
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.tasks import sync_statuses
from tests.deployments.cluster_helpers import (
    deployment,
    endpoint_body,
    isvc,
    node_for,
    pods,
    post,
    request_endpoint,
    sync_until,
    wait_for,
)

pytestmark = pytest.mark.cluster

# Reviewed copies are kept in tests/deployments/endpoints/recorded/ (test_status_mapping reads them).
RECORDED = Path(__file__).resolve().parents[3] / "var" / "recorded" / "kserve-v0.20-status.json"
_recorded: dict[str, list] = {}


@pytest.fixture
def body(team, llama_8b, gpu_l4):
    return endpoint_body(team, llama_8b, gpu_l4)


def _record(phase: str, client, ep) -> observe.Observed | None:
    """Keep the controller's status shape of this phase; return what the mapping makes of it."""
    live, dep = isvc(client, ep), deployment(client, ep)
    pod_statuses = [
        {
            "metadata": {"name": p["metadata"]["name"]},
            "status": {
                k: (p.get("status") or {}).get(k)
                for k in ("phase", "initContainerStatuses", "containerStatuses")
            },
        }
        for p in pods(client, ep)
    ]
    shape = {
        "annotations": {
            k: v
            for k, v in ((live or {}).get("metadata", {}).get("annotations") or {}).items()
            if k == manifests.ANNOTATION_STOP
        },
        "pods": pod_statuses,
        "status": (live or {}).get("status") or {},
        "deployment": None
        if dep is None
        else {"spec": {"replicas": dep["spec"].get("replicas")}, "status": dep.get("status") or {}},
    }
    _recorded.setdefault(phase, [])
    if shape not in _recorded[phase]:
        _recorded[phase].append(shape)
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps(_recorded, indent=1, sort_keys=True, default=str))
    return None if live is None else observe.status_from(live, dep, pods=pod_statuses)


# --- request -> Ready, with a multi-minute load played by holding the pod not Ready -----------


def test_cold_start_valid_sized_pod_then_ready_with_the_controllers_url(
    real, api_client, body, django_capture_on_commit_callbacks
):
    client, kubelet = real["client"], real["kubelet"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    kubelet.hold(ep.namespace)  # vLLM "loading": Running, not Ready
    node_for(real, ep)
    observed = _record("cold-start/created", client, ep)
    wait_for(lambda: deployment(client, ep), "KServe to create the predictor Deployment")
    [pod] = wait_for(lambda: pods(client, ep), "the ReplicaSet to create the pod")

    # The real webhook injected the storage-initializer; the pod is valid and sized.
    spec = pod["spec"]
    assert [c["name"] for c in spec.get("initContainers") or []] == ["storage-initializer"]
    [main] = [c for c in spec["containers"] if c["name"] == "kserve-container"]
    res = manifests.pod_resources(ep)
    for resource in ("cpu", "memory", "ephemeral-storage", "nvidia.com/gpu"):
        assert main["resources"]["limits"][resource] == main["resources"]["requests"][resource]
    assert main["resources"]["limits"]["memory"] == f"{res.memory_gib}Gi"
    [shm] = [v for v in spec["volumes"] if v["name"] == "devshm"]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": f"{res.shm_gib}Gi"}
    probe = main["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= res.startup_seconds
    assert main["args"].count(f"--model_name={ep.isvc_name}") == 1  # the runtime's, once
    assert pod["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
    assert "modelport.io/generation" not in pod["metadata"]["annotations"]

    # Loading: whatever KServe says (Ready=True with 0 available is possible), not Ready.
    wait_for(
        lambda: (isvc(client, ep).get("status") or {}).get("conditions"),
        "KServe to set conditions",
    )
    for _ in range(6):
        observed = _record("cold-start/loading", client, ep)
        assert observed is None or observed.status == EndpointStatus.PROVISIONING, observed
        sync_statuses()
        ep.refresh_from_db()
        assert ep.status != EndpointStatus.READY
        time.sleep(0.5)

    kubelet.release(ep.namespace)
    sync_until(ep, EndpointStatus.READY, "the endpoint to become Ready")
    observed = _record("cold-start/ready", client, ep)
    assert observed.status == EndpointStatus.READY
    assert ep.url == isvc(client, ep)["status"]["url"]  # from the controller, not made up by us
    assert ep.events.filter(new_status=EndpointStatus.READY).exists()


def test_failed_start_is_failed_with_kserves_reason(
    real, api_client, body, django_capture_on_commit_callbacks
):
    client, kubelet = real["client"], real["kubelet"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    kubelet.hold(ep.namespace)
    node_for(real, ep)
    [pod] = wait_for(lambda: pods(client, ep), "the predictor pod")
    wait_for(lambda: (pods(client, ep)[0].get("status") or {}).get("phase") == "Running", "Running")
    kubelet.crash_container(ep.namespace, pod["metadata"]["name"], "kserve-container")

    def failed():
        _record("failed-start", client, ep)
        sync_statuses()
        ep.refresh_from_db()
        return ep.status == EndpointStatus.FAILED

    try:
        wait_for(failed, "the endpoint to fail", timeout=90)
    except AssertionError as exc:
        pod = pods(client, ep)
        pod_status = pod and pod[0]["status"]
        raise AssertionError(f"{exc}: {ep.status} {ep.status_message!r} {pod_status}") from exc
    # KServe itself reports this crash loop as Ready/Loaded (the Deployment is Available):
    # the status comes from the pod's container status.
    assert ep.status_message.startswith("vLLM keeps crashing (Error, exit code 1;")
    last = _recorded["failed-start"][-1]["status"]
    assert last["modelStatus"]["transitionStatus"] == "UpToDate"


def test_stop_and_start_on_the_real_controllers(
    real, api_client, body, django_capture_on_commit_callbacks
):
    client = real["client"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    node_for(real, ep)
    sync_until(ep, EndpointStatus.READY, "Ready")
    hpa_name = f"keda-hpa-{ep.isvc_name}-predictor"
    wait_for(
        lambda: client.get("autoscaling/v2", "HorizontalPodAutoscaler", hpa_name, ep.namespace),
        "KEDA to create the HPA",
    )
    post(api_client, f"/api/v1/endpoints/{ep.uuid}/stop/", {}, django_capture_on_commit_callbacks)

    def stopped():
        _record("stop", client, ep)
        sync_statuses()
        ep.refresh_from_db()
        return ep.status == EndpointStatus.STOPPED

    wait_for(stopped, "the endpoint to stop")
    wait_for(
        lambda: (
            _record("stop", client, ep) is not None
            and _record("stop", client, ep).status == EndpointStatus.STOPPED
        ),
        "KServe to report Stopped",
    )
    wait_for(lambda: deployment(client, ep) is None, "KServe to delete the Deployment")
    wait_for(
        lambda: (
            client.get("autoscaling/v2", "HorizontalPodAutoscaler", hpa_name, ep.namespace) is None
        ),
        "KEDA to delete the HPA of the paused ScaledObject",
    )
    post(api_client, f"/api/v1/endpoints/{ep.uuid}/start/", {}, django_capture_on_commit_callbacks)
    sync_until(ep, EndpointStatus.READY, "Ready again")
    _record("start", client, ep)


# --- day 2 --------------------------------------------------------------------------------------


def test_scale_and_queue_target_never_roll_pods_a_model_change_rolls_once(
    real, api_client, body, django_capture_on_commit_callbacks
):
    client = real["client"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    node_for(real, ep, gpus=8)
    sync_until(ep, EndpointStatus.READY, "Ready")
    dep = deployment(client, ep)
    template, generation = dep["spec"]["template"], dep["metadata"]["generation"]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}

    post(
        api_client,
        f"/api/v1/endpoints/{ep.uuid}/scale/",
        {"min_replicas": 1, "max_replicas": 3},
        django_capture_on_commit_callbacks,
    )
    post(
        api_client,
        f"/api/v1/endpoints/{ep.uuid}/",
        {"target_queue_depth": 9},
        django_capture_on_commit_callbacks,
        method="patch",
    )
    time.sleep(3)  # give KServe time to (not) touch the Deployment
    dep = deployment(client, ep)
    assert dep["spec"]["template"] == template
    assert dep["metadata"]["generation"] == generation

    post(
        api_client,
        f"/api/v1/endpoints/{ep.uuid}/",
        {"max_context_length": 16384},
        django_capture_on_commit_callbacks,
        method="patch",
    )
    wait_for(
        lambda: deployment(client, ep)["metadata"]["generation"] == generation + 1,
        "one new pod template",
    )
    sync_until(ep, EndpointStatus.READY, "the rollout to finish", timeout=90)
    assert deployment(client, ep)["metadata"]["generation"] == generation + 1  # once
    args = deployment(client, ep)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--max-model-len=16384" in args


# --- KEDA ----------------------------------------------------------------------------------------


def test_keda_makes_the_hpa_with_our_metric_target_bounds_and_window(
    real, api_client, body, django_capture_on_commit_callbacks
):
    client = real["client"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    node_for(real, ep)
    name = f"keda-hpa-{ep.isvc_name}-predictor"
    hpa = wait_for(
        lambda: client.get("autoscaling/v2", "HorizontalPodAutoscaler", name, ep.namespace),
        "the HPA",
    )
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{ep.isvc_name}-predictor"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
    [metric] = [m for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert metric["external"]["metric"]["name"].startswith("s0-prometheus")
    target = metric["external"]["target"]
    assert target["type"] == "AverageValue"
    assert target["averageValue"] == str(manifests.busy_threshold(ep))
    down = hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    assert down == manifests.scale_down_window_seconds(ep) >= manifests.cold_start_seconds(ep)


# --- gated model ----------------------------------------------------------------------------------


def test_gated_model_gets_the_token_in_the_storage_initializer(
    real, api_client, body, llama_8b, django_capture_on_commit_callbacks, settings
):
    client = real["client"]
    llama_8b.gated = True
    llama_8b.save()
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    node_for(real, ep)
    wait_for(lambda: deployment(client, ep), "the Deployment")

    def explained():
        sync_statuses()
        ep.refresh_from_db()
        return "is gated on Hugging Face" in ep.status_message

    wait_for(explained, "the missing Secret to be explained")
    assert not pods(client, ep)  # the webhook refuses the pod while the Secret is missing

    client.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": settings.KUBE_HF_TOKEN_SECRET, "namespace": ep.namespace},
                "stringData": {"HF_TOKEN": "hf_test"},
            }
        ]
    )
    [pod] = wait_for(lambda: pods(client, ep), "the pod once the Secret exists", timeout=90)
    [init] = pod["spec"]["initContainers"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}},
    } in init["env"]
    [main] = [c for c in pod["spec"]["containers"] if c["name"] == "kserve-container"]
    assert "HF_TOKEN" not in [e["name"] for e in main.get("env") or []]


# --- PDB -------------------------------------------------------------------------------------------


def test_pdb_lives_and_dies_with_the_endpoint(
    real, api_client, body, django_capture_on_commit_callbacks
):
    client = real["client"]
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    name = manifests.pdb_name(ep)
    assert client.get(manifests.PDB_API, "PodDisruptionBudget", name, ep.namespace)
    post(
        api_client,
        f"/api/v1/endpoints/{ep.uuid}/scale/",
        {"min_replicas": 1, "max_replicas": 1},
        django_capture_on_commit_callbacks,
    )
    assert client.get(manifests.PDB_API, "PodDisruptionBudget", name, ep.namespace) is None
    post(
        api_client,
        f"/api/v1/endpoints/{ep.uuid}/scale/",
        {"min_replicas": 1, "max_replicas": 2},
        django_capture_on_commit_callbacks,
    )
    assert client.get(manifests.PDB_API, "PodDisruptionBudget", name, ep.namespace)
    with django_capture_on_commit_callbacks(execute=True):
        api_client.delete(f"/api/v1/endpoints/{ep.uuid}/")
    assert client.get(manifests.PDB_API, "PodDisruptionBudget", name, ep.namespace) is None
    assert ep.events.filter(kind=EventKind.ACTION).exists()
