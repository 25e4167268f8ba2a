"""Portal pages: team switcher and team settings (members, SLOs, alerts)."""

import hmac

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_prometheus.exports import ExportToDjangoView

from . import services, tokens
from .access import can_admin, get_team_for_user
from .forms import ApiTokenForm, MemberInviteForm, MemberRoleForm, TeamSettingsForm
from .htmx import hx_redirect, is_partial
from .middleware import CurrentTeamMiddleware
from .models import ApiToken, AuditLog, Membership


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
    """The user's REST API tokens: create a named one (its key is shown in this response only,
    never stored in clear, in a cookie or a message), see when each was last used, revoke."""
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    new_key = None
    if form.is_valid():
        expires_at = tokens.expires_after(form.cleaned_data["expires_in_days"])
        try:
            _token, new_key = tokens.create_token(
                request.user, form.cleaned_data["name"], expires_at=expires_at
            )
        except tokens.TokenNameTaken as exc:
            form.add_error("name", str(exc))
        else:
            form = ApiTokenForm()
    context = {
        "form": form,
        "new_key": new_key,
        "api_root": request.build_absolute_uri("/api/v1/"),
        **_token_table_context(request.user),
    }
    response = render(request, "portal/api_token.html", context)
    patch_cache_control(response, no_store=True)  # the one response that holds a key
    return response


def _token_table_context(user) -> dict:
    return {"api_tokens": ApiToken.objects.filter(user=user), "now": timezone.now()}


@login_required
@require_POST
def api_token_revoke(request, uuid):
    token = get_object_or_404(ApiToken, uuid=uuid, user=request.user)
    tokens.revoke_token(token, request.user)
    if is_partial(request):
        return render(
            request, "portal/partials/api_token_table.html", _token_table_context(request.user)
        )
    messages.success(request, f"Revoked the token {token.name}.")
    return redirect("portal:api_token")


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
