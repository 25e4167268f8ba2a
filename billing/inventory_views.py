"""The platform team's GPU inventory page (billing.inventory)."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.access import staff_required
from portal.prometheus import PrometheusError, get_client

from . import inventory


@staff_required
@require_GET
def gpu_inventory(request):
    rows, error = [], ""
    try:
        rows = inventory.gpu_inventory(get_client(), settings.GPU_INVENTORY_SELECTOR)
    except PrometheusError as exc:
        error = str(exc)
    totals = {
        "gpus": sum(r.gpus for r in rows),
        "allocated": sum(r.allocated for r in rows),
        "pending": sum(r.pending for r in rows),
        "idle": sum(r.idle for r in rows),
        "cost_per_hour": sum(r.cost_per_hour or 0 for r in rows),
        "idle_cost_per_hour": sum(r.idle_cost_per_hour or 0 for r in rows),
    }
    context = {"rows": rows, "totals": totals, "error": error}
    return render(request, "billing/gpu_inventory.html", context)
