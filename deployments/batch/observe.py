"""Cluster objects -> shard states and job status (PURE: no I/O, no ORM).

`observe(job, job_obj, pods)` folds one run's Job (`status.completedIndexes`,
`failedIndexes`, conditions) and its pods (phase, `DisruptionTarget` condition, the
container's exit code and termination message: tokens and the shard's progress marker,
requests done of requests) into new `shard_states`, a status and the
timeline lines to add. Each terminated pod is counted once (its uid is kept in the shard's
`seen` list), so observing the same objects twice changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployments.batch.choices import BatchEventKind, BatchJobStatus, ShardState

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass
class Observation:
    shard_states: list[dict[str, Any]]
    status: str
    message: str
    events: list[tuple[str, int | None, str]] = field(default_factory=list)  # kind, shard, text
    # GPU-seconds the pods still running have used so far (not stored: it grows every second;
    # the running cost the cost cap is checked against is totals + this).
    running_gpu_seconds: int = 0
    # When the Job controller finished the run (its Complete/Failed condition's
    # lastTransitionTime): the time a final status is recorded at. None: not finished, or
    # not said.
    changed_at: datetime | None = None

    @property
    def totals(self) -> dict[str, int]:
        keys = ("tokens_in", "tokens_out", "gpu_seconds", "interruptions")
        return {k: sum(int(s.get(k, 0)) for s in self.shard_states) for k in keys}


def new_shard(state: str = ShardState.PENDING) -> dict[str, Any]:
    return {
        "state": state,
        "failures": 0,
        "interruptions": 0,
        "gpu_seconds": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "requests": 0,
        "requests_done": 0,
        "message": "",
        "seen": [],
    }


def parse_indexes(text: str | None) -> set[int]:
    """'0-2,5' -> {0, 1, 2, 5} (the Job status' compressed index lists)."""
    result: set[int] = set()
    for part in (text or "").split(","):
        if not part.strip():
            continue
        low, _, high = part.partition("-")
        result.update(range(int(low), int(high or low) + 1))
    return result


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _terminated(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return terminated
    return {}


def _disruption(pod: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
            return cond
    return None


def _report(terminated: dict[str, Any]) -> dict[str, Any]:
    try:
        report = json.loads(terminated.get("message") or "{}")
    except ValueError:
        return {"error": (terminated.get("message") or "").strip()[-500:]}
    return report if isinstance(report, dict) else {}


def _seconds(pod: dict[str, Any], terminated: dict[str, Any]) -> int:
    start = _time(terminated.get("startedAt") or (pod.get("status") or {}).get("startTime"))
    end = _time(terminated.get("finishedAt"))
    return max(int((end - start).total_seconds()), 0) if start and end else 0


def _progress(shard: dict, report: dict[str, Any]) -> None:
    """The shard's progress marker as its last attempt reported it on termination (requests
    of the shard, requests done: an interrupted attempt tells how far it got)."""
    for key in ("requests", "requests_done"):
        value = report.get(key)
        if isinstance(value, int) and value >= 0:
            shard[key] = value


def _fold_pod(shard: dict, number: int, pod: dict, gpus: int, events: list) -> None:
    """Count one terminated pod into its shard (once per uid)."""
    phase = (pod.get("status") or {}).get("phase")
    uid = (pod.get("metadata") or {}).get("uid") or (pod.get("metadata") or {}).get("name")
    if phase not in ("Succeeded", "Failed") or uid in shard["seen"]:
        return
    shard["seen"].append(uid)
    terminated = _terminated(pod)
    shard["gpu_seconds"] += _seconds(pod, terminated) * gpus
    report = _report(terminated)
    _progress(shard, report)
    if phase == "Succeeded":
        shard["requests_done"] = shard.get("requests", 0)  # committed: all of it
        shard["tokens_in"] = int(report.get("prompt_tokens") or 0)
        shard["tokens_out"] = int(report.get("completion_tokens") or 0)
        return
    disruption = _disruption(pod)
    if disruption is not None:
        shard["interruptions"] += 1
        cause = (
            f"{disruption.get('reason') or 'DisruptionTarget'}: {disruption.get('message') or ''}"
        )
        events.append(
            (
                BatchEventKind.INTERRUPTION,
                number,
                f"Shard {number} interrupted ({cause.strip().rstrip(':')}); retried without "
                "counting against its backoff limit.",
            )
        )
        return
    shard["failures"] += 1
    code = terminated.get("exitCode")
    error = report.get("error") or terminated.get("reason") or "failed"
    shard["message"] = f"exit code {code}: {error}"
    events.append(
        (BatchEventKind.SHARD, number, f"Shard {number} attempt failed ({shard['message']}).")
    )


def _job_outcome(job_obj: dict[str, Any] | None) -> tuple[str, str, datetime | None]:
    for cond in ((job_obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return BatchJobStatus.SUCCEEDED, "", _time(cond.get("lastTransitionTime"))
        if cond.get("type") == "Failed":
            return (
                BatchJobStatus.FAILED,
                f"{cond.get('reason')}: {cond.get('message') or ''}".strip(),
                _time(cond.get("lastTransitionTime")),
            )
    return BatchJobStatus.RUNNING, "", None


def _running_seconds(pod: dict[str, Any], now: datetime | None) -> int:
    start = _time((pod.get("status") or {}).get("startTime"))
    return max(int((now - start).total_seconds()), 0) if start and now else 0


def observe(
    job, job_obj: dict[str, Any] | None, pods: list[dict[str, Any]], now: datetime | None = None
) -> Observation:
    """Shard states, status and new timeline lines of `job`'s current run (`now`: for the GPU
    time of the pods still running)."""
    shards = [dict(s, seen=list(s.get("seen", []))) for s in job.shard_states]
    events: list[tuple[str, int | None, str]] = []
    run_shards = [int(s) for s in job.run_shards]
    running: set[int] = set()
    running_seconds = 0
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""):
        meta = pod.get("metadata") or {}
        index = (meta.get("annotations") or {}).get(INDEX_ANNOTATION) or (
            meta.get("labels") or {}
        ).get(INDEX_ANNOTATION)
        if index is None or not 0 <= int(index) < len(run_shards):
            continue
        number = run_shards[int(index)]
        _fold_pod(shards[number], number, pod, int(job.gpu_count), events)
        if (pod.get("status") or {}).get("phase") in ("Pending", "Running"):
            running.add(number)
            running_seconds += _running_seconds(pod, now) * int(job.gpu_count)
    status = (job_obj or {}).get("status") or {}
    done = {
        run_shards[i] for i in parse_indexes(status.get("completedIndexes")) if i < len(run_shards)
    }
    failed = {
        run_shards[i] for i in parse_indexes(status.get("failedIndexes")) if i < len(run_shards)
    }
    outcome, message, changed_at = _job_outcome(job_obj)
    for number in run_shards:
        shard = shards[number]
        if number in done:
            state = ShardState.DONE
        elif number in failed:
            state = ShardState.FAILED
        elif number in running and outcome == BatchJobStatus.RUNNING:
            state = ShardState.RUNNING
        elif outcome == BatchJobStatus.FAILED and shard["failures"]:
            state = ShardState.FAILED
        else:
            state = ShardState.PENDING
        if state != shard["state"] and state in (ShardState.DONE, ShardState.FAILED):
            text = f"Shard {number} {'committed its output' if state == ShardState.DONE else 'failed'}."
            events.append((BatchEventKind.SHARD, number, text))
        shard["state"] = state
        if state == ShardState.DONE:  # committed: all of it, whatever an earlier attempt said
            shard["requests_done"] = shard.get("requests", 0)
    if outcome == BatchJobStatus.FAILED:
        errors = [f"shard {n}: {shards[n]['message']}" for n in run_shards if shards[n]["message"]]
        message = message + (" (" + "; ".join(errors[:3]) + ")" if errors else "")
    return Observation(shards, outcome, message, events, running_seconds, changed_at)
