"""The real kube-apiserver fixture: KServe + KEDA CRDs, server-side apply, status, watch,
CRD validation, RBAC, and an apiserver restart on the same etcd."""

import json
import os
import time

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.cluster

KSERVE = ("serving.kserve.io", "v1beta1", "inferenceservices")
KEDA = ("keda.sh", "v1alpha1", "scaledobjects")


def inference_service(name: str, namespace: str) -> dict:
    """What ModelPort renders for a vLLM endpoint (KServe huggingface runtime, vLLM backend)."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"modelport.io/team": "search", "modelport.io/endpoint": name},
            "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment",
                "serving.kserve.io/autoscalerClass": "external",
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 3,
                "nodeSelector": {
                    "node.kubernetes.io/instance-type": "g6e.xlarge",
                    "karpenter.sh/capacity-type": "on-demand",
                },
                "tolerations": [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ],
                "model": {
                    "modelFormat": {"name": "huggingface"},
                    "runtime": "kserve-huggingfaceserver",
                    "storageUri": "hf://meta-llama/Llama-3.1-8B-Instruct",
                    "args": [
                        "--backend=vllm",
                        "--max-model-len=8192",
                        "--gpu-memory-utilization=0.90",
                        "--enable-prefix-caching",
                    ],
                    "resources": {
                        "requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"},
                        "limits": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "1"},
                    },
                },
            }
        },
    }


def scaled_object(name: str, namespace: str) -> dict:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"{name}-predictor", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"{name}-predictor",
            },
            "minReplicaCount": 1,
            "maxReplicaCount": 3,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": "http://prometheus.monitoring:9090",
                        "query": f'sum(vllm:num_requests_waiting{{namespace="{namespace}",model_name="{name}"}})',
                        "threshold": "5",
                    },
                }
            ],
        },
    }


def test_server_reports_pinned_version(kube_cluster):
    version = kube_cluster.get_json("/version")
    assert version["gitVersion"].startswith("v1.")
    assert version["major"] == "1" and version["gitVersion"] != "v0.0.0-master+$Format:%H$"


def test_crds_established(kube_cluster, kube_api_client):
    names = {
        c.metadata.name
        for c in client.ApiextensionsV1Api(kube_api_client).list_custom_resource_definition().items
    }
    assert {
        "inferenceservices.serving.kserve.io",
        "servingruntimes.serving.kserve.io",
        "clusterservingruntimes.serving.kserve.io",
        "scaledobjects.keda.sh",
        "triggerauthentications.keda.sh",
    } <= names


def test_inference_service_lifecycle(kube_cluster, kube_api_client, kube_namespace):
    ns, name = kube_namespace, "llama"
    dyn = kube_cluster.dynamic_client()
    isvcs = dyn.resources.get(api_version="serving.kserve.io/v1beta1", kind="InferenceService")
    scaled = dyn.resources.get(api_version="keda.sh/v1alpha1", kind="ScaledObject")

    applied = isvcs.server_side_apply(
        body=inference_service(name, ns), namespace=ns, field_manager="modelport"
    )
    scaled.server_side_apply(body=scaled_object(name, ns), namespace=ns, field_manager="modelport")

    custom = client.CustomObjectsApi(kube_api_client)
    got = custom.get_namespaced_custom_object(*KSERVE[:2], ns, KSERVE[2], name)
    pred = got["spec"]["predictor"]
    assert pred["model"]["args"][0] == "--backend=vllm"
    assert pred["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pred["nodeSelector"]["karpenter.sh/capacity-type"] == "on-demand"
    # the spec is ours (server-side apply); the real KServe controller may own status fields
    ours = [m for m in got["metadata"]["managedFields"] if m["manager"] == "modelport"]
    assert [m["operation"] for m in ours] == ["Apply"]
    so = custom.get_namespaced_custom_object(*KEDA[:2], ns, KEDA[2], f"{name}-predictor")
    assert so["spec"]["scaleTargetRef"]["name"] == "llama-predictor"
    assert so["spec"]["triggers"][0]["metadata"]["threshold"] == "5"

    # re-applying the same object changes nothing of the spec (no new generation)
    again = isvcs.server_side_apply(
        body=inference_service(name, ns), namespace=ns, field_manager="modelport"
    )
    assert again.metadata.generation == applied.metadata.generation

    # the real KServe controller (not the test) writes the status; a watch sees it
    events = []
    w = watch.Watch()
    for ev in w.stream(
        custom.list_namespaced_custom_object,
        *KSERVE[:2],
        ns,
        KSERVE[2],
        resource_version="0",
        timeout_seconds=60,
    ):
        events.append(ev)
        if ev["object"].get("status", {}).get("conditions"):
            w.stop()
    assert events and events[-1]["object"]["status"]["conditions"], events
    # the controller's status does not touch our spec or bump the generation
    latest = custom.get_namespaced_custom_object(*KSERVE[:2], ns, KSERVE[2], name)
    assert latest["metadata"]["generation"] == got["metadata"]["generation"]
    assert latest["spec"]["predictor"]["model"]["args"] == pred["model"]["args"]


INVALID = [
    (
        ("spec", "predictor", "minReplicas"),
        "two",
        'spec.predictor.minReplicas: Invalid value: "string": spec.predictor.minReplicas in body must be of type integer',
    ),
    (
        ("spec", "predictor", "model", "args"),
        "--backend=vllm",
        'spec.predictor.model.args: Invalid value: "string": spec.predictor.model.args in body must be of type array',
    ),
]


def _broken(ns, path, value):
    body = inference_service("bad", ns)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.mark.parametrize(("path", "value", "message"), INVALID)
def test_apiserver_rejects_invalid_object_with_crd_message(
    kube_cluster, kube_namespace, path, value, message
):
    isvcs = kube_cluster.dynamic_client().resources.get(
        api_version="serving.kserve.io/v1beta1", kind="InferenceService"
    )
    with pytest.raises(Exception) as exc:
        isvcs.create(body=_broken(kube_namespace, path, value), namespace=kube_namespace)
    detail = json.loads(exc.value.body)
    if exc.value.status == 400:  # KServe's real admission webhook refuses it before the schema
        assert path[-1] in detail["message"], detail
    else:
        assert exc.value.status == 422
        assert detail["reason"] == "Invalid"
        assert message in detail["message"]


@pytest.mark.parametrize(("path", "value", "message"), INVALID)
def test_server_side_apply_of_wrong_type_is_a_500(
    kube_cluster, kube_namespace, path, value, message
):
    """Real apiserver behaviour (1.36): with server-side apply a wrong field *type* fails while
    building the typed patch -> HTTP 500 with a plain message, not a 422 Status. Adapters must
    not treat every 500 from apply as transient."""
    isvcs = kube_cluster.dynamic_client().resources.get(
        api_version="serving.kserve.io/v1beta1", kind="InferenceService"
    )
    with pytest.raises(Exception) as exc:
        isvcs.server_side_apply(
            body=_broken(kube_namespace, path, value),
            namespace=kube_namespace,
            field_manager="modelport",
        )
    assert exc.value.status == 500
    assert "failed to create typed patch object" in json.loads(exc.value.body)["message"]
    assert ".".join(("", *path)) in json.loads(exc.value.body)["message"]


def test_keda_scaled_object_validation(kube_cluster, kube_namespace):
    so = scaled_object("bad", kube_namespace)
    del so["spec"]["scaleTargetRef"]["name"]
    scaled = kube_cluster.dynamic_client().resources.get(
        api_version="keda.sh/v1alpha1", kind="ScaledObject"
    )
    with pytest.raises(Exception) as exc:
        scaled.server_side_apply(body=so, namespace=kube_namespace, field_manager="modelport")
    assert exc.value.status == 422
    assert "spec.scaleTargetRef.name: Required value" in json.loads(exc.value.body)["message"]


def test_rbac_is_enforced(kube_cluster, kube_namespace):
    api = kube_cluster.api_client()
    api.set_default_header("Impersonate-User", "nobody")
    with pytest.raises(ApiException) as exc:
        client.CoreV1Api(api).list_namespaced_config_map(kube_namespace)
    assert exc.value.status == 403


def test_apiserver_restart_keeps_data(kube_cluster, kube_api_client, kube_namespace):
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_config_map(
        kube_namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="survivor"), data={"k": "v"}),
    )
    port = kube_cluster.port
    kube_cluster.stop_apiserver()
    try:
        with pytest.raises(urllib3.exceptions.HTTPError):  # connection refused (MaxRetryError)
            client.CoreV1Api(kube_cluster.api_client()).read_namespace(
                kube_namespace, _request_timeout=2
            )
    finally:
        kube_cluster.start_apiserver()
    assert kube_cluster.port == port
    # the same client (same kubeconfig, CA, token) works again
    assert core.read_namespaced_config_map("survivor", kube_namespace).data == {"k": "v"}


# ---------------------------------------------------------------- with controllers + fake nodes


def _gpu_deployment(name, replicas, selector_value, gpus=1):
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(
                    node_selector={"modelport.io/test-pool": selector_value},
                    containers=[
                        client.V1Container(
                            name="kserve-container",
                            image="vllm/vllm-openai:v0.11.0",
                            resources=client.V1ResourceRequirements(
                                requests={"nvidia.com/gpu": str(gpus), "cpu": "1"},
                                limits={"nvidia.com/gpu": str(gpus)},
                            ),
                        )
                    ],
                ),
            ),
        ),
    )


def _wait(fn, timeout=60.0, interval=0.2):  # generous: KCM informers back off after an outage
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_deployment_rolls_out_on_fake_gpu_node(
    kube_controllers, kube_api_client, kube_namespace, fake_gpu_node
):
    pool = kube_namespace
    node = fake_gpu_node(
        gpus=1,
        labels={
            "modelport.io/test-pool": pool,
            "karpenter.sh/capacity-type": "spot",
            "node.kubernetes.io/instance-type": "g6e.xlarge",
        },
    )
    apps, core = client.AppsV1Api(kube_api_client), client.CoreV1Api(kube_api_client)
    apps.create_namespaced_deployment(kube_namespace, _gpu_deployment("llama-predictor", 2, pool))

    # one replica fits the single GPU and becomes Ready; the other stays Pending (real scheduler)
    dep = _wait(
        lambda: (
            (d := apps.read_namespaced_deployment("llama-predictor", kube_namespace))
            and d.status.ready_replicas == 1
            and d
        )
    )
    assert dep, "deployment never got a Ready replica"
    pods = core.list_namespaced_pod(kube_namespace, label_selector="app=llama-predictor").items
    assert sorted((p.spec.node_name or "") for p in pods) == ["", node]
    pending = next(p for p in pods if not p.spec.node_name)

    def scheduling_failures():
        return [
            e.message
            for e in core.list_namespaced_event(
                kube_namespace, field_selector=f"involvedObject.name={pending.metadata.name}"
            ).items
            if e.reason == "FailedScheduling"
        ]

    # The scheduler may first try before its cache holds the new node ("no nodes available");
    # the node's next status update requeues the pod and the real reason follows.
    insufficient = _wait(
        lambda: [m for m in scheduling_failures() if "Insufficient nvidia.com/gpu" in m],
        timeout=60,
    )
    assert insufficient, f"scheduler never reported the GPU shortage: {scheduling_failures()}"

    # scale to 1: the controller deletes a pod, the fake kubelet finishes the deletion
    apps.patch_namespaced_deployment_scale(
        "llama-predictor", kube_namespace, {"spec": {"replicas": 1}}
    )
    assert _wait(
        lambda: (
            len(
                core.list_namespaced_pod(kube_namespace, label_selector="app=llama-predictor").items
            )
            == 1
        )
    )
    dep = _wait(
        lambda: (
            (d := apps.read_namespaced_deployment("llama-predictor", kube_namespace))
            and d.status.available_replicas == 1
            and d.status.replicas == 1
            and d
        )
    )
    assert dep


def test_resource_quota_limits_gpus(kube_controllers, kube_api_client, kube_namespace):
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_resource_quota(
        kube_namespace,
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="gpus"),
            spec=client.V1ResourceQuotaSpec(hard={"requests.nvidia.com/gpu": "1"}),
        ),
    )
    # the resourcequota controller (KCM) must compute status before admission can enforce it
    assert _wait(lambda: core.read_namespaced_resource_quota("gpus", kube_namespace).status.hard)

    def pod(name):
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                containers=[
                    client.V1Container(
                        name="c",
                        image="x",
                        resources=client.V1ResourceRequirements(
                            requests={"nvidia.com/gpu": "1"}, limits={"nvidia.com/gpu": "1"}
                        ),
                    )
                ]
            ),
        )

    core.create_namespaced_pod(kube_namespace, pod("first"))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(kube_namespace, pod("second"))
    assert exc.value.status == 403
    assert "exceeded quota: gpus" in json.loads(exc.value.body)["message"]


def test_kubeconfig_path_works_for_the_default_loader(kubeconfig_path):
    from kubernetes import config

    assert os.environ["KUBECONFIG"] == kubeconfig_path
    # pass the path: kubernetes.config reads $KUBECONFIG once, at import time
    api = config.new_client_from_config(config_file=kubeconfig_path)  # verifies the self-signed CA
    names = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
    assert {"default", "kube-system"} <= names
