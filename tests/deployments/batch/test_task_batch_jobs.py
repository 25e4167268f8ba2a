"""apply_batch_job and sync_batch_jobs: idempotent (run twice: one apply, one event, same
state), stale generations change nothing, and the running cost cap stops a job. Fast tests on
the in-memory cluster; the same paths run on the real Job controller in test_batch_cluster.py."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.batch import manifests, services
from deployments.batch.choices import BatchEventKind, BatchJobStatus, ShardState
from deployments.batch.observe import INDEX_ANNOTATION
from deployments.batch.tasks import apply_batch_job, sync_batch_jobs
from deployments.models import BatchJob
from deployments.workloads.choices import DesiredState
from tests.factories import BatchJobFactory

pytestmark = pytest.mark.dates


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def job(team, llama_8b, gpu_l4):
    return BatchJobFactory(team=team, model=llama_8b, gpu_type=gpu_l4, offering=None)


def _pod(fake, job, index: int, phase: str = "Running", *, started: datetime, ended=None):
    """A shard pod as the apiserver lists it (what the Job controller and kubelet write)."""
    status = {"phase": phase, "startTime": _ts(started)}
    if ended is not None:
        report = {"prompt_tokens": 100, "completion_tokens": 300}
        status["containerStatuses"] = [
            {
                "name": manifests.CONTAINER,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "startedAt": _ts(started),
                        "finishedAt": _ts(ended),
                        "message": json.dumps(report),
                    }
                },
            }
        ]
    name = f"{job.job_name}-{index}-{phase.lower()}"
    fake.objects[("Pod", job.namespace, name)] = {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": job.namespace,
            "uid": name,
            "labels": manifests.labels(job),
            "annotations": {INDEX_ANNOTATION: str(index)},
        },
        "status": status,
    }


def _job_status(fake, job, **status):
    fake.objects[("Job", job.namespace, job.job_name)]["status"] = status


def test_apply_twice_is_one_apply_one_event_same_state(job, fake_cluster):
    assert apply_batch_job(job.pk, job.generation) == "applied"
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING
    state = (job.status, job.applied_generation, job.status_message, job.events.count())
    assert apply_batch_job(job.pk, job.generation) == "already-applied"
    job.refresh_from_db()
    assert (job.status, job.applied_generation, job.status_message, job.events.count()) == state
    assert len(fake_cluster.applied) == 1
    assert [k for k in fake_cluster.objects if k[0] == "Job"] == [
        ("Job", job.namespace, f"{job.name}-r1")
    ]


def test_apply_is_noop_when_generation_is_stale(job, fake_cluster):
    BatchJob.objects.filter(pk=job.pk).update(generation=2, parallelism=1)
    assert apply_batch_job(job.pk, 1) == "stale"
    assert not fake_cluster.applied
    assert BatchJob.objects.get(pk=job.pk).applied_generation == 0


def test_a_stale_apply_does_not_overwrite_a_newer_spec(job, fake_cluster):
    """The task of generation 1 finishes after generation 2 was requested: its compare-and-set
    writes nothing, and generation 2's apply still happens."""
    loaded_at_1 = BatchJob.objects.select_related("team").get(pk=job.pk)
    BatchJob.objects.filter(pk=job.pk).update(generation=2, status_message="newer")
    assert services.record_applied(loaded_at_1, 1, BatchJobStatus.RUNNING) is False
    fresh = BatchJob.objects.get(pk=job.pk)
    assert (fresh.applied_generation, fresh.status, fresh.status_message) == (
        0,
        BatchJobStatus.APPROVED,
        "newer",
    )
    assert apply_batch_job(job.pk, 2) == "applied"
    assert BatchJob.objects.get(pk=job.pk).applied_generation == 2
    assert BatchJob.objects.get(pk=job.pk).status == BatchJobStatus.RUNNING


