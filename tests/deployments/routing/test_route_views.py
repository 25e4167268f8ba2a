"""Route pages: list, HTMX request form, the route page, live status, approvals inbox,
approve / reject, delete (asks first), and member endpoints that refuse to stop or go."""

import pytest
from django.urls import reverse

from deployments.routing import services
from deployments.routing.models import Route
from portal.htmx import HTMX_STOP_POLLING
from tests.factories import EndpointFactory

from .conftest import make_route

HX = {"HTTP_HX_REQUEST": "true"}


def form_data(small, large, **extra):
    return {
        "name": "chat",
        "policy": "prompt_length",
        "prompt_length_threshold": 4000,
        "queue_depth_threshold": 8,
        "tier_small": str(small.uuid),
        "tier_large": str(large.uuid),
        "tier_fallback": "",
        **extra,
    }


@pytest.fixture
def route(team, small, large):
    return make_route(team, "prompt_length", small=small, large=large)


def url(name, route=None):
    return reverse(f"deployments:{name}", args=[route.uuid] if route else [])


# --- list -----------------------------------------------------------------------------------


def test_list_shows_the_teams_routes_with_url_and_tiers(member_client, route):
    html = member_client.get(url("route_list")).content.decode()
    assert route.url in html and "chat-8b" in html and "chat-70b" in html
    assert url("route_create") in html


def test_list_hides_other_teams_routes(outsider_client, route):
    assert route.url not in outsider_client.get(url("route_list")).content.decode()


def test_list_query_count_is_bounded(
    member_client, team, small, large, django_assert_max_num_queries
):
    for i in range(5):
        make_route(team, "alias", name=f"r{i}", small=small, large=large)
    with django_assert_max_num_queries(12):
        assert member_client.get(url("route_list")).status_code == 200


# --- request ----------------------------------------------------------------------------------


def test_form_page_and_partial(member_client, small, large):
    page = member_client.get(url("route_create")).content.decode()
    assert "<html" in page and 'hx-post="' + url("route_create") in page
    assert "chat-8b" in page and "Fallback tier" in page
    partial = member_client.get(url("route_create"), **HX).content.decode()
    assert "<html" not in partial and 'id="route-request"' in partial


def test_policy_choices_offer_complexity_not_the_old_classifier_name(member_client):
    html = member_client.get(url("route_create")).content.decode()
    assert 'value="classifier"' not in html
    assert 'value="complexity"' in html and "vLLM Semantic Router" in html


