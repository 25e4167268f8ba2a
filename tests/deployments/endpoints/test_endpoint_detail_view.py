from decimal import Decimal

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointEventFactory, EndpointFactory

pytestmark = pytest.mark.dates


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    ep = EndpointFactory(
        team=team,
        name="chat",
        gpu_type=gpu_l4,
        model=llama_8b,
        status=EndpointStatus.PROVISIONING,
        url="",
    )
    EndpointEventFactory(endpoint=ep, message="Requested by bob.")
    return ep


def url(ep):
    return reverse("deployments:endpoint_detail", args=[ep.uuid])


def test_member_sees_spec_cost_status_and_timeline(member_client, endpoint):
    response = member_client.get(url(endpoint))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Llama 3.1 8B Instruct" in body
    assert "$2,920.00" in body  # monthly_cost_max
    assert 'data-status="provisioning"' in body
    assert "Requested by bob." in body
    assert 'hx-trigger="every 5s"' in body  # not final: polls


def test_final_status_does_not_poll(member_client, endpoint):
    endpoint.status = EndpointStatus.READY
    endpoint.url = "https://chat.example.com/v1"
    endpoint.save()
    body = member_client.get(url(endpoint)).content.decode()
    assert "every 5s" not in body
    assert "https://chat.example.com/v1" in body


def test_member_gets_the_action_forms(member_client, endpoint):
    body = member_client.get(url(endpoint)).content.decode()
    assert reverse("deployments:endpoint_scale", args=[endpoint.uuid]) in body
    assert reverse("deployments:endpoint_delete", args=[endpoint.uuid]) in body


def test_viewer_sees_the_page_without_actions(viewer_client, endpoint):
    body = viewer_client.get(url(endpoint)).content.decode()
    assert "chat" in body
    assert reverse("deployments:endpoint_scale", args=[endpoint.uuid]) not in body


def test_owner_sees_the_decision_panel_on_pending_requests(owner_client, member_client, endpoint):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.save()
    approve = reverse("deployments:endpoint_approve", args=[endpoint.uuid])
    assert approve in owner_client.get(url(endpoint)).content.decode()
    assert approve not in member_client.get(url(endpoint)).content.decode()


def test_outsider_gets_404(outsider_client, endpoint):
    assert outsider_client.get(url(endpoint)).status_code == 404


def test_staff_can_see_any_team(staff_client, endpoint):
    assert staff_client.get(url(endpoint)).status_code == 200


def test_post_is_405(member_client, endpoint):
    assert member_client.post(url(endpoint)).status_code == 405


def test_query_count_does_not_grow_with_the_timeline(
    member_client, member, endpoint, django_assert_max_num_queries
):
    with django_assert_max_num_queries(15) as few:
        member_client.get(url(endpoint))
    for _ in range(20):
        EndpointEventFactory(endpoint=endpoint, actor=member)
    with django_assert_max_num_queries(len(few.captured_queries)):
        member_client.get(url(endpoint))


@pytest.mark.usefixtures("in_november")
def test_a_scheduled_endpoint_shows_its_saving_against_always_on(member_client, endpoint):
    from datetime import time

    endpoint.offering = endpoint.gpu_type.offerings.get(instance_type="t-g6.xlarge")
    endpoint.schedule_enabled, endpoint.schedule_timezone = True, "Europe/Berlin"
    endpoint.schedule_start, endpoint.schedule_end = time(8), time(19)
    endpoint.cold_start_seconds = 600  # measured: a 10 min pre-warm
    endpoint.save()
    body = member_client.get(url(endpoint)).content.decode()
    # November 2026: 21 weekdays x 11 h 10 min at 0.80/h, 1 replica; always on 720 h = $576.00
    scheduled = (Decimal("0.80") * 21 * (Decimal(11) + Decimal(1) / 6)).quantize(Decimal("0.01"))
    assert "Saving vs always-on" in body and f"${Decimal('576.00') - scheduled}" in body
    assert "November 2026, working hours only" in body
