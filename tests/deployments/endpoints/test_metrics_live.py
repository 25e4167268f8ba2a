"""Live: an exporter process emits vLLM metrics, the real Prometheus scrapes it every second,
and the endpoint's Metrics tab shows the values it emitted."""

import threading
import time
import uuid

import pytest
from django.urls import reverse

from portal.models import Membership
from tests.factories import EndpointFactory, MembershipFactory, TeamFactory

pytestmark = pytest.mark.prometheus

GEN_PER_S, PROMPT_PER_S = 500, 1200


def _text(model, t, restarted=False):
    gen, prompt, ok = int(GEN_PER_S * t), int(PROMPT_PER_S * t), int(4 * t)
    lab = f'model_name="{model}",engine="0"'
    return (
        f"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{{{lab}}} 7\n"
        f"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{{lab}}} 3\n"
        f"# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{{{lab}}} 0.42\n"
        f"# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{{{lab}}} {gen}\n"
        f"# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total{{{lab}}} {prompt}\n"
        f"# TYPE vllm:request_success_total counter\n"
        f'vllm:request_success_total{{{lab},finished_reason="stop"}} {ok}\n'
        f'vllm:request_success_total{{{lab},finished_reason="abort"}} 0\n'
    )


@pytest.fixture
def emitting(prometheus_server, live_exporter):
    """Exporter whose counters grow at GEN_PER_S / PROMPT_PER_S, scraped every second."""
    run = uuid.uuid4().hex[:6]
    ns, model = f"mp-live-{run}", "live-llm"
    started = time.monotonic()
    live_exporter.set_text(_text(model, 0))
    job = prometheus_server.add_scrape_target(
        live_exporter.url,
        interval="1s",
        labels={"namespace": ns, "pod": f"{model}-predictor-7c9-x2k4p"},
    )
    stop = threading.Event()

    def tick():
        while not stop.wait(0.25):
            live_exporter.set_text(_text(model, time.monotonic() - started))

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    prometheus_server.wait_for(
        f'rate(vllm:generation_tokens_total{{namespace="{ns}"}}[1m])',
        lambda r: bool(r) and float(r[0]["value"][1]) > 0,
        timeout=40,
    )
    time.sleep(36)  # a full 30 s rate range (1 h window, 1 s scrapes) past the 5 s grid
    yield ns, model
    stop.set()
    thread.join(5)
    prometheus_server.remove_scrape_target(job)


def test_endpoint_page_shows_what_the_exporter_emits(
    emitting, prometheus_server, settings, member, member_client
):
    ns, model = emitting
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.PROMETHEUS_CACHE_SECONDS = 0
    settings.PROMETHEUS_SCRAPE_INTERVAL_SECONDS = 1
    team = TeamFactory(slug=ns.removeprefix("mp-"))
    MembershipFactory(team=team, user=member, role=Membership.Role.VIEWER)
    ep = EndpointFactory(team=team, name=model)
    resp = member_client.get(reverse("deployments:endpoint_metrics", args=[ep.uuid]))
    assert resp.status_code == 200
    page = resp.context["page"]
    assert not page.stale, page.error
    tiles = {t["key"]: t["current"] for t in page.data["tiles"]}
    assert tiles["queue_depth"] == 7
    assert tiles["running"] == 3
    assert tiles["kv_cache_usage"] == pytest.approx(0.42)
    assert tiles["replicas"] == 1
    assert tiles["generation_tokens_per_s"] == pytest.approx(GEN_PER_S, rel=0.15)
    assert tiles["request_rate_per_s"] == pytest.approx(4, rel=0.3)
    body = resp.content.decode()
    assert "42.0 %" in body
    summary = page.data["summary"]
    assert summary["queue_depth_max"] == 7 and summary["kv_cache_usage_max"] == pytest.approx(0.42)
    assert summary["error_rate"] == 0.0
