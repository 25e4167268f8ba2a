"""What the endpoint page shows besides the stored fields (pure: reads an endpoint, its pods).

* `time_in_state` / `stuck`: how long the endpoint has been in its status, and whether that
  is longer than it should take: an apply settles in seconds (`APPLY_EXPECTED_SECONDS`), a
  replica from nothing takes the cold start (the last measured one, else the estimate from
  the model size: `manifests.cold_start_seconds`). Past `STUCK_FACTOR` x that, the page flags
  the endpoint as stuck with the cluster's reason (conditions and pod events, already in
  `status_message`: see `reconcile.explain`) and what to do about it.
* `suggested_fix`: after a failure the sizing engine understands (vLLM out of GPU memory for
  its KV cache), the changes that make room, each with the sizing engine's new estimate.
* `pod_rows`: the predictor pods as the Pods tab lists them.
* `snippets`: curl and OpenAI-client code for the served model name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from deployments.endpoints import manifests
from deployments.endpoints.choices import (
    FINAL_STATUSES,
    STATUS_COLOURS,
    EndpointStatus,
    KvCacheDtype,
)
from deployments.workloads import badges, sizing

APPLY_EXPECTED_SECONDS = 300
STUCK_FACTOR = 1.5
# How the page says what to do, by what the cluster's reason contains (first match wins).
ADVICE = [
    (
        ("exceeded quota",),
        "The team's GPU quota is used up: stop or scale down another endpoint of the team, "
        "or ask the platform team to raise the quota.",
    ),
    (
        ("gated on hugging face",),
        "A team admin must create the Hugging Face token Secret named above; the pod starts "
        "on the next try.",
    ),
    (
        ("has reached its gpu limit", "has reached its limit"),
        "The platform's GPU ceiling for this node pool is reached: the replica starts when a "
        "GPU in the pool is freed. Ask the platform team to raise the pool's ceiling (GPU "
        "type in the catalog), or pick another GPU type or capacity type.",
    ),
    (
        ("karpenter is launching", "karpenter launched"),
        "A GPU node is being launched for this replica; it starts once the node is ready "
        "and the model is loaded.",
    ),
    (
        ("no gpu node pool allows",),
        "No node pool of the platform offers this instance and capacity type: ask the "
        "platform team to enable it in the catalog, or pick another GPU or capacity type.",
    ),
    (
        ("insufficient nvidia.com/gpu", "didn't match", "untolerated taint", "failedscheduling"),
        "No node with a free GPU of this type matches. The cluster autoscaler may still be "
        "adding one (a few minutes); if nothing changes, ask the platform team whether this "
        "GPU and capacity type are available, or pick another GPU type under "
        '"Change model or GPU".',
    ),
    (
        ("imagepullbackoff", "errimagepull"),
        "The node cannot pull the serving image: the platform team must check the registry.",
    ),
    (
        ("crashloopbackoff", "keeps crashing"),
        "vLLM keeps exiting: read the log tail on the Pods tab.",
    ),
    (
        ("failedcreate", "forbidden"),
        "The cluster refuses to create the pod: the platform team must read the events above.",
    ),
]
DEFAULT_ADVICE = (
    "Open the Pods tab: a pod that is Running but not ready is still loading the model, a "
    "Pending pod has no node yet, and no pod at all means the cluster refused it. If nothing "
    "moves, ask the platform team with the reason shown here."
)
# vLLM's words when the weights leave too little GPU memory for the KV cache.
KV_CACHE_OOM = (
    "no available memory for the cache blocks",
    "maximum number of tokens that can be stored in kv cache",
    "cuda out of memory",
    "outofmemoryerror",
    "insufficient memory for the kv cache",
)
MIN_SUGGESTED_CONTEXT = 2048


def time_in_state(endpoint, now: datetime) -> int:
    since = endpoint.status_changed_at or endpoint.created_at
    return max(0, int((now - since).total_seconds())) if since else 0


def expected_seconds(endpoint) -> int | None:
    """How long the current status normally lasts (None: it lasts until a person acts)."""
    if endpoint.status in (EndpointStatus.APPROVED, EndpointStatus.APPLYING):
        return APPLY_EXPECTED_SECONDS
    if endpoint.status == EndpointStatus.DELETING:
        return APPLY_EXPECTED_SECONDS
    if endpoint.status == EndpointStatus.PROVISIONING:
        try:
            return manifests.cold_start_seconds(endpoint)
        except (sizing.SizingInputError, KeyError, TypeError, ValueError):
            return None
    return None


@dataclass(frozen=True)
class Stuck:
    waited_seconds: int
    expected_seconds: int
    measured: bool  # the expectation is a measured cold start, not the estimate
    reason: str
    advice: str


def advice_for(reason: str) -> str:
    text = reason.lower()
    for needles, advice in ADVICE:
        if any(n in text for n in needles):
            return advice
    return DEFAULT_ADVICE


def stuck(endpoint, now: datetime) -> Stuck | None:
    expected = expected_seconds(endpoint)
    if expected is None:
        return None
    waited = time_in_state(endpoint, now)
    if waited <= expected * STUCK_FACTOR:
        return None
    reason = endpoint.status_message or "The cluster reports no reason yet."
    return Stuck(
        waited_seconds=waited,
        expected_seconds=expected,
        measured=bool(endpoint.cold_start_seconds)
        and endpoint.status == EndpointStatus.PROVISIONING,
        reason=reason,
        advice=advice_for(reason),
    )


# --- a suggested fix after a failure the sizing engine understands ----------------------------


@dataclass(frozen=True)
class FixOption:
    change: str  # what to change, in words
    fields: dict[str, Any]  # the edit-form values that make the change
    kv_cache_per_sequence_gib: float
    max_sequences: int  # full-length sequences that fit on the endpoint's GPUs
    per_gpu_gib: float
    usable_gib_per_gpu: float


@dataclass(frozen=True)
class Fix:
    problem: str
    current: FixOption
    options: list[FixOption]


def _spec(endpoint, **changes) -> dict[str, Any]:
    spec = {
        "model": endpoint.model,
        "gpu_type": endpoint.gpu_type,
        "gpu_count": endpoint.gpu_count,
        "quantization": endpoint.quantization,
        "kv_cache_dtype": endpoint.kv_cache_dtype,
        "max_context_length": endpoint.max_context_length,
    }
    spec.update(changes)
    return spec


def _option(endpoint, change: str, **fields) -> FixOption:
    r = sizing.size_for_spec(_spec(endpoint, **fields))
    return FixOption(
        change=change,
        fields=fields,
        kv_cache_per_sequence_gib=r.kv_cache_per_sequence_gib,
        max_sequences=r.max_sequences,
        per_gpu_gib=r.per_gpu_gib,
        usable_gib_per_gpu=r.usable_gib_per_gpu,
    )


def is_kv_cache_oom(message: str) -> bool:
    text = (message or "").lower()
    return any(n in text for n in KV_CACHE_OOM)


def suggested_fix(endpoint) -> Fix | None:
    """For a FAILED endpoint whose vLLM ran out of GPU memory for the KV cache: an FP8 KV
    cache, half the context, and both, each sized by the sizing engine."""
    if endpoint.status != EndpointStatus.FAILED or not is_kv_cache_oom(endpoint.status_message):
        return None
    try:
        current = _option(endpoint, "As requested")
        options = []
        if endpoint.kv_cache_dtype != KvCacheDtype.FP8:
            options.append(
                _option(endpoint, "Store the KV cache in FP8", kv_cache_dtype=KvCacheDtype.FP8)
            )
        shorter = endpoint.max_context_length // 2
        if shorter >= MIN_SUGGESTED_CONTEXT:
            options.append(
                _option(
                    endpoint,
                    f"Halve the context to {shorter} tokens",
                    max_context_length=shorter,
                )
            )
            if len(options) == 2:
                options.append(
                    _option(
                        endpoint,
                        f"Both: FP8 KV cache and {shorter} tokens",
                        kv_cache_dtype=KvCacheDtype.FP8,
                        max_context_length=shorter,
                    )
                )
    except (sizing.SizingInputError, KeyError, TypeError, ValueError):
        return None
    if not options:
        return None
    return Fix(
        problem="vLLM ran out of GPU memory for its KV cache at start-up.",
        current=current,
        options=options,
    )


# --- pods ---------------------------------------------------------------------------------------

PREDICTOR_CONTAINER = "kserve-container"


@dataclass(frozen=True)
class PodRow:
    name: str
    phase: str
    ready: bool
    waiting_reason: str
    restarts: int
    node: str
    last_termination: str  # "OOMKilled (exit 137)", "" when the container never ended
    started_at: str


def _container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for cs in statuses:
        if cs.get("name") == PREDICTOR_CONTAINER:
            return cs
    return statuses[0] if statuses else {}


def _termination(cs: dict[str, Any]) -> str:
    last = (cs.get("lastState") or {}).get("terminated") or {}
    if not last:
        return ""
    text = last.get("reason") or "Exited"
    if last.get("exitCode") is not None:
        text += f" (exit {last['exitCode']})"
    return text


def pod_rows(pods: list[dict[str, Any]]) -> list[PodRow]:
    rows = []
    for pod in pods:
        meta, spec, status = (
            pod.get("metadata") or {},
            pod.get("spec") or {},
            pod.get("status") or {},
        )
        cs = _container_status(pod)
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        phase = status.get("phase") or "Unknown"
        if meta.get("deletionTimestamp"):
            phase = "Terminating"
        rows.append(
            PodRow(
                name=meta.get("name", ""),
                phase=phase,
                ready=conditions.get("Ready") == "True",
                waiting_reason=((cs.get("state") or {}).get("waiting") or {}).get("reason", ""),
                restarts=int(cs.get("restartCount") or 0),
                node=spec.get("nodeName") or "",
                last_termination=_termination(cs),
                started_at=status.get("startTime") or "",
            )
        )
    return rows


def log_container(pod: dict[str, Any]) -> str | None:
    """The predictor container of a pod if it has started (else there is no log to ask for)."""
    cs = _container_status(pod)
    state = cs.get("state") or {}
    if cs.get("name") and (state.get("running") or state.get("terminated") or cs.get("lastState")):
        return cs["name"]
    return None


# --- how to call it ---------------------------------------------------------------------------


def openai_base_url(endpoint) -> str:
    """The OpenAI-compatible API root of an endpoint: vLLM's own server serves it under
    `/v1`, KServe's Hugging Face server under `/openai/v1`. A URL that already ends in `/v1`
    is the API root already (never `.../v1/openai/v1`)."""
    if not endpoint.url:
        return ""
    url = endpoint.url.rstrip("/")
    if url.endswith("/v1"):
        return url
    return url + ("/v1" if settings.VLLM_RUNTIME == "kserve-vllmserver" else "/openai/v1")


# How an endpoint is protected, said where its snippets are (an endpoint checks no API key:
# KServe's predictor answers whoever reaches its URL; the network decides who can).
PROTECTION = (
    "No API key: the endpoint checks none, so anyone who can reach this URL can call it "
    "(who can reach it is set by the platform team's network). The OpenAI client insists "
    "on a key, so the snippet passes a placeholder."
)


def snippets(endpoint) -> dict[str, str]:
    base = openai_base_url(endpoint) or "https://ENDPOINT-URL/openai/v1"
    model = endpoint.isvc_name
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}
    )
    curl = (
        "# No API key: the endpoint checks none (reachable only where the network allows).\n"
        f"curl {base}/chat/completions \\\n"
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )
    python = (
        "from openai import OpenAI\n\n"
        "# No API key: the endpoint checks none; the client needs a value, any will do.\n"
        f'client = OpenAI(base_url="{base}", api_key="no-key-needed")\n'
        "reply = client.chat.completions.create(\n"
        f'    model="{model}",\n'
        '    messages=[{"role": "user", "content": "Hello"}],\n'
        "    max_tokens=64,\n"
        ")\n"
        "print(reply.choices[0].message.content)\n"
    )
    return {
        "curl": curl,
        "python": python,
        "base_url": base,
        "model": model,
        "protection": PROTECTION,
    }


def status_badge(status: str) -> str:
    """<span class="badge badge-green">● Ready</span> from an EndpointStatus value."""
    return badges.status_badge(status, EndpointStatus, STATUS_COLOURS, FINAL_STATUSES)
