"""Autoscaling on real signals: the real KEDA operator turns the ScaledObject we render into an
HPA; the real KEDA metrics adapter answers the HPA from a real Prometheus, which finds the
predictor pods through the apiserver (deploy/prometheus-predictors.yml) and scrapes real vLLM
servers (tests/infra/engine.py). Load beyond the target scales the endpoint 1 -> 2, and the
second replica is a second real server answering at its own pod IP; when the load stops it
scales back to 1 after the stabilisation window, shortened by the setting
AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS (no object is edited). At most two servers run.

The load is as light as the claim allows, so that the second server starts beside the first on
a 2-core machine well inside its startup probe: an 8k context makes the rendered target small
(5 requests in flight per replica), and 10 clients keep twice that in flight. The server runs
2 sequences at a time and the rest wait in its queue, where they cost no compute; each request
is a short prompt and a 400-token completion, so that the requests spend their time in the
engine (where vLLM counts them) rather than in the HTTP server (where it does not: with short
completions on a starved machine the counted number fell under the target and the HPA
flapped). The load stops as soon as the HPA wants 2 replicas: the second server then starts
on a machine the first no longer keeps busy (vLLM's engine loop busy-polls a core while it
serves; beside it the second server's warm-up took minutes). The window (the setting, 180 s)
is what lets the replica stay until its server is Ready and answers.
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
from deployments.workloads.errors import TransientClusterError
from tests.deployments.cluster_helpers import pods, sync_until, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.prometheus]

# Substitution 6: 2 sequences at a time (the others queue: in flight, little CPU), and no
# torch.compile warm-up (CPU time the second server's start would otherwise compete for).
SMALL_SERVER = ["--max-num-seqs=2", "--enforce-eager"]
CONTEXT = 8192  # llama 8B on one L4 at 8k context: 4 sequences fit, + target_queue_depth 1
CLIENTS = 10  # > 1.1 x the target of 5 (the HPA's tolerance): the HPA wants ceil(10 / 5) = 2
WINDOW_S = 180  # > a server's start on an idle 2-core machine (60-70 s) with margin
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
        "max_context_length": CONTEXT,
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
    """`n` clients, each sending short completions one after the other to one pod, until stopped."""

    def __init__(self, url: str, model: str, n: int):
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.done = 0
        body = {"model": model, "prompt": "tell me a story", "max_tokens": 400, "ignore_eos": True}
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
    """The HPA KEDA made ({} while there is none, or while the apiserver is slow to answer: a
    2-core machine at load may let a read time out, which a poll simply retries)."""
    try:
        [hpa] = client.list("autoscaling/v2", "HorizontalPodAutoscaler", ep.namespace) or [None]
    except TransientClusterError:
        return {}
    return hpa or {}


def _pods(client, ep) -> list[dict]:
    try:
        return pods(client, ep)
    except TransientClusterError:  # a read timed out at load: the poll retries
        return []


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
    assert 1.1 * threshold < CLIENTS <= 2 * threshold, threshold
    hpa = wait_for(lambda: _hpa(client, ep), "KEDA's HPA", timeout=120)
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == WINDOW_S

    # Load: more requests in flight than the target (beyond the HPA's 10 % tolerance), all on
    # the first server.
    url = f"http://{first['status']['podIP']}:{manifests.SERVING_PORT}/openai/v1/completions"
    busy = manifests.busy_requests_query(ep)
    load = Load(url, ep.isvc_name, n=CLIENTS)
    try:
        prom.wait_for(busy, lambda rows: rows and float(rows[0]["value"][1]) > 1.1 * threshold,
                      timeout=120)  # fmt: skip
        t_up = time.monotonic()
        wait_for(lambda: _hpa(client, ep).get("status", {}).get("desiredReplicas") == 2,
                 "the HPA to want 2 replicas", timeout=180, every=1)  # fmt: skip
        print(f"HPA wants 2 after {time.monotonic() - t_up:.0f}s of load over the target")

        def second_ready():
            ready = [p for p in _pods(client, ep) if p["metadata"]["name"] != first["metadata"]["name"]
                     and any(c["type"] == "Ready" and c["status"] == "True"
                             for c in p["status"].get("conditions", []))]  # fmt: skip
            return ready[0] if ready else None

    finally:
        load.stop.set()
    # The load falls as the requests in flight finish: from the first scrape at or under the
    # target, the HPA may drop the replica only after the stabilisation window.
    prom.wait_for(busy, lambda rows: not rows or float(rows[0]["value"][1]) <= threshold,
                  timeout=120, interval=0.5)  # fmt: skip
    t_low = time.time()
    load.end()
    second = wait_for(second_ready, "the second replica Ready", timeout=WINDOW_S, every=1)
    print(f"second replica Ready {time.time() - t_low:.0f}s after the load fell")
    assert not load.errors, load.errors[:3]
    print(f"load: {load.done} completions answered")
    # A second real server: its own process, started within its own startup probe's budget
    # (not restarted), answering at its own pod IP, scraped on its own.
    [status] = second["status"]["containerStatuses"]
    assert status["restartCount"] == 0, status
    ip2 = second["status"]["podIP"]
    assert ip2 != first["status"]["podIP"]
    out = _post(f"http://{ip2}:{manifests.SERVING_PORT}/openai/v1/completions",
                {"model": ep.isvc_name, "prompt": "hello", "max_tokens": 5})  # fmt: skip
    assert out["usage"]["completion_tokens"] == 5
    running = [p for p in real_engine.pods.values() if p.proc and p.proc.poll() is None]
    assert len(running) == 2
    print(f"servers Ready after {[round(p.snapshot().ready_after or 0) for p in running]}s")
    prom.wait_for(f'vllm:generation_tokens_total{{pod="{second["metadata"]["name"]}"}}',
                  lambda rows: rows and float(rows[0]["value"][1]) >= 5, timeout=30)  # fmt: skip

    # No load: back to one replica after the window.
    def back_to_one():
        hpa = _hpa(client, ep)
        return hpa if hpa.get("status", {}).get("desiredReplicas") == 1 else None

    hpa = wait_for(back_to_one, "the HPA to want 1 replica again", timeout=WINDOW_S + 120, every=1)
    scaled = datetime.fromisoformat(hpa["status"]["lastScaleTime"]).timestamp()
    print(f"HPA back to 1 replica {scaled - t_low:.0f}s after the load fell under the target")
    # Not before the window: the last HPA sync that still saw the load was at most one sync
    # period (15 s) before t_low, and its recommendation of 2 holds for the window.
    assert scaled >= t_low + WINDOW_S - HPA_SYNC_S - 2
    wait_for(lambda: len(_pods(client, ep)) == 1, "one pod left", timeout=120, every=1)
