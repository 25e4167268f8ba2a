"""POST/GET/DELETE /api/v1/routes/, approve, manifests, and the member-endpoint guard."""

import pytest
from django.core.management import call_command

from deployments.routing.models import Route
from deployments.routing.tasks import apply_route
from tests.factories import EndpointFactory


def body(team, small, large, **extra):
    return {
        "team": team.slug,
        "name": "chat",
        "policy": "fallback",
        "tiers": [
            {"endpoint": str(small.uuid), "role": "small"},
            {"endpoint": str(large.uuid), "role": "large"},
        ],
        **extra,
    }


@pytest.fixture
def owner_api(owner, api_client_for):
    return api_client_for(owner)


def test_owner_request_is_accepted_and_applied(
    owner_api, team, small, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_api.post("/api/v1/routes/", body(team, small, large), format="json")
    assert response.status_code == 202, response.content
    data = response.json()
    route = Route.objects.get(uuid=data["uuid"])
    assert data["url"] == f"http://chat.{team.slug}.routes.modelport.local/v1"
    assert 'base_url="http://chat.' in data["client_snippet"]
    assert [t["role"] for t in data["tiers"]] == ["large", "small"]
    assert len(callbacks) == 1  # apply_route queued
    assert apply_route(route.pk, 1) == "no-cluster"  # no cluster configured: recorded only
    assert apply_route(route.pk, 1) == "already-applied"  # twice is once
    route.refresh_from_db()
    assert (route.applied_generation, route.status) == (1, "not_deployed")  # nothing serves it
    assert apply_route(route.pk, 0) == "stale"


def test_member_request_waits_for_approval(
    api_client, owner_api, team, small, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client.post("/api/v1/routes/", body(team, small, large), format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending_approval"
    assert not callbacks
    uuid = response.json()["uuid"]
    assert api_client.post(f"/api/v1/routes/{uuid}/approve/").status_code == 409
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        approved = owner_api.post(f"/api/v1/routes/{uuid}/approve/")
    assert approved.status_code == 202 and len(callbacks) == 1


def test_duplicate_name_is_400(owner_api, team, small, large):
    assert (
        owner_api.post("/api/v1/routes/", body(team, small, large), format="json").status_code
        == 202
    )
    again = owner_api.post("/api/v1/routes/", body(team, small, large), format="json")
    assert again.status_code == 400 and "already has a route" in str(again.json())


def test_another_teams_endpoint_is_400_when_visible(owner, owner_api, team, other_team, small):
    from portal.models import Membership
    from tests.factories import MembershipFactory

    MembershipFactory(team=other_team, user=owner, role=Membership.Role.MEMBER)
    theirs = EndpointFactory(team=other_team, name="theirs")
    response = owner_api.post("/api/v1/routes/", body(team, small, theirs), format="json")
    assert response.status_code == 400 and "another team" in str(response.json())
    assert not Route.objects.exists()


def test_an_endpoint_the_caller_cannot_see_is_404(owner_api, team, other_team, small):
    hidden = EndpointFactory(team=other_team, name="hidden")
    response = owner_api.post("/api/v1/routes/", body(team, small, hidden), format="json")
    assert response.status_code == 404
    assert not Route.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Chat; rm -rf /"},
        {"name": "x" * 41},
        {"policy": "random"},
        {"tiers": [{"endpoint": "not-a-uuid", "role": "small"}]},
        {"tiers": "small"},
        {"prompt_length_threshold": -1},
    ],
)
def test_hostile_input_is_400_and_renders_nothing(owner_api, team, small, large, change):
    response = owner_api.post(
        "/api/v1/routes/", {**body(team, small, large), **change}, format="json"
    )
    assert response.status_code == 400, response.content
    assert not Route.objects.exists()


def test_same_role_twice_or_no_large_tier_is_400(owner_api, team, small, large):
    data = body(team, small, large)
    data["tiers"][1]["role"] = "small"
    assert owner_api.post("/api/v1/routes/", data, format="json").status_code == 400


def test_the_old_classifier_name_is_400_pointing_at_complexity(owner_api, team, small, large):
    response = owner_api.post(
        "/api/v1/routes/", body(team, small, large, policy="classifier"), format="json"
    )
    assert response.status_code == 400
    message = response.json()["policy"][0]
    assert "use 'complexity'" in message and "vLLM Semantic Router" in message
    assert not Route.objects.exists()


def test_manifests_and_render_route_return_the_applied_objects(
    owner_api, team, small, large, capsys
):
    uuid = owner_api.post("/api/v1/routes/", body(team, small, large), format="json").json()["uuid"]
    objects = owner_api.get(f"/api/v1/routes/{uuid}/manifests/").json()
    assert [o["kind"] for o in objects] == [
        "Backend",
        "Backend",
        "HTTPRoute",
        "EnvoyExtensionPolicy",
        "BackendTrafficPolicy",
    ]
    import yaml

    call_command("render_route", uuid)
    assert list(yaml.safe_load_all(capsys.readouterr().out)) == objects


def test_outsider_gets_404(outsider, api_client_for, owner_api, team, small, large):
    uuid = owner_api.post("/api/v1/routes/", body(team, small, large), format="json").json()["uuid"]
    outsider_api = api_client_for(outsider)
    assert outsider_api.get(f"/api/v1/routes/{uuid}/").status_code == 404
    assert outsider_api.get(f"/api/v1/routes/{uuid}/manifests/").status_code == 404
    assert outsider_api.delete(f"/api/v1/routes/{uuid}/").status_code == 404


def test_wrong_method_is_405(owner_api, team, small, large):
    uuid = owner_api.post("/api/v1/routes/", body(team, small, large), format="json").json()["uuid"]
    assert owner_api.put(f"/api/v1/routes/{uuid}/", {}, format="json").status_code == 405


def test_list_query_count_is_bounded(owner_api, team, small, large, django_assert_max_num_queries):
    owner_api.post("/api/v1/routes/", body(team, small, large), format="json")
    owner_api.post("/api/v1/routes/", body(team, small, large, name="chat-2"), format="json")
    with django_assert_max_num_queries(8):
        response = owner_api.get("/api/v1/routes/")
    assert response.status_code == 200 and response.json()["count"] == 2


def test_stopping_or_deleting_a_member_endpoint_is_refused_with_a_message(
    owner_api, team, small, large
):
    owner_api.post("/api/v1/routes/", body(team, small, large), format="json")
    stop = owner_api.post(f"/api/v1/endpoints/{small.uuid}/stop/")
    assert stop.status_code == 409 and "route chat sends traffic to it" in str(stop.json())
    delete = owner_api.delete(f"/api/v1/endpoints/{large.uuid}/")
    assert delete.status_code == 409 and "Cannot delete chat-70b" in str(delete.json())


def test_after_the_route_is_deleted_the_endpoint_can_be_deleted(
    owner_api, team, small, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        uuid = owner_api.post("/api/v1/routes/", body(team, small, large), format="json").json()[
            "uuid"
        ]
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.delete(f"/api/v1/routes/{uuid}/").status_code == 202
    assert Route.objects.get(uuid=uuid).status == "deleted"
    assert owner_api.delete(f"/api/v1/endpoints/{large.uuid}/").status_code == 202


def test_the_requester_never_approves_their_own_route(
    api_client, member, team, small, large, django_capture_on_commit_callbacks
):
    """Four eyes, as for endpoints and batch jobs: a member who asked and is then made a team
    admin still cannot approve the request (403), and the route stays pending."""
    from portal.models import Membership

    response = api_client.post("/api/v1/routes/", body(team, small, large), format="json")
    uuid = response.json()["uuid"]
    Membership.objects.filter(team=team, user=member).update(role=Membership.Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        refused = api_client.post(f"/api/v1/routes/{uuid}/approve/")
    assert refused.status_code == 403 and "four eyes" in refused.json()["detail"]
    assert not callbacks
    assert api_client.get(f"/api/v1/routes/{uuid}/").json()["status"] == "pending_approval"


# --- the complexity policy (vLLM Semantic Router) ---------------------------------------------


def test_complexity_route_goes_request_approval_apply_and_renders_the_router(
    api_client,
    owner_api,
    team,
    small,
    large,
    fake_cluster,
    django_capture_on_commit_callbacks,
    capsys,
):
    import yaml

    data = body(
        team,
        small,
        large,
        policy="complexity",
        easy_examples=["Say hello."],
        hard_examples=["Prove the invariant holds."],
        hard_keywords=["formal proof"],
        steer_at_percent=80,
    )
    response = api_client.post("/api/v1/routes/", data, format="json")  # a member asks
    assert response.status_code == 202, response.content
    got = response.json()
    assert got["status"] == "pending_approval" and got["policy"] == "complexity"
    assert got["easy_examples"] == ["Say hello."] and got["steer_at_percent"] == 80
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_api.post(f"/api/v1/routes/{got['uuid']}/approve/").status_code == 202
    applied = [o["kind"] for o in fake_cluster.applied[-1]]
    assert applied[:3] == ["ConfigMap", "Deployment", "Service"]
    assert "EnvoyExtensionPolicy" in applied
    objects = owner_api.get(f"/api/v1/routes/{got['uuid']}/manifests/").json()
    assert objects == fake_cluster.applied[-1]
    config = yaml.safe_load(objects[0]["data"]["config.yaml"])
    assert config["routing"]["signals"]["keywords"][0]["keywords"] == ["formal proof"]
    call_command("render_route", got["uuid"])
    assert list(yaml.safe_load_all(capsys.readouterr().out)) == objects
    route = Route.objects.get(uuid=got["uuid"])
    assert route.status == "provisioning"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"easy_examples": ["x" * 2001]}, "easy_examples"),
        ({"hard_keywords": "not a list"}, "hard_keywords"),
        ({"steer_at_percent": 0}, "steer_at_percent"),
        ({"steer_at_percent": 101}, "steer_at_percent"),
    ],
)
def test_complexity_bad_examples_or_percent_are_400(owner_api, team, small, large, change, field):
    data = body(team, small, large, policy="complexity", **change)
    response = owner_api.post("/api/v1/routes/", data, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Route.objects.exists()


def test_complexity_with_a_fallback_tier_is_400_saying_why(owner_api, team, small, large):
    spare = EndpointFactory(team=team, name="spare")
    data = body(team, small, large, policy="complexity")
    data["tiers"].append({"endpoint": str(spare.uuid), "role": "fallback"})
    response = owner_api.post("/api/v1/routes/", data, format="json")
    assert response.status_code == 400
    assert "no fallback tier" in str(response.json())


def test_budget_steering_on_another_policy_is_400(owner_api, team, small, large):
    response = owner_api.post(
        "/api/v1/routes/", body(team, small, large, steer_at_percent=80), format="json"
    )
    assert response.status_code == 400
    assert "only the complexity policy" in str(response.json()["steer_at_percent"])
