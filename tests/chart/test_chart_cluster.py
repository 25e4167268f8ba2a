"""charts/modelport on the real kube-apiserver: every rendered object is accepted by a
server-side apply dry run, and the chart's RBAC (docs/rbac.md) is enough for the portal and no
more. Every feature (the endpoint lifecycle with apply, status sync, repair, scale, stop/start
and delete; the gated model's token check; the pods tab with its log request; a batch job; a
route) runs with the real controllers as the chart's ServiceAccounts, with tokens from the
apiserver (TokenRequest) through the in-cluster configuration the chart sets
(KUBE_IN_CLUSTER=true: token and CA files, KUBERNETES_SERVICE_HOST). A kind a renderer emits
without a rule is refused there and fails it. The same identities are refused outside the team
namespaces, on Secrets they do not need, and on kube-system's namespace. With
karpenter.nodePools and modelCache on, the worker applies and prunes NodePools and reads
NodeClaims, Nodes and pods as itself; with them off it may do none of that."""

from __future__ import annotations

import json

import pytest
import yaml
from django.conf import settings
from django.urls import reverse
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from deployments.batch.choices import BATCH_OBSERVED_STATUSES, BatchJobStatus
from deployments.batch.tasks import sync_batch_jobs
from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.reconcile import _missing_token
from deployments.endpoints.tasks import sync_statuses
from deployments.k8s import ClusterClient
from deployments.models import BatchJob, Endpoint
from deployments.routing import manifests as route_manifests
from deployments.routing.models import Route
from deployments.routing.tasks import apply_route, sync_routes
from deployments.workloads.errors import PermanentClusterError, TransientClusterError
from portal.settings import parse_role_bindings
from tests.deployments.batch_helpers import body as batch_body
from tests.deployments.cluster_helpers import (
    endpoint_body,
    node_for,
    real_controllers,
    request_route,
    sync_until,
    wait_for,
)
from tests.factories import EndpointFactory

from .conftest import ALL_ON, _missing, containers, monitoring_crd_dir, one

pytestmark = pytest.mark.cluster
RBAC_KINDS = (
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)


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


class ChartIdentities:
    """The chart's two ServiceAccounts with tokens from the apiserver (TokenRequest). The portal
    runs in-cluster (KUBE_IN_CLUSTER=true, as the chart sets it) with the token file kubelet
    would mount; `use(who)` swaps the file, as the web and worker pods each hold their own."""

    def __init__(self, tokens: dict[str, str], token_file, kubeconfig: dict, names: dict):
        self.tokens, self.token_file, self.kubeconfig, self.names = (
            tokens,
            token_file,
            kubeconfig,
            names,
        )

    def use(self, who: str) -> ClusterClient:
        self.token_file.write_text(self.tokens[who])
        ClusterClient._cache.clear()
        return ClusterClient.from_settings()

    def api(self, who: str) -> k8s.ApiClient:
        from kubernetes import config as k8s_config

        config = {**self.kubeconfig, "users": [{**self.kubeconfig["users"][0]}]}
        config["users"][0]["user"] = {"token": self.tokens[who]}
        return k8s_config.new_client_from_config_dict(config)