def test_member_request_waits_for_approval_and_redirects(
    member_client, small, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = member_client.post(url("route_create"), form_data(small, large), **HX)
    route = Route.objects.get()
    assert response.status_code == 204 and response["HX-Redirect"] == url("route_detail", route)
    assert route.status == "pending_approval" and callbacks == []
    assert sorted(t.role for t in route.tiers.all()) == ["large", "small"]


def test_owner_request_is_approved_and_applied(
    owner_client, small, large, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(url("route_create"), form_data(small, large))
    route = Route.objects.get()
    assert response.status_code == 302 and route.status == "approved" and len(callbacks) == 1


def test_invalid_request_rerenders_the_partial_with_the_error(member_client, small, large):
    data = form_data(small, large, tier_large=str(small.uuid))
    response = member_client.post(url("route_create"), data, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "An endpoint can be one tier of a route only." in html
    assert not Route.objects.exists()


def test_another_teams_endpoint_cannot_be_picked(member_client, other_team, small):
    theirs = EndpointFactory(team=other_team, name="theirs")
    data = form_data(small, theirs)
    html = member_client.post(url("route_create"), data, **HX).content.decode()
    assert "Select a valid choice" in html and not Route.objects.exists()


def test_viewer_cannot_request(viewer_client, small, large):
    assert viewer_client.post(url("route_create"), form_data(small, large)).status_code == 403


# --- the route page ----------------------------------------------------------------------------


def test_route_page_shows_url_snippet_tiers_and_saving_section(member_client, route, settings):
    settings.PROMETHEUS_URL = "http://127.0.0.1:1"  # nothing listens: the banner, no 500
    html = member_client.get(url("route_detail", route)).content.decode()
    assert route.url in html and "client = OpenAI(" in html
    assert "chat-8b" in html and "chat-70b" in html and "Saving over the last" in html
    # no Prometheus answered yet: the calm setup state, not an outage banner (issue 13)
    assert 'data-setup="unreachable"' in html and "Prometheus has not answered yet" in html
    assert 'data-confirm="Delete route chat?' in html and "onclick" not in html


def test_outsider_gets_404(outsider_client, route):
    for name in ("route_detail", "route_status"):
        assert outsider_client.get(url(name, route)).status_code == 404
    for name in ("route_approve", "route_reject", "route_delete"):
        assert outsider_client.post(url(name, route)).status_code == 404


def test_wrong_method_is_405(member_client, route):
    assert member_client.get(url("route_delete", route)).status_code == 405
    assert member_client.post(url("route_status", route)).status_code == 405
    assert member_client.delete(url("route_list")).status_code == 405


def test_status_polls_until_final_then_286(member_client, route):
    route.status = "provisioning"
    route.save()
    polling = member_client.get(url("route_status", route), **HX)
    assert polling.status_code == 200 and "every 5s" in polling.content.decode()
    route.status = "ready"
    route.save()
    assert member_client.get(url("route_status", route), **HX).status_code == HTMX_STOP_POLLING
    assert member_client.get(url("route_status", route)).status_code == 200


# --- approvals ----------------------------------------------------------------------------------


@pytest.fixture
def pending(team, small, large, member):
    return services.request_route(
        team,
        member,
        {
            "name": "ask",
            "policy": "alias",
            "tiers": [{"endpoint": small, "role": "small"}, {"endpoint": large, "role": "large"}],
        },
    )


def test_approvals_inbox_lists_route_requests_for_admins(owner_client, member_client, pending):
    html = owner_client.get(reverse("deployments:approval_list")).content.decode()
    assert "Route " in html and url("route_approve", pending) in html
    assert "Nothing is waiting" not in html
    assert (
        url("route_approve", pending)
        not in member_client.get(reverse("deployments:approval_list")).content.decode()
    )


def test_owner_approves_and_the_apply_is_queued(
    owner_client, pending, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(url("route_approve", pending))
    assert response.status_code == 302 and response["Location"] == reverse(
        "deployments:approval_list"
    )
    pending.refresh_from_db()
    assert pending.status == "approved" and len(callbacks) == 1


def test_member_cannot_approve(member_client, pending):
    assert member_client.post(url("route_approve", pending)).status_code == 403


def test_reject_needs_a_reason_and_frees_the_endpoints(owner_client, pending, small):
    owner_client.post(url("route_reject", pending), {"reason": ""})
    pending.refresh_from_db()
    assert pending.status == "pending_approval"
    owner_client.post(url("route_reject", pending), {"reason": "use the alias policy"})
    pending.refresh_from_db()
    assert pending.status == "rejected" and "use the alias policy" in pending.status_message
    assert services.live_routes_using(small) == []


# --- delete, and the member endpoints ---------------------------------------------------------------


def test_delete_marks_absent_and_queues_the_removal(
    member_client, route, django_capture_on_commit_callbacks
):
    route.applied_generation = 1
    route.save()
    with django_capture_on_commit_callbacks() as callbacks:
        response = member_client.post(url("route_delete", route), follow=True)
    route.refresh_from_db()
    assert route.desired_state == "absent" and route.status == "deleting" and len(callbacks) == 1
    assert "is being removed" in response.content.decode()


def test_viewer_cannot_delete(viewer_client, route):
    assert viewer_client.post(url("route_delete", route)).status_code == 403


def test_member_endpoint_page_names_the_route_and_refuses_stop_and_delete(
    member_client, route, small
):
    page = reverse("deployments:endpoint_detail", args=[small.uuid])
    html = member_client.get(page).content.decode()
    assert 'id="routed-notice"' in html and url("route_detail", route) in html
    stopped = member_client.post(
        reverse("deployments:endpoint_stop", args=[small.uuid]), follow=True
    ).content.decode()
    assert "route chat sends traffic to it" in stopped
    deleted = member_client.post(
        reverse("deployments:endpoint_delete", args=[small.uuid]),
        {"confirm_name": small.name},
        follow=True,
    )
    assert (
        deleted.status_code == 200 and "route chat sends traffic to it" in deleted.content.decode()
    )
    small.refresh_from_db()
    assert small.desired_state == "present"


def test_the_requester_made_admin_sees_who_else_can_approve_and_no_approve_button(
    member_client, member, owner, team, pending
):
    from portal.models import Membership

    Membership.objects.filter(team=team, user=member).update(role=Membership.Role.ADMIN)
    html = member_client.get(reverse("deployments:approval_list")).content.decode()
    assert url("route_reject", pending) in html and url("route_approve", pending) not in html
    assert "You asked for this" in html and owner.username in html
    assert member_client.post(url("route_approve", pending)).status_code == 302
    pending.refresh_from_db()
    assert pending.status == "pending_approval"


# --- complexity ---------------------------------------------------------------------------------


def test_complexity_request_from_the_form_keeps_the_examples(member_client, small, large):
    data = form_data(
        small,
        large,
        policy="complexity",
        easy_examples="Say hi.\n\nTranslate this.",
        hard_examples="Prove it.",
        hard_keywords="",
        steer_at_percent="75",
    )
    response = member_client.post(url("route_create"), data, **HX)
    assert response.status_code == 204, response.content.decode()
    route = Route.objects.get()
    assert route.policy == "complexity" and route.status == "pending_approval"
    assert route.easy_examples == ["Say hi.", "Translate this."]
    assert route.hard_examples == ["Prove it."] and route.hard_keywords == []
    assert route.steer_at_percent == 75


def test_complexity_bad_examples_rerender_the_form_with_the_error(member_client, small, large):
    data = form_data(small, large, policy="complexity", hard_keywords="x" * 2001)
    html = member_client.post(url("route_create"), data, **HX).content.decode()
    assert "longer than 2000 characters" in html
    assert not Route.objects.exists()


def test_route_page_previews_prompts_and_says_what_needs_the_classifier(
    member_client, team, small, large
):
    route = make_route(team, "complexity", small=small, large=large)
    html = member_client.get(
        url("route_detail", route), {"prompts": "explain the root cause\nsay hi"}
    ).content.decode()
    assert 'id="complexity-preview"' in html
    assert "keyword &quot;root cause&quot;" in html
    assert "needs the classifier" in html and "cannot be computed here" in html


def test_route_page_shows_the_steering_reason(member_client, team, small, large):
    route = make_route(team, "complexity", small=small, large=large)
    Route.objects.filter(pk=route.pk).update(
        medium_to_small=True, steering_reason="spend 412.00 passed 80 % of the 500.00 budget."
    )
    html = member_client.get(url("route_detail", route)).content.decode()
    assert 'id="steering-reason"' in html and "passed 80 % of the 500.00 budget" in html
    assert 'id="medium-tier">small<' in html


def test_the_form_previews_the_rules_before_saving(member_client):
    data = {
        "hard_keywords": "formal proof",
        "prompt_length_threshold": "400",  # about 100 tokens
        "prompts": "Give a formal proof of this\n" + "word " * 100 + "\nsay hi",
    }
    html = member_client.post(url("route_preview"), data, **HX).content.decode()
    assert "<html" not in html and 'id="route-preview-table"' in html
    assert "keyword &quot;formal proof&quot;" in html
    assert "over the 100-token context threshold" in html
    assert html.count("needs the classifier") == 1
    assert not Route.objects.exists()


def test_the_preview_names_bad_keywords(member_client):
    html = member_client.post(
        url("route_preview"), {"hard_keywords": "x" * 2001}, **HX
    ).content.decode()
    assert "longer than 2000 characters" in html


def test_the_preview_needs_a_login_and_a_post(client, member_client):
    assert client.post(url("route_preview"), {}).status_code == 302
    assert member_client.get(url("route_preview")).status_code == 405


def test_an_approved_route_without_a_cluster_is_not_deployed_not_provisioning(
    owner_client, small, large, settings, django_capture_on_commit_callbacks
):
    settings.KUBECONFIG, settings.KUBE_IN_CLUSTER = "", False
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(url("route_create"), form_data(small, large))
    route = Route.objects.get()
    assert route.status == "not_deployed" and "no cluster connected" in route.status_message
    html = owner_client.get(url("route_detail", route)).content.decode()
    assert "Not deployed" in html and "Applied." not in html and "Provisioning" not in html
