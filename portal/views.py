"""Portal pages: team switcher and team settings (members, SLOs, alerts)."""

import hmac

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_prometheus.exports import ExportToDjangoView
from rest_framework.authtoken.models import Token

from . import services
from .access import can_admin, get_team_for_user
from .audit import record_audit
from .forms import MemberInviteForm, MemberRoleForm, TeamSettingsForm
from .htmx import hx_redirect, is_partial
from .middleware import CurrentTeamMiddleware
from .models import AuditLog, Membership


@login_required
@require_POST
def team_switch(request):
    team = get_team_for_user(request.user, request.POST.get("team", ""))
    request.session[CurrentTeamMiddleware.SESSION_KEY] = team.slug
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = ""
    return redirect(target or "portal:home")


def _settings_context(request, team, **forms):
    is_admin = can_admin(request.user, team)
    context = {
        "team": team,
        "is_admin": is_admin,
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "gpu_quotas": team.gpu_quotas.select_related("gpu_type"),
        "approval_gpu_types": team.approval_gpu_types.all(),
        "settings_form": forms.get("settings_form") or TeamSettingsForm(instance=team),
        "invite_form": forms.get("invite_form") or MemberInviteForm(),
        "role_choices": Membership.Role.choices,
        "audit_entries": AuditLog.objects.filter(team=team).select_related("actor")[:10],
    }
    return context


@login_required
@require_http_methods(["GET", "POST"])
def team_settings(request, slug):
    team = get_team_for_user(request.user, slug)
    form = None
    if request.method == "POST":
        if not can_admin(request.user, team):
            raise PermissionDenied("Only team admins can change team settings.")
        form = TeamSettingsForm(request.POST, instance=get_team_for_user(request.user, slug))
        if form.is_valid():
            services.update_team_settings(team, request.user, form.cleaned_data)
            messages.success(request, "Team settings saved.")
            url = reverse("portal:team_settings", args=[team.slug])
            return hx_redirect(url) if is_partial(request) else redirect(url)
    template = (
        "portal/partials/team_settings_form.html"
        if is_partial(request) and form
        else "portal/team_settings.html"
    )
    return render(request, template, _settings_context(request, team, settings_form=form))


def _admin_team(request, slug):
    team = get_team_for_user(request.user, slug)
    if not can_admin(request.user, team):
        raise PermissionDenied("Only team admins can manage members.")
    return team


@login_required
@require_POST
def team_member_add(request, slug):
    team = _admin_team(request, slug)
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        try:
            membership = services.invite_member(team, request.user, form.cleaned_data)
        except services.TeamError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"Added {membership.user.username} as {membership.role}.")
            return redirect("portal:team_settings", slug=team.slug)
    return render(
        request, "portal/team_settings.html", _settings_context(request, team, invite_form=form)
    )


@login_required
@require_POST
def team_member_role(request, slug, user_uuid):
    team = _admin_team(request, slug)
    membership = get_object_or_404(Membership, team=team, user__uuid=user_uuid)
    form = MemberRoleForm(request.POST)
    try:
        if not form.is_valid():
            raise services.TeamError("Pick a valid role.")
        services.change_role(membership, request.user, form.cleaned_data["role"])
    except services.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.username} is now {form.cleaned_data['role']}.")
    return redirect("portal:team_settings", slug=team.slug)


@login_required
@require_POST
def team_member_remove(request, slug, user_uuid):
    team = _admin_team(request, slug)
    membership = get_object_or_404(Membership, team=team, user__uuid=user_uuid)
    try:
        services.remove_member(membership, request.user)
    except services.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Removed {membership.user.username} from {team.name}.")
    return redirect("portal:team_settings", slug=team.slug)


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request):
    """The user's REST API token: rotate it and show the new key once (never stored in a
    cookie or message). Scripts send it as `Authorization: Token <key>`."""
    token = Token.objects.filter(user=request.user).first()
    new_key = None
    if request.method == "POST":
        with transaction.atomic():
            had_token = Token.objects.filter(user=request.user).delete()[0] > 0
            token = Token.objects.create(user=request.user)
            record_audit(
                actor=request.user,
                action="token.rotate" if had_token else "token.create",
                instance=request.user,
                source=AuditLog.Source.WEB,
            )
        new_key = token.key
    context = {
        "token": token,
        "new_key": new_key,
        "api_root": request.build_absolute_uri("/api/v1/"),
    }
    return render(request, "portal/api_token.html", context)


def metrics_export(request):
    """The portal's own /metrics for Prometheus: ``Authorization: Bearer METRICS_BEARER_TOKEN``.
    Without a token configured it is refused, so it is never open by accident."""
    expected = settings.METRICS_BEARER_TOKEN
    if not expected:
        return HttpResponseForbidden(
            "/metrics is off: set METRICS_BEARER_TOKEN (or METRICS_BEARER_TOKEN_FILE) and "
            "scrape with that bearer token.",
            content_type="text/plain",
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        response = HttpResponse("Bearer token required.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = "Bearer"
        return response
    return ExportToDjangoView(request)
