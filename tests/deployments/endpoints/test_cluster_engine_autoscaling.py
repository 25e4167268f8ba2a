"""Autoscaling on real signals: the real KEDA operator turns the ScaledObject we render into an
HPA; the real KEDA metrics adapter answers the HPA from a real Prometheus, which finds the
predictor pods through the apiserver (deploy/prometheus-predictors.yml) and scrapes real vLLM
servers (tests/infra/engine.py). Load beyond the target scales the endpoint 1 -> 2, and the
second replica is a second real server answering at its own pod IP; when the load stops it
scales back to 1 after the stabilisation window, shortened by the setting
AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS (no object is edited). At most two servers run.
"""

import json
import threading
import time
import urllib.request
from datetime import datetime

import pytest

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from deployments.models import Endpoint
from tests.deployments.cluster_helpers import pods, sync_until, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.prometheus]

SMALL_SERVER = ["--max-num-seqs=4", "--num-gpu-blocks-override=10"]  # substitution 6
WINDOW_S = 30
HPA_SYNC_S = 15  # kube-controller-manager's --horizontal-pod-autoscaler-sync-period default


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
        "max_context_length": 1024,
        "min_replicas": 1,
        "max_replicas": 2,
        "target_queue_depth": 1,
        "capacity_type": "on-demand",
    }


def _post(url: str, body: dict, timeout: float = 600):
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class Load:
    """`n` clients, each sending long completions one after the other to one pod, until stopped."""

    def __init__(self, url: str, model: str, n: int):
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.done = 0
        body = {"model": model, "prompt": "a long story " * 60, "max_tokens": 200,
                "ignore_eos": True}  # fmt: skip
        self.threads = [
            threading.Thread(target=self._client, args=(url, body), daemon=True) for _ in range(n)
        ]
        for t in self.threads:
            t.start()

    def _client(self, url, body):
        while not self.stop.is_set():
            try:
                _post(url, body)
                self.done += 1
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(e))
                self.stop.wait(1)

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(600)


def _hpa(client, ep) -> dict:
    [hpa] = client.list("autoscaling/v2", "HorizontalPodAutoscaler", ep.namespace) or [None]
    return hpa or {}


def test_load_beyond_the_target_adds_a_second_real_server_and_it_goes_after_the_window(
    live_cluster,
    kserve_controller,
    keda_operator,
    engine_node,
    real_engine,
    predictor_prometheus,
    api_client,
    body,
    settings,
    django_capture_on_commit_callbacks,
):
    client, prom = live_cluster, predictor_prometheus
    settings.KEDA_PROMETHEUS_URL = prom.url
    settings.AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS = WINDOW_S
    real_engine.extra_args = list(SMALL_SERVER)
    with django_capture_on_commit_callbacks(execute=True):
        r = api_client.post("/api/v1/endpoints/", body, format="json")
    assert r.status_code in (201, 202), r.content
    ep = Endpoint.objects.get(uuid=r.json()["uuid"])
    engine_node(gpus=4, labels=manifests.node_selector(ep))
    t0 = time.monotonic()
    sync_until(ep, EndpointStatus.READY, "the first replica Ready", timeout=600)
    print(f"first replica Ready after {time.monotonic() - t0:.0f}s")
    [first] = pods(client, ep)
    so = client.get(
        manifests.KEDA_API, "ScaledObject", manifests.scaled_object_name(ep), ep.namespace
    )
    behavior = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == WINDOW_S
    threshold = manifests.busy_threshold(ep)
    print(f"busy threshold per replica: {threshold}")
    hpa = wait_for(lambda: _hpa(client, ep), "KEDA's HPA", timeout=120)
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == WINDOW_S

    # Load: more requests in flight than two replicas' target, all on the first server.
    url = f"http://{first['status']['podIP']}:{manifests.SERVING_PORT}/openai/v1/completions"
    load = Load(url, ep.isvc_name, n=2 * threshold + 2)
    try:
        busy = manifests.busy_requests_query(ep)
        prom.wait_for(busy, lambda rows: rows and float(rows[0]["value"][1]) > threshold,
                      timeout=180)  # fmt: skip
        t_up = time.monotonic()
        wait_for(lambda: _hpa(client, ep).get("status", {}).get("desiredReplicas") == 2,
                 "the HPA to want 2 replicas", timeout=300, every=2)  # fmt: skip
        print(f"HPA wants 2 after {time.monotonic() - t_up:.0f}s of load over the target")

        def second_ready():
            ready = [p for p in pods(client, ep) if p["metadata"]["name"] != first["metadata"]["name"]
                     and any(c["type"] == "Ready" and c["status"] == "True"
                             for c in p["status"].get("conditions", []))]  # fmt: skip
            return ready[0] if ready else None

        second = wait_for(second_ready, "the second replica Ready", timeout=1200, every=3)
        print(f"second replica Ready {time.monotonic() - t_up:.0f}s after the load began")
    finally:
        load.stop.set()
    # The load falls as the requests in flight finish: from the first scrape at or under the
    # target, the HPA may drop the replica only after the stabilisation window.
    prom.wait_for(busy, lambda rows: not rows or float(rows[0]["value"][1]) <= threshold,
                  timeout=900, interval=0.5)  # fmt: skip
    t_low = time.time()
    load.end()
    assert not load.errors, load.errors[:3]
    # A second real server: its own process, answering at its own pod IP, scraped on its own.
    ip2 = second["status"]["podIP"]
    assert ip2 != first["status"]["podIP"]
    out = _post(f"http://{ip2}:{manifests.SERVING_PORT}/openai/v1/completions",
                {"model": ep.isvc_name, "prompt": "hello", "max_tokens": 5})  # fmt: skip
    assert out["usage"]["completion_tokens"] == 5
    assert len([p for p in real_engine.pods.values() if p.proc and p.proc.poll() is None]) == 2
    prom.wait_for(f'vllm:generation_tokens_total{{pod="{second["metadata"]["name"]}"}}',
                  lambda rows: rows and float(rows[0]["value"][1]) >= 5, timeout=60)  # fmt: skip

    # No load: back to one replica after the window (+ the HPA's 60 s scale-down period).
    wait_for(lambda: _hpa(client, ep).get("status", {}).get("desiredReplicas") == 1,
             "the HPA to want 1 replica again", timeout=WINDOW_S + 300, every=2)  # fmt: skip
    scaled = datetime.fromisoformat(_hpa(client, ep)["status"]["lastScaleTime"]).timestamp()
    print(f"HPA back to 1 replica {scaled - t_low:.0f}s after the load fell under the target")
    # Not before the window: the last HPA sync that still saw the load was at most one sync
    # period (15 s) before t_low, and its recommendation of 2 holds for the window.
    assert scaled >= t_low + WINDOW_S - HPA_SYNC_S - 2
    wait_for(lambda: len(pods(client, ep)) == 1, "one pod left", timeout=180, every=2)
