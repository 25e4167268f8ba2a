"""The team's shared objects: the namespace, the portal's RoleBindings in it (the Helm chart's
least-privilege RBAC, settings.KUBE_TEAM_ROLE_BINDINGS), the GPU quota."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from deployments.batch import manifests as batch_manifests
from deployments.endpoints import manifests
from portal.settings import parse_role_bindings
from tests.factories import BatchJobFactory, EndpointFactory

BINDINGS = [("mp-modelport-team", "modelport", "mp-modelport"), ("v", "modelport", "web")]


def test_without_role_bindings_configured_no_binding_is_rendered(settings, team):
    settings.KUBE_TEAM_ROLE_BINDINGS = []
    assert [o["kind"] for o in manifests.team_objects(team)] == ["Namespace", "ResourceQuota"]


def test_each_configured_binding_is_applied_after_the_namespace_and_before_the_quota(
    settings, team
):
    settings.KUBE_TEAM_ROLE_BINDINGS = BINDINGS
    objects = manifests.team_objects(team)
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "RoleBinding",
        "RoleBinding",
        "ResourceQuota",
    ]
    binding = objects[1]
    assert binding["metadata"] == {
        "name": "mp-modelport-team",
        "namespace": team.namespace,
        "labels": manifests.team_labels(team),
    }
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "mp-modelport-team",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mp-modelport", "namespace": "modelport"}
    ]


def test_endpoints_and_batch_jobs_apply_the_bindings_with_their_namespace(
    settings, team, llama_8b, gpu_l4
):
    settings.KUBE_TEAM_ROLE_BINDINGS = BINDINGS[:1]
    ep = EndpointFactory(team=team, model=llama_8b, gpu_type=gpu_l4)
    job = BatchJobFactory(team=team, model=llama_8b, gpu_type=gpu_l4)
    team_kinds = ["Namespace", "RoleBinding", "ResourceQuota"]
    assert [o["kind"] for o in manifests.render(ep)][:3] == team_kinds
    assert [o["kind"] for o in batch_manifests.render(job)] == [*team_kinds, "Job"]


def test_the_setting_reads_role_namespace_and_service_account():
    assert parse_role_bindings(" a=ns/sa , b=ns/web ,") == [("a", "ns", "sa"), ("b", "ns", "web")]
    assert parse_role_bindings("") == []


@pytest.mark.parametrize("bad", ["a", "a=ns", "a=/sa", "=ns/sa", "a=ns/sa/x"])
def test_a_malformed_binding_is_a_clear_configuration_error(bad):
    with pytest.raises(ImproperlyConfigured, match="is not <ClusterRole>=<namespace>/"):
        parse_role_bindings(bad)
