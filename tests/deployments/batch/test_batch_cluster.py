"""Integration: batch jobs on the real kube-apiserver + kube-controller-manager (the real Job
controller applies backoffLimitPerIndex and the podFailurePolicy); the test plays the shard
containers by ending their pods, as the fake kubelet plays kubelet."""

import pytest

from deployments.batch import manifests
from deployments.batch.choices import BatchEventKind, BatchJobStatus, ShardState
from deployments.batch.tasks import sync_batch_jobs
from deployments.models import BatchJob
from tests.deployments.batch_helpers import (
    body,
    end_pod,
    job_condition,
    running_pods,
    tokens,
    wait_for,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def spot_node(kube_controllers, fake_gpu_node, gpu_l4):
    labels = {
        "node.kubernetes.io/instance-type": "t-g6.xlarge",
        "karpenter.k8s.aws/instance-gpu-name": gpu_l4.node_label_value,
        "karpenter.sh/capacity-type": "spot",
    }
    return fake_gpu_node(gpus=4, labels=labels)


@pytest.fixture
def post(api_client, django_capture_on_commit_callbacks):
    def run(path, data=None):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(path, data or {}, format="json")
        assert response.status_code == 202, response.content
        return response.json()

    return run


def _request(post, team, llama_8b, gpu_l4, **extra):
    answer = post("/api/v1/batch-jobs/", body(team, llama_8b, gpu_l4, **extra))
    return BatchJob.objects.select_related("team").get(uuid=answer["uuid"])


def test_disrupted_shard_is_retried_without_counting(
    post, team, llama_8b, gpu_l4, live_cluster, kube_api_client, spot_node, api_client
):
    # backoffLimitPerIndex 0: one counted failure would fail the shard at once.
    job = _request(post, team, llama_8b, gpu_l4, shards=2, parallelism=2, backoff_limit_per_index=0)
    assert job.status == BatchJobStatus.RUNNING
    pods = running_pods(kube_api_client, job, 2)
    first = pods[0]
    # The runner's SIGTERM handler reports how far the shard got (its progress marker).
    progress = {"shard": 0, "interrupted": True, "requests": 10, "requests_done": 4}
    end_pod(kube_api_client, first, disruption="TerminationByKubelet", message=progress)

    def replaced():
        again = running_pods(kube_api_client, job, 2)
        return again if again[0].metadata.uid != first.metadata.uid else None

    pods = wait_for(replaced, what="a new pod for index 0")
    live = live_cluster.get("batch/v1", "Job", job.job_name, job.namespace)
    assert not (live["status"].get("failedIndexes") or "")
    sync_batch_jobs()
    job.refresh_from_db()
    assert job.interruptions == 1 and job.status == BatchJobStatus.RUNNING
    event = job.events.get(kind=BatchEventKind.INTERRUPTION)
    assert "TerminationByKubelet" in event.message and event.shard == 0
    assert job.shard_states[0]["failures"] == 0
    assert (job.shard_states[0]["requests_done"], job.shard_states[0]["requests"]) == (4, 10)
    shown = api_client.get(f"/api/v1/batch-jobs/{job.uuid}/").json()["shard_progress"]
    assert shown["shards"][0] | {"gpu_seconds": 0} == shown["shards"][0] | {
        "gpu_seconds": 0,
        "state": "running",
        "requests": 10,
        "requests_done": 4,
        "percent": 40,
        "interruptions": 1,
    }

    end_pod(kube_api_client, pods[0], message=tokens(1000, 4000, 0))
    end_pod(kube_api_client, pods[1], message=tokens(2000, 6000, 1))
    job_condition(live_cluster, job, "Complete")
    sync_batch_jobs()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.SUCCEEDED
    assert (job.tokens_in, job.tokens_out) == (3000, 10000)
    assert job.gpu_seconds == 3 * 600  # two successful pods + the interrupted one
    assert job.shard_counts[ShardState.DONE] == 2
    assert [s["percent"] for s in job.shard_progress] == [100, 100]
    assert job.shard_states[0]["requests_done"] == 10
    assert sync_batch_jobs() == 0  # nothing left to follow


def test_bad_input_fails_the_job_with_the_message(
    post, team, llama_8b, gpu_l4, live_cluster, kube_api_client, spot_node, member_client
):
    job = _request(post, team, llama_8b, gpu_l4, shards=2, parallelism=2)
    pods = running_pods(kube_api_client, job, 2)
    error = {
        "shard": 1,
        "error": "input line 7 is not a batch request (JSON with custom_id and body)",
    }
    end_pod(kube_api_client, pods[1], exit_code=manifests.BAD_INPUT_EXIT_CODE, message=error)
    live = job_condition(live_cluster, job, "Failed")
    assert [c for c in live["status"]["conditions"] if c["type"] == "Failed"][0]["reason"] == (
        "PodFailurePolicy"
    )
    sync_batch_jobs()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.FAILED
    assert "input line 7" in job.status_message and "PodFailurePolicy" in job.status_message
    assert job.shard_states[1]["state"] == ShardState.FAILED
    page = member_client.get(f"/batch-jobs/{job.uuid}/").content.decode()
    assert "input line 7 is not a batch request" in page


def test_resume_after_cancel_skips_committed_shards(
    post,
    team,
    llama_8b,
    gpu_l4,
    live_cluster,
    kube_api_client,
    spot_node,
    api_client,
    django_capture_on_commit_callbacks,
):
    job = _request(post, team, llama_8b, gpu_l4, shards=3, parallelism=3)
    pods = running_pods(kube_api_client, job, 3)
    end_pod(kube_api_client, pods[0], message=tokens(10, 20, 0))
    end_pod(kube_api_client, pods[2], message=tokens(10, 20, 2))

    def two_done():
        live = live_cluster.get("batch/v1", "Job", job.job_name, job.namespace)
        return (live.get("status") or {}).get("completedIndexes") == "0,2"

    wait_for(two_done, what="indexes 0 and 2 completed")
    sync_batch_jobs()
    post(f"/api/v1/batch-jobs/{job.uuid}/cancel/")
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED
    assert live_cluster.get("batch/v1", "Job", "nightly-r1", job.namespace) is None
    assert job.shards_in(ShardState.DONE) == [0, 2]

    answer = post(f"/api/v1/batch-jobs/{job.uuid}/resume/")
    assert answer["run"] == 2 and answer["status"] == BatchJobStatus.APPLYING
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING
    live = live_cluster.get("batch/v1", "Job", "nightly-r2", job.namespace)
    assert live["spec"]["completions"] == 1
    env = {
        e["name"]: e.get("value") for e in live["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SHARD_MAP"] == "1" and env["SHARD_COUNT"] == "3"
    pods = running_pods(kube_api_client, job, 1)
    assert list(pods) == [0]  # index 0 of run 2 is shard 1
    end_pod(kube_api_client, pods[0], message=tokens(10, 20, 1))
    job_condition(live_cluster, job, "Complete")
    sync_batch_jobs()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.SUCCEEDED and job.shard_counts[ShardState.DONE] == 3
    assert job.tokens_out == 60

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"/api/v1/batch-jobs/{job.uuid}/").status_code == 202
    job.refresh_from_db()
    assert job.status == BatchJobStatus.DELETED
    assert live_cluster.get("batch/v1", "Job", "nightly-r2", job.namespace) is None


def test_cost_cap_stops_the_job_on_the_real_job_controller(  # and the GPU quota counts shards
    post,
    team,
    llama_8b,
    gpu_l4,
    live_cluster,
    kube_api_client,
    spot_node,
    django_capture_on_commit_callbacks,
):
    # L4 spot 0.30 per GPU-hour: shard 0 ran 2 h (0.60) > the cap 0.50; shard 1 still runs.
    job = _request(post, team, llama_8b, gpu_l4, shards=2, parallelism=2, cost_cap="0.50")
    pods = running_pods(kube_api_client, job, 2)

    def quota_used():  # the shard pods count in the team's real ResourceQuota, as endpoints do
        quota = live_cluster.get("v1", "ResourceQuota", "modelport-gpu", job.namespace) or {}
        used = (quota.get("status") or {}).get("used") or {}
        return used.get("requests.nvidia.com/gpu") == "2"

    wait_for(quota_used, what="the team's GPU quota to count the 2 shard pods")
    end_pod(kube_api_client, pods[0], message=tokens(10, 20, 0), seconds=7200)

    def index_0_done():
        live = live_cluster.get("batch/v1", "Job", job.job_name, job.namespace)
        return (live.get("status") or {}).get("completedIndexes") == "0"

    wait_for(index_0_done, what="index 0 completed")
    with django_capture_on_commit_callbacks(execute=True):
        sync_batch_jobs()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED
    assert "reached the cost cap (0.50)" in job.status_message
    assert live_cluster.get("batch/v1", "Job", job.job_name, job.namespace) is None
    event = job.events.get(kind=BatchEventKind.ACTION)
    assert event.message.startswith("Stopped: the running cost (0.60")
    assert job.shards_in(ShardState.DONE) == [0]
