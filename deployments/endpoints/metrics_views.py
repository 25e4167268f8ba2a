"""Metrics pages: one endpoint's Metrics tab, a team's overview, the platform fleet view.

Each page is a full page that includes one fragment; htmx polls the same URL and gets only the
fragment (STYLE §7). Prometheus trouble never becomes a 500: the fragment shows a banner and
the last known values marked stale (deployments.endpoints.dashboards.with_last_good).
"""

import uuid as uuid_module
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from deployments.endpoints import dashboards, metrics, promql, unit_cost
from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.endpoints.page import status_badge
from portal import access
from portal.htmx import is_partial
from portal.middleware import CurrentTeamMiddleware

HIDDEN_STATUSES = (EndpointStatus.DELETED, EndpointStatus.REJECTED, EndpointStatus.PENDING_APPROVAL)
ROW_FIELDS = ("uuid", "name", "status", "team")  # what the overview table shows
POLL_SECONDS = {"1h": 15, "6h": 30, "24h": 60, "7d": 300}


def _window(request):
    """The requested window and a message when the value was not one we offer."""
    key = request.GET.get("window") or promql.DEFAULT_WINDOW
    if key in promql.WINDOWS:
        return promql.WINDOWS[key], ""
    return promql.WINDOWS[promql.DEFAULT_WINDOW], (
        f"Unknown window “{key[:20]}”; showing {promql.WINDOWS[promql.DEFAULT_WINDOW].label}. "
        f"Choose one of {', '.join(promql.WINDOWS)}."
    )


def _render(request, full: str, partial: str, context: dict):
    context.update(
        windows=promql.WINDOWS.values(), poll_seconds=POLL_SECONDS[context["window"].key]
    )
    return render(request, partial if is_partial(request) else full, context)


@require_GET
@login_required
def endpoint_metrics(request, uuid):
    qs = access.scope_to_user(
        Endpoint.objects.select_related("team", "model", "gpu_type", "offering"), request.user
    )
    endpoint = get_object_or_404(qs, uuid=uuid)
    CurrentTeamMiddleware.follow(request, endpoint.team)
    window, notice = _window(request)
    team = endpoint.team
    slo = (float(team.slo_ttft_p95_seconds), float(team.slo_error_rate))
    page = dashboards.with_last_good(
        f"endpoint:{endpoint.uuid}:{window.key}",
        dashboards.endpoint_page(
            (endpoint.namespace, endpoint.isvc_name), window, datetime.now(UTC), slo
        ),
    )
    context = {"endpoint": endpoint, "window": window, "notice": notice, "page": page}
    if page.data:
        seconds = page.data["end"] - page.data["start"]
        context["unit_cost"] = unit_cost.endpoint_unit_cost(
            endpoint, page.data["summary"], seconds, datetime.fromtimestamp(page.data["end"], UTC)
        )
    return _render(
        request, "portal/metrics_endpoint.html", "portal/partials/metrics_endpoint.html", context
    )


@require_GET
@login_required
def team_metrics(request, slug):
    team = access.get_team_for_user(request.user, slug)
    window, notice = _window(request)
    # The reverse manager hands each endpoint this team object: no join, no extra queries.
    endpoints = list(team.endpoints.exclude(status__in=HIDDEN_STATUSES).only(*ROW_FIELDS))
    page = _overview(f"team:{team.pk}", endpoints, window, all_endpoints=False)
    rows = _rows(endpoints, page, team_slo={team.pk: team})
    context = {
        "team": team,
        "window": window,
        "notice": notice,
        "page": page,
        "rows": rows,
        "idle": [r for r in rows if r["metrics"].get("idle")],
    }
    return _render(
        request, "portal/metrics_team.html", "portal/partials/metrics_overview.html", context
    )


@require_GET
@login_required
def fleet_metrics(request):
    if not request.user.is_staff:
        raise Http404("No such page")
    window, notice = _window(request)
    endpoints = list(
        Endpoint.objects.exclude(status__in=HIDDEN_STATUSES)
        .select_related("team")
        .only(
            *ROW_FIELDS,
            "team__slug",
            "team__name",
            "team__slo_ttft_p95_seconds",
            "team__slo_error_rate",
        )
    )
    page = _overview("fleet", endpoints, window, all_endpoints=True)
    rows = _rows(endpoints, page, team_slo={e.team_id: e.team for e in endpoints}, unmanaged=True)
    context = {
        "fleet": True,
        "window": window,
        "notice": notice,
        "page": page,
        "rows": rows,
        "idle": [r for r in rows if r["metrics"].get("idle")],
    }
    return _render(
        request, "portal/metrics_fleet.html", "portal/partials/metrics_overview.html", context
    )


def _overview(scope: str, endpoints, window, all_endpoints: bool) -> dashboards.PageData:
    keys = None if all_endpoints else [(e.namespace, e.isvc_name) for e in endpoints]
    if keys == []:
        return dashboards.PageData({"rows": {}}, setup=dashboards.prometheus_setup())
    return dashboards.with_last_good(
        f"{scope}:{window.key}", dashboards.overview_page(keys, window, datetime.now(UTC))
    )


def _rows(endpoints, page, team_slo, unmanaged: bool = False) -> list[dict]:
    """Endpoints with their overview figures and SLO states (and, for the fleet, series that
    no endpoint in the database claims)."""
    found = dict((page.data or {}).get("rows", {}))
    # One reverse() for the whole table: it costs more than the rest of a row's rendering.
    placeholder = uuid_module.UUID(int=0)
    url_pattern = reverse("deployments:endpoint_metrics", args=[placeholder])
    rows = []
    for e in endpoints:
        m = found.pop(f"{e.namespace}/{e.isvc_name}", {})
        team = team_slo[e.team_id]
        rows.append(
            {
                "endpoint": e,
                "badge": status_badge(e.status),
                "metrics": m,
                "url": url_pattern.replace(str(placeholder), str(e.uuid)),
                "ttft_state": metrics.evaluate_slo(
                    m.get("ttft_p95_s"), float(team.slo_ttft_p95_seconds)
                ),
                "error_state": metrics.evaluate_slo(
                    m.get("error_rate"), float(team.slo_error_rate)
                ),
            }
        )
    if unmanaged:
        rows += [
            {"endpoint": None, "key": k, "metrics": m, "ttft_state": None, "error_state": None}
            for k, m in sorted(found.items())
        ]  # no team, so no targets to judge against
    return rows
