"""`manage.py demo_traffic`: bounded prompts to a Ready endpoint, against a local
OpenAI-compatible server that streams like vLLM (tests/infra/openai_server.py); the counts it
prints are the server's usage, summed."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory
from tests.infra.openai_server import OpenAIServer


@pytest.fixture
def server():
    srv = OpenAIServer(model="chat", prefix="/openai/v1").start()
    yield srv
    srv.stop()


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b, server):
    return EndpointFactory(
        team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, url=server.url,
        status=EndpointStatus.READY,
    )  # fmt: skip


def _run(*args) -> dict:
    out = StringIO()
    call_command("demo_traffic", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_sends_exactly_the_requests_asked_and_sums_the_servers_usage(endpoint, server):
    got = _run("--endpoint", "search/chat", "--requests", "7", "--concurrency", "3",
               "--max-tokens", "4")  # fmt: skip
    assert len(server.requests) == 7
    paths = [r["path"] for r in server.requests]
    assert paths.count("/openai/v1/chat/completions") == 4  # alternating, chat first
    assert paths.count("/openai/v1/completions") == 3
    assert all(r["body"]["model"] == "chat" and r["body"]["stream"] for r in server.requests)
    assert got["answered"] == 7 and got["failed"] == 0
    assert got["completion_tokens"] == 7 * 4  # the stand-in's usage: 4 tokens each
    assert got["prompt_tokens"] == 7 * 7  # and 7 prompt tokens each
    assert got["ttft_p50_ms"] >= 50  # the stand-in's first-token delay


def test_finds_the_endpoint_by_uuid_too(endpoint, server):
    assert _run("--endpoint", str(endpoint.uuid), "--requests", "1")["answered"] == 1


def test_stops_after_five_failures_in_a_row_and_exits_1(endpoint, server):
    server.fail_with = 503
    with pytest.raises(CommandError, match="Every request failed.*503") as err:
        _run("--endpoint", "search/chat", "--requests", "40", "--concurrency", "1")
    assert err.value.returncode == 1
    assert len(server.requests) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--requests", "0"], "--requests must be 1-1000"),
        (["--requests", "1001"], "--requests must be 1-1000"),
        (["--concurrency", "9"], "--concurrency must be 1-8"),
        (["--max-tokens", "100000"], "--max-tokens must be 1-"),
    ],
)
def test_refuses_unbounded_traffic(endpoint, server, args, message):
    with pytest.raises(CommandError, match=message):
        _run("--endpoint", "search/chat", *args)
    assert server.requests == []


def test_an_endpoint_that_is_not_ready_or_unknown_is_refused_clearly(endpoint, server):
    endpoint.status = EndpointStatus.PROVISIONING
    endpoint.save(update_fields=["status"])
    with pytest.raises(CommandError, match="not Ready with a URL") as err:
        _run("--endpoint", "search/chat")
    assert err.value.returncode == 2
    with pytest.raises(CommandError, match="No endpoint 'search/nope'"):
        _run("--endpoint", "search/nope")
    assert server.requests == []
