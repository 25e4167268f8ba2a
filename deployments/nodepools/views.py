"""The platform team's GPU node pools page: each pool's nodes, GPUs in use and cost, as the
last apply observed them (deployments/nodepools/usage.py)."""

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_GET

from deployments.nodepools import usage
from portal.access import staff_required


@staff_required
@require_GET
def node_pools(request):
    snapshot = usage.recorded_usage()
    rows = (snapshot or {}).get("rows") or []
    totals = {
        "nodes": sum(len(r["nodes"]) for r in rows),
        "gpus": sum(r["gpus"] for r in rows),
        "gpus_in_use": sum(r["gpus_in_use"] for r in rows),
        "cost_per_hour": sum(r["cost_per_hour"] for r in rows),
    }
    context = {
        "rows": rows,
        "totals": totals,
        "observed_at": (snapshot or {}).get("at"),
        "enabled": settings.KARPENTER_NODEPOOLS,
    }
    return render(request, "deployments/node_pools.html", context)
