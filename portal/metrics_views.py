"""Metrics pages: one endpoint's Metrics tab, a team's overview, the platform fleet view."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404

from deployments.models import Endpoint

from . import access


@login_required
def endpoint_metrics(request, uuid):
    endpoint = get_object_or_404(access.scope_to_user(Endpoint.objects.all(), request.user), uuid=uuid)
    return HttpResponse(f"Metrics of {endpoint}")


@login_required
def team_metrics(request, slug):
    team = access.get_team_for_user(request.user, slug)
    return HttpResponse(f"Metrics of {team}")


@login_required
def fleet_metrics(request):
    if not request.user.is_staff:
        raise Http404("No such page")
    return HttpResponse("Fleet metrics")
