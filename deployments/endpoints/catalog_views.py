"""The model catalog page (deployments.model_catalog builds its cards)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog.choices import Quantization
from deployments.endpoints import model_catalog
from deployments.workloads.sizing import DEFAULT_CONCURRENCY


@login_required
@require_GET
def model_catalog_page(request):
    query = (request.GET.get("q") or "").strip()[:100]
    fits_on = (request.GET.get("fits_on") or "").strip()[:30]
    gated = request.GET.get("gated") or ""
    precision = request.GET.get("precision") or ""
    if precision not in dict(Quantization.choices):
        precision = ""
    cards, gpus = model_catalog.cards(query, fits_on=fits_on, gated=gated, precision=precision)
    context = {
        "cards": cards,
        "gpus": gpus,
        "filters": {"q": query, "fits_on": fits_on, "gated": gated, "precision": precision},
        "precisions": Quantization.choices,
        "concurrency": DEFAULT_CONCURRENCY,
        "card_context": model_catalog.CARD_CONTEXT,
    }
    template = (
        "deployments/partials/model_cards.html"
        if request.headers.get("HX-Request")
        else "deployments/model_catalog.html"
    )
    return render(request, template, context)
