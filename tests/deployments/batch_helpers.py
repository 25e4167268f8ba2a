"""Helpers for batch-job tests: the request body and playing the shard containers on the real
apiserver (the fake kubelet only starts pods; the test ends them as a container would)."""

import json
import time
from datetime import UTC, datetime, timedelta

from kubernetes import client as k8s

from deployments.batch import manifests
from deployments.batch.observe import INDEX_ANNOTATION


def body(team, model, gpu, **extra):
    return {
        "team": team.slug,
        "name": "nightly",
        "model": model.slug,
        "gpu_type": gpu.name,
        "gpu_count": 1,
        "capacity_type": "spot",
        "input_uri": "s3://acme-data/batches/in.jsonl",
        "output_uri": "s3://acme-data/batches/out",
        "shards": 2,
        **extra,
    }


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_for(check, timeout: float = 40.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def running_pods(api, job, count: int) -> dict[int, dict]:
    """Wait until `count` pods of the current run are Running; {completion index: pod}."""
    core = k8s.CoreV1Api(api)
    selector = f"{manifests.LABEL_BATCH_UUID}={job.uuid},{manifests.LABEL_BATCH_RUN}={job.run}"

    def check():
        pods = core.list_namespaced_pod(job.namespace, label_selector=selector).items
        live = {
            int(p.metadata.annotations[INDEX_ANNOTATION]): p
            for p in pods
            if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
        }
        return live if len(live) >= count else None

    return wait_for(check, what=f"{count} running shard pods")


def end_pod(api, pod, *, exit_code=0, message=None, disruption=None, seconds=600):
    """Finish a pod as its container would (phase, exit code, termination message), or as a
    spot reclaim does (`disruption` = reason of the DisruptionTarget condition)."""
    end = datetime.now(UTC)
    start = end - timedelta(seconds=seconds)
    conditions = []
    if disruption:
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": disruption,
                "message": "Spot instance reclaimed: node terminating",
                "lastTransitionTime": _ts(end),
            }
        )
    status = {
        "phase": "Succeeded" if exit_code == 0 and not disruption else "Failed",
        "conditions": conditions,
        "containerStatuses": [
            {
                "name": manifests.CONTAINER,
                "image": "fake",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": 143 if disruption else exit_code,
                        "reason": "Completed" if exit_code == 0 else "Error",
                        "message": json.dumps(message) if message else "",
                        "startedAt": _ts(start),
                        "finishedAt": _ts(end),
                    }
                },
            }
        ],
    }
    k8s.CoreV1Api(api).patch_namespaced_pod_status(
        pod.metadata.name, pod.metadata.namespace, {"status": status}
    )


def job_condition(live_cluster, job, kind: str):
    def check():
        obj = live_cluster.get("batch/v1", "Job", job.job_name, job.namespace)
        for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
            if cond["type"] == kind and cond["status"] == "True":
                return obj
        return None

    return wait_for(check, what=f"Job {kind}")


def tokens(prompt: int, completion: int, shard: int) -> dict:
    return {
        "shard": shard,
        "requests": 10,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }
