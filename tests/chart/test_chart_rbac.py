"""The chart's least-privilege RBAC as rendered (docs/rbac.md): cluster-wide the worker may only
create team namespaces and bind the chart's team roles in them, fenced by admission policies;
the team role covers every kind the renderers emit. tests/chart/test_chart_cluster.py proves
the same objects on the real apiserver, feature by feature."""

from datetime import UTC, datetime
from decimal import Decimal
from unittest.mock import patch

import pytest

from deployments.batch import manifests as batch_manifests
from deployments.endpoints import coldstarts, manifests, modelcache, modelcaches
from deployments.k8s import ClusterClient
from deployments.models import ModelCache
from deployments.nodepools import manifests as nodepool_manifests
from deployments.nodepools import reconcile as nodepool_reconcile
from deployments.nodepools.observe import pending_reason
from deployments.routing import manifests as route_manifests
from deployments.routing.models import Route, RouteTier
from deployments.workloads.labels import LABEL_MANAGED_BY as MANAGED_BY_LABEL
from deployments.workloads.labels import MANAGED_BY
from portal.settings import parse_role_bindings
from tests.deployments.conftest import FakeCluster
from tests.factories import (
    BatchJobFactory,
    EndpointFactory,
    GpuRateFactory,
    GpuTypeFactory,
    InstanceOfferingFactory,
)

from .conftest import ALL_ON, CHART, by_kind, containers, one, run_helm, set_args

CLUSTER_SCOPED = {"Namespace"}
PLURAL = {
    "ResourceQuota": "resourcequotas",
    "RoleBinding": "rolebindings",
    "InferenceService": "inferenceservices",
    "ScaledObject": "scaledobjects",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Job": "jobs",
    "Backend": "backends",
    "HTTPRoute": "httproutes",
    "EnvoyExtensionPolicy": "envoyextensionpolicies",
    "BackendTrafficPolicy": "backendtrafficpolicies",
    # the vLLM Semantic Router of a complexity route (deployments/routing/complexity.py)
    "ConfigMap": "configmaps",
    "Deployment": "deployments",
    "Service": "services",
}


def _grants(role: dict) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs, for the rules without resourceNames."""
    out: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        if rule.get("resourceNames"):
            continue
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def _key(obj: dict) -> tuple[str, str]:
    group = obj["apiVersion"].rpartition("/")[0]
    plural = PLURAL.get(obj["kind"])
    assert plural, f"{obj['kind']}: a kind the renderers emit that the chart does not know"
    return group, plural


@pytest.fixture
def rendered_by_the_portal(settings, team, llama_8b, gpu_l4):
    """What the three renderers emit (an endpoint with a PDB, a batch job, a route) and what
    the reconcilers delete, with the chart's bindings configured."""
    settings.KUBE_TEAM_ROLE_BINDINGS = [("r", "modelport", "mp-modelport")]
    ep = EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4, max_replicas=2)
    other = EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4, name="chat-70b")
    job = BatchJobFactory(team=team, model=llama_8b, gpu_type=gpu_l4)
    routes = []
    for policy in ("prompt_length", "complexity"):
        route = Route.objects.create(team=team, name=policy.replace("_", "-"), policy=policy)
        RouteTier.objects.create(route=route, endpoint=ep, role="small")
        RouteTier.objects.create(route=route, endpoint=other, role="large")
        routes.append(route)
    applied = [
        *manifests.render(ep),
        *batch_manifests.render(job),
        *(o for r in routes for o in route_manifests.render(r, list(r.tiers.all()))),
    ]
    deleted = [
        *manifests.removable_objects(ep),
        *(o for r in routes for o in route_manifests.deletable(r)),
        {"apiVersion": "batch/v1", "kind": "Job"},  # deployments/batch/reconcile._delete_runs
    ]
    return applied, deleted


def test_the_cluster_wide_role_only_creates_team_namespaces_and_binds_the_team_roles(render):
    objects = render()
    role = one(objects, "ClusterRole", "mp-modelport")
    assert _grants(role) == {
        ("", "namespaces"): {"create", "patch"},
        ("rbac.authorization.k8s.io", "rolebindings"): {"create", "patch"},
    }
    (bind,) = [r for r in role["rules"] if r.get("resourceNames")]
    assert bind == {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "resourceNames": ["mp-modelport-team", "mp-modelport-team-view"],
        "verbs": ["bind"],
    }
    # no read anywhere, no Secret, no pod: those come only from the team namespaces' bindings
    assert one(objects, "ClusterRoleBinding")["roleRef"]["name"] == "mp-modelport"


