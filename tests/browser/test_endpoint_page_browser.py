"""The endpoint page's Use (copy button, playground), YAML and Pods tabs in headless Chromium.

The playground streams from a real local OpenAI-compatible server (tests/infra/openai_server.py)
through the portal; the Pods tab reads the real test apiserver, where the fake kubelet plays a
predictor pod (Running, Ready, one OOM kill). Screenshots: playground.png, yaml-tab.png,
pods-view.png (MODELPORT_SCREENSHOT_DIR=docs/screenshots to refresh the committed ones)."""

import pytest
from playwright.sync_api import expect

from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointEventFactory, EndpointFactory
from tests.infra.openai_server import OpenAIServer

pytestmark = pytest.mark.browser


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b, member):
    ep = EndpointFactory(
        team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, requested_by=member
    )
    EndpointEventFactory(endpoint=ep, message="Requested by bob.")
    return ep


@pytest.fixture
def server(endpoint):
    srv = OpenAIServer(model=endpoint.isvc_name).start()
    srv.first_token_delay, srv.token_delay = 0.15, 0.03
    endpoint.url = srv.url
    endpoint.save(update_fields=["url"])
    yield srv
    srv.stop()


def test_copy_and_playground_stream_with_ttft_and_rate(
    login_context, live_server, member, endpoint, server, screenshot_path
):
    context = login_context(member, height=1000)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/")
    page.click("nav.tabs >> text=Use")
    expect(page.locator("#endpoint-base-url")).to_have_text(f"{server.url}/openai/v1")
    page.click("button[data-copy='endpoint-base-url']")
    expect(page.locator("button[data-copy='endpoint-base-url']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{server.url}/openai/v1"
    expect(page.locator("#snippet-python")).to_contain_text('model="chat"')

    page.fill("#id_prompt", "What is the capital of France?")
    page.fill("#id_max_tokens", "12")
    page.click("#playground-form button[type=submit]")
    expect(page.locator("#playground-stats[data-done]")).to_contain_text("tokens/s")
    expect(page.locator("#playground-answer")).to_have_text(
        "Paris is the capital of France and its largest city by far"
    )
    stats = page.locator("#playground-stats").inner_text()
    assert "time to first token" in stats and "12 tokens" in stats
    assert server.requests[0]["body"]["model"] == "chat"
    page.screenshot(path=screenshot_path("playground.png"), full_page=True)


def test_yaml_tab_shows_the_applied_manifests(
    login_context, live_server, member, endpoint, screenshot_path
):
    page = login_context(member, height=1100).new_page()
    page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/yaml/")
    yaml = page.locator("#manifest-yaml")
    expect(yaml).to_contain_text("kind: InferenceService")
    expect(yaml).to_contain_text("kind: ScaledObject")
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("YAML")
    page.screenshot(path=screenshot_path("yaml-tab.png"))


@pytest.fixture
def live_cluster(settings, kubeconfig_path, kube_namespace):
    """The portal (and its live server thread) pointed at the real test apiserver."""
    settings.KUBECONFIG = kubeconfig_path
    settings.KUBE_CONTEXT = ""
    settings.KUBE_IN_CLUSTER = False
    settings.KUBE_NAMESPACE_PREFIX = f"{kube_namespace}-"
    from deployments.k8s import ClusterClient

    return ClusterClient.from_settings()


def _predictor_pod(endpoint, node: str) -> dict:
    from deployments.endpoints import manifests

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{endpoint.isvc_name}-predictor-7d9f8c6b5-x2k4q",
            "namespace": endpoint.namespace,
            "labels": {
                **manifests.endpoint_labels(endpoint),
                "component": "predictor",
                "serving.kserve.io/inferenceservice": endpoint.isvc_name,
            },
        },
        "spec": {
            "nodeName": node,
            "initContainers": [
                {"name": "storage-initializer", "image": "kserve/storage-initializer"}
            ],
            "containers": [{"name": "kserve-container", "image": "vllm/vllm-openai:v0.11.0"}],
        },
    }


def test_pods_tab_shows_the_predictor_pod_from_the_cluster(
    login_context,
    live_server,
    member,
    endpoint,
    live_cluster,
    kube_cluster,
    fake_gpu_node,
    screenshot_path,
):
    from deployments.endpoints import manifests
    from tests.deployments.cluster_helpers import wait_for

    client = live_cluster
    client.apply([manifests.namespace(endpoint.team)])
    node = fake_gpu_node(gpus=1, labels=manifests.node_selector(endpoint))
    [pod] = client.apply([_predictor_pod(endpoint, node)])
    name = pod["metadata"]["name"]
    kubelet = kube_cluster.fake_kubelet
    wait_for(
        lambda: (
            (client.get("v1", "Pod", name, endpoint.namespace).get("status") or {}).get("phase")
            == "Running"
        ),
        "the fake kubelet to run the pod",
    )
    kubelet.restart_container(endpoint.namespace, name, "kserve-container", "OOMKilled", 137)
    endpoint.status = EndpointStatus.READY
    endpoint.save(update_fields=["status"])

    page = login_context(member, height=800).new_page()
    page.goto(f"{live_server.url}/endpoints/{endpoint.uuid}/")
    page.click("nav.tabs >> text=Pods")
    row = page.locator("#pods-table tbody tr", has_text=name)
    expect(row).to_contain_text("Running")
    expect(row).to_contain_text("OOMKilled (exit 137)")
    expect(row).to_contain_text(node)
    expect(page.locator(".pod-log")).to_contain_text("does not serve the pod")
    page.screenshot(path=screenshot_path("pods-view.png"), full_page=True)


def test_overview_flags_a_stuck_start_and_suggests_a_fix_after_a_kv_cache_oom(
    login_context, live_server, member, team, gpu_l4, llama_8b, screenshot_path
):
    from datetime import timedelta

    from django.utils import timezone

    stuck = EndpointFactory(
        team=team,
        name="slow-start",
        gpu_type=gpu_l4,
        model=llama_8b,
        status=EndpointStatus.PROVISIONING,
        url="",
        cold_start_seconds=600,
        status_changed_at=timezone.now() - timedelta(minutes=42),
        status_message="PredictorReady: Deployment does not have minimum availability. Events: "
        "FailedScheduling: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
    )
    failed = EndpointFactory(
        team=team,
        name="long-context",
        gpu_type=gpu_l4,
        model=llama_8b,
        status=EndpointStatus.FAILED,
        url="",
        max_context_length=65536,
        status_message="vLLM keeps crashing (Error, exit code 1: ValueError: No available memory "
        "for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the "
        "engine.; restarted 4 times) in pod long-context-predictor-5c7d9-abcde.",
    )
    page = login_context(member, height=900).new_page()
    page.goto(f"{live_server.url}/endpoints/")
    expect(page.locator("#endpoint-table tr", has_text="slow-start")).to_contain_text("Stuck?")
    page.goto(f"{live_server.url}/endpoints/{stuck.uuid}/")
    expect(page.locator("#stuck-flag")).to_contain_text("No node with a free GPU")
    page.screenshot(path=screenshot_path("endpoint-stuck.png"))
    page.goto(f"{live_server.url}/endpoints/{failed.uuid}/")
    fix = page.locator("#suggested-fix")
    expect(fix).to_contain_text("Store the KV cache in FP8")
    expect(fix).to_contain_text("Halve the context to 32768 tokens")
    page.screenshot(path=screenshot_path("endpoint-suggested-fix.png"))
