"""Route pages: list, request (HTMX form), the route page (URL, client snippet, tiers, live
status, the measured saving), approve / reject, delete. Thin: parse input, call a service,
render. Outsiders get 404 (never 403), viewers cannot change anything."""

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deployments.endpoints import dashboards, metrics, promql
from deployments.endpoints.forms import EndpointRejectForm
from deployments.endpoints.forms import add_service_error as _form_error
from deployments.routing import complexity, manifests, services
from deployments.routing.forms import RouteForm
from deployments.routing.models import Route, TierRole
from deployments.routing.saving import route_saving
from deployments.workloads import views as shared
from deployments.workloads.errors import DeploymentError
from portal.access import can_admin, can_write, scope_to_user
from portal.htmx import is_partial

SAVING_WINDOW = "24h"


def _routes_for(user):
    return scope_to_user(Route.objects.all(), user).select_related("team", "requested_by")


def _get_route(request, uuid) -> Route:
    route = (
        _routes_for(request.user)
        .prefetch_related(
            "tiers__endpoint__team",
            "tiers__endpoint__model",
            "tiers__endpoint__gpu_type",
            "tiers__endpoint__offering",
        )
        .filter(uuid=uuid)
        .first()
    )
    if route is None:
        raise Http404("No such route")
    return route


def _back(request, route: Route, target: str = "detail"):
    url = (
        reverse("deployments:route_detail", args=[route.uuid])
        if target == "detail"
        else reverse("deployments:approval_list")
    )
    return shared.go_to(request, url)


@login_required
@require_GET
def route_list(request):
    team = request.team
    routes = (
        _routes_for(request.user)
        .filter(team=team)
        .exclude(status="deleted")
        .prefetch_related("tiers__endpoint")
        .order_by("name")
    )
    context = {
        "routes": routes,
        "team": team,
        "can_request": team is not None and can_write(request.user, team),
    }
    return render(request, "deployments/route_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def route_create(request):
    team = shared.requesting_team(request, "routes")
    if team is None:
        return redirect("portal:home")
    form = RouteForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        try:
            route = services.request_route(team, request.user, form.service_data())
        except (DeploymentError, ValidationError) as exc:
            _form_error(form, exc)
        else:
            waits = route.status == "pending_approval"
            verb = "is waiting for approval" if waits else "was approved and is being applied"
            messages.success(request, f"Route {route.name} {verb}.")
            return _back(request, route)
    context = {"form": form, "team": team, "can_write": can_write(request.user, team)}
    if is_partial(request):
        return render(request, "deployments/partials/route_form.html", context)
    return render(request, "deployments/route_create.html", context)


def _saving(route: Route, window_key: str):
    window = promql.get_window(window_key)

    def compute(client):
        start, end = metrics.range_bounds(window, datetime.now(UTC))
        start_dt, end_dt = (datetime.fromtimestamp(t, UTC) for t in (start, end))
        return {"saving": route_saving(route, client, start_dt, end_dt)}

    return window, dashboards.with_last_good(f"route:{route.uuid}:{window.key}", compute)


@login_required
@require_GET
def route_detail(request, uuid):
    route = _get_route(request, uuid)
    window, page = _saving(route, request.GET.get("window") or SAVING_WINDOW)
    context = {
        "route": route,
        "tiers": sorted(route.tiers.all(), key=lambda t: TierRole.values.index(t.role)),
        "snippet": manifests.client_snippet(route),
        "protection": manifests.ROUTE_PROTECTION,
        "window": window,
        "windows": promql.WINDOWS.values(),
        "page": page,
        "saving": page.data["saving"] if page.data else None,
        "can_write": can_write(request.user, route.team),
        "can_approve": can_admin(request.user, route.team),
        "reject_form": EndpointRejectForm(),
    }
    if route.policy == "complexity":
        prompts = complexity.sample_prompts(request.GET.get("prompts"))
        context.update(
            preview=complexity.preview(route, prompts),
            preview_text="\n".join(prompts),
            medium_role=complexity.medium_role(route),
            context_tokens=complexity.context_tokens(route),
        )
    return render(request, "deployments/route_detail.html", context)


@login_required
@require_POST
def route_preview(request):
    """The request form's preview (before saving): the rows the keyword and context-length
    rules decide for the sample prompts, with the keywords and threshold being typed."""
    try:
        keywords = complexity.clean_phrases(request.POST.get("hard_keywords", ""), "keywords")
        threshold = int(request.POST.get("prompt_length_threshold") or 4000)
    except (complexity.ExamplesError, ValueError) as exc:
        error = str(exc) if isinstance(exc, complexity.ExamplesError) else "Give a number."
        return render(request, "deployments/partials/route_preview.html", {"error": error})
    draft = Route(
        hard_keywords=keywords,
        prompt_length_threshold=max(100, min(threshold, 1_000_000)),
        medium_to_small=False,
    )
    prompts = complexity.sample_prompts(request.POST.get("prompts"))
    context = {
        "preview": complexity.preview(draft, prompts),
        "context_tokens": complexity.context_tokens(draft),
    }
    return render(request, "deployments/partials/route_preview.html", context)


@login_required
@require_GET
def route_status(request, uuid):
    """The live status fragment; 286 tells htmx to stop polling once the status is final."""
    route = _get_route(request, uuid)
    return shared.status_fragment(
        request, route, "deployments/partials/route_status.html", {"route": route}
    )


def _decide(request, uuid, action, done: str, *args):
    route = _get_route(request, uuid)
    if not can_admin(request.user, route.team):
        raise PermissionDenied("Only team admins and platform staff can decide on routes.")
    try:
        action(route, request.user, *args)
    except DeploymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(route=route))
    return _back(request, route, request.POST.get("next") or "approvals")


@login_required
@require_POST
def route_approve(request, uuid):
    return _decide(request, uuid, services.approve_route, "Approved {route}; it is being applied.")


@login_required
@require_POST
def route_reject(request, uuid):
    form = EndpointRejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason so the requester knows what to change.")
        return _back(request, _get_route(request, uuid), request.POST.get("next") or "approvals")
    reason = form.cleaned_data["reason"]
    return _decide(request, uuid, services.reject_route, "Rejected {route}.", reason)


@login_required
@require_POST
def route_delete(request, uuid):
    route = _get_route(request, uuid)
    if not can_write(request.user, route.team):
        raise PermissionDenied("Viewers cannot change this team's routes.")
    try:
        services.delete_route(route, request.user)
    except DeploymentError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Route {route.name} is being removed; its endpoints stay.")
    return _back(request, route)
