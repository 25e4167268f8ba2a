"""The Use tab and the playground on the real server: an endpoint requested through the portal
runs KServe's huggingfaceserver on vLLM (tests/infra/engine.py) behind the real KServe
controller; the page's playground streams its answer through the portal, the curl and
OpenAI-client snippets taken from the rendered page run verbatim and get an answer, and
`manage.py demo_traffic` fills it with counted traffic.

The one substitution is the cluster's ingress (tests/infra/ingress.py): KServe's `status.url`
host (`<isvc>-<namespace>.example.com`) is mapped to the ready predictor pod's `<IP>:8080` by a
forward proxy the clients reach through HTTP_PROXY, as a gateway maps it by Host; the URL, the
path, the body and the snippets' text are used unchanged.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.deployments.cluster_helpers import sync_until
from tests.infra.ingress import IngressProxy, kserve_resolver

pytestmark = [pytest.mark.cluster, pytest.mark.engine]
# Substitution 6 (tests/infra/engine.py): no torch.compile warm-up, CPU time at start that
# nothing here depends on.
EAGER = "--enforce-eager"


@pytest.fixture
def kserve(live_cluster, kserve_controller):
    return live_cluster


@pytest.fixture
def ingress(kube_cluster, monkeypatch):
    """The ingress stand-in, set as the proxy of this process (the portal's playground) and
    of the snippets' processes."""
    proxy = IngressProxy(kserve_resolver(kube_cluster.get_json)).start()
    for key, value in proxy.env().items():
        monkeypatch.setenv(key, value)
    yield proxy
    proxy.stop()


@pytest.fixture
def endpoint(real_engine, kserve, engine_node, api_client, team, llama_8b, gpu_l4,
             django_capture_on_commit_callbacks) -> Endpoint:  # fmt: skip
    body = {
        "team": team.slug, "name": "chat", "model": llama_8b.slug, "gpu_type": gpu_l4.name,
        "gpu_count": 1, "quantization": "bf16", "kv_cache_dtype": "auto",
        "max_context_length": 2048, "min_replicas": 1, "max_replicas": 1,
        "target_queue_depth": 4, "capacity_type": "on-demand",
    }  # fmt: skip
    real_engine.extra_args = [EAGER]
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    ep = Endpoint.objects.get(uuid=r.json()["uuid"])
    engine_node(gpus=4, labels=manifests.node_selector(ep))
    sync_until(ep, EndpointStatus.READY, "Ready on a real server", timeout=600)
    return ep


def _events(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return [
        json.loads(b.removeprefix("data: ")) for b in body.split("\n\n") if b.startswith("data: ")
    ]


def _pre(html: str, element_id: str) -> str:
    found = re.search(rf'<pre[^>]*id="{element_id}"[^>]*>(.*?)</pre>', html, re.S)
    assert found, element_id
    return unescape(found.group(1))


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_playground_snippets_and_demo_traffic_get_answers_from_the_real_server(
    endpoint, ingress, member_client
):
    ep = endpoint
    host = ep.url.split("://", 1)[1].split("/")[0]
    assert host == f"{ep.isvc_name}-{ep.namespace}.example.com"  # KServe's URL, untouched

    # The playground, through the portal, streamed from the real server (both modes).
    play = reverse("deployments:endpoint_playground", args=[ep.uuid])
    for mode in ("chat", "completion"):
        got = _events(member_client.post(play, {"prompt": "Say hello", "mode": mode,
                                                "max_tokens": 12}))  # fmt: skip
        assert got[-1]["type"] == "done", got[-3:]
        tokens = [e for e in got if e["type"] == "token"]
        done = got[-1]
        assert tokens and done["ttft_ms"] is not None and done["tokens_per_s"] > 0
        # usage came in the stream (stream_options.include_usage): the real token count, and
        # the prompt's tokens too; at most max_tokens, and at least one per streamed chunk.
        assert done["prompt_tokens"] and done["prompt_tokens"] > 0, done
        assert len(tokens) <= done["tokens"] <= 12, (len(tokens), done)
        assert done["finish_reason"] in ("length", "stop")
    paths = [path for _, path, _ in ingress.requests]
    assert paths == ["/openai/v1/chat/completions", "/openai/v1/completions"]

    # The Use tab's snippets, as the page renders them, run verbatim.
    html = member_client.get(reverse("deployments:endpoint_use", args=[ep.uuid])).content.decode()
    curl, python = _pre(html, "snippet-curl"), _pre(html, "snippet-python")
    assert f"{ep.url}/openai/v1/chat/completions" in curl
    if shutil.which("curl"):
        answer = json.loads(_run(["bash", "-c", curl]))
        assert answer["model"] == ep.isvc_name
        assert answer["choices"][0]["message"]["role"] == "assistant"
        assert 1 <= answer["usage"]["completion_tokens"] <= 64
    _run([sys.executable, "-c", python])  # the openai client: exit 0 means it got a reply
    assert ingress.requests[-1][1] == "/openai/v1/chat/completions"

    # demo_traffic: bounded, counted from the server's usage.
    out = StringIO()
    call_command("demo_traffic", "--endpoint", f"{ep.team.slug}/{ep.name}", "--requests", "6",
                 "--max-tokens", "8", "--json", stdout=out)  # fmt: skip
    summary = json.loads(out.getvalue())
    assert summary["answered"] == 6 and summary["failed"] == 0, summary
    assert 6 <= summary["completion_tokens"] <= 48 and summary["prompt_tokens"] > 0
