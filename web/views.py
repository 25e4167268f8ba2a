"""The overview: what a team runs, holds and spends, from the apps below."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render
from django.views.decorators.http import require_GET

from deployments.endpoints.admission import pending_approvals_for
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.commitment import committed
from deployments.endpoints.pods import cluster_configured
from deployments.models import Endpoint, EndpointEvent
from portal.access import member_role, role_for


@login_required
@require_GET
def home(request):
    team = request.team
    context = {
        "team": team,
        "pending_approvals": pending_approvals_for(request.user, approvable=True).count(),
        "cluster_connected": cluster_configured(),
    }
    if team is not None:
        live = Endpoint.objects.filter(team=team).exclude(status=EndpointStatus.DELETED)
        counts = dict(live.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        commitment = committed(team)
        context.update(
            status_counts=[(s, counts[s]) for s in EndpointStatus.values if counts.get(s)],
            endpoint_total=sum(counts.values()),
            gpus_committed=commitment.gpus,
            monthly_cost_max=commitment.cost_max,
            monthly_cost_min=commitment.cost_min,
            recent_endpoints=live.select_related("model", "gpu_type").order_by("-updated_at")[:5],
            recent_events=EndpointEvent.objects.filter(endpoint__team=team)
            .select_related("endpoint", "actor")
            .order_by("-created_at", "-id")[:8],
            role=role_for(request.user, team),
            # what the members table shows; staff rights are said apart, not as "Admin"
            member_role=member_role(request.user, team),
        )
    return render(request, "portal/home.html", context)
