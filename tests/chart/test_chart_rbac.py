"""The chart's least-privilege RBAC as rendered (docs/rbac.md): cluster-wide the worker may only
create team namespaces and bind the chart's team roles in them, fenced by admission policies;
the team role covers every kind the renderers emit. tests/chart/test_chart_cluster.py proves
the same objects on the real apiserver, feature by feature."""

import pytest

from deployments.batch import manifests as batch_manifests
from deployments.endpoints import manifests
from deployments.routing import manifests as route_manifests
from deployments.routing.models import Route, RouteTier
from portal.settings import parse_role_bindings
from tests.factories import BatchJobFactory, EndpointFactory

from .conftest import by_kind, containers, one

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
