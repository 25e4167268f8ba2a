"""The model catalog page for developers: one card per enabled model with what a team needs
before requesting it (size, context, license, gating, precisions) and, per GPU type, whether
it fits and what one replica costs a month. The figures come from the sizing engine
(deployments.workloads.sizing) and the price in force (catalog.pricing, deployments.endpoints.estimates): nothing
is computed twice, so the card, the request form and its estimate agree.

`prefill(query)` turns the card's "Request this model" link into the request form's initial
values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q

from catalog.choices import CapacityType, Quantization
from catalog.models import CatalogModel, GpuType
from catalog.pricing import cheapest_offering, this_month
from deployments.endpoints import coldstart
from deployments.endpoints.coldstart_plans import samples_by_pair
from deployments.endpoints.estimates import monthly_cost
from deployments.workloads.sizing import SizingInputError, pod_resources, size_for_spec

# The card's fit and price are for this context (or the model's own, if shorter), the sizing
# engine's default concurrency, one replica always on, on-demand: the request form's defaults
# apart from the context, which the form sets to the model's maximum.
CARD_CONTEXT = 8192
MAX_GPUS = 8  # the most GPUs a replica may use (tensor parallel 1, 2, 4 or 8)


@dataclass
class GpuFit:
    gpu_type: GpuType
    gpu_count: int | None  # smallest tensor-parallel size that fits; None: not even 8
    per_gpu_gib: float | None
    monthly: Any = None  # Decimal: one replica always on, on-demand; None: no offering
    cold_start: Any = None  # coldstart.Plan: a start from zero, measured p50/p95 or estimated

    @property
    def fits(self) -> bool:
        return self.gpu_count is not None


@dataclass
class ModelCard:
    model: CatalogModel
    precision: str
    context: int
    fits: list[GpuFit] = field(default_factory=list)

    @property
    def precisions(self) -> list[str]:
        labels = dict(Quantization.choices)
        return [labels.get(q, q) for q in self.model.allowed_quantizations or []]

    @property
    def cheapest(self) -> GpuFit | None:
        priced = [f for f in self.fits if f.fits and f.monthly is not None]
        return min(priced, key=lambda f: f.monthly) if priced else None

    @property
    def gating(self) -> str:
        if not self.model.gated:
            return "Open weights: nothing to set up before requesting it."
        return (
            "Gated on Hugging Face: someone in your team accepts the model's license on "
            "huggingface.co, and the platform team stores that account's token as the Secret "
            f"'{settings.KUBE_HF_TOKEN_SECRET}' (key HF_TOKEN) in your team's namespace. "
            "Without it the endpoint is approved but its pod cannot download the weights."
        )


def _fit(
    model: CatalogModel, gpu: GpuType, precision: str, context: int, starts: list | None = None
) -> GpuFit:
    for count in (1, 2, 4, 8):
        if count > MAX_GPUS or model.tensor_parallel_problem(count):
            continue
        spec = {
            "model": model,
            "gpu_type": gpu,
            "gpu_count": count,
            "quantization": precision,
            "max_context_length": context,
            "min_replicas": 1,
            "max_replicas": 1,
        }
        try:
            result = size_for_spec(spec)
        except SizingInputError:
            return GpuFit(gpu, None, None)
        if result.fits:
            price = cheapest_offering(gpu, CapacityType.ON_DEMAND, count)
            cost = monthly_cost(price, spec, this_month()).minimum if price else None
            resources = pod_resources(float(model.parameters_b), precision, count)
            plan = coldstart.plan(starts or [], resources)
            return GpuFit(gpu, count, result.per_gpu_gib, cost, plan)
    return GpuFit(gpu, None, None)


def cards(query: str = "", *, fits_on: str = "", gated: str = "", precision: str = ""):
    """Cards of the enabled models matching the filters, smallest model first."""
    models = CatalogModel.objects.filter(enabled=True).order_by("parameters_b", "name")
    if query:
        models = models.filter(
            Q(name__icontains=query) | Q(slug__icontains=query) | Q(license__icontains=query)
        )
    if gated in ("yes", "no"):
        models = models.filter(gated=gated == "yes")
    gpus = list(GpuType.objects.filter(enabled=True).order_by("memory_gib", "name"))
    starts = samples_by_pair(models)
    result = []
    for model in models:
        allowed = model.allowed_quantizations or ["bf16"]
        if precision and precision not in allowed:
            continue
        chosen = precision or allowed[0]
        context = min(CARD_CONTEXT, model.native_context_length)
        fits = [_fit(model, g, chosen, context, starts.get((model.pk, g.pk))) for g in gpus]
        card = ModelCard(model, chosen, context, fits)
        if fits_on and not any(f.fits and f.gpu_type.name == fits_on for f in card.fits):
            continue
        result.append(card)
    return result, gpus


def prefill(query) -> dict[str, Any]:
    """Initial values of the request form from a card's link (?model=<slug>&gpu_type=<name>
    &gpu_count=&quantization=&max_context_length=); unknown or bad values are left out."""
    initial: dict[str, Any] = {}
    model = CatalogModel.objects.filter(enabled=True, slug=query.get("model", "")).first()
    if model is None:
        return initial
    initial["model"] = model.pk
    if query.get("quantization") in (model.allowed_quantizations or []):
        initial["quantization"] = query["quantization"]
    gpu = GpuType.objects.filter(enabled=True, name=query.get("gpu_type", "")).first()
    if gpu is not None:
        initial["gpu_type"] = gpu.pk
    for name, top in (("gpu_count", MAX_GPUS), ("max_context_length", model.native_context_length)):
        value = query.get(name, "")
        if value.isdigit() and 1 <= int(value) <= top:
            initial[name] = int(value)
    return initial
