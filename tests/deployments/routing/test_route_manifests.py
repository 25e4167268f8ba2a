"""Route manifests: every object validates against the real Envoy Gateway / Gateway API CRDs
(unknown fields rejected), points at the predictor Services, and bad values render nothing."""

import pytest

from deployments.endpoints.manifests import ManifestError
from deployments.routing import manifests
from tests.factories import EndpointFactory

from .conftest import make_route, route_validator

PLURALS = {
    "Backend": "backends",
    "HTTPRoute": "httproutes",
    "EnvoyExtensionPolicy": "envoyextensionpolicies",
    "BackendTrafficPolicy": "backendtrafficpolicies",
}


@pytest.mark.parametrize("policy", ["alias", "prompt_length", "fallback"])
def test_every_object_validates_against_its_crd(team, small, large, fallback_ep, policy):
    route = make_route(team, policy, small=small, large=large, fallback=fallback_ep)
    objects = manifests.render(route, list(route.tiers.all()))
    assert objects, "nothing rendered"
    for obj in objects:
        group, version = obj["apiVersion"].split("/")
        validator = route_validator(group, PLURALS[obj["kind"]], version)
        if validator is None:
            pytest.skip("router CRDs not fetched (run tools/fetch-route-crds.sh)")
        errors = [e.message for e in validator.iter_errors(obj)]
        assert not errors, (obj["kind"], errors)


def test_a_typo_in_a_field_is_caught_by_the_schema(team, small, large):
    route = make_route(team, "fallback", small=small, large=large)
    backend = manifests.render(route, list(route.tiers.all()))[0]
    backend["spec"]["fallbak"] = True
    validator = route_validator("gateway.envoyproxy.io", "backends", "v1alpha1")
    if validator is None:
        pytest.skip("router CRDs not fetched")
    assert list(validator.iter_errors(backend))


def test_backends_point_at_the_kserve_predictor_services(team, small, large):
    route = make_route(team, "alias", small=small, large=large)
    backends = [
        o for o in manifests.render(route, list(route.tiers.all())) if o["kind"] == "Backend"
    ]
    hosts = {b["metadata"]["name"]: b["spec"]["endpoints"][0]["fqdn"] for b in backends}
    ns = team.namespace
    assert hosts == {
        "chat-large": {"hostname": f"chat-70b-predictor.{ns}.svc.cluster.local", "port": 80},
        "chat-small": {"hostname": f"chat-8b-predictor.{ns}.svc.cluster.local", "port": 80},
    }


def test_fallback_policy_sends_to_small_and_marks_large_as_fallback(team, small, large):
    route = make_route(team, "fallback", small=small, large=large)
    objects = {
        o["kind"] + "/" + o["metadata"]["name"]: o
        for o in manifests.render(route, list(route.tiers.all()))
    }
    assert objects["Backend/chat-large"]["spec"]["fallback"] is True
    assert "fallback" not in objects["Backend/chat-small"]["spec"]
    rules = objects["HTTPRoute/chat"]["spec"]["rules"]
    assert [r["name"] for r in rules[0]["backendRefs"]] == ["chat-small", "chat-large"]
    # The Lua writes the empty model name: small and large both serve it (test_route_failover).
    assert objects["EnvoyExtensionPolicy/chat"]["spec"]["targetRefs"][0]["name"] == "chat"
    breaker = objects["BackendTrafficPolicy/chat"]["spec"]["circuitBreaker"]
    assert breaker == {"maxPendingRequests": route.queue_depth_threshold}


def test_alias_and_length_rules_match_the_tier_header_and_default_to_small(team, small, large):
    route = make_route(team, "prompt_length", small=small, large=large)
    http = next(
        o for o in manifests.render(route, list(route.tiers.all())) if o["kind"] == "HTTPRoute"
    )
    rules = http["spec"]["rules"]
    headers = [r["matches"][0].get("headers") for r in rules]
    assert headers[0] == [{"type": "Exact", "name": "x-modelport-tier", "value": "large"}]
    assert headers[-1] is None and rules[-1]["backendRefs"][0]["name"] == "chat-small"
    assert http["spec"]["hostnames"] == [route.host]


def test_lua_rewrites_the_model_to_the_served_name_and_uses_the_threshold(team, small, large):
    route = make_route(team, "prompt_length", small=small, large=large)
    route.prompt_length_threshold = 1234
    lua = manifests.lua_source(route, list(route.tiers.all()))
    assert '["large"] = "chat-70b"' in lua and '["small"] = "chat-8b"' in lua
    assert "#text > 1234" in lua and "clearRouteCache" in lua


def test_every_object_carries_the_route_labels(team, small, large):
    route = make_route(team, "alias", small=small, large=large)
    for obj in manifests.render(route, list(route.tiers.all())):
        labels = obj["metadata"]["labels"]
        assert labels["modelport.io/route-uuid"] == str(route.uuid)
        assert labels["app.kubernetes.io/managed-by"] == "modelport"
        assert obj["metadata"]["namespace"] == team.namespace


def test_hostile_name_renders_nothing(team, small, large):
    route = make_route(team, "alias", small=small, large=large)
    route.name = 'chat"\nend os.execute("rm'
    with pytest.raises(ManifestError):
        manifests.render(route, list(route.tiers.all()))


def test_an_endpoint_of_another_team_renders_nothing(team, other_team, small):
    foreign = EndpointFactory(team=other_team, name="theirs")
    route = make_route(team, "alias", small=small, large=foreign)
    with pytest.raises(ManifestError, match="another team"):
        manifests.render(route, list(route.tiers.all()))


@pytest.mark.parametrize(
    "conditions,expected",
    [
        (None, ("provisioning", "Waiting for Envoy Gateway to accept the route.")),
        ([("Accepted", "True"), ("ResolvedRefs", "True")], ("ready", "Routing.")),
        ([("Accepted", "False"), ("ResolvedRefs", "True")], ("failed", "Accepted: bad")),
        ([("Accepted", "True"), ("ResolvedRefs", "False")], ("failed", "ResolvedRefs: bad")),
    ],
)
def test_status_from_http_route_parents(conditions, expected):
    obj = {"metadata": {"generation": 2}}
    if conditions:
        obj["status"] = {
            "parents": [
                {
                    "conditions": [
                        {"type": t, "status": s, "message": "bad", "observedGeneration": 2}
                        for t, s in conditions
                    ]
                }
            ]
        }
    assert manifests.status_from(obj) == expected


def test_status_of_an_older_generation_is_no_news():
    obj = {
        "metadata": {"generation": 3},
        "status": {
            "parents": [
                {"conditions": [{"type": "Accepted", "status": "True", "observedGeneration": 2}]}
            ]
        },
    }
    assert manifests.status_from(obj) is None
