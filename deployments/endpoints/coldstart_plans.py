"""What a start costs for a model on a GPU, from the accepted past starts (`ColdStart` rows)
or the sizing estimate (`coldstart.plan`). Read by the request form's estimate, admission (the
pre-warm lead in the cost), the endpoint page and `coldstarts.record_starts`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployments.endpoints import coldstart, manifests
from deployments.endpoints.models import ColdStart
from deployments.workloads import sizing

HISTORY = 50  # the newest accepted starts that count


def _history(model, gpu_type, cached: bool | None = None):
    qs = ColdStart.objects.filter(model=model, gpu_type=gpu_type, accepted=True)
    if cached is not None:
        qs = qs.filter(cached=cached)
    return qs.order_by("-engine_ready_at", "-pk").values_list("seconds", "node_launched")


def plan_for(
    model, gpu_type, quantization: str, gpu_count: int, cached: bool = False
) -> coldstart.Plan:
    """The plan from the newest `HISTORY` accepted starts (only the cache's starts once the
    model is cached on the GPU's nodes: older downloads no longer say what a start costs)."""
    resources = sizing.pod_resources(float(model.parameters_b), str(quantization), int(gpu_count))
    rows = list(_history(model, gpu_type, cached=True if cached else None)[:HISTORY])
    if cached and not rows:
        rows = list(_history(model, gpu_type)[:HISTORY])
    return coldstart.plan([coldstart.Sample(s, n) for s, n in rows], resources)


def plan_for_endpoint(endpoint) -> coldstart.Plan:
    return plan_for(
        endpoint.model,
        endpoint.gpu_type,
        str(endpoint.quantization),
        int(endpoint.gpu_count),
        cached=manifests.is_cached(endpoint),
    )


def plan_for_spec(spec: Mapping[str, Any]) -> coldstart.Plan | None:
    """The plan of a request form's (partial) spec; None until a model and a GPU are picked."""
    model, gpu_type = spec.get("model"), spec.get("gpu_type")
    if model is None or gpu_type is None:
        return None
    quantization = str(spec.get("quantization") or "bf16")
    cached = model.caches.filter(gpu_type=gpu_type, quantization=quantization).exists()
    try:
        return plan_for(model, gpu_type, quantization, int(spec.get("gpu_count") or 1), cached)
    except (sizing.SizingInputError, TypeError, ValueError):
        return None  # a spec the form refuses: its estimate panel says why


def measured_from_zero(spec: Mapping[str, Any]) -> int | None:
    """The measured from-zero seconds a new endpoint of ``spec`` plans with (None: estimate)."""
    plan = plan_for_spec(spec)
    return plan.from_zero_seconds if plan is not None and plan.measured else None


def samples_by_pair(models) -> dict[tuple[int, int], list[coldstart.Sample]]:
    """The newest `HISTORY` accepted starts per (model id, GPU type id) of ``models``, in one
    query (the catalog page's cards)."""
    out: dict[tuple[int, int], list[coldstart.Sample]] = {}
    rows = (
        ColdStart.objects.filter(model__in=models, accepted=True)
        .order_by("-engine_ready_at", "-pk")
        .values_list("model_id", "gpu_type_id", "seconds", "node_launched")
    )
    for model_id, gpu_id, seconds, launched in rows.iterator():
        bucket = out.setdefault((model_id, gpu_id), [])
        if len(bucket) < HISTORY:
            bucket.append(coldstart.Sample(seconds, launched))
    return out
