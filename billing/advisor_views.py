"""The savings advisor on the team cost page: its fragment (loaded by the page) and dismissing
a suggestion. Thin: parse input, call billing.services.advisor, render."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from deployments.models import Endpoint
from portal.access import can_write, get_team_for_user
from portal.htmx import is_partial

from .advisor_models import SuggestionKind
from .services import advisor

PARTIAL = "billing/partials/savings_advisor.html"


def _render(request, team, status: int = 200, **extra):
    context = {
        "team": team,
        "advice": advisor.team_advice(team, timezone.now()),
        "can_dismiss": can_write(request.user, team),
        **extra,
    }
    if is_partial(request):
        return render(request, PARTIAL, context, status=status)
    return render(request, "billing/savings_advisor.html", context, status=status)


def _uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Http404("No such endpoint") from exc


@login_required
@require_GET
def savings_advisor(request, slug):
    return _render(request, get_team_for_user(request.user, slug))


@login_required
@require_POST
def savings_dismiss(request, slug):
    team = get_team_for_user(request.user, slug)
    if not can_write(request.user, team):
        raise PermissionDenied("Viewers cannot dismiss suggestions.")
    kind = request.POST.get("kind", "")
    endpoint = None
    if request.POST.get("endpoint"):
        endpoint = get_object_or_404(
            Endpoint, team=team, uuid=_uuid_or_404(request.POST["endpoint"])
        )
    error = None
    if kind not in SuggestionKind.values:
        error = f"Unknown suggestion kind {kind!r}."
    else:
        try:
            advisor.dismiss_suggestion(team, request.user, kind, endpoint, timezone.now())
        except advisor.AdvisorError as exc:
            error = str(exc)
    if is_partial(request):
        return _render(request, team, error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Suggestion dismissed.")
    return redirect("billing:team_costs", slug=team.slug)