def test_the_team_role_covers_every_kind_the_renderers_emit(render, rendered_by_the_portal):
    applied, deleted = rendered_by_the_portal
    team = _grants(one(render(), "ClusterRole", "-team"))
    namespaced = [o for o in applied if o["kind"] not in CLUSTER_SCOPED | {"RoleBinding"}]
    assert {o["kind"] for o in namespaced} >= {"InferenceService", "Job", "HTTPRoute", "Backend"}
    for obj in namespaced:  # server-side apply: patch, and create what does not exist yet
        assert {"create", "patch"} <= team.get(_key(obj), set()), obj["kind"]
    for obj in deleted:
        assert "delete" in team.get(_key(obj), set()), obj["kind"]
    # and nothing the renderers do not emit, beyond the reads the reconcilers and pods tab do
    reads = {("apps", "deployments"): "list", ("", "pods"): "list", ("", "events"): "list"}
    reads[("", "pods/log")] = "get"
    assert set(team) == {_key(o) for o in namespaced} | set(reads)
    for key, verb in reads.items():
        assert verb in team[key], key
    assert team[("", "pods")] == {"list", "watch"} and team[("", "events")] == {"list"}
    # the status watcher watches exactly the kinds deployments/watch/products.py follows
    from deployments.watch.products import KINDS

    watched = {(k.api_version.rpartition("/")[0], k.kind.lower() + "s") for k in KINDS}
    assert {key for key, verbs in team.items() if "watch" in verbs} == watched


def test_the_hf_token_is_the_only_secret_and_only_in_team_namespaces(render):
    objects = render()
    for role in by_kind(objects, "ClusterRole"):
        for rule in role["rules"]:
            if "secrets" in rule["resources"]:
                assert role["metadata"]["name"] == "mp-modelport-team"
                assert (rule["verbs"], rule["resourceNames"]) == (["get"], ["hf-token"])
    view = one(objects, "ClusterRole", "-team-view")
    assert _grants(view) == {("", "pods"): {"list"}, ("", "pods/log"): {"get"}}


def test_every_pod_names_the_team_roles_the_portal_binds(render):
    objects = render()
    roles = {o["metadata"]["name"] for o in by_kind(objects, "ClusterRole")}
    accounts = {o["metadata"]["name"] for o in by_kind(objects, "ServiceAccount")}
    values = set()
    for container in containers(objects).values():
        env = {e["name"]: e.get("value") for e in container["env"]}
        values.add(env["KUBE_TEAM_ROLE_BINDINGS"])
    (value,) = values
    assert parse_role_bindings(value) == [
        ("mp-modelport-team", "modelport", "mp-modelport"),
        ("mp-modelport-team-view", "modelport", "mp-modelport-web"),
    ]
    assert {r for r, _, _ in parse_role_bindings(value)} <= roles
    assert {a for _, _, a in parse_role_bindings(value)} <= accounts


def test_the_admission_policies_fence_the_workers_identity_to_managed_namespaces(render):
    objects = render({"config.KUBE_NAMESPACE_PREFIX": "teams-"})
    policies = {o["metadata"]["name"]: o for o in by_kind(objects, "ValidatingAdmissionPolicy")}
    bindings = by_kind(objects, "ValidatingAdmissionPolicyBinding")
    assert sorted(b["spec"]["policyName"] for b in bindings) == sorted(policies)
    assert all(b["spec"]["validationActions"] == ["Deny"] for b in bindings)
    label = f"'{manifests.LABEL_MANAGED_BY}'"
    for name, policy in policies.items():
        (condition,) = policy["spec"]["matchConditions"]
        assert condition["expression"] == (
            "request.userInfo.username == 'system:serviceaccount:modelport:mp-modelport'"
        )
        assert policy["spec"]["failurePolicy"] == "Fail"
        checks = policy["spec"].get("variables", []) + policy["spec"]["validations"]
        text = " ".join(v["expression"] for v in checks)
        assert label in text and f"== '{manifests.MANAGED_BY}'" in text, name
        assert all(v["reason"] == "Forbidden" for v in policy["spec"]["validations"])
    namespaces = policies["mp-modelport-namespaces"]["spec"]
    assert "startsWith('teams-')" in namespaces["validations"][0]["expression"]
    rolebindings = policies["mp-modelport-rolebindings"]["spec"]
    text = " ".join(v["expression"] for v in rolebindings["validations"])
    assert "['mp-modelport-team', 'mp-modelport-team-view']" in text
    assert "['mp-modelport', 'mp-modelport-web']" in text
    assert not by_kind(render({"rbac.admissionPolicy": "false"}), "ValidatingAdmissionPolicy")