def _token(kube_api_client, namespace, name) -> str:
    request = k8s.AuthenticationV1TokenRequest(
        spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    core = k8s.CoreV1Api(kube_api_client)
    return core.create_namespaced_service_account_token(name, namespace, request).status.token


def _refused(call) -> str:
    """The apiserver's 403 message for a call (RBAC or an admission policy)."""
    with pytest.raises((ApiException, PermanentClusterError)) as exc:
        call()
    assert exc.value.status == 403, exc.value
    body = getattr(exc.value, "body", None)
    return json.loads(body)["message"] if body else str(exc.value)


def _refused_or_none(call) -> bool:
    try:
        call()
    except PermanentClusterError as exc:
        return exc.status == 403
    return False


@pytest.fixture
def chart_values() -> dict[str, str]:
    """More chart values for `chart` (a test parametrizes it to turn options on)."""
    return {}


@pytest.fixture
def chart(
    render,
    admin,
    kube_cluster,
    kube_api_client,
    kube_namespace,
    settings,
    tmp_path,
    monkeypatch,
    chart_values,
):
    """The chart's RBAC installed for real (ServiceAccounts, ClusterRoles, the one
    ClusterRoleBinding, the admission policies), rendered for a release named after the test
    namespace with team namespaces '<test ns>-<slug>'; the portal configured as the chart
    configures its pods."""
    from urllib.parse import urlparse

    from kubernetes.config import incluster_config

    prefix = f"{kube_namespace}-"
    objects = render(
        {"config.KUBE_NAMESPACE_PREFIX": prefix, **chart_values},
        namespace=kube_namespace,
        release=kube_namespace,
    )
    rbac = [o for o in objects if o["kind"] in RBAC_KINDS]
    assert sorted({o["kind"] for o in rbac}) == sorted(RBAC_KINDS)
    admin.apply(rbac)
    env = {e["name"]: e.get("value") for e in containers(objects)["worker"]["env"]}
    worker, web = one(objects, "Deployment", "-worker"), one(objects, "Deployment", "-web")
    names = {
        "worker": worker["spec"]["template"]["spec"]["serviceAccountName"],
        "web": web["spec"]["template"]["spec"]["serviceAccountName"],
    }
    tokens = {who: _token(kube_api_client, kube_namespace, sa) for who, sa in names.items()}
    # what kubelet gives a pod: the token and CA files and the service address
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(kube_cluster.ca_file))
    server = urlparse(kube_cluster.server)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", server.hostname)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(server.port))
    settings.KUBECONFIG = ""
    settings.KUBE_CONTEXT = ""
    settings.KUBE_IN_CLUSTER = True
    settings.KUBE_NAMESPACE_PREFIX = prefix
    settings.KUBE_TEAM_ROLE_BINDINGS = parse_role_bindings(env["KUBE_TEAM_ROLE_BINDINGS"])
    settings.CELERY_TASK_ALWAYS_EAGER = True
    identities = ChartIdentities(
        tokens, tmp_path / "token", yaml.safe_load(kube_cluster.kubeconfig_path.read_text()), names
    )
    identities.use("worker")
    # The apiserver loads a new admission policy asynchronously: wait until it refuses (a dry
    # run: it is authorized and admitted like the real request, and stores nothing).
    core = k8s.CoreV1Api(identities.api("worker"))
    unmanaged = k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=f"{prefix}unlabelled"))

    def fenced():
        try:
            core.create_namespace(unmanaged, dry_run="All")
        except ApiException as exc:
            return exc.status == 403
        return False

    wait_for(fenced, "the admission policies to be enforced", timeout=30)
    yield identities
    ClusterClient._cache.clear()
    for obj in reversed(rbac):
        if "namespace" not in obj["metadata"]:
            admin.delete(obj)


@pytest.fixture
def real(request, admin, kube_cluster, fake_gpu_node):
    return real_controllers(request, admin, kube_cluster, fake_gpu_node)


def _post(api_client, capture, path, data=None, status=(200, 201, 202)):
    with capture(execute=True):
        response = api_client.post(path, data or {}, format="json")
    assert response.status_code in status, response.content
    return response


def _serves(admin, api_version, kind) -> bool:
    try:
        admin._resource(api_version, kind)
    except PermanentClusterError:
        return False
    return True


