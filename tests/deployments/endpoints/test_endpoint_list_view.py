import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory

URL = reverse("deployments:endpoint_list")


@pytest.fixture
def endpoints(team, other_team, gpu_l4, llama_8b):
    return {
        "chat": EndpointFactory(team=team, name="chat", gpu_type=gpu_l4, model=llama_8b),
        "pending": EndpointFactory(
            team=team, name="batch", gpu_type=gpu_l4, status=EndpointStatus.PENDING_APPROVAL
        ),
        "gone": EndpointFactory(team=team, name="old", status=EndpointStatus.DELETED),
        "theirs": EndpointFactory(team=other_team, name="secret-ads"),
    }


def test_member_sees_the_teams_endpoints_but_not_deleted_or_other_teams(member_client, endpoints):
    response = member_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert ">chat<" in body and ">batch<" in body
    assert "secret-ads" not in body
    assert ">old<" not in body
    assert "<html" in body  # full page


def test_outsider_does_not_see_the_teams_endpoints(outsider_client, endpoints):
    body = outsider_client.get(URL).content.decode()
    assert "secret-ads" in body
    assert "chat" not in body


def test_filter_by_status_narrows_the_list(member_client, endpoints):
    body = member_client.get(URL, {"status": "pending_approval"}).content.decode()
    assert ">batch<" in body and ">chat<" not in body


def test_filter_by_gpu_type_and_model(member_client, endpoints, gpu_l4, llama_8b):
    body = member_client.get(
        URL, {"gpu_type": gpu_l4.name, "model": llama_8b.slug}
    ).content.decode()
    assert ">chat<" in body and ">batch<" not in body


def test_search_matches_name(member_client, endpoints):
    body = member_client.get(URL, {"q": "bat"}).content.decode()
    assert ">batch<" in body and ">chat<" not in body


def test_deleted_endpoints_show_when_asked_for(member_client, endpoints):
    body = member_client.get(URL, {"status": "deleted"}).content.decode()
    assert "old" in body and ">batch<" not in body


def test_htmx_request_gets_only_the_table(member_client, endpoints):
    response = member_client.get(URL, {"q": "chat"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="endpoint-table"' in body
    assert "<html" not in body


def test_bad_filter_value_shows_an_error_not_a_crash(member_client, endpoints):
    response = member_client.get(URL, {"gpu_type": "no-such-gpu"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_pagination_keeps_filters(member_client, team, gpu_l4):
    for i in range(30):
        EndpointFactory(team=team, name=f"ep-{i:02d}", gpu_type=gpu_l4)
    body = member_client.get(URL, {"gpu_type": gpu_l4.name}).content.decode()
    assert "Page 1 of 2" in body
    assert "gpu_type=L4-test&amp;page=2" in body


def test_query_count_does_not_grow_with_rows(member_client, team, django_assert_max_num_queries):
    for _i in range(3):
        EndpointFactory(team=team)
    with django_assert_max_num_queries(12) as small:
        member_client.get(URL)
    for _i in range(20):
        EndpointFactory(team=team)
    with django_assert_max_num_queries(len(small.captured_queries)):
        member_client.get(URL)


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_post_is_not_allowed(member_client):
    assert member_client.post(URL).status_code == 405
