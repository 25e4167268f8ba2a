import pytest

from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from tests.factories import EndpointEventFactory, EndpointFactory


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        name="chat",
        gpu_type=gpu_l4,
        model=llama_8b,
        offering=gpu_l4.offerings.get(gpus_per_node=1),
    )


def action(ep, name):
    return f"/api/v1/endpoints/{ep.uuid}/{name}/"


def test_scale_answers_202_with_the_resource(
    api_client, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(
            action(endpoint, "scale"), {"min_replicas": 0, "max_replicas": 3}, format="json"
        )
    assert response.status_code == 202
    body = response.json()
    assert (body["min_replicas"], body["max_replicas"], body["generation"]) == (0, 3, 2)
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "data,field",
    [
        ({"min_replicas": 3, "max_replicas": 1}, "min_replicas"),
        ({"min_replicas": -1, "max_replicas": 1}, "min_replicas"),
        ({"min_replicas": 0, "max_replicas": 0}, "max_replicas"),
        ({"min_replicas": 0, "max_replicas": 101}, "max_replicas"),
        ({"min_replicas": "one", "max_replicas": 1}, "min_replicas"),
        ({"min_replicas": 1}, "max_replicas"),
    ],
)
def test_scale_with_bad_input_answers_400(api_client, endpoint, data, field):
    response = api_client.post(action(endpoint, "scale"), data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Endpoint.objects.get(pk=endpoint.pk).generation == 1


def test_scale_over_quota_answers_400(api_client, team, endpoint):
    team.max_gpus = 2
    team.save()
    response = api_client.post(
        action(endpoint, "scale"), {"min_replicas": 1, "max_replicas": 8}, format="json"
    )
    assert response.status_code == 400
    assert "GPUs" in response.json()["max_replicas"][0]


def test_stop_then_start(api_client, endpoint):
    response = api_client.post(action(endpoint, "stop"))
    assert response.status_code == 202
    assert response.json()["desired_state"] == DesiredState.STOPPED
    response = api_client.post(action(endpoint, "start"))
    assert response.status_code == 202
    assert response.json()["desired_state"] == DesiredState.PRESENT


def test_start_when_running_answers_409(api_client, endpoint):
    response = api_client.post(action(endpoint, "start"))
    assert response.status_code == 409
    assert response.json() == {"detail": "Only a stopped endpoint can be started."}


def test_stop_of_pending_request_answers_409(api_client, endpoint):
    endpoint.status = EndpointStatus.PENDING_APPROVAL
    endpoint.save()
    assert api_client.post(action(endpoint, "stop")).status_code == 409


def test_events_lists_the_timeline_newest_first(api_client, endpoint):
    EndpointEventFactory(endpoint=endpoint, message="first")
    EndpointEventFactory(endpoint=endpoint, message="second")
    response = api_client.get(action(endpoint, "events"))
    assert response.status_code == 200
    assert [e["message"] for e in response.json()] == ["second", "first"]


def test_events_query_count_is_constant(
    api_client, endpoint, member, django_assert_max_num_queries
):
    EndpointEventFactory(endpoint=endpoint, actor=member)
    with django_assert_max_num_queries(8) as few:
        api_client.get(action(endpoint, "events"))
    for _ in range(10):
        EndpointEventFactory(endpoint=endpoint, actor=member)
    with django_assert_max_num_queries(len(few.captured_queries)):
        api_client.get(action(endpoint, "events"))


def test_viewer_cannot_act_but_can_read_events(api_client_for, viewer, endpoint):
    client = api_client_for(viewer)
    assert client.post(action(endpoint, "stop")).status_code == 403
    assert (
        client.post(
            action(endpoint, "scale"), {"min_replicas": 0, "max_replicas": 1}, format="json"
        ).status_code
        == 403
    )
    assert client.get(action(endpoint, "events")).status_code == 200


def test_outsider_gets_404(api_client_for, outsider, endpoint):
    client = api_client_for(outsider)
    for name in ("scale", "stop", "start"):
        assert client.post(action(endpoint, name), {}, format="json").status_code == 404
    assert client.get(action(endpoint, "events")).status_code == 404


def test_wrong_methods_are_405(api_client, endpoint):
    assert api_client.get(action(endpoint, "scale")).status_code == 405
    assert api_client.get(action(endpoint, "stop")).status_code == 405
    assert api_client.post(action(endpoint, "events")).status_code == 405
