"""deployments.endpoints.page: time in state, the stuck verdict, the suggested fix, pod rows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.endpoints import manifests
from deployments.endpoints import page as endpoint_page
from deployments.endpoints.choices import EndpointStatus
from deployments.workloads import sizing
from tests.factories import EndpointFactory

pytestmark = pytest.mark.dates

NOW = timezone.now()


@pytest.fixture
def endpoint(team, gpu_l4, llama_8b):
    return EndpointFactory.build(
        team=team, name="chat", gpu_type=gpu_l4, model=llama_8b, max_context_length=32768
    )


def test_time_in_state_counts_from_the_last_status_change(endpoint):
    endpoint.status_changed_at = NOW - timedelta(seconds=95)
    assert endpoint_page.time_in_state(endpoint, NOW) == 95


def test_provisioning_expects_the_estimated_cold_start_from_the_model_size(endpoint):
    endpoint.status, endpoint.cold_start_seconds = EndpointStatus.PROVISIONING, None
    estimate = sizing.pod_resources(8.0, "bf16", 1).cold_start_seconds
    assert (
        endpoint_page.expected_seconds(endpoint)
        == estimate
        == manifests.cold_start_seconds(endpoint)
    )
    endpoint.cold_start_seconds = 240  # measured wins
    assert endpoint_page.expected_seconds(endpoint) == 240


def test_not_stuck_until_one_and_a_half_cold_starts(endpoint):
    endpoint.status, endpoint.cold_start_seconds = EndpointStatus.PROVISIONING, 600
    endpoint.status_changed_at = NOW - timedelta(seconds=900)
    assert endpoint_page.stuck(endpoint, NOW) is None
    endpoint.status_changed_at = NOW - timedelta(seconds=901)
    verdict = endpoint_page.stuck(endpoint, NOW)
    assert verdict.waited_seconds == 901 and verdict.expected_seconds == 600 and verdict.measured


def test_final_statuses_are_never_stuck(endpoint):
    endpoint.status_changed_at = NOW - timedelta(days=3)
    for status in (EndpointStatus.READY, EndpointStatus.FAILED, EndpointStatus.PENDING_APPROVAL):
        endpoint.status = status
        assert endpoint_page.stuck(endpoint, NOW) is None


def test_an_apply_that_hangs_is_stuck_after_minutes(endpoint):
    endpoint.status = EndpointStatus.APPLYING
    endpoint.status_changed_at = NOW - timedelta(minutes=8)
    verdict = endpoint_page.stuck(endpoint, NOW)
    assert verdict.expected_seconds == endpoint_page.APPLY_EXPECTED_SECONDS
    assert verdict.reason == "The cluster reports no reason yet."


@pytest.mark.parametrize(
    "reason, advice",
    [
        ("Events: FailedCreate: exceeded quota: modelport-gpu", "GPU quota is used up"),
        (
            "Events: FailedScheduling: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            "No node with a free GPU",
        ),
        ("Llama is gated on Hugging Face: Secret 'hf-token' ...", "Hugging Face token Secret"),
        (
            "Events: Failed: Back-off pulling image: ImagePullBackOff",
            "cannot pull the serving image",
        ),
        ("PredictorReady: Deployment does not have minimum availability.", "Open the Pods tab"),
    ],
)
def test_advice_follows_the_clusters_reason(reason, advice):
    assert advice in endpoint_page.advice_for(reason)


def test_kv_cache_oom_fix_offers_fp8_and_half_context_with_new_estimates(endpoint):
    endpoint.status = EndpointStatus.FAILED
    endpoint.status_message = "ValueError: No available memory for the cache blocks."
    fix = endpoint_page.suggested_fix(endpoint)
    fp8, shorter, both = fix.options
    assert fp8.fields == {"kv_cache_dtype": "fp8"}
    assert shorter.fields == {"max_context_length": 16384}
    assert both.fields == {"kv_cache_dtype": "fp8", "max_context_length": 16384}
    assert both.max_sequences > max(fp8.max_sequences, shorter.max_sequences)
    assert fp8.kv_cache_per_sequence_gib == pytest.approx(
        fix.current.kv_cache_per_sequence_gib / 2, rel=0.01
    )
    assert shorter.max_sequences > fix.current.max_sequences
    spec = endpoint_page._spec(endpoint, kv_cache_dtype="fp8")
    assert fp8.max_sequences == sizing.size_for_spec(spec).max_sequences  # the sizing engine's


def test_no_fix_for_other_failures_or_a_running_endpoint(endpoint):
    endpoint.status = EndpointStatus.FAILED
    endpoint.status_message = "ModelLoadFailed: repository not found"
    assert endpoint_page.suggested_fix(endpoint) is None
    endpoint.status = EndpointStatus.READY
    endpoint.status_message = "No available memory for the cache blocks"
    assert endpoint_page.suggested_fix(endpoint) is None


def test_fp8_kv_cache_already_offers_only_the_shorter_context(endpoint):
    endpoint.status, endpoint.kv_cache_dtype = EndpointStatus.FAILED, "fp8"
    endpoint.status_message = "torch.OutOfMemoryError: CUDA out of memory."
    [only] = endpoint_page.suggested_fix(endpoint).options
    assert only.fields == {"max_context_length": 16384}


def test_pod_rows_read_phase_readiness_restarts_node_and_last_termination():
    pod = {
        "metadata": {"name": "chat-predictor-1"},
        "spec": {"nodeName": "gpu-1"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "queue-proxy", "restartCount": 9},
                {
                    "name": "kserve-container",
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                },
            ],
        },
    }
    [row] = endpoint_page.pod_rows([pod])
    assert (row.phase, row.ready, row.restarts, row.node) == ("Running", False, 2, "gpu-1")
    assert row.waiting_reason == "CrashLoopBackOff"
    assert row.last_termination == "OOMKilled (exit 137)"
    assert endpoint_page.log_container(pod) == "kserve-container"


def test_a_pending_pod_has_no_log_to_ask_for():
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    [row] = endpoint_page.pod_rows([pod])
    assert (row.phase, row.node, row.restarts, row.last_termination) == ("Pending", "", 0, "")
    assert endpoint_page.log_container(pod) is None
