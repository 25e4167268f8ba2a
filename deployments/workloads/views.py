"""What every product's HTML views share (STYLE §3b): the team-scoped lookup, the team a
request is made for, the redirect after an action, and the live status fragment.

A product's view is then only its form, its service call and its template."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from portal.access import can_view, can_write
from portal.htmx import HTMX_STOP_POLLING, hx_redirect, is_partial
from portal.models import Team

NO_TEAM = "You are not in a team yet; ask a team admin to add you."


def get_workload_or_404(queryset: QuerySet, user, uuid, noun: str) -> Model:
    """The row if the user's team owns it; 404 otherwise (never 403, see portal/access.py).

    Read by its unique UUID, then its team checked against the user's roles (role_for, which
    the page's rights checks read again without a query): the same rows as scope_to_user(), but
    with the membership subquery beside the joins PostgreSQL spent ~2.9 ms planning the endpoint
    page's lookup, and ~0.9 ms without it (bench/web_load.py seed)."""
    workload = queryset.select_related("team", "requested_by").filter(uuid=uuid).order_by().first()
    if workload is None or not can_view(user, workload.team):
        raise Http404(f"No such {noun}")
    return workload


def requesting_team(request, plural: str) -> Team | None:
    """The team a request form is for (the current team), or None with a message saying so;
    a viewer's POST is refused ("Viewers cannot request <plural>.")."""
    team = request.team
    if team is None:
        messages.error(request, NO_TEAM)
        return None
    if request.method == "POST" and not can_write(request.user, team):
        raise PermissionDenied(f"Viewers cannot request {plural}.")
    return team


def go_to(request, url: str) -> HttpResponse:
    """After an action: an HTMX redirect for a partial request, a plain one otherwise."""
    return hx_redirect(url) if is_partial(request) else redirect(url)


def status_fragment(request, workload, template: str, context: dict) -> HttpResponse:
    """The live status fragment; 286 tells htmx to stop polling once the status is final."""
    status = HTMX_STOP_POLLING if workload.is_final and is_partial(request) else 200
    return render(request, template, context, status=status)
