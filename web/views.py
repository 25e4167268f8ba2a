"""The overview: what a team runs, holds and spends, from the apps below."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Sum
from django.shortcuts import render
from django.views.decorators.http import require_GET

from deployments.choices import DesiredState, EndpointStatus
from deployments.k8s import cluster_configured
from deployments.models import Endpoint, EndpointEvent
from deployments.services import ACTIVE_STATUSES, pending_approvals_for
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
        active = live.filter(status__in=ACTIVE_STATUSES).exclude(desired_state=DesiredState.ABSENT)
        counts = dict(live.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        totals = active.aggregate(
            gpus=Sum(F("gpu_count") * F("max_replicas")),
            cost=Sum("monthly_cost_max"),
            cost_min=Sum("monthly_cost_min"),
        )
        context.update(
            status_counts=[(s, counts[s]) for s in EndpointStatus.values if counts.get(s)],
            endpoint_total=sum(counts.values()),
            gpus_committed=totals["gpus"] or 0,
            monthly_cost_max=totals["cost"],
            monthly_cost_min=totals["cost_min"],
            recent_endpoints=live.select_related("model", "gpu_type").order_by("-updated_at")[:5],
            recent_events=EndpointEvent.objects.filter(endpoint__team=team)
            .select_related("endpoint", "actor")
            .order_by("-created_at", "-id")[:8],
            role=role_for(request.user, team),
            # what the members table shows; staff rights are said apart, not as "Admin"
            member_role=member_role(request.user, team),
        )
    return render(request, "portal/home.html", context)