def _ports(rule: dict) -> set[int]:
    return {p["port"] for p in rule["ports"]}


def test_network_policies_let_in_only_the_web_port_and_out_only_what_each_talks_to(render):
    objects = render()
    policies = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]
        for o in by_kind(objects, "NetworkPolicy")
    }
    assert set(policies) == {"web", "worker", "beat", "status-watcher"}
    for component, spec in policies.items():
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        assert spec["policyTypes"] == ["Ingress", "Egress"]
    (web_in,) = policies["web"]["ingress"]
    assert web_in["ports"] == [{"port": 8000, "protocol": "TCP"}]
    web = one(objects, "Deployment", "-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["ports"][0]["containerPort"] == 8000
    assert policies["worker"]["ingress"] == [] and policies["beat"]["ingress"] == []
    out = {c: set().union(*(_ports(r) for r in s["egress"])) for c, s in policies.items()}
    assert out["worker"] == {53, 5432, 6379, 9090, 443, 6443}
    assert out["web"] == {53, 5432, 6379, 9090, 443, 6443}  # the pods tab reads the API
    assert out["beat"] == {53, 5432, 6379}
    # the watcher: the database, Redis (a job stopped at its cost cap) and the API
    assert out["status-watcher"] == {53, 5432, 6379, 443, 6443}
    assert policies["status-watcher"]["ingress"] == []
    dns = next(r for r in policies["beat"]["egress"] if _ports(r) == {53})
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}


def test_network_policy_targets_and_extra_egress_are_values(render):
    objects = render(
        {
            "networkPolicy.egress.database.to[0].ipBlock.cidr": "10.1.0.0/24",
            "networkPolicy.extraEgress.worker[0].ports[0].port": "587",
        }
    )
    worker = one(objects, "NetworkPolicy", "-worker")["spec"]["egress"]
    db = next(r for r in worker if _ports(r) == {5432})
    assert db["to"] == [{"ipBlock": {"cidr": "10.1.0.0/24"}}]
    assert {"ports": [{"port": 587}]} in worker
    assert not by_kind(render({"networkPolicy.enabled": "false"}), "NetworkPolicy")


def test_beat_is_alive_while_its_schedule_file_is_written(render):
    beat = containers(render())["beat"]
    schedule = beat["command"][beat["command"].index("--schedule") + 1]
    probe = beat["livenessProbe"]
    (script,) = probe["exec"]["command"][2:]
    directory, _, name = schedule.rpartition("/")
    assert f"find {directory} -maxdepth 1 -name '{name}*' -mmin -10" in script
    # the persistent scheduler syncs its file every 3 minutes: the probe allows three syncs
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 180


# --- the GPU node pools and the model caches (karpenter.nodePools.enabled, modelCache.enabled) --

NODES_ON = {"karpenter.nodePools.enabled": "true", "modelCache.enabled": "true"}
CORE_ROLES = {"mp-modelport", "mp-modelport-team", "mp-modelport-team-view"}


