import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory

URL = reverse("deployments:approval_list")


@pytest.fixture
def pending(team, other_team):
    return [
        EndpointFactory(
            team=team,
            name="big-one",
            status=EndpointStatus.PENDING_APPROVAL,
            status_message="H100 GPUs always need approval.",
        ),
        EndpointFactory(team=other_team, name="not-yours", status=EndpointStatus.PENDING_APPROVAL),
        EndpointFactory(team=team, name="running", status=EndpointStatus.READY),
    ]


def test_owner_sees_own_teams_pending_requests_with_reasons(owner_client, pending):
    body = owner_client.get(URL).content.decode()
    assert "big-one" in body and "H100 GPUs always need approval." in body
    assert "not-yours" not in body and "running" not in body


def test_member_who_is_not_admin_sees_nothing_to_decide(member_client, pending):
    body = member_client.get(URL).content.decode()
    assert "Nothing is waiting for your approval." in body


def test_staff_see_every_team(staff_client, pending):
    body = staff_client.get(URL).content.decode()
    assert "big-one" in body and "not-yours" in body


def test_query_count_is_constant(owner_client, team, django_assert_max_num_queries):
    for _ in range(2):
        EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    with django_assert_max_num_queries(12) as few:
        owner_client.get(URL)
    for _ in range(15):
        EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    with django_assert_max_num_queries(len(few.captured_queries)):
        owner_client.get(URL)


def test_post_is_405(owner_client):
    assert owner_client.post(URL).status_code == 405