def test_every_feature_runs_as_the_charts_service_accounts(
    real,
    chart,
    kube_namespace,
    admin,
    api_client,
    api_client_for,
    owner,
    member_client,
    team,
    llama_8b,
    gpu_l4,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    if not _serves(admin, route_manifests.GATEWAY_API, "HTTPRoute"):
        _missing("the Gateway API / Envoy Gateway CRDs are missing: run tools/fetch-route-crds.sh")
    worker = chart.use("worker")
    review = k8s.AuthenticationV1Api(worker.api_client).create_self_subject_review(
        k8s.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == (
        f"system:serviceaccount:{kube_namespace}:{chart.names['worker']}"
    )
    body = endpoint_body(team, llama_8b, gpu_l4, max_replicas=1)
    # apply: the team namespace, the portal's RoleBindings in it, the quota, the endpoint
    ep = Endpoint.objects.get(
        uuid=_post(api_client, capture, "/api/v1/endpoints/", body).json()["uuid"]
    )
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.PROVISIONING, ep.status_message
    for role, _, sa in settings.KUBE_TEAM_ROLE_BINDINGS:
        binding = admin.get("rbac.authorization.k8s.io/v1", "RoleBinding", role, ep.namespace)
        assert binding["subjects"][0]["name"] == sa
    isvc = admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)
    assert isvc["metadata"]["managedFields"][0]["manager"] == "modelport"
    assert admin.get("v1", "ResourceQuota", "modelport-gpu", ep.namespace) is not None

    # a gated model: the Hugging Face token Secret is looked up in the team namespace
    llama_8b.gated = True
    llama_8b.save(update_fields=["gated"])
    ep.refresh_from_db()
    assert "is missing" in _missing_token(worker, ep)
    admin.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": settings.KUBE_HF_TOKEN_SECRET, "namespace": ep.namespace},
                "stringData": {manifests.HF_TOKEN_KEY: "hf_x"},
            }
        ]
    )
    assert _missing_token(worker, ep) == ""
    llama_8b.gated = False
    llama_8b.save(update_fields=["gated"])

    # status sync while the real KServe controller brings the predictor up on a played node
    node_for(real, ep)
    sync_until(ep, EndpointStatus.READY, "Ready as the chart's worker")

    # the pods tab, as the web pods' identity: the pods listed, the log asked for (the played
    # kubelet serves no log: the apiserver lets the request through and the node fails it)
    web = chart.use("web")
    page = member_client.get(reverse("deployments:endpoint_pods", args=[ep.uuid])).content
    [pod] = web.predictor_pods(ep.namespace, str(ep.uuid))
    assert f"<code>{pod['metadata']['name']}</code>" in page.decode()
    assert "did not list the pods" not in page.decode()
    with pytest.raises((PermanentClusterError, TransientClusterError)) as exc:
        web.pod_log_tail(ep.namespace, pod["metadata"]["name"], "kserve-container")
    assert getattr(exc.value, "status", None) != 403, exc.value
    _refused(lambda: web.apply([manifests.scaled_object(ep)]))  # the web pods only read
    worker = chart.use("worker")

    # repair: a deleted InferenceService and a hand-lowered quota are applied again
    admin.delete(manifests.inference_service(ep))
    admin.apply(
        [{**manifests.resource_quota(ep.team), "spec": {"hard": {"requests.nvidia.com/gpu": "1"}}}]
    )

    def repaired():
        sync_statuses()
        isvc = admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)
        quota = admin.get("v1", "ResourceQuota", "modelport-gpu", ep.namespace)
        return (
            isvc is not None
            and not isvc["metadata"].get("deletionTimestamp")
            and quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "16"}
        )

    wait_for(repaired, "the InferenceService and the quota to be repaired")
    # a namespace without the portal's RoleBinding (created by an older chart, or deleted by
    # hand): the next sync is refused there, binds the role again, and observes
    role = settings.KUBE_TEAM_ROLE_BINDINGS[0][0]
    admin.delete(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": role, "namespace": ep.namespace},
        }
    )
    wait_for(
        lambda: _refused_or_none(lambda: worker.list("v1", "Event", ep.namespace)),
        "the deleted RoleBinding to take effect",
    )
    sync_statuses()
    assert admin.get("rbac.authorization.k8s.io/v1", "RoleBinding", role, ep.namespace)
    sync_until(ep, EndpointStatus.READY, "Ready again after the repairs")

    # scale: the ScaledObject and a PodDisruptionBudget
    path = f"/api/v1/endpoints/{ep.uuid}"
    _post(api_client, capture, f"{path}/scale/", {"min_replicas": 2, "max_replicas": 4})
    so = admin.get(
        manifests.KEDA_API, "ScaledObject", manifests.scaled_object_name(ep), ep.namespace
    )
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (2, 4)
    pdb = manifests.pod_disruption_budget(ep)
    assert admin.get(
        manifests.PDB_API, "PodDisruptionBudget", pdb["metadata"]["name"], ep.namespace
    )

    # stop and start
    _post(api_client, capture, f"{path}/stop/")
    sync_until(ep, EndpointStatus.STOPPED, "KServe to report Stopped")
    _post(api_client, capture, f"{path}/start/")
    isvc = admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/stop"] == "false"

    # a batch job: its Job applied, observed (one list per team namespace), cancelled
    answer = _post(api_client, capture, "/api/v1/batch-jobs/", batch_body(team, llama_8b, gpu_l4))
    job = BatchJob.objects.get(uuid=answer.json()["uuid"])
    assert job.status == BatchJobStatus.RUNNING, job.status_message
    assert admin.get("batch/v1", "Job", job.job_name, job.namespace) is not None
    sync_batch_jobs()
    job.refresh_from_db()
    assert job.status in BATCH_OBSERVED_STATUSES, job.status_message
    _post(api_client, capture, f"/api/v1/batch-jobs/{job.uuid}/cancel/")
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED, job.status_message

    # a route: Envoy Gateway Backends and policies and an HTTPRoute applied, observed, deleted
    large = EndpointFactory(team=team, name="chat-70b", gpu_count=4)
    owner_api = api_client_for(owner)
    route = request_route(owner_api, team, ep, large)
    assert admin.get(route_manifests.GATEWAY_API, "HTTPRoute", "chat", ep.namespace)
    sync_routes()
    assert owner_api.delete(f"/api/v1/routes/{route.uuid}/").status_code == 202
    assert apply_route(route.pk, 2) == "deleted", Route.objects.get(pk=route.pk).status_message

    # delete the endpoint
    with capture(execute=True):
        assert api_client.delete(f"{path}/").status_code == 202
    ep.refresh_from_db()
    assert ep.status == EndpointStatus.DELETED, ep.status_message
    wait_for(
        lambda: (
            admin.get(manifests.ISVC_API, "InferenceService", ep.isvc_name, ep.namespace) is None
        ),
        "the InferenceService to be gone",
    )


