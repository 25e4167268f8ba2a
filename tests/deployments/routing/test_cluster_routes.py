"""Integration: routes on the real kube-apiserver with the Envoy Gateway and Gateway API CRDs.

The API is called for real, apply_route server-side-applies the objects, and the test plays
Envoy Gateway by writing HTTPRoute status through the status subresource."""

import pytest

from deployments.k8s import ClusterClient
from deployments.routing import manifests
from deployments.routing.models import Route
from deployments.routing.tasks import apply_route, sync_routes
from tests.deployments.cluster_helpers import request_route

pytestmark = pytest.mark.cluster


def gateway_sets_status(client: ClusterClient, route: Route, accepted: str, resolved: str):
    live = client.get(manifests.GATEWAY_API, "HTTPRoute", route.name, route.namespace)
    gen = live["metadata"]["generation"]
    conditions = [
        {
            "type": kind,
            "status": state,
            "reason": "Accepted" if state == "True" else "BackendNotFound",
            "message": "ok" if state == "True" else "Backend chat-small not found",
            "observedGeneration": gen,
            "lastTransitionTime": "2026-12-01T00:00:00Z",
        }
        for kind, state in (("Accepted", accepted), ("ResolvedRefs", resolved))
    ]
    parent = {
        "parentRef": live["spec"]["parentRefs"][0],
        "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
        "conditions": conditions,
    }
    resource = client.dynamic.resources.get(api_version=manifests.GATEWAY_API, kind="HTTPRoute")
    resource.status.patch(
        body={"status": {"parents": [parent]}},
        name=route.name,
        namespace=route.namespace,
        content_type="application/merge-patch+json",
    )


@pytest.fixture
def route(live_cluster, owner, api_client_for, team, small, large):
    from deployments.k8s import ClusterClient as _  # noqa: F401

    live_cluster.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team.namespace}}]
    )
    api = api_client_for(owner)
    route = request_route(api, team, small, large)
    route.api = api
    return route


def test_the_apiserver_stores_exactly_what_the_api_shows(route, live_cluster):
    shown = route.api.get(f"/api/v1/routes/{route.uuid}/manifests/").json()
    assert [o["kind"] for o in shown] == [
        "Backend",
        "Backend",
        "HTTPRoute",
        "EnvoyExtensionPolicy",
        "BackendTrafficPolicy",
    ]
    for obj in shown:
        live = live_cluster.get(
            obj["apiVersion"], obj["kind"], obj["metadata"]["name"], route.namespace
        )
        assert live is not None, obj["kind"]
        assert live["spec"] == obj["spec"] or _contains(obj["spec"], live["spec"]), obj["kind"]
        assert live["metadata"]["managedFields"][0]["manager"] == "modelport"


def _contains(want, have) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_contains(w, h) for w, h in zip(want, have, strict=True))
        )
    return want == have


def test_dry_run_of_every_policy_is_accepted(route, live_cluster, large, small):
    for policy in ("alias", "fallback"):
        route.policy = policy
        live_cluster.apply(manifests.render(route, list(route.tiers.all())), dry_run=True)


def test_status_follows_the_gateway_and_delete_removes_everything(route, live_cluster):
    sync_routes()
    route.refresh_from_db()
    assert route.status == "provisioning"
    gateway_sets_status(live_cluster, route, "True", "False")
    assert sync_routes() == 1
    route.refresh_from_db()
    assert route.status == "failed" and "Backend chat-small not found" in route.status_message
    gateway_sets_status(live_cluster, route, "True", "True")
    sync_routes()
    route.refresh_from_db()
    assert route.status == "ready"
    assert sync_routes() == 0  # observing again changes nothing

    assert route.api.delete(f"/api/v1/routes/{route.uuid}/").status_code == 202
    assert apply_route(route.pk, 2) == "deleted"
    assert apply_route(route.pk, 2) == "already-applied"  # twice is once
    for api, kind, name in (
        (manifests.GATEWAY_API, "HTTPRoute", "chat"),
        (manifests.EG_API, "Backend", "chat-small"),
        (manifests.EG_API, "EnvoyExtensionPolicy", "chat"),
    ):
        live = live_cluster.get(api, kind, name, route.namespace)
        assert live is None or live["metadata"].get("deletionTimestamp"), kind


def test_a_missing_http_route_is_applied_again(route, live_cluster):
    live_cluster.delete(
        {
            "apiVersion": manifests.GATEWAY_API,
            "kind": "HTTPRoute",
            "metadata": {"name": "chat", "namespace": route.namespace},
        }
    )
    sync_routes()
    route.refresh_from_db()
    assert route.generation == 2
    assert apply_route(route.pk, 2) == "applied"
    assert live_cluster.get(manifests.GATEWAY_API, "HTTPRoute", "chat", route.namespace)


def test_a_complexity_route_applies_the_router_and_its_ext_proc_policy(
    live_cluster, owner, api_client_for, team, small, large
):
    """Server-side apply of the router's ConfigMap / Deployment / Service (core kinds) and of
    the extProc EnvoyExtensionPolicy (the real CRD): the apiserver keeps exactly what the API
    shows; delete removes the router too."""
    live_cluster.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team.namespace}}]
    )
    api = api_client_for(owner)
    route = request_route(
        api, team, small, large, name="tiered", policy="complexity", hard_keywords=["formal proof"]
    )
    shown = api.get(f"/api/v1/routes/{route.uuid}/manifests/").json()
    assert [o["kind"] for o in shown][:3] == ["ConfigMap", "Deployment", "Service"]
    for obj in shown:
        live = live_cluster.get(
            obj["apiVersion"], obj["kind"], obj["metadata"]["name"], route.namespace
        )
        assert live is not None, obj["kind"]
        body = "data" if obj["kind"] == "ConfigMap" else "spec"
        assert _contains(obj[body], live[body]), obj["kind"]
    policy = live_cluster.get(manifests.EG_API, "EnvoyExtensionPolicy", "tiered", route.namespace)
    assert policy["spec"]["extProc"][0]["backendRefs"][0]["name"] == "tiered-router"

    assert api.delete(f"/api/v1/routes/{route.uuid}/").status_code == 202
    assert apply_route(route.pk, 2) == "deleted"
    for api_version, kind in (("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "Service")):
        live = live_cluster.get(api_version, kind, "tiered-router", route.namespace)
        assert live is None or live["metadata"].get("deletionTimestamp"), kind
