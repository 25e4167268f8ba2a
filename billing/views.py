"""Cost pages: a team's month, the platform view (staff), statements and their CSV."""

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from portal.access import get_team_for_user, scope_to_user

from .models import Statement


@login_required
@require_GET
def costs_home(request):
    if request.team is None:
        raise Http404("You are not in a team yet.")
    return redirect("billing:team_costs", slug=request.team.slug)


@login_required
@require_GET
def team_costs(request, slug):
    team = get_team_for_user(request.user, slug)
    return render(request, "billing/team_costs.html", {"team": team})


@staff_member_required
@require_GET
def platform_costs(request):
    return render(request, "billing/platform_costs.html", {})


def _statement_for_user(user, uuid) -> Statement:
    return get_object_or_404(
        scope_to_user(Statement.objects.select_related("team"), user), uuid=uuid
    )


@login_required
@require_GET
def statement_detail(request, uuid):
    statement = _statement_for_user(request.user, uuid)
    return render(request, "billing/statement_detail.html", {"statement": statement})


@login_required
@require_GET
def statement_csv(request, uuid):
    statement = _statement_for_user(request.user, uuid)
    return HttpResponse(str(statement), content_type="text/csv")