def test_the_charts_identities_are_refused_outside_the_team_namespaces(
    chart, admin, kube_api_client, kube_namespace, team, fake_gpu_node
):
    prefix = f"{kube_namespace}-"
    other = f"{prefix}other"  # the prefix, but not the portal's: no managed-by label
    core_admin = k8s.CoreV1Api(kube_api_client)
    core_admin.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=other)))
    for namespace in (other,):
        core_admin.create_namespaced_secret(
            namespace,
            k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="hf-token"), string_data={"HF_TOKEN": "x"}),
        )
    node = fake_gpu_node(gpus=1)
    worker = chart.use("worker")
    worker.apply(manifests.team_objects(team))  # what the portal does: allowed
    managed = team.namespace
    core_admin.create_namespaced_secret(
        managed, k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="db"), string_data={"pw": "x"})
    )
    api = chart.api("worker")
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    user = f"system:serviceaccount:{kube_namespace}:{chart.names['worker']}"

    # reads: only in the namespaces it manages, and only the Secret it needs
    message = _refused(lambda: core.read_namespaced_secret("hf-token", other))
    assert f'User "{user}" cannot get resource "secrets"' in message
    _refused(lambda: core.read_namespaced_secret("db", managed))
    _refused(lambda: core.list_secret_for_all_namespaces())
    _refused(lambda: core.list_namespaced_pod(other))
    _refused(lambda: core.list_pod_for_all_namespaces())
    _refused(lambda: core.list_namespaced_event(other))
    _refused(lambda: core.read_namespaced_pod_log("x", other))
    assert core.list_namespaced_event(managed).items is not None  # its own: allowed
    # writes outside its namespaces
    isvc = {
        "apiVersion": manifests.ISVC_API,
        "kind": "InferenceService",
        "metadata": {"name": "x", "namespace": other},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "huggingface"}}}},
    }
    _refused(lambda: worker.apply([isvc]))
    _refused(
        lambda: worker.apply(
            [
                {
                    **manifests.resource_quota(team),
                    "metadata": {"name": "modelport-gpu", "namespace": other},
                }
            ]
        )
    )
    # namespaces: only its own, labelled, with the prefix; never kube-system's labels
    patch = {"metadata": {"labels": {manifests.LABEL_MANAGED_BY: manifests.MANAGED_BY}}}
    message = _refused(lambda: core.patch_namespace("kube-system", patch))
    assert "the portal changes only the namespaces it manages" in message
    _refused(lambda: core.patch_namespace(other, patch))
    _refused(lambda: core.patch_namespace("kube-system", {"metadata": {"labels": {"x": "y"}}}))
    labelled = {"name": f"elsewhere-{kube_namespace}", "labels": patch["metadata"]["labels"]}
    message = _refused(lambda: core.create_namespace(k8s.V1Namespace(metadata=labelled)))
    assert f"the portal creates only namespaces named {prefix}*" in message
    privileged = {"pod-security.kubernetes.io/enforce": "privileged"}
    _refused(lambda: core.patch_namespace(managed, {"metadata": {"labels": privileged}}))
    _refused(lambda: core.delete_namespace(managed))
    # role bindings: only the chart's team roles, to its own accounts, in its namespaces
    team_role = settings.KUBE_TEAM_ROLE_BINDINGS[0][0]

    def binding(namespace, role, sa_namespace, sa):
        return k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name="escalate"),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role
            ),
            subjects=[k8s.RbacV1Subject(kind="ServiceAccount", name=sa, namespace=sa_namespace)],
        )

    me = chart.names["worker"]
    message = _refused(
        lambda: rbac.create_namespaced_role_binding(
            other, binding(other, team_role, kube_namespace, me)
        )
    )
    assert "the portal binds roles only in the namespaces it manages" in message
    _refused(
        lambda: rbac.create_namespaced_role_binding(
            "kube-system", binding("kube-system", team_role, kube_namespace, me)
        )
    )
    _refused(
        lambda: rbac.create_namespaced_role_binding(
            managed, binding(managed, "cluster-admin", kube_namespace, me)
        )
    )
    message = _refused(
        lambda: rbac.create_namespaced_role_binding(
            managed, binding(managed, team_role, other, "default")
        )
    )
    assert "the portal binds roles only to its own ServiceAccounts" in message
    _refused(
        lambda: rbac.create_cluster_role_binding(
            k8s.V1ClusterRoleBinding(
                metadata=k8s.V1ObjectMeta(name=f"{kube_namespace}-escalate"),
                role_ref=k8s.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=team_role
                ),
                subjects=[
                    k8s.RbacV1Subject(kind="ServiceAccount", name=me, namespace=kube_namespace)
                ],
            )
        )
    )
    _refused(lambda: core.delete_node(node))
    api.close()

    # the web pods' identity: pods and logs in team namespaces, nothing else
    web_api = chart.api("web")
    web_core = k8s.CoreV1Api(web_api)
    assert web_core.list_namespaced_pod(managed).items == []
    _refused(lambda: web_core.read_namespaced_secret("hf-token", managed))
    _refused(lambda: web_core.list_namespaced_pod(other))
    _refused(lambda: web_core.list_namespaced_event(managed))
    _refused(lambda: web_core.create_namespace(k8s.V1Namespace(metadata={"name": f"{prefix}w"})))
    _refused(lambda: chart.use("web").apply([manifests.resource_quota(team)]))
    web_api.close()


