"""BatchJob -> Kubernetes manifests (PURE: no I/O beyond reading entrypoint.py and shard_runner.py at import).

One run of a batch job is a `batch/v1` Job `<name>-r<run>` in the team namespace:

* `completionMode: Indexed`, `completions` = shards of this run (all of them for the first
  run; a resume or retry runs only the shards not committed / failed, `SHARD_MAP` maps each
  completion index to its shard), `parallelism` = max parallel shards,
  `backoffLimitPerIndex`, `ttlSecondsAfterFinished`, `activeDeadlineSeconds` from the deadline.
* `podFailurePolicy`: a pod with the `DisruptionTarget` condition (spot reclaim, node drain,
  preemption) is retried without counting; exit code 3 (bad input) fails the whole job at once.
* The pod runs `entrypoint.py` (python -c) which runs vLLM's batch runner over its shard
  (`shard_runner.py`), commits answers as they finish (a resumed shard redoes none of them),
  commits its output atomically and keeps a progress marker next to it; GPU requests = limits, CPU and memory limits = requests,
  spot nodeSelector and tolerations for Karpenter, the Hugging Face token as an optional
  secret reference (as endpoints have it).
* Labels `modelport.io/team`, `modelport.io/batch-job`, `modelport.io/batch-job-uuid`,
  `modelport.io/batch-run` on the Job and its pods: the sync and chargeback select by them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from django.conf import settings

from deployments.endpoints import manifests as endpoint_manifests
from deployments.endpoints.manifests import (
    GPU_RESOURCE,
    HF_TOKEN_KEY,
    LABEL_MANAGED_BY,
    LABEL_TEAM,
    MANAGED_BY,
    VLLM_PRECISION,
    ManifestError,
    to_yaml,
)
from portal.validators import (
    DNS_LABEL_RE,
    STORAGE_URI,
    batch_input_uri_problem,
    batch_output_uri_problem,
    label_problems,
)

LABEL_BATCH_JOB = "modelport.io/batch-job"
LABEL_BATCH_UUID = "modelport.io/batch-job-uuid"
LABEL_BATCH_RUN = "modelport.io/batch-run"
ANNOTATION_GENERATION = "modelport.io/generation"
BATCH_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_BATCH_UUID}"
CONTAINER = "run-batch"
BAD_INPUT_EXIT_CODE = 3
TTL_SECONDS_AFTER_FINISHED = 7 * 24 * 3600
CPU_PER_GPU = 4
MEMORY_GIB_PER_GPU = 16
SCRATCH_GIB = 50
SPOT_TAINT_KEY = "karpenter.sh/capacity-type"
PROGRESS_EVERY_SECONDS = 30  # how often a running shard replaces its progress marker
# The pod's program: entrypoint.py, with the source of shard_runner.py (vLLM's batch runner,
# committing as it goes) ahead of it as SHARD_RUNNER, which it runs in the image's python.
ENTRYPOINT = (
    f"SHARD_RUNNER = {Path(__file__).with_name('shard_runner.py').read_text()!r}\n"
    + Path(__file__).with_name("entrypoint.py").read_text()
)


def check_renderable(job) -> None:
    """Raise ManifestError unless every stored value is safe to place in a manifest."""
    problems = []
    if len(job.name) > 40 or not DNS_LABEL_RE.match(job.name):
        problems.append(f"name {job.name!r} is not a DNS label")
    if not DNS_LABEL_RE.match(job.namespace) or not DNS_LABEL_RE.match(job.team.slug):
        problems.append(f"namespace {job.namespace!r} is not a DNS label")
    for problem in (
        batch_input_uri_problem(job.input_uri),
        batch_output_uri_problem(job.output_uri),
    ):
        if problem:
            problems.append(problem)
    problem = model_uri_problem(job.model.storage_uri)
    if problem:
        problems.append(problem)
    if str(job.quantization) not in VLLM_PRECISION:
        problems.append(f"unknown quantization {job.quantization!r}")
    if not job.run_shards or any(not 0 <= int(s) < job.shards for s in job.run_shards):
        problems.append("the run has no valid shards")
    problems += label_problems(node_selector(job))
    if problems:
        raise ManifestError("Cannot render the batch job: " + "; ".join(problems) + ".")


def model_uri_problem(uri: str) -> str | None:
    """Batch pods load the model themselves: an hf:// id or a pvc:// folder."""
    if not re.match(STORAGE_URI.regex, uri) or not uri.startswith(("hf://", "pvc://")):
        return f"batch jobs need an hf:// or pvc:// model, not {uri!r}"
    return None


def labels(job) -> dict[str, str]:
    return {
        LABEL_TEAM: job.team.slug,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_BATCH_JOB: job.name,
        LABEL_BATCH_UUID: str(job.uuid),
        LABEL_BATCH_RUN: str(int(job.run)),
    }


def node_selector(job) -> dict[str, str]:
    return endpoint_manifests.node_selector(job)  # offering, GPU name and capacity type


