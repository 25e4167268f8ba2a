"""The endpoint page and API: the spot fallback's price difference and the scaled-to-zero
status, which says that requests fail until the replicas are back."""

from decimal import Decimal

from django.contrib.admin.sites import site
from django.test import RequestFactory
from django.urls import reverse

from catalog.choices import CapacityType
from deployments.endpoints.admin import EndpointAdmin
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.services import set_spot_fallback, spot_fallback_cost
from deployments.models import Endpoint
from tests.factories import EndpointFactory

ZERO = (
    "Scaled to zero (off-hours, back at 08:00 Europe/Berlin). Requests fail until then: in "
    "Standard mode nothing holds them while no replica runs."
)


def _endpoint(team, gpu_l4, llama_8b, **kw):
    return EndpointFactory(team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, **kw)


def test_page_shows_the_spot_fallback_price_difference(member_client, team, gpu_l4, llama_8b):
    ep = _endpoint(
        team, gpu_l4, llama_8b, capacity_type=CapacityType.SPOT, spot_fallback_on_demand=True
    )
    cost = spot_fallback_cost(ep)
    assert (cost.spot_replica_hour, cost.on_demand_replica_hour) == (
        Decimal("0.30"),
        Decimal("0.80"),
    )
    body = member_client.get(reverse("deployments:endpoint_detail", args=[ep.uuid])).content
    text = body.decode()
    assert 'id="spot-fallback"' in text
    assert "at $0.80 instead of $0.30 per replica-hour ($0.50 more while they do)" in text


def test_no_fallback_no_notice(member_client, team, gpu_l4, llama_8b):
    ep = _endpoint(team, gpu_l4, llama_8b, capacity_type=CapacityType.SPOT)
    assert spot_fallback_cost(ep) is None
    body = member_client.get(reverse("deployments:endpoint_detail", args=[ep.uuid])).content
    assert b'id="spot-fallback"' not in body


def test_scaled_to_zero_on_the_page_and_in_the_api(member_client, team, gpu_l4, llama_8b):
    ep = _endpoint(
        team, gpu_l4, llama_8b, status=EndpointStatus.SCALED_TO_ZERO, status_message=ZERO
    )
    page = member_client.get(reverse("deployments:endpoint_detail", args=[ep.uuid])).content
    assert b'data-status="scaled_to_zero"' in page
    assert b"Requests fail until then" in page
    assert b'data-status="ready"' not in page
    body = member_client.get(f"/api/v1/endpoints/{ep.uuid}/").json()
    assert body["status"] == "scaled_to_zero"
    assert body["status_message"] == ZERO


def test_admin_action_allows_the_fallback_and_reapplies(
    staff, team, gpu_l4, llama_8b, django_capture_on_commit_callbacks
):
    ep = _endpoint(team, gpu_l4, llama_8b, capacity_type=CapacityType.SPOT)
    generation = ep.generation
    request = RequestFactory().post("/admin/")
    request.user = staff
    admin = EndpointAdmin(Endpoint, site)
    admin.message_user = lambda *a, **k: None
    with django_capture_on_commit_callbacks() as callbacks:
        admin.allow_spot_fallback(request, Endpoint.objects.filter(pk=ep.pk))
    ep.refresh_from_db()
    assert ep.spot_fallback_on_demand and ep.generation == generation + 1
    assert len(callbacks) == 1  # apply enqueued
    assert ep.events.filter(kind=EventKind.ACTION, message__contains="on-demand fallback").exists()


def test_fallback_is_for_spot_endpoints_only(staff, team, gpu_l4, llama_8b):
    import pytest

    from deployments.workloads.errors import InvalidTransition

    ep = _endpoint(team, gpu_l4, llama_8b)
    with pytest.raises(InvalidTransition):
        set_spot_fallback(ep, staff, True)


def test_page_states_the_autoscaling_threshold(member_client, team, gpu_l4, llama_8b):
    from deployments.endpoints import manifests

    ep = _endpoint(team, gpu_l4, llama_8b)
    body = member_client.get(reverse("deployments:endpoint_detail", args=[ep.uuid])).content
    threshold = manifests.busy_threshold(ep)
    assert f"one more above {threshold} requests in flight per replica".encode() in body