# --- the GPU node pools and the model caches (karpenter.nodePools.enabled, modelCache.enabled) --

NODES_ON = {
    "karpenter.nodePools.enabled": "true",
    "karpenter.nodePools.nodeClass": "kwok",
    "modelCache.enabled": "true",
}


def _can(api: k8s.ApiClient, verb: str, group: str, resource: str, name: str = "") -> bool:
    """The apiserver's RBAC answer for the identity of ``api`` (SelfSubjectAccessReview)."""
    review = k8s.V1SelfSubjectAccessReview(
        spec=k8s.V1SelfSubjectAccessReviewSpec(
            resource_attributes=k8s.V1ResourceAttributes(
                verb=verb, group=group, resource=resource, name=name or None
            )
        )
    )
    return k8s.AuthorizationV1Api(api).create_self_subject_access_review(review).status.allowed


NODE_REQUESTS = [
    ("patch", "karpenter.sh", "nodepools", "modelport-gpu-g6e-spot"),
    ("create", "karpenter.sh", "nodepools", ""),
    ("delete", "karpenter.sh", "nodepools", "modelport-gpu-g6e-spot"),
    ("list", "karpenter.sh", "nodepools", ""),
    ("list", "karpenter.sh", "nodeclaims", ""),
    ("create", "karpenter.kwok.sh", "kwoknodeclasses", ""),
    ("patch", "karpenter.kwok.sh", "kwoknodeclasses", "modelport-gpu"),
    ("get", "", "nodes", "gpu-1"),
    ("list", "", "nodes", ""),
    ("list", "", "pods", ""),  # cluster-wide (no namespace in the review)
    ("create", "serving.kserve.io", "localmodelcaches", ""),
    ("patch", "serving.kserve.io", "localmodelnodegroups", "gpu-l40s"),
    ("delete", "serving.kserve.io", "localmodelcaches", "x"),
    ("list", "serving.kserve.io", "localmodelnodegroups", ""),
]
NEVER = [
    ("delete", "karpenter.sh", "nodeclaims", "x"),  # Karpenter's own
    ("watch", "karpenter.sh", "nodepools", ""),
    ("patch", "karpenter.kwok.sh", "kwoknodeclasses", "someone-elses"),
    ("delete", "karpenter.kwok.sh", "kwoknodeclasses", "modelport-gpu"),
    ("create", "karpenter.k8s.aws", "ec2nodeclasses", ""),  # not the configured NodeClass
    ("patch", "", "nodes", "gpu-1"),
    ("list", "", "secrets", ""),
]