class RecordingCluster(FakeCluster):
    """The in-memory cluster, noting each cluster-scoped call as the apiserver authorizes it:
    (verb, apiGroup, resource, name). Namespaced calls are the team role's (bound per team)."""

    def __init__(self):
        super().__init__()
        self.requests: set[tuple[str, str, str, str | None]] = set()

    def _note(self, verb, api_version, kind, namespace, name=None):
        if namespace is None:
            group = api_version.rpartition("/")[0]
            plural = kind.lower() + ("es" if kind.endswith("s") else "s")
            self.requests.add((verb, group, plural, name))

    def apply(self, objects, dry_run=False, reuse_kinds=()):
        for obj in objects:  # server-side apply: a patch that creates what does not exist
            meta = obj["metadata"]
            for verb in ("create", "patch"):
                self._note(
                    verb, obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]
                )
        return super().apply(objects, dry_run, reuse_kinds)

    def delete(self, obj):
        meta = obj["metadata"]
        self._note("delete", obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        return super().delete(obj)

    def get(self, api_version, kind, name, namespace=None):
        self._note("get", api_version, kind, namespace, name)
        return super().get(api_version, kind, name, namespace)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self._note("list", api_version, kind, namespace)
        return super().list(api_version, kind, namespace, label_selector)


def _allows(role: dict, verb: str, group: str, resource: str, name: str | None) -> bool:
    """RBAC's answer for one request (a rule with resourceNames never allows create/list)."""
    for rule in role["rules"]:
        names = rule.get("resourceNames")
        if names and (verb in ("create", "list") or name not in names):
            continue
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            return True
    return False


def _verbs(role: dict) -> set[tuple[str, str, str]]:
    return {
        (verb, group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.fixture
def gpu_catalog(db):
    l40s = GpuTypeFactory(name="L40S", node_label_value="l40s", max_gpus_per_pool=8)
    offering = InstanceOfferingFactory(
        gpu_type=l40s, instance_type="g6e.xlarge", gpus_per_node=1, vcpus=4, memory_gib=32
    )
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("0.7444"))
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("1.8610"))
    return l40s


@pytest.fixture
def node_calls(settings, gpu_catalog, llama_8b):
    """node_calls(node_class) -> every cluster-scoped request the worker makes for the node
    pools and the model caches: an apply that prunes a pool and a cache, usage, "why pending"
    and a cold start's node stages (the recording in-memory cluster)."""

    def run(node_class: str) -> set[tuple[str, str, str, str | None]]:
        settings.KARPENTER_NODEPOOLS = True
        settings.KARPENTER_NODE_CLASS = node_class
        settings.KUBECONFIG = "/nonexistent/fake-kubeconfig"
        cluster = RecordingCluster()
        managed = {"labels": {MANAGED_BY_LABEL: MANAGED_BY}}
        for kind, api in (
            ("NodePool", nodepool_manifests.NODEPOOL_API),
            ("LocalModelCache", modelcache.API),
            ("LocalModelNodeGroup", modelcache.API),
        ):  # left from a catalog row or cache since removed: pruned
            cluster.objects[(kind, None, "gone")] = {
                "apiVersion": api,
                "kind": kind,
                "metadata": {"name": "gone", **managed},
            }
        cluster.objects[("Node", None, "gpu-1")] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "gpu-1", "labels": {"karpenter.sh/nodepool": "p"}},
        }
        with patch.object(ClusterClient, "from_settings", classmethod(lambda cls: cluster)):
            assert "removed gone" in nodepool_reconcile.apply_nodepools()
        ModelCache.objects.create(model=llama_8b, gpu_type=gpu_catalog, quantization="bf16")
        assert modelcaches.apply_model_caches(cluster) == 2
        pending = {"metadata": {"name": "p-0"}, "spec": {}, "status": {"phase": "Pending"}}
        pending_reason(cluster, [pending], [], datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
        node, _ = coldstarts._node_and_claim(cluster, {"spec": {"nodeName": "gpu-1"}})
        assert node is not None
        return cluster.requests

    return run


def test_with_node_pools_and_model_cache_off_no_new_right_renders(render):
    objects = render()
    assert {o["metadata"]["name"] for o in by_kind(objects, "ClusterRole")} == CORE_ROLES
    assert [o["metadata"]["name"] for o in by_kind(objects, "ClusterRoleBinding")] == [
        "mp-modelport"
    ]
    for role in by_kind(objects, "ClusterRole"):
        groups = {g for rule in role["rules"] for g in rule["apiGroups"]}
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert not groups & {"karpenter.sh", "karpenter.k8s.aws", "karpenter.kwok.sh"}
        assert not resources & {"nodes", "localmodelcaches", "localmodelnodegroups"}


@pytest.mark.parametrize("node_class", ["ec2", "kwok"])
def test_node_pools_grant_the_worker_exactly_what_apply_prune_and_observe_request(
    render, node_calls, node_class
):
    objects = render({**NODES_ON, "karpenter.nodePools.nodeClass": node_class})
    roles = {o["metadata"]["name"]: o for o in by_kind(objects, "ClusterRole")}
    assert set(roles) == CORE_ROLES | {"mp-modelport-nodepools", "mp-modelport-modelcache"}
    for name in ("mp-modelport-nodepools", "mp-modelport-modelcache"):
        binding = one(objects, "ClusterRoleBinding", name.removeprefix("mp-modelport"))
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": name,
        }
        # the worker's identity (the status watcher's too), never the web pods'
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "mp-modelport", "namespace": "modelport"}
        ]
    granted = roles["mp-modelport-nodepools"], roles["mp-modelport-modelcache"]
    requests = node_calls(node_class)
    refused = [r for r in requests if not any(_allows(role, *r) for role in granted)]
    assert refused == []
    # and nothing more: every verb granted is one the worker uses
    used = {(verb, group, resource) for verb, group, resource, _ in requests}
    assert _verbs(granted[0]) | _verbs(granted[1]) == used
    other = {"ec2": "karpenter.kwok.sh", "kwok": "karpenter.k8s.aws"}[node_class]
    assert not [v for v in used if v[1] == other]
    # the NodeClass: created without a name (RBAC cannot name a create), patched only by name
    (named,) = [r for r in granted[0]["rules"] if r.get("resourceNames")]
    assert named["resourceNames"] == [nodepool_manifests.NODE_CLASS_NAME]
    assert named["verbs"] == ["patch"]