def test_sync_twice_changes_nothing_the_second_time(job, fake_cluster):
    apply_batch_job(job.pk, job.generation)
    job.refresh_from_db()
    start = timezone.now() - timedelta(minutes=30)
    _pod(fake_cluster, job, 0, "Succeeded", started=start, ended=start + timedelta(minutes=20))
    _pod(fake_cluster, job, 1, started=start)
    _job_status(fake_cluster, job, completedIndexes="0", active=1)
    assert sync_batch_jobs() == 1
    job.refresh_from_db()
    state = (job.shard_states, job.status, job.gpu_seconds, job.tokens_out)
    events = job.events.count()
    assert job.shard_states[0]["state"] == ShardState.DONE
    assert job.shard_states[1]["state"] == ShardState.RUNNING
    assert sync_batch_jobs() == 0
    job.refresh_from_db()
    assert (job.shard_states, job.status, job.gpu_seconds, job.tokens_out) == state
    assert job.events.count() == events


def test_sync_skips_a_job_whose_newer_generation_is_not_applied_yet(job, fake_cluster):
    apply_batch_job(job.pk, job.generation)
    job.refresh_from_db()
    _job_status(fake_cluster, job, completedIndexes="0,1")
    fake_cluster.objects[("Job", job.namespace, job.job_name)]["status"]["conditions"] = [
        {"type": "Complete", "status": "True"}
    ]
    BatchJob.objects.filter(pk=job.pk).update(generation=2)  # e.g. a cancel just landed
    assert sync_batch_jobs() == 0
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING and job.shards_in(ShardState.DONE) == []


def test_a_clock_behind_the_last_transition_records_it_at_that_time(job, fake_cluster, caplog):
    """A worker whose clock is behind the last transition (written by another worker, or
    before an NTP step) keeps the timeline in order: the change is recorded at that time."""
    apply_batch_job(job.pk, job.generation)
    ahead = timezone.now() + timedelta(minutes=10)
    BatchJob.objects.filter(pk=job.pk).update(status_changed_at=ahead)
    job.refresh_from_db()
    _job_status(fake_cluster, job, completedIndexes="0,1")
    fake_cluster.objects[("Job", job.namespace, job.job_name)]["status"]["conditions"] = [
        {"type": "Complete", "status": "True"}
    ]
    assert sync_batch_jobs() == 1
    job.refresh_from_db()
    assert job.status == BatchJobStatus.SUCCEEDED and job.status_changed_at == ahead
    assert f"batch_job={job.pk} clock skew" in caplog.text


def test_running_cost_reaching_the_cap_cancels_the_job(
    job, fake_cluster, django_capture_on_commit_callbacks
):
    # L4 spot 0.30 per GPU-hour: one shard done after 1 h, the other running for 2 h = 0.90.
    BatchJob.objects.filter(pk=job.pk).update(cost_cap=Decimal("0.80"))
    apply_batch_job(job.pk, job.generation)
    job.refresh_from_db()
    now = timezone.now().astimezone(UTC)
    _pod(
        fake_cluster,
        job,
        0,
        "Succeeded",
        started=now - timedelta(hours=2),
        ended=now - timedelta(hours=1),
    )
    _pod(fake_cluster, job, 1, started=now - timedelta(hours=2))
    _job_status(fake_cluster, job, completedIndexes="0", active=1)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert sync_batch_jobs() == 1
    assert len(queued) == 1  # the cancel's apply, queued once the sync committed
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED
    assert job.desired_state == DesiredState.STOPPED and job.applied_generation == 2
    assert "reached the cost cap (0.80)" in job.status_message
    assert ("Job", job.namespace, job.job_name) not in fake_cluster.objects
    event = job.events.get(kind=BatchEventKind.ACTION)
    assert event.message.startswith("Stopped: the running cost (0.90) reached the cost cap")
    assert job.shards_in(ShardState.DONE) == [0]  # committed output kept: resume skips it
    assert sync_batch_jobs() == 0


def test_below_the_cap_nothing_is_stopped(job, fake_cluster):
    BatchJob.objects.filter(pk=job.pk).update(cost_cap=Decimal("5.00"))
    apply_batch_job(job.pk, job.generation)
    job.refresh_from_db()
    _pod(fake_cluster, job, 0, started=timezone.now() - timedelta(hours=2))
    _job_status(fake_cluster, job, active=1)
    sync_batch_jobs()
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING and job.desired_state == DesiredState.PRESENT
    assert not job.events.filter(kind=BatchEventKind.ACTION).exists()