def tolerations(job) -> list[dict[str, str]]:
    result = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    if job.capacity_type == "spot":
        result.append(
            {"key": SPOT_TAINT_KEY, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}
        )
    return result


def _data_mount(uri: str, volume: str, read_only: bool) -> tuple[str, dict | None, dict | None]:
    """(path or URI the entrypoint uses, volume, volumeMount) for one data location."""
    if not uri.startswith("pvc://"):
        return uri, None, None
    claim, _, path = uri[len("pvc://") :].partition("/")
    mount = f"/mnt/{volume}"
    return (
        f"{mount}/{path}".rstrip("/"),
        {"name": volume, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}},
        {"name": volume, "mountPath": mount, "readOnly": read_only},
    )


def _model(job) -> tuple[str, dict | None, dict | None]:
    uri = job.model.storage_uri
    if uri.startswith("hf://"):
        repo, _, revision = uri[len("hf://") :].partition(":")
        return repo, None, None
    return _data_mount(uri, "model", True)


def vllm_args(job) -> list[str]:
    dtype, quantization = VLLM_PRECISION[str(job.quantization)]
    args = [f"--dtype={dtype}"]
    if quantization:
        args.append(f"--quantization={quantization}")
    uri = job.model.storage_uri
    if uri.startswith("hf://") and ":" in uri[len("hf://") :]:
        args.append(f"--revision={uri.rsplit(':', 1)[1]}")
    args += [
        f"--max-model-len={int(job.max_context_length)}",
        f"--tensor-parallel-size={int(job.gpu_count)}",
        f"--served-model-name={job.name}",
    ]
    return args


def _resources(job) -> dict[str, dict[str, str]]:
    gpus = int(job.gpu_count)
    amounts = {
        "cpu": str(CPU_PER_GPU * gpus),
        "memory": f"{MEMORY_GIB_PER_GPU * gpus}Gi",
        GPU_RESOURCE: str(gpus),
    }
    return {"requests": dict(amounts), "limits": dict(amounts)}


def _pod_spec(job) -> dict[str, Any]:
    input_path, input_volume, input_mount = _data_mount(job.input_uri, "input", True)
    output_path, output_volume, output_mount = _data_mount(job.output_uri, "output", False)
    model, model_volume, model_mount = _model(job)
    volumes = [{"name": "scratch", "emptyDir": {"sizeLimit": f"{SCRATCH_GIB}Gi"}}]
    mounts = [{"name": "scratch", "mountPath": "/scratch"}]
    volumes += [v for v in (input_volume, output_volume, model_volume) if v]
    mounts += [m for m in (input_mount, output_mount, model_mount) if m]
    env = {
        "SHARD_MAP": ",".join(str(int(s)) for s in job.run_shards),
        "SHARD_COUNT": str(int(job.shards)),
        "INPUT": input_path,
        "OUTPUT": output_path,
        "MODEL": model,
        "VLLM_ARGS": json.dumps(vllm_args(job)),
        "PROGRESS_EVERY": str(PROGRESS_EVERY_SECONDS),
    }
    return {
        "restartPolicy": "Never",
        "nodeSelector": node_selector(job),
        "tolerations": tolerations(job),
        "volumes": volumes,
        "containers": [
            {
                "name": CONTAINER,
                "image": settings.VLLM_BATCH_IMAGE,
                "command": ["python3", "-c", ENTRYPOINT],
                "env": [{"name": k, "value": v} for k, v in env.items()]
                + [
                    {
                        "name": HF_TOKEN_KEY,
                        "valueFrom": {
                            "secretKeyRef": {
                                "name": settings.KUBE_HF_TOKEN_SECRET,
                                "key": HF_TOKEN_KEY,
                                "optional": True,
                            }
                        },
                    }
                ],
                "resources": _resources(job),
                "volumeMounts": mounts,
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ],
    }


def job_manifest(job) -> dict[str, Any]:
    completions = len(job.run_shards)
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": completions,
        "parallelism": min(int(job.parallelism), completions),
        "backoffLimitPerIndex": int(job.backoff_limit_per_index),
        "podFailurePolicy": {
            "rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [BAD_INPUT_EXIT_CODE],
                    },
                },
            ]
        },
        "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
        "template": {"metadata": {"labels": labels(job)}, "spec": _pod_spec(job)},
    }
    if job.deadline_hours:
        spec["activeDeadlineSeconds"] = int(job.deadline_hours) * 3600
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job.job_name,
            "namespace": job.namespace,
            "labels": labels(job),
            "annotations": {ANNOTATION_GENERATION: str(job.generation)},
        },
        "spec": spec,
    }


def render(job) -> list[dict[str, Any]]:
    """What apply sends, in order: the team's Namespace and GPU quota, then the run's Job."""
    check_renderable(job)
    return [*endpoint_manifests.team_objects(job.team), job_manifest(job)]


def manifest_yaml(job) -> str:
    return to_yaml(render(job))
