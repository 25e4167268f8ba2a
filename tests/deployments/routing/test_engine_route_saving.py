"""The tiering saving from real counters: a route's small and large tiers are two endpoints
requested through the portal, each turned into a pod by the real KServe controller and run as
a real server (KServe's huggingfaceserver on vLLM 0.24, the tiny model under each endpoint's
own served name: tests/infra/engine.py; the engine cap of two servers is exactly the two
tiers). A client sends traffic to each tier and counts the answers' usage; a real Prometheus
finds both pods by Kubernetes service discovery (`predictor_prometheus`) and scrapes them. The route page's split, blended
cost per 1M tokens and saving must be what the client's counts and the prices give.

The route's own data path (Envoy, the router) is not here (docs/testing.md): traffic goes to
each tier's pod, as the router would send it.
"""

import json
import re
import time
import urllib.request
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from deployments.routing.models import Route, RouteTier
from tests.deployments.cluster_helpers import pods, sync_until

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.prometheus]
MILLION = Decimal(1_000_000)
EAGER = "--enforce-eager"  # substitution 6 (tests/infra/engine.py)
PRICES = {"small": Decimal("0.3000"), "large": Decimal("0.8000")}  # gpu_l4: spot, on-demand


def _endpoint(api_client, capture, team, llama_8b, gpu_l4, name, capacity_type) -> Endpoint:
    body = {
        "team": team.slug, "name": name, "model": llama_8b.slug, "gpu_type": gpu_l4.name,
        "gpu_count": 1, "quantization": "bf16", "kv_cache_dtype": "auto",
        "max_context_length": 2048, "min_replicas": 1, "max_replicas": 1,
        "target_queue_depth": 4, "capacity_type": capacity_type,
    }  # fmt: skip
    with capture(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    return Endpoint.objects.get(uuid=r.json()["uuid"])


def _complete(ip: str, model: str, prompt: str, max_tokens: int) -> dict:
    req = urllib.request.Request(
        f"http://{ip}:{manifests.SERVING_PORT}/openai/v1/chat/completions",
        json.dumps({"model": model, "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": prompt}]}).encode(),
        {"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["usage"]


def _dd(html: str, element_id: str) -> str:
    found = re.search(rf'<dd[^>]*id="{element_id}"[^>]*>(.*?)</dd>', html, re.S)
    assert found, element_id
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def test_the_route_page_prices_the_split_the_real_servers_counted(
    real_engine, live_cluster, kserve_controller, engine_node, predictor_prometheus, api_client,
    member_client, team,
    llama_8b, gpu_l4, settings, django_capture_on_commit_callbacks,
):  # fmt: skip
    capture = django_capture_on_commit_callbacks
    real_engine.extra_args = [EAGER]  # both servers start at once: no torch.compile warm-up
    small = _endpoint(api_client, capture, team, llama_8b, gpu_l4, "small", "spot")
    large = _endpoint(api_client, capture, team, llama_8b, gpu_l4, "large", "on-demand")
    tiers = {"small": small, "large": large}
    for ep in tiers.values():
        engine_node(gpus=1, labels=manifests.node_selector(ep))
    ips = {}
    for role, ep in tiers.items():
        sync_until(ep, EndpointStatus.READY, f"{role} tier Ready on a real server", timeout=900)
        [pod] = pods(live_cluster, ep)
        ips[role] = pod["status"]["podIP"]
    for ep in tiers.values():
        predictor_prometheus.wait_for(
            f'vllm:prompt_tokens_total{{namespace="{ep.namespace}",model_name="{ep.isvc_name}"}}',
            timeout=120,
        )
    route = Route.objects.create(team=team, name="chat", policy="prompt_length", status="ready")
    for role, ep in tiers.items():
        RouteTier.objects.create(route=route, endpoint=ep, role=role)

    # Traffic: most requests to the small tier, a few long ones to the large tier.
    counted = {}
    for role, n, max_tokens in (("small", 9, 12), ("large", 3, 40)):
        requests = tokens = 0
        for i in range(n):
            usage = _complete(ips[role], tiers[role].isvc_name, f"{role} question {i}", max_tokens)
            requests += 1
            tokens += usage["prompt_tokens"] + usage["completion_tokens"]
        counted[role] = (requests, tokens)
    time.sleep(12)  # a few scrapes past the last answer, and past the page's 5 s alignment

    settings.PROMETHEUS_URL = predictor_prometheus.url
    settings.PROMETHEUS_CACHE_SECONDS = 0
    settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 2
    html = member_client.get(reverse("deployments:route_detail", args=[route.uuid]) + "?window=1h")
    html = html.content.decode()

    # What the client counted and the prices give, by hand (window: 1 hour, one replica each).
    (s_req, s_tok), (l_req, l_tok) = counted["small"], counted["large"]
    cost_s, cost_l = PRICES["small"], PRICES["large"]
    blended = (cost_s + cost_l) * MILLION / (s_tok + l_tok)
    large_alone = (s_tok + l_tok) * cost_l / l_tok
    saving = large_alone - (cost_s + cost_l)
    percent = (saving * 100 / large_alone).quantize(Decimal("0.1"))
    rows = re.findall(r'<span class="tag">(\w+)</span>&nbsp;(\w+)</td>\s*<td class="num">([\d,]+)'
                      r'</td>\s*<td class="num">([\d.]+)&nbsp;%</td>\s*<td class="num">([\d,]+)',
                      html)  # fmt: skip
    split = {role: (int(req.replace(",", "")), share, int(tok.replace(",", "")))
             for role, _, req, share, tok in rows}  # fmt: skip
    assert split == {
        "small": (s_req, str((Decimal(s_req) * 100 / (s_req + l_req)).quantize(Decimal("0.1"))),
                  s_tok),
        "large": (l_req, str((Decimal(l_req) * 100 / (s_req + l_req)).quantize(Decimal("0.1"))),
                  l_tok),
    }, rows  # fmt: skip

    def money(text: str) -> Decimal:
        return Decimal(re.sub(r"[^\d.\-]", "", text))

    assert abs(money(_dd(html, "saving-blended")) - blended) <= Decimal("0.01")
    assert abs(money(_dd(html, "saving-large-alone")) - large_alone) <= Decimal("0.01")
    total = _dd(html, "saving-total")
    assert abs(money(total.split("(")[0]) - saving) <= Decimal("0.01"), total
    assert f"({percent} %)" in total, (total, percent)
