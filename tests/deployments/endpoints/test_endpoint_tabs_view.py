"""The endpoint page's Use and YAML tabs, and the overview's time in state / stuck / fix."""

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from deployments.endpoints import manifests
from deployments.endpoints.choices import EndpointStatus
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory(
        team=team,
        name="chat",
        gpu_type=gpu_l4,
        model=llama_8b,
        url="http://chat-search.example.com",
    )


def test_use_tab_has_url_copy_button_and_snippets_with_the_served_name(member_client, endpoint):
    body = unescape(
        member_client.get(
            reverse("deployments:endpoint_use", args=[endpoint.uuid])
        ).content.decode()
    )
    assert '<code id="endpoint-base-url">http://chat-search.example.com/openai/v1</code>' in body
    assert 'data-copy="endpoint-base-url"' in body
    assert "curl http://chat-search.example.com/openai/v1/chat/completions" in body
    assert 'base_url="http://chat-search.example.com/openai/v1"' in body
    assert 'model="chat"' in body  # the served model name (the InferenceService name)
    assert 'id="playground-form"' in body
    assert "onclick" not in body and "<script>" not in body  # CSP: static JS only
    assert "js/endpoint.js" in body


def test_use_tab_without_a_ready_endpoint_has_no_playground(member_client, endpoint):
    endpoint.status, endpoint.url = EndpointStatus.PROVISIONING, ""
    endpoint.save()
    body = member_client.get(
        reverse("deployments:endpoint_use", args=[endpoint.uuid])
    ).content.decode()
    assert 'id="playground-form"' not in body
    assert "works once the endpoint is Ready" in body


def test_yaml_tab_shows_exactly_the_api_manifests(member_client, api_client, endpoint):
    page = member_client.get(reverse("deployments:endpoint_yaml", args=[endpoint.uuid]))
    api = api_client.get(f"/api/v1/endpoints/{endpoint.uuid}/manifests/?format=yaml")
    assert page.status_code == api.status_code == 200
    body = page.content.decode()
    start = body.index('id="manifest-yaml">') + len('id="manifest-yaml">')
    shown = unescape(body[start : body.index("</pre>", start)])
    assert shown == api.content.decode() == manifests.manifest_yaml(endpoint)
    assert "kind: InferenceService" in shown


@pytest.mark.parametrize("name", ["endpoint_use", "endpoint_yaml", "endpoint_pods"])
def test_outsider_gets_404(outsider_client, endpoint, name):
    assert (
        outsider_client.get(reverse(f"deployments:{name}", args=[endpoint.uuid])).status_code == 404
    )


@pytest.mark.parametrize("name", ["endpoint_use", "endpoint_yaml", "endpoint_pods"])
def test_post_is_405(member_client, endpoint, name):
    assert (
        member_client.post(reverse(f"deployments:{name}", args=[endpoint.uuid])).status_code == 405
    )


def test_overview_links_the_tabs(viewer_client, endpoint):
    body = viewer_client.get(
        reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    ).content.decode()
    for name in ("endpoint_use", "endpoint_yaml", "endpoint_pods"):
        assert reverse(f"deployments:{name}", args=[endpoint.uuid]) in body


def test_pods_tab_without_a_cluster_says_so_calmly(member_client, endpoint, settings):
    settings.KUBECONFIG, settings.KUBE_IN_CLUSTER = "", False
    url = reverse("deployments:endpoint_pods", args=[endpoint.uuid])
    body = member_client.get(url).content.decode()
    assert "No cluster is connected" in body
    partial = member_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith("<section") and "No cluster is connected" in partial


def _provisioning(endpoint, minutes, message="", measured=None):
    endpoint.status = EndpointStatus.PROVISIONING
    endpoint.status_message = message
    endpoint.status_changed_at = timezone.now() - timedelta(minutes=minutes)
    endpoint.cold_start_seconds = measured
    endpoint.url = ""
    endpoint.save()


def test_overview_shows_time_in_state_within_the_expected_cold_start(member_client, endpoint):
    _provisioning(endpoint, 3)
    body = member_client.get(
        reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    ).content.decode()
    assert "Provisioning for <strong>3m" in body
    assert "usually up to" in body
    assert 'id="stuck-flag"' not in body


def test_overview_flags_stuck_with_the_reason_and_what_to_do(member_client, endpoint):
    reason = (
        "PredictorReady: Deployment does not have minimum availability. Events: FailedCreate: "
        'pods "chat-predictor-x" is forbidden: exceeded quota: modelport-gpu'
    )
    _provisioning(endpoint, 45, reason, measured=600)
    body = member_client.get(
        reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    ).content.decode()
    assert 'id="stuck-flag"' in body
    assert "longer than the measured 10m cold start" in body
    assert "exceeded quota: modelport-gpu" in body
    assert "GPU quota is used up" in body


def test_list_shows_time_in_state_and_the_stuck_badge(
    member_client, endpoint, team, gpu_l4, llama_8b
):
    _provisioning(endpoint, 45, "PredictorReady: waiting", measured=600)
    EndpointFactory(team=team, name="fresh", gpu_type=gpu_l4, model=llama_8b)
    body = member_client.get(reverse("deployments:endpoint_list")).content.decode()
    assert "In state" in body
    assert body.count("Stuck?") == 1
    assert "45m" in body


def test_kv_cache_oom_failure_suggests_fp8_or_a_shorter_context(member_client, endpoint):
    endpoint.status = EndpointStatus.FAILED
    endpoint.max_context_length = 32768
    endpoint.status_message = (
        "vLLM keeps crashing (Error, exit code 1: ValueError: No available memory for the cache "
        "blocks. Try increasing `gpu_memory_utilization` when initializing the engine.; "
        "restarted 3 times) in pod chat-predictor-abc."
    )
    endpoint.save()
    body = member_client.get(
        reverse("deployments:endpoint_detail", args=[endpoint.uuid])
    ).content.decode()
    assert 'id="suggested-fix"' in body
    assert "Store the KV cache in FP8" in body
    assert "Halve the context to 16384 tokens" in body
