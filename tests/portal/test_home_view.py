from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointEventFactory, EndpointFactory

URL = reverse("portal:home")


def test_dashboard_summarises_the_current_team(member_client, team, other_team):
    ep = EndpointFactory(team=team, name="chat", gpu_count=2, max_replicas=3)
    EndpointFactory(team=team, name="wait", status=EndpointStatus.PENDING_APPROVAL)
    EndpointFactory(team=other_team, name="secret")
    EndpointEventFactory(endpoint=ep, message="Cold start finished.")
    response = member_client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Search" in body
    assert response.context["endpoint_total"] == 2
    assert response.context["gpus_committed"] == 2 * 3 + 1 * 2
    assert "Cold start finished." in body
    assert "secret" not in body


def test_owner_sees_how_many_requests_wait_for_them(owner_client, team):
    EndpointFactory(team=team, status=EndpointStatus.PENDING_APPROVAL)
    assert owner_client.get(URL).context["pending_approvals"] == 1


def test_user_without_team_gets_an_explanation(client, django_user_model):
    user = django_user_model.objects.create_user("lonely", password="x")
    client.force_login(user)
    assert "not a member of any team" in client.get(URL).content.decode()


def test_viewer_has_no_request_button(viewer_client):
    assert reverse("deployments:endpoint_create") not in viewer_client.get(URL).content.decode()


def test_anonymous_is_sent_to_login(client):
    assert client.get(URL).status_code == 302


def test_query_count_is_constant(member_client, team, django_assert_max_num_queries):
    EndpointFactory(team=team)
    with django_assert_max_num_queries(20) as few:
        member_client.get(URL)
    for _ in range(10):
        EndpointEventFactory(endpoint=EndpointFactory(team=team))
    with django_assert_max_num_queries(len(few.captured_queries)):
        member_client.get(URL)


def test_post_is_405(member_client):
    assert member_client.post(URL).status_code == 405
