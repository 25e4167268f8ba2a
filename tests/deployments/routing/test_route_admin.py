"""The admin face of routes: the platform team approves a pending complexity route with the
action, which applies it (the same service as the UI and the API) and audits the admin."""

import pytest
from django.urls import reverse

from deployments.routing.models import Route
from portal.models import AuditLog

from .conftest import make_route


def test_admin_approves_a_pending_complexity_route_and_it_is_applied(
    staff_client, team, small, large, fake_cluster, django_capture_on_commit_callbacks
):
    route = make_route(team, "complexity", small=small, large=large)
    Route.objects.filter(pk=route.pk).update(status="pending_approval")
    changelist = reverse("admin:deployments_route_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            changelist, {"action": "approve_selected", "_selected_action": [route.pk]}
        )
    assert response.status_code == 302
    route.refresh_from_db()
    assert route.status == "provisioning" and route.applied_generation == 1
    assert [o["kind"] for o in fake_cluster.applied[-1]][:3] == [
        "ConfigMap",
        "Deployment",
        "Service",
    ]
    audit = AuditLog.objects.get(action="route.approve")
    assert audit.source == AuditLog.Source.ADMIN


def test_admin_approval_of_a_route_already_decided_is_an_error_message(
    staff_client, team, small, large
):
    route = make_route(team, "complexity", small=small, large=large)  # approved already
    changelist = reverse("admin:deployments_route_changelist")
    response = staff_client.post(
        changelist, {"action": "approve_selected", "_selected_action": [route.pk]}, follow=True
    )
    assert "Only pending routes can be approved." in response.content.decode()


def test_the_platform_team_pins_a_new_router_image_and_live_routes_are_reapplied(
    staff_client, team, small, large, fake_cluster, django_capture_on_commit_callbacks
):
    from deployments.routing.models import SemanticRouterSettings

    live = make_route(team, "complexity", small=small, large=large)
    other = make_route(team, "alias", name="plain", small=small, large=large)
    row = SemanticRouterSettings.current()
    url = reverse("admin:deployments_semanticroutersettings_change", args=[row.pk])
    assert staff_client.get(url).status_code == 200
    image = "registry.example.com/vsr/extproc:v0.4.1"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, {"image": image})
    assert response.status_code == 302
    assert SemanticRouterSettings.current().image == image
    live.refresh_from_db()
    other.refresh_from_db()
    assert (live.generation, other.generation) == (2, 1)
    deployment = next(o for o in fake_cluster.applied[-1] if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
    audit = AuditLog.objects.get(action="router.image")
    assert audit.after == {"image": image} and audit.source == AuditLog.Source.ADMIN


@pytest.mark.parametrize("image", ["not an image", "UPPER/case:tag", "ghcr.io/x:tag with space"])
def test_a_bad_router_image_is_refused_and_nothing_changes(staff_client, image):
    from deployments.routing.models import SemanticRouterSettings

    row = SemanticRouterSettings.current()
    before = row.image
    url = reverse("admin:deployments_semanticroutersettings_change", args=[row.pk])
    response = staff_client.post(url, {"image": image})
    assert response.status_code == 200  # the form again, with the error
    assert "Give an image reference" in response.content.decode()
    assert SemanticRouterSettings.current().image == before
