"""The real controllers in the session cluster (tests/infra/controllers.py): they come up, the
KServe controller + its real webhooks turn an InferenceService in the upstream docs' shape
into a Deployment whose pod carries the storage-initializer, the KEDA operator turns a
ScaledObject into an HPA whose replicas the HPA controller computes from KEDA's metrics
adapter (aggregation layer), kube-state-metrics series reach a real Prometheus, and the fake
kubelet plays init containers, restarts, crashes and deletion on those pods."""

import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.cluster

ISVC = ("serving.kserve.io", "v1beta1", "inferenceservices")
SCALED_OBJECT = ("keda.sh", "v1alpha1", "scaledobjects")


def _wait(fn, timeout=60.0, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    return last


def _conditions(obj: dict) -> dict:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def upstream_vllm_isvc(name: str, namespace: str, pool: str, gpus: int = 1, **annotations):
    """An InferenceService as KServe's docs write one for vLLM: Standard deployment mode, the
    vLLM runtime, a Hugging Face storage URI, GPU in requests and limits (cpu/memory equal)."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"serving.kserve.io/deploymentMode": "Standard", **annotations},
        },
        "spec": {
            "predictor": {
                "nodeSelector": {"modelport.io/test-pool": pool},
                "model": {
                    "modelFormat": {"name": "vLLM"},
                    "runtime": "kserve-vllmserver",
                    "storageUri": "hf://Qwen/Qwen2.5-0.5B-Instruct",
                    "resources": {
                        "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": str(gpus)},
                        "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": str(gpus)},
                    },
                },
            }
        },
    }


def _pods(core, namespace, selector):
    return core.list_namespaced_pod(namespace, label_selector=selector).items


# ------------------------------------------------------------------------------ bring-up
def test_the_real_controllers_come_up(real_controllers, kube_cluster):
    pids = real_controllers.pids()
    assert {"kserve-controller", "keda-operator", "keda-adapter", "kube-state-metrics"} <= set(pids)
    # the upstream webhook configurations, pointed at the local webhook server by URL
    hooks = kube_cluster.get_json(
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/"
        "inferenceservice.serving.kserve.io"
    )["webhooks"]
    assert {h["name"] for h in hooks} == {
        "inferenceservice.kserve-webhook-server.defaulter",
        "inferenceservice.kserve-webhook-server.pod-mutator",
    }
    port = real_controllers.kserve.webhook_port
    assert all(h["clientConfig"]["url"].startswith(f"https://127.0.0.1:{port}/") for h in hooks)
    cm = kube_cluster.get_json("/api/v1/namespaces/kserve/configmaps/inferenceservice-config")
    assert "storageInitializer" in cm["data"]
    runtimes = kube_cluster.get_json("/apis/serving.kserve.io/v1alpha1/clusterservingruntimes")[
        "items"
    ]
    assert {"kserve-vllmserver", "kserve-huggingfaceserver"} <= {
        r["metadata"]["name"] for r in runtimes
    }
    assert not any(
        c["image"].endswith(":replace") for r in runtimes for c in r["spec"]["containers"]
    )
    assert real_controllers.keda.apiservice_available()
    text = real_controllers.ksm.metrics_text()
    assert 'kube_namespace_labels{namespace="kserve"' in text


def test_the_kserve_validating_webhook_really_answers(kserve_controller, kube_namespace):
    """Two ServingRuntimes auto-selecting one model format at the same priority: KServe's own
    validator (not the CRD schema) refuses the second, so the apiserver called the webhook."""
    api = client.CustomObjectsApi(kserve_controller.cp.api_client())

    def runtime(name):
        return {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "ServingRuntime",
            "metadata": {"name": name, "namespace": kube_namespace},
            "spec": {
                "protocolVersions": ["v2"],
                "supportedModelFormats": [{"name": "vLLM", "autoSelect": True, "priority": 1}],
                "containers": [{"name": "kserve-container", "image": "x"}],
            },
        }

    args = ("serving.kserve.io", "v1alpha1", kube_namespace, "servingruntimes")
    api.create_namespaced_custom_object(*args, runtime("first"))
    # The validator lists the namespace's runtimes from the controller's informer cache, which
    # may not hold "first" yet for a moment after its create: until it does, "second" passes.
    # So: create "second" until refused (deleting it when it passed), bounded in time.
    deadline = time.monotonic() + 60
    while True:
        try:
            api.create_namespaced_custom_object(*args, runtime("second"))
        except ApiException as refused:
            if refused.status != 409:  # 409: the previous "second" is still being deleted
                exc = refused
                break
        else:
            api.delete_namespaced_custom_object(*args, "second")
        assert time.monotonic() < deadline, "the KServe webhook never refused the second runtime"
        time.sleep(0.5)
    assert exc.status == 403
    assert "admission webhook" in exc.body
    assert "same priority assigned for the model format vLLM" in exc.body


# ------------------------------------------------------------------------------ KServe
def test_inferenceservice_becomes_a_deployment_whose_pod_gets_the_storage_initializer(
    kserve_controller, kube_api_client, kube_namespace, fake_gpu_node
):
    pool = kube_namespace
    node = fake_gpu_node(gpus=2, labels={"modelport.io/test-pool": pool})
    custom = client.CustomObjectsApi(kube_api_client)
    apps, core = client.AppsV1Api(kube_api_client), client.CoreV1Api(kube_api_client)
    custom.create_namespaced_custom_object(
        *ISVC[:2], kube_namespace, ISVC[2], upstream_vllm_isvc("qwen", kube_namespace, pool)
    )

    def deployment():
        try:
            return apps.read_namespaced_deployment("qwen-predictor", kube_namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    dep = _wait(deployment, timeout=60)
    assert dep is not None, _conditions(
        custom.get_namespaced_custom_object(*ISVC[:2], kube_namespace, ISVC[2], "qwen")
    )
    container = dep.spec.template.spec.containers[0]
    assert container.name == "kserve-container"
    assert container.image.startswith("docker.io/vllm/vllm-openai")  # the runtime's fixed image
    assert container.resources.limits["nvidia.com/gpu"] == "1"

    # the pod (made by the real ReplicaSet, mutated by KServe's pod webhook) has the
    # storage-initializer init container downloading the hf:// URI into /mnt/models
    pods = _wait(lambda: _pods(core, kube_namespace, "serving.kserve.io/inferenceservice=qwen"))
    assert pods, "no predictor pod"
    pod = pods[0]
    inits = {c.name: c for c in pod.spec.init_containers or []}
    assert "storage-initializer" in inits, [c.name for c in pod.spec.init_containers or []]
    assert "hf://Qwen/Qwen2.5-0.5B-Instruct" in inits["storage-initializer"].args
    assert any(m.mount_path == "/mnt/models" for m in container.volume_mounts or []) or any(
        m.mount_path == "/mnt/models" for m in pod.spec.containers[0].volume_mounts or []
    )

    # the fake kubelet: init container completed, then the main container runs; the
    # controller then reports the InferenceService Ready with a URL
    def running():
        p = core.read_namespaced_pod(pod.metadata.name, kube_namespace)
        return p.status.phase == "Running" and p

    p = _wait(running, timeout=30)
    assert p, "pod never Running"
    assert p.spec.node_name == node
    (init,) = [s for s in p.status.init_container_statuses if s.name == "storage-initializer"]
    assert init.state.terminated.reason == "Completed" and init.state.terminated.exit_code == 0
    assert p.status.container_statuses[0].state.running is not None

    def ready():
        obj = custom.get_namespaced_custom_object(*ISVC[:2], kube_namespace, ISVC[2], "qwen")
        return _conditions(obj).get("Ready", {}).get("status") == "True" and obj

    obj = _wait(ready, timeout=60)
    assert obj, _conditions(
        custom.get_namespaced_custom_object(*ISVC[:2], kube_namespace, ISVC[2], "qwen")
    )
    assert obj["status"]["url"].startswith("http://qwen-")
    assert _conditions(obj)["PredictorReady"]["status"] == "True"


# ------------------------------------------------------------------------------ KEDA
def test_scaled_object_becomes_an_hpa_that_computes_replicas_from_the_adapter(
    keda_operator, prometheus_server, kube_api_client, kube_namespace, fake_gpu_node
):
    """Prometheus answers 30 for the query and the target per replica is 10: KEDA makes the
    HPA, the adapter serves the metric through the aggregation layer, the HPA controller of
    kube-controller-manager computes 3 replicas and scales the Deployment."""
    pool = kube_namespace
    fake_gpu_node(gpus=0, labels={"modelport.io/test-pool": pool})
    apps = client.AppsV1Api(kube_api_client)
    custom = client.CustomObjectsApi(kube_api_client)
    autoscaling = client.AutoscalingV2Api(kube_api_client)
    apps.create_namespaced_deployment(
        kube_namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "nodeSelector": {"modelport.io/test-pool": pool},
                        "containers": [{"name": "c", "image": "busybox"}],
                    },
                },
            },
        },
    )
    so = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "web", "namespace": kube_namespace},
        "spec": {
            "scaleTargetRef": {"name": "web"},
            "minReplicaCount": 1,
            "maxReplicaCount": 5,
            "pollingInterval": 5,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": prometheus_server.url,
                        "query": "vector(30)",
                        "threshold": "10",
                    },
                }
            ],
        },
    }
    custom.create_namespaced_custom_object(*SCALED_OBJECT[:2], kube_namespace, SCALED_OBJECT[2], so)

    def hpa():
        try:
            return autoscaling.read_namespaced_horizontal_pod_autoscaler(
                "keda-hpa-web", kube_namespace
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    h = _wait(hpa, timeout=60)
    assert h is not None, "KEDA made no HPA"
    assert h.spec.scale_target_ref.name == "web"
    assert (h.spec.min_replicas, h.spec.max_replicas) == (1, 5)
    (metric,) = h.spec.metrics
    assert metric.type == "External"
    assert metric.external.metric.name == "s0-prometheus"
    assert metric.external.target.type == "AverageValue"
    assert metric.external.target.average_value == "10"
    assert h.metadata.owner_references[0].kind == "ScaledObject"

    # KEDA's own view of the metric, as the HPA controller reads it through the aggregator
    value = _wait(
        lambda: keda_operator.external_metric(kube_namespace, "s0-prometheus", "web")["items"],
        timeout=60,
    )
    assert value and value[0]["value"] == "30"

    def scaled():
        h = hpa()
        return h.status.desired_replicas == 3 and h

    h = _wait(scaled, timeout=90, interval=1)
    assert h, f"HPA never computed 3 replicas: {hpa().status}"
    assert (
        _wait(lambda: apps.read_namespaced_deployment_scale("web", kube_namespace).spec.replicas)
        == 3
    )


# ------------------------------------------------------------------------------ kube-state-metrics
def test_kube_state_metrics_series_reach_prometheus(
    kube_state_metrics, ksm_prometheus, kube_api_client, kube_cluster, fake_gpu_node
):
    ns = kube_cluster.new_namespace(labels={"modelport.io/team": "search"})
    node = fake_gpu_node(
        gpus=4,
        labels={
            "modelport.io/test-pool": ns,
            "node.kubernetes.io/instance-type": "g6.12xlarge",
            "karpenter.sh/capacity-type": "spot",
        },
    )
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_pod(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "llama-predictor-abc",
                "labels": {
                    "modelport.io/team": "search",
                    "modelport.io/endpoint": "llama",
                    "modelport.io/endpoint-uuid": "0f8e",
                },
            },
            "spec": {
                "nodeSelector": {"modelport.io/test-pool": ns},
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": "vllm",
                        "resources": {
                            "requests": {"nvidia.com/gpu": "2"},
                            "limits": {"nvidia.com/gpu": "2"},
                        },
                    }
                ],
            },
        },
    )
    sel = f'namespace="{ns}"'
    got = ksm_prometheus.wait_for(
        f'kube_pod_container_resource_requests{{{sel},resource="nvidia_com_gpu",node!=""}}',
        timeout=60,
    )
    assert got[0]["metric"]["node"] == node and got[0]["value"][1] == "2"
    labels = ksm_prometheus.wait_for(f"kube_pod_labels{{{sel}}}", timeout=30)[0]["metric"]
    assert labels["label_modelport_io_team"] == "search"
    assert labels["label_modelport_io_endpoint"] == "llama"
    assert labels["label_modelport_io_endpoint_uuid"] == "0f8e"
    nslabels = ksm_prometheus.wait_for(f"kube_namespace_labels{{{sel}}}", timeout=30)
    assert nslabels[0]["metric"]["label_modelport_io_team"] == "search"
    node_labels = ksm_prometheus.wait_for(f'kube_node_labels{{node="{node}"}}', timeout=30)
    assert node_labels[0]["metric"]["label_node_kubernetes_io_instance_type"] == "g6.12xlarge"
    assert node_labels[0]["metric"]["label_karpenter_sh_capacity_type"] == "spot"
    # A batch shard pod's labels (deployments/batch/manifests.labels) are allow-listed too.
    core.create_namespaced_pod(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "nightly-r1-0-xyz",
                "labels": {
                    "modelport.io/team": "search",
                    "modelport.io/batch-job": "nightly",
                    "modelport.io/batch-job-uuid": "b47c",
                },
            },
            "spec": {"containers": [{"name": "run-batch", "image": "vllm"}]},
        },
    )
    batch = ksm_prometheus.wait_for(f'kube_pod_labels{{{sel},pod="nightly-r1-0-xyz"}}', timeout=30)
    assert batch[0]["metric"]["label_modelport_io_batch_job"] == "nightly"
    assert batch[0]["metric"]["label_modelport_io_batch_job_uuid"] == "b47c"
    cap = ksm_prometheus.wait_for(
        f'kube_node_status_capacity{{node="{node}",resource="nvidia_com_gpu"}}', timeout=30
    )
    assert cap[0]["value"][1] == "4"


# ------------------------------------------------------------------------------ fake kubelet
def test_fake_kubelet_restart_crash_and_deletion_as_kube_state_metrics_reports_them(
    kube_state_metrics, ksm_prometheus, kube_api_client, kube_namespace, kube_cluster, fake_gpu_node
):
    ns = kube_namespace
    fake_gpu_node(gpus=1, labels={"modelport.io/test-pool": ns})
    core = client.CoreV1Api(kube_api_client)
    core.create_namespaced_pod(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "nodeSelector": {"modelport.io/test-pool": ns},
                "initContainers": [{"name": "storage-initializer", "image": "init"}],
                "containers": [{"name": "main", "image": "main"}],
            },
        },
    )
    kubelet = kube_cluster.fake_kubelet

    # init container first: Pending, Initialized=False, the init container running
    def initializing():
        p = core.read_namespaced_pod("p", ns)
        return p.status.init_container_statuses and p

    p = _wait(initializing, timeout=30, interval=0.05)
    assert p.status.phase in ("Pending", "Running")
    p = _wait(
        lambda: (q := core.read_namespaced_pod("p", ns)).status.phase == "Running" and q,
        timeout=10,
    )
    assert p.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert p.status.container_statuses[0].ready

    kubelet.restart_container(ns, "p", reason="OOMKilled", exit_code=137)
    p = core.read_namespaced_pod("p", ns)
    st = p.status.container_statuses[0]
    assert st.restart_count == 1 and st.last_state.terminated.reason == "OOMKilled"
    assert st.state.running is not None
    restarts = ksm_prometheus.wait_for(
        f'kube_pod_container_status_restarts_total{{namespace="{ns}",pod="p"}}',
        predicate=lambda r: r and r[0]["value"][1] == "1",
        timeout=30,
    )
    assert restarts
    assert ksm_prometheus.wait_for(
        f'kube_pod_container_status_last_terminated_reason{{namespace="{ns}",reason="OOMKilled"}}',
        timeout=30,
    )

    kubelet.crash_container(ns, "p", reason="Error", exit_code=1)
    p = core.read_namespaced_pod("p", ns)
    assert p.status.container_statuses[0].state.waiting.reason == "CrashLoopBackOff"
    time.sleep(1.5)  # a kubelet pass must not make it Ready again
    cond = {c.type: c.status for c in core.read_namespaced_pod("p", ns).status.conditions}
    assert cond["Ready"] == "False"

    core.delete_namespaced_pod("p", ns)  # graceful: the fake kubelet finishes it
    assert _wait(lambda: not core.list_namespaced_pod(ns).items, timeout=30)

    # hold: pods start but are not Ready until released (a model still loading)
    kubelet.hold(ns)
    core.create_namespaced_pod(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "q"},
            "spec": {
                "nodeSelector": {"modelport.io/test-pool": ns},
                "containers": [{"name": "main", "image": "main"}],
            },
        },
    )
    q = _wait(
        lambda: (x := core.read_namespaced_pod("q", ns)).status.phase == "Running" and x,
        timeout=30,
    )
    assert {c.type: c.status for c in q.status.conditions}["Ready"] == "False"
    kubelet.release(ns)
    assert _wait(
        lambda: (
            {c.type: c.status for c in core.read_namespaced_pod("q", ns).status.conditions}["Ready"]
            == "True"
        ),
        timeout=10,
    )