def test_without_the_values_the_worker_may_not_touch_node_pools_nodes_or_caches(chart):
    api = chart.api("worker")
    allowed = [r for r in NODE_REQUESTS + NEVER if _can(api, *r)]
    api.close()
    assert allowed == []


@pytest.mark.parametrize("chart_values", [pytest.param(NODES_ON, id="nodes-on")])
def test_with_the_values_the_worker_applies_prunes_and_reads_node_pools_as_itself(
    chart, admin, kube_cluster, settings, db
):
    """The real apply with a prune, usage, "why pending" and a start's node stages, as the
    worker's ServiceAccount with the chart's rules (Karpenter's CRDs validate the objects);
    the model cache's and the web pods' rights by SelfSubjectAccessReview."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from deployments.endpoints import coldstarts
    from deployments.nodepools import manifests as pools
    from deployments.nodepools.observe import pending_reason
    from deployments.nodepools.reconcile import apply_nodepools
    from tests.factories import GpuRateFactory, GpuTypeFactory, InstanceOfferingFactory
    from tests.infra.karpenter import karpenter_paths
    from tests.infra.kube import MissingBinaries

    try:
        _, crd_dir = karpenter_paths()
    except MissingBinaries as exc:
        _missing(str(exc))
    kube_cluster.install_crds(
        [
            crd_dir / "karpenter.sh_nodepools.yaml",
            crd_dir / "karpenter.sh_nodeclaims.yaml",
            crd_dir / "karpenter.kwok.sh_kwoknodeclasses.yaml",
        ]
    )

    def listable():  # a new CRD's storage answers 429 while it initializes
        try:
            admin.list(pools.NODEPOOL_API, "NodePool")
            admin.list(pools.NODECLAIM_API, "NodeClaim")
        except TransientClusterError:
            return False
        return True

    wait_for(listable, "the Karpenter kinds' storage", timeout=30)
    settings.KARPENTER_NODEPOOLS, settings.KARPENTER_NODE_CLASS = True, "kwok"
    gpu = GpuTypeFactory(name="L40S-c", node_label_value="l40s-c", max_gpus_per_pool=1)
    offering = InstanceOfferingFactory(
        gpu_type=gpu, instance_type="kc-g6e.xlarge", gpus_per_node=1, vcpus=4, memory_gib=32
    )
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("0.7444"))
    wanted = pools.render()
    (pool,) = [o for o in wanted if o["kind"] == "NodePool"]
    stale = {**pool, "metadata": {**pool["metadata"], "name": "modelport-gpu-kc-gone-spot"}}
    admin.apply([o for o in wanted if o["kind"] != "NodePool"] + [stale])
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "chart-gpu-1",
            "labels": {pools.NODEPOOL_LABEL: pool["metadata"]["name"]},
        },
    }
    admin.apply([node])
    try:
        worker = chart.use("worker")
        assert apply_nodepools() == "applied 1 node pools, removed modelport-gpu-kc-gone-spot"
        names = {p["metadata"]["name"] for p in admin.list(pools.NODEPOOL_API, "NodePool")}
        assert pool["metadata"]["name"] in names and stale["metadata"]["name"] not in names
        pending = {"metadata": {"name": "p-0"}, "spec": {}, "status": {"phase": "Pending"}}
        pending_reason(worker, [pending], [], datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
        found, _ = coldstarts._node_and_claim(worker, {"spec": {"nodeName": "chart-gpu-1"}})
        assert found is not None and found["metadata"]["name"] == "chart-gpu-1"
        api, web = chart.api("worker"), chart.api("web")
        assert [r for r in NODE_REQUESTS if not _can(api, *r)] == []
        assert [r for r in NEVER if _can(api, *r)] == []
        assert [r for r in NODE_REQUESTS if _can(web, *r)] == []
        api.close()
        web.close()
    finally:
        ClusterClient._cache.clear()
        admin.delete(node)
        for obj in admin.list(pools.NODEPOOL_API, "NodePool"):
            if obj["metadata"]["name"].startswith("modelport-gpu-kc-"):
                admin.delete({"apiVersion": pools.NODEPOOL_API, "kind": "NodePool", **obj})