def test_progress_markers_reach_the_api_and_the_page(job, fake_cluster, api_client, member_client):
    apply_batch_job(job.pk, job.generation)
    job.refresh_from_db()
    start = timezone.now() - timedelta(minutes=30)
    name = f"{job.job_name}-1-reclaimed"
    fake_cluster.objects[("Pod", job.namespace, name)] = {
        "kind": "Pod",
        "metadata": {
            "name": name,
            "uid": name,
            "namespace": job.namespace,
            "labels": manifests.labels(job),
            "annotations": {INDEX_ANNOTATION: "1"},
        },
        "status": {
            "phase": "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "Spot"}],
            "containerStatuses": [
                {
                    "state": {
                        "terminated": {
                            "exitCode": 143,
                            "startedAt": _ts(start),
                            "finishedAt": _ts(start + timedelta(minutes=10)),
                            "message": json.dumps(
                                {
                                    "shard": 1,
                                    "interrupted": True,
                                    "requests": 40,
                                    "requests_done": 25,
                                }
                            ),
                        }
                    }
                }
            ],
        },
    }
    _pod(fake_cluster, job, 0, "Succeeded", started=start, ended=start + timedelta(minutes=20))
    fake_cluster.objects[("Pod", job.namespace, f"{job.job_name}-0-succeeded")]["status"][
        "containerStatuses"
    ][0]["state"]["terminated"]["message"] = json.dumps(
        {
            "shard": 0,
            "requests": 40,
            "requests_done": 40,
            "prompt_tokens": 1,
            "completion_tokens": 2,
        }
    )
    _job_status(fake_cluster, job, completedIndexes="0", active=1)
    sync_batch_jobs()
    shards = api_client.get(f"/api/v1/batch-jobs/{job.uuid}/").json()["shard_progress"]["shards"]
    assert [(s["shard"], s["requests_done"], s["requests"], s["percent"]) for s in shards] == [
        (0, 40, 40, 100),
        (1, 25, 40, 62),
    ]
    assert "seen" not in shards[0]
    page = member_client.get(f"/batch-jobs/{job.uuid}/").content.decode()
    assert "25 / 40" in page and "62 %" in page


def test_sync_queries_do_not_grow_with_capped_jobs(team, llama_8b, gpu_l4, fake_cluster):
    def sync_of(count: int) -> int:
        for _ in range(count):
            capped = BatchJobFactory(
                team=team, model=llama_8b, gpu_type=gpu_l4, offering=None, cost_cap=Decimal("99")
            )
            apply_batch_job(capped.pk, capped.generation)
            capped.refresh_from_db()
            _pod(fake_cluster, capped, 0, started=timezone.now() - timedelta(minutes=5))
            _job_status(fake_cluster, capped, active=1)
        sync_batch_jobs()  # warm the catalog price cache
        with CaptureQueriesContext(connection) as queries:
            sync_batch_jobs()
        return len(queries)

    assert sync_of(2) == sync_of(6)


def test_a_watcher_with_the_jobs_live_objects_records_what_a_sync_would(job, fake_cluster):
    """The public hook for a caller that already holds the Job and its pods (a watch):
    observe(job, live) then record(job, observation), compare-and-set on the generation."""
    from deployments.batch.reconcile import BATCH_JOBS

    apply_batch_job(job.pk, job.generation)
    job.refresh_from_db()
    start = timezone.now() - timedelta(minutes=30)
    _pod(fake_cluster, job, 0, "Succeeded", started=start, ended=start + timedelta(minutes=20))
    _job_status(fake_cluster, job, completedIndexes="0", active=1)
    live = {
        "Job": fake_cluster.objects[("Job", job.namespace, job.job_name)],
        "Pod": [o for (kind, _ns, _n), o in fake_cluster.objects.items() if kind == "Pod"],
    }
    observation = BATCH_JOBS.observe(job, live)
    assert BATCH_JOBS.record(job, observation) is True
    assert BatchJob.objects.get(pk=job.pk).shard_states[0]["state"] == ShardState.DONE
    BatchJob.objects.filter(pk=job.pk).update(generation=job.generation + 1)  # a cancel landed
    assert BATCH_JOBS.record(job, observation) is False  # superseded: nothing written
