"""POST /endpoints/<uuid>/playground/: one prompt through the portal to the endpoint's own URL,
streamed back as server-sent events with time to first token and tokens/s.

Against a real local OpenAI-compatible server (tests/infra/openai_server.py) that streams SSE
chunks the way vLLM does: the portal's HTTP client really connects, reads chunked SSE and
times it; nothing in the HTTP path is mocked."""

import json

import pytest
from django.urls import reverse

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory
from tests.infra.openai_server import OpenAIServer


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, url="")


@pytest.fixture
def server(endpoint):
    srv = OpenAIServer(model=endpoint.isvc_name, prefix="/openai/v1").start()
    endpoint.url = srv.url  # what sync_statuses writes from the InferenceService's status.url
    endpoint.save(update_fields=["url"])
    yield srv
    srv.stop()


def url(ep):
    return reverse("deployments:endpoint_playground", args=[ep.uuid])


def events(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [
        json.loads(block.removeprefix("data: "))
        for block in body.split("\n\n")
        if block.startswith("data: ")
    ]


def test_chat_prompt_streams_tokens_then_ttft_and_rate(member_client, endpoint, server):
    server.first_token_delay = 0.2
    server.token_delay = 0.02
    response = member_client.post(
        url(endpoint), {"prompt": "Capital of France?", "mode": "chat", "max_tokens": 5}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    got = events(response)
    tokens = [e["text"] for e in got if e["type"] == "token"]
    assert "".join(tokens) == "Paris is the capital of"
    done = got[-1]
    assert done["type"] == "done"
    assert done["tokens"] == 5  # the server's usage.completion_tokens
    assert done["ttft_ms"] >= 200  # the first token really came 0.2 s after the request
    # 5 tokens over the whole request, which lasts at least 0.2 s + 4 x 0.02 s however the
    # chunks arrive (no lower bound: a loaded machine reads late; speed belongs in bench/)
    assert 0 < done["tokens_per_s"] <= 5 / 0.28
    assert done["finish_reason"] == "length"
    [sent] = server.requests
    assert sent["path"] == "/openai/v1/chat/completions"
    assert sent["body"]["model"] == "chat"  # the served model name
    assert sent["body"]["stream"] is True
    assert sent["body"]["messages"] == [{"role": "user", "content": "Capital of France?"}]


def test_completion_mode_uses_the_completions_api(member_client, endpoint, server):
    response = member_client.post(
        url(endpoint), {"prompt": "Paris", "mode": "completion", "max_tokens": 3}
    )
    got = events(response)
    assert "".join(e["text"] for e in got if e["type"] == "token") == "Paris is the"
    assert server.requests[0]["path"] == "/openai/v1/completions"
    assert server.requests[0]["body"]["prompt"] == "Paris"


def test_vllm_runtime_calls_v1(member_client, endpoint, settings):
    settings.VLLM_RUNTIME = "kserve-vllmserver"
    srv = OpenAIServer(model="chat", prefix="/v1").start()
    try:
        endpoint.url = srv.url
        endpoint.save(update_fields=["url"])
        got = events(
            member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
        )
        assert got[-1]["type"] == "done" and got[-1]["tokens"] == 2
        assert srv.requests[0]["path"] == "/v1/chat/completions"
    finally:
        srv.stop()


def test_viewer_of_the_team_may_prompt(viewer_client, endpoint, server):
    got = events(
        viewer_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
    )
    assert got[-1]["type"] == "done"


def test_outsider_gets_404_and_nothing_is_sent(outsider_client, endpoint, server):
    response = outsider_client.post(
        url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2}
    )
    assert response.status_code == 404
    assert server.requests == []


def test_get_is_405(member_client, endpoint, server):
    assert member_client.get(url(endpoint)).status_code == 405


def test_anonymous_is_sent_to_login(client, endpoint, server):
    response = client.post(url(endpoint), {"prompt": "Hi"})
    assert response.status_code == 302
    assert server.requests == []


def test_not_ready_endpoint_is_409(member_client, endpoint, server):
    endpoint.status = EndpointStatus.PROVISIONING
    endpoint.save(update_fields=["status"])
    response = member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
    assert response.status_code == 409
    assert server.requests == []


def test_prompt_and_max_tokens_are_capped(member_client, endpoint, server, settings):
    settings.PLAYGROUND_MAX_PROMPT_CHARS = 10
    settings.PLAYGROUND_MAX_TOKENS = 4
    response = member_client.post(
        url(endpoint), {"prompt": "x" * 11, "mode": "chat", "max_tokens": 5}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"prompt", "max_tokens"}
    assert server.requests == []


def test_response_size_limit_stops_the_stream(member_client, endpoint, server, settings):
    settings.PLAYGROUND_MAX_RESPONSE_BYTES = 400
    got = events(
        member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 50})
    )
    assert got[-1]["type"] == "done"
    assert got[-1]["truncated"] == "stopped after 0 KiB"
    assert 0 < len([e for e in got if e["type"] == "token"]) < 11


def test_a_stalled_endpoint_times_out_calmly(member_client, endpoint, server, settings):
    settings.PLAYGROUND_TIMEOUT_SECONDS = 0.5
    server.stall = 2.0
    got = events(
        member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
    )
    assert got == [{"type": "error", "message": "The endpoint did not answer in time."}]


def test_an_endpoint_error_is_reported_without_the_url(member_client, endpoint, server):
    server.fail_with = 503
    got = events(
        member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
    )
    [error] = got
    assert error["type"] == "error"
    assert "HTTP 503: The engine is overloaded." in error["message"]
    assert server.url not in error["message"]


def test_an_unreachable_endpoint_is_reported(member_client, endpoint, server):
    server.stop()
    got = events(
        member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
    )
    assert got == [{"type": "error", "message": "Cannot reach the endpoint (ConnectionError)."}]


def test_only_the_endpoints_own_url_is_called(member_client, endpoint, server):
    """A URL in the form is ignored: the target comes from the cluster status alone."""
    other = OpenAIServer(model="chat").start()
    try:
        data = {
            "prompt": "Hi",
            "mode": "chat",
            "max_tokens": 2,
            "url": other.url,
            "base_url": other.url,
        }
        events(member_client.post(url(endpoint), data))
        assert other.requests == []
        assert len(server.requests) == 1
    finally:
        other.stop()


def test_one_prompt_at_a_time_per_user(member_client, endpoint, server):
    from django.core.cache import cache

    cache.add(
        f"playground:{endpoint.team.memberships.get(user__username='bob').user_id}:{endpoint.pk}",
        1,
        60,
    )
    response = member_client.post(url(endpoint), {"prompt": "Hi", "mode": "chat", "max_tokens": 2})
    assert response.status_code == 429
    assert server.requests == []
