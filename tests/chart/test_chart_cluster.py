"""charts/modelport on the real kube-apiserver: every rendered object is accepted by a
server-side apply dry run, and the chart's RBAC is enough for the portal and no more: the
endpoint lifecycle (apply, observe, repair, scale, delete) runs as the chart's ServiceAccount
with a token from the apiserver (TokenRequest) through the in-cluster configuration the chart
sets (KUBE_IN_CLUSTER=true: token and CA files, KUBERNETES_SERVICE_HOST), and actions outside
its job are refused."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.tasks import sync_statuses
from deployments.k8s import ClusterClient
from deployments.models import Endpoint
from tests.deployments.cluster_helpers import node_for, real_controllers, sync_until, wait_for

from .conftest import ALL_ON, by_kind, monitoring_crd_dir, one

pytestmark = pytest.mark.cluster
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")


@pytest.fixture(scope="session")
def monitoring_crds(kube_cluster):
    crd_dir = monitoring_crd_dir()
    path = crd_dir / "monitoring.coreos.com_servicemonitors.yaml" if crd_dir else None
    if path is None or not path.is_file():
        pytest.fail("the ServiceMonitor CRD is missing: run `bash tools/build-helm.sh`")
    kube_cluster.install_crds([path])


@pytest.fixture
def admin(kube_api_client):
    return ClusterClient(kube_api_client)


def test_every_rendered_object_passes_a_server_side_apply_dry_run(
    render, admin, kube_namespace, monitoring_crds
):
    objects = render(ALL_ON, namespace=kube_namespace, release=kube_namespace)
    stored = admin.apply(objects, dry_run=True)
    assert [(o["kind"], o["metadata"]["name"]) for o in stored] == [
        (o["kind"], o["metadata"]["name"]) for o in objects
    ]
    kinds = {o["kind"] for o in stored}
    assert {"Deployment", "Job", "HorizontalPodAutoscaler", "ServiceMonitor", "Ingress"} <= kinds
    web = next(
        o for o in stored if o["metadata"]["name"].endswith("-web") and o["kind"] == "Deployment"
    )
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # nothing pruned
    # a dry run stores nothing
    assert admin.get("apps/v1", "Deployment", web["metadata"]["name"], kube_namespace) is None


def _service_account_token(kube_api_client, namespace, name) -> str:
    """A token for the ServiceAccount from the apiserver (TokenRequest), as kubelet mounts one."""
    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=900)
    )
    core = k8s.CoreV1Api(kube_api_client)
    return core.create_namespaced_service_account_token(name, namespace, request).status.token


@pytest.fixture
def as_chart_service_account(
    render, admin, kube_cluster, kube_api_client, kube_namespace, settings, tmp_path, monkeypatch
):
    """The chart's ServiceAccount, ClusterRole and binding installed for real; the portal
    configured as in the chart (KUBE_IN_CLUSTER=true) with the account's token and the cluster
    CA where a pod has them. Returns a kubeconfig with the same token, for direct calls."""
    from urllib.parse import urlparse

    from kubernetes.config import incluster_config

    objects = [
        o
        for o in render(namespace=kube_namespace, release=kube_namespace)
        if o["kind"] in RBAC_KINDS
    ]
    assert sorted(o["kind"] for o in objects) == sorted(RBAC_KINDS)
    admin.apply(objects)
    sa = one(objects, "ServiceAccount")["metadata"]["name"]
    token = _service_account_token(kube_api_client, kube_namespace, sa)
    # what kubelet gives the pod: the token and CA files and the service address
    (tmp_path / "token").write_text(token)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(kube_cluster.ca_file))
    server = urlparse(kube_cluster.server)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", server.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    settings.KUBECONFIG = ""
    settings.KUBE_CONTEXT = ""
    settings.KUBE_IN_CLUSTER = True
    settings.KUBE_NAMESPACE_PREFIX = f"{kube_namespace}-"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    ClusterClient._cache.clear()  # the in-cluster client of another test had another token
    config = yaml.safe_load(kube_cluster.kubeconfig_path.read_text())
    config["users"][0]["user"] = {"token": token}
    path = tmp_path / "chart-sa.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield path
    ClusterClient._cache.clear()
    rbac = k8s.RbacAuthorizationV1Api(kube_api_client)
    rbac.delete_cluster_role_binding(one(objects, "ClusterRoleBinding")["metadata"]["name"])
    rbac.delete_cluster_role(one(objects, "ClusterRole")["metadata"]["name"])


def _post(api_client, capture, path, data=None):
    with capture(execute=True):
        response = api_client.post(path, data or {}, format="json")
    assert response.status_code in (200, 201, 202), response.content
    return response


@pytest.fixture
def real(request, admin, kube_cluster, fake_gpu_node):
    return real_controllers(request, admin, kube_cluster, fake_gpu_node)


def test_the_endpoint_lifecycle_runs_as_the_charts_service_account(
    real,
    as_chart_service_account,
    kube_namespace,
    admin,
    api_client,
    team,
    llama_8b,
    gpu_l4,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    portal = ClusterClient.from_settings()
    review = k8s.AuthenticationV1Api(portal.api_client).create_self_subject_review(
        k8s.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == (
        f"system:serviceaccount:{kube_namespace}:{kube_namespace}-modelport"
    )
    body = {
        "team": team.slug,
        "name": "chat",
        "model": llama_8b.slug,
        "gpu_type": gpu_l4.name,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": 8192,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }
    # apply: the team namespace, its GPU quota, the InferenceService and ScaledObject, created
    ep = Endpoint.objects.get(
        uuid=_post(api_client, capture, "/api/v1/endpoints/", body).json()["uuid"]
    )
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING, ep.status_message
    isvc = admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)
    assert isvc["metadata"]["managedFields"][0]["manager"] == "modelport"
    assert admin.get("v1", "ResourceQuota", "modelport-gpu", ep.namespace) is not None

    # observe: list InferenceServices and ScaledObjects, read the quota and the Events, while
    # the real KServe controller brings the predictor up on a (played) GPU node
    node_for(real, ep)
    sync_until(ep, EndpointStatus.READY, "Ready as the chart's ServiceAccount")
    assert ep.url.startswith(f"http://chat-{ep.namespace}.")

    # repair: a deleted InferenceService and a hand-lowered quota are applied again
    admin.delete(manifests.inference_service(ep))
    admin.apply(
        [{**manifests.resource_quota(ep.team), "spec": {"hard": {"requests.nvidia.com/gpu": "1"}}}]
    )

    def repaired():  # the delete is asynchronous (KServe's finalizer): sync until both are back
        sync_statuses()
        isvc = admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)
        quota = admin.get("v1", "ResourceQuota", "modelport-gpu", ep.namespace)
        return (
            isvc is not None
            and not isvc["metadata"].get("deletionTimestamp")
            and quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "16"}
        )

    wait_for(repaired, "the InferenceService and the quota to be repaired")

    # day 2: scale, then delete
    _post(
        api_client,
        capture,
        f"/api/v1/endpoints/{ep.uuid}/scale/",
        {"min_replicas": 2, "max_replicas": 4},
    )
    so = admin.get(
        manifests.KEDA_API, "ScaledObject", manifests.scaled_object_name(ep), ep.namespace
    )
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (2, 4)
    with capture(execute=True):
        assert api_client.delete(f"/api/v1/endpoints/{ep.uuid}/").status_code == 202
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.DELETED, ep.status_message
    wait_for(  # KServe's finalizer makes the delete asynchronous
        lambda: (
            admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace) is None
        ),
        "the InferenceService to be gone",
    )
    assert (
        admin.get(
            manifests.KEDA_API, "ScaledObject", manifests.scaled_object_name(ep), ep.namespace
        )
        is None
    )


def _forbidden(call) -> ApiException:
    with pytest.raises(ApiException) as exc:
        call()
    assert exc.value.status == 403, exc.value
    return exc.value


def test_the_charts_service_account_is_refused_everything_else(
    as_chart_service_account, kube_api_client, kube_namespace, fake_gpu_node
):
    from kubernetes import config as k8s_config

    other = f"{kube_namespace}-other"
    k8s.CoreV1Api(kube_api_client).create_namespace(
        k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other))
    )
    k8s.CoreV1Api(kube_api_client).create_namespaced_secret(
        other, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db"), string_data={"password": "x"})
    )
    node = fake_gpu_node(gpus=1)
    api = k8s_config.new_client_from_config(config_file=str(as_chart_service_account))
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    sa = f"system:serviceaccount:{kube_namespace}:"
    error = _forbidden(lambda: core.read_namespaced_secret("db", other))
    message = json.loads(error.body)["message"]
    assert f'User "{sa}{kube_namespace}-modelport" cannot get resource "secrets"' in message
    _forbidden(lambda: core.list_secret_for_all_namespaces())
    _forbidden(lambda: core.delete_node(node))
    _forbidden(lambda: core.delete_namespace(other))
    _forbidden(
        lambda: core.create_namespaced_pod(
            other,
            k8s.V1Pod(
                metadata=k8s.V1ObjectMeta(name="x"),
                spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="x", image="x")]),
            ),
        )
    )
    _forbidden(
        lambda: rbac.create_cluster_role_binding(
            k8s.V1ClusterRoleBinding(
                metadata=k8s.V1ObjectMeta(name=f"{kube_namespace}-escalate"),
                role_ref=k8s.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
                ),
                subjects=[
                    k8s.RbacV1Subject(kind="ServiceAccount", name="x", namespace=kube_namespace)
                ],
            )
        )
    )
    # while what the portal does is allowed (the same account, the same apiserver)
    assert core.list_namespaced_event(other).items is not None
    api.close()


def test_the_cluster_role_covers_exactly_the_kinds_the_portal_renders(
    render, golden_endpoint_kinds
):
    role = one(render(), "ClusterRole")
    granted = {
        (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert granted == golden_endpoint_kinds | {
        ("", "events"),
        ("apps", "deployments"),
        ("", "pods"),
        ("", "secrets"),
        ("policy", "poddisruptionbudgets"),
    }
    verbs = {r: set(rule["verbs"]) for rule in role["rules"] for r in rule["resources"]}
    for kind in ("inferenceservices", "scaledobjects", "poddisruptionbudgets"):
        assert verbs[kind] == {"list", "create", "patch", "delete"}
    assert verbs["deployments"] == verbs["pods"] == {"list"}
    secrets = next(rule for rule in role["rules"] if rule["resources"] == ["secrets"])
    assert (secrets["verbs"], secrets["resourceNames"]) == (["get"], ["hf-token"])
    assert verbs["namespaces"] == {"create", "patch"}
    assert verbs["resourcequotas"] == {"get", "create", "patch"}
    assert verbs["events"] == {"list"}
    assert not by_kind(render(), "Role")


@pytest.fixture
def golden_endpoint_kinds(team, llama_8b, gpu_l4):
    from tests.factories import EndpointFactory

    ep = EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4)
    plural = {
        "Namespace": "namespaces",
        "ResourceQuota": "resourcequotas",
        "InferenceService": "inferenceservices",
        "ScaledObject": "scaledobjects",
        "PodDisruptionBudget": "poddisruptionbudgets",
    }
    ep.max_replicas = 2  # the PodDisruptionBudget too
    return {(o["apiVersion"].rpartition("/")[0], plural[o["kind"]]) for o in manifests.render(ep)}
