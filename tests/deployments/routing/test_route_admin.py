"""The admin face of routes: the platform team approves a pending complexity route with the
action, which applies it (the same service as the UI and the API) and audits the admin."""

from django.urls import reverse

from deployments.route_models import Route
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