def test_the_web_pods_get_no_node_or_cache_right(render):
    """The node-pools page reads the snapshot the worker records (no cluster call)."""
    objects = render(NODES_ON)
    web = {"kind": "ServiceAccount", "name": "mp-modelport-web", "namespace": "modelport"}
    for binding in by_kind(objects, "ClusterRoleBinding"):
        assert web not in binding["subjects"]
    assert _grants(one(objects, "ClusterRole", "-team-view")) == {
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
    }


def test_node_pool_settings_are_values_and_a_bad_node_class_is_refused(render, helm):
    env = {
        e["name"]: e.get("value")
        for e in containers(render())["worker"]["env"]
        if e["name"].startswith("KARPENTER_")
    }
    assert env == {"KARPENTER_NODEPOOLS": "false"}
    values = {
        **NODES_ON,
        "karpenter.nodePools.nodeClass": "kwok",
        "karpenter.nodePools.clusterName": "prod-eu",
        "karpenter.nodePools.nodeRole": "KarpenterNodeRole-prod-eu",
        "karpenter.nodePools.amiAlias": "al2023@v20260101",
        "karpenter.nodePools.rootVolumeGiB": "400",
    }
    for component, container in containers(render(values)).items():
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {k: v for k, v in env.items() if k.startswith("KARPENTER_")} == {
            "KARPENTER_NODEPOOLS": "true",
            "KARPENTER_NODE_CLASS": "kwok",
            "KARPENTER_CLUSTER_NAME": "prod-eu",
            "KARPENTER_NODE_ROLE": "KarpenterNodeRole-prod-eu",
            "KARPENTER_AMI_ALIAS": "al2023@v20260101",
            "KARPENTER_ROOT_VOLUME_GIB": "400",
        }, component
    args = ["template", "mp", str(CHART), "--set-string", "existingSecret=s"]
    bad = run_helm(
        helm, *args, *set_args({**NODES_ON, "karpenter.nodePools.nodeClass": "gce"}), check=False
    )
    assert bad.returncode != 0
    assert 'karpenter.nodePools.nodeClass must be ec2 or kwok, not "gce"' in bad.stderr
    # config.KARPENTER_* would switch the portal on without the rights: refused by name
    bad = run_helm(helm, *args, *set_args({"config.KARPENTER_NODEPOOLS": "true"}), check=False)
    assert bad.returncode != 0
    assert "config.KARPENTER_NODEPOOLS: set karpenter.nodePools.* instead" in bad.stderr


def test_helm_lint_is_clean_with_node_pools_and_model_cache_on(helm):
    for node_class in ("ec2", "kwok"):
        values = {**ALL_ON, **NODES_ON, "karpenter.nodePools.nodeClass": node_class}
        result = run_helm(helm, "lint", "--strict", str(CHART), *set_args(values), check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
