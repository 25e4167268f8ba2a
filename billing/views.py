"""Cost pages: a team's month, the platform's month (staff, with close/re-open), statements
and their CSV. Thin: parse input, call reports/services, render."""

import csv
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from deployments.endpoints import dashboards
from portal import timeutil
from portal.access import get_team_for_user, scope_to_user, staff_required
from portal.htmx import is_partial
from portal.middleware import CurrentTeamMiddleware

from . import reports, services
from .models import Statement
from .services.tiering import as_rows, tiering_page
from .services.usage import team_hour_so_far


def _month_or_error(value: str | None, now):
    """(first instant of the month ``value`` names, error message or None)."""
    try:
        return reports.parse_month(value, now), None
    except ValueError as exc:
        return timeutil.month_start(now), str(exc)


def _month_choices(now, count: int = 12) -> list:
    months, first = [], timeutil.month_start(now)
    for _ in range(count):
        months.append(first)
        first = timeutil.month_start(first - timedelta(days=1))
    return months


def _collection_setup(recorded_gpu_seconds: int) -> str:
    """The Prometheus setup state to show instead of $0.00: only while nothing is recorded
    for the month (collected figures stay visible when Prometheus goes away later)."""
    return "" if recorded_gpu_seconds else dashboards.prometheus_setup()


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
    CurrentTeamMiddleware.follow(request, team)
    now = timezone.now()
    month, error = _month_or_error(request.GET.get("month"), now)
    summary = reports.team_month(team, month, now)
    context = {
        "team": team,
        "summary": summary,
        "prometheus_setup": _collection_setup(summary.total.gpu_seconds),
        "error": error,
        "months": _month_choices(now),
        "chart": reports.bar_chart(summary.days),
        "statements": Statement.objects.filter(team=team).order_by("-month", "-version")[:24],
        "tiering": tiering_page(team, month, now),
        # Collection stores whole hours: the hour so far is measured live, shown as such.
        "hour_so_far": team_hour_so_far(team, now) if summary.is_current else None,
    }
    if is_partial(request):
        return render(request, "billing/partials/team_costs_body.html", context)
    return render(request, "billing/team_costs.html", context, status=400 if error else 200)


@staff_required
@require_GET
def platform_costs(request):
    now = timezone.now()
    month, error = _month_or_error(request.GET.get("month"), now)
    summary = reports.platform_month(month, now)
    recorded = summary.allocated.gpu_seconds + summary.report.idle.gpu_seconds
    context = {
        "summary": summary,
        "prometheus_setup": _collection_setup(recorded),
        "error": error,
        "months": _month_choices(now),
    }
    return render(request, "billing/platform_costs.html", context, status=400 if error else 200)


@staff_required
@require_POST
def month_close(request):
    month, error = _month_or_error(request.POST.get("month"), timezone.now())
    if error is None:
        try:
            chargeback, statements = services.close_month(month, actor=request.user)
            messages.success(
                request,
                f"Closed {month:%B %Y} (version {chargeback.version}, "
                f"{len(statements)} statements).",
            )
        except services.ChargebackError as exc:
            error = str(exc)
    if error:
        messages.error(request, error)
    return redirect(f"{reverse('billing:platform_costs')}?month={month:%Y-%m}")


@staff_required
@require_POST
def month_reopen(request):
    month, error = _month_or_error(request.POST.get("month"), timezone.now())
    if error is None:
        try:
            chargeback = services.reopen_month(month, actor=request.user)
            messages.success(
                request,
                f"Re-opened {month:%B %Y}; closing it again writes version {chargeback.version}.",
            )
        except services.ChargebackError as exc:
            error = str(exc)
    if error:
        messages.error(request, error)
    return redirect(f"{reverse('billing:platform_costs')}?month={month:%Y-%m}")


def _statement_for_user(user, uuid) -> Statement:
    queryset = scope_to_user(Statement.objects.select_related("team", "chargeback"), user)
    return get_object_or_404(queryset, uuid=uuid)


@login_required
@require_GET
def statement_detail(request, uuid):
    statement = _statement_for_user(request.user, uuid)
    versions = Statement.objects.filter(team=statement.team, month=statement.month).order_by(
        "-version"
    )
    return render(
        request,
        "billing/statement_detail.html",
        {
            "statement": statement,
            "versions": versions,
            "current": statement.version == statement.chargeback.version,
            "tiering": tiering_page(statement.team, statement.month, timezone.now()),
        },
    )


CSV_HEADER = [
    "endpoint",
    "gpu_type",
    "instance_type",
    "capacity_type",
    "gpu_hours",
    "unpriced_gpu_hours",
    "tokens",
    "cost",
    "workload",
    "route",
    "tier",
    "requests",
]


@login_required
@require_GET
def statement_csv(request, uuid):
    statement = _statement_for_user(request.user, uuid)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="modelport-{statement.team.slug}-{statement.month:%Y-%m}-v{statement.version}.csv"'
    )
    # One table shape: every row has every column. `row` says what it is: "line" (a usage
    # line of the statement), a statement figure (usage_cost, ..., completeness) whose
    # amount is in `value` with its `unit`, or a tiering row (_tiering_csv).
    writer = csv.writer(response)
    writer.writerow(["row", *CSV_HEADER, "value", "unit"])
    for line in statement.lines:
        writer.writerow(
            [
                "line",
                line["endpoint"],
                line["gpu_type"],
                line["instance_type"],
                line["capacity_type"],
                reports.hours_text(line["gpu_seconds"]),
                reports.hours_text(line["unpriced_gpu_seconds"]),
                line["tokens"],
                line["cost"],
                line.get("workload", "endpoint"),  # statements written before batch jobs
                "",
                "",
                "",
                "",
                "",
            ]
        )
    completeness = statement.completeness
    figures = [
        ("usage_cost", reports.money(statement.usage_cost), statement.currency),
        ("idle_share_cost", reports.money(statement.idle_share_cost), statement.currency),
        ("total_cost", reports.money(statement.total_cost), statement.currency),
        ("hours_collected", _blank(statement.hours_collected), "hours"),
        ("hours_in_month", _blank(statement.hours_in_month), "hours"),
        ("completeness", "" if completeness is None else f"{completeness:.4f}", "share"),
    ]
    blank = [""] * len(CSV_HEADER)
    for name, value, unit in figures:
        writer.writerow([name, *blank, value, unit])
    _tiering_csv(
        writer,
        tiering_page(statement.team, statement.month, timezone.now()),
        statement.currency,
    )
    return response


def _tiering_csv(writer, page, currency: str) -> None:
    """The month's tiering lines (measured from the vLLM counters when the CSV is made), in
    the statement's one table shape: `tier` rows per route tier and a `route_tiering` row per
    route (its blended cost per 1M tokens in `value`), then its `route_large_alone`,
    `route_saving` and `route_saving_percent` figures."""
    width = len(CSV_HEADER)
    if page.data is None:
        writer.writerow(["tiering_unavailable", *[""] * width, page.error or page.setup, ""])
        return
    per_million = f"{currency} per 1M tokens"
    for row in as_rows(page.data["lines"]):
        for tier in row["tiers"]:
            writer.writerow(
                _tiering_row("tier", row["route"], tier["role"], tier["endpoint"], tier)
                + [_blank(tier["per_million"]), per_million]
            )
        summary = _tiering_row("route_tiering", row["route"], "all", "", row)
        writer.writerow(summary + [_blank(row["blended_per_million"]), per_million])
        for name, value, unit in (
            ("route_large_alone", row["large_alone"], currency),
            ("route_saving", row["saving"], currency),
            ("route_saving_percent", row["saving_percent"], "percent"),
        ):
            writer.writerow(_tiering_row(name, row["route"], "", "", None) + [_blank(value), unit])
    if page.stale:
        writer.writerow(["tiering_stale", *[""] * width, page.error, ""])


def _tiering_row(kind: str, route: str, tier: str, endpoint: str, figures) -> list:
    """The CSV_HEADER columns of a tiering row (usage columns left empty)."""
    by_column = {"endpoint": endpoint, "route": route, "tier": tier}
    if figures is not None:
        by_column |= {
            "tokens": figures["tokens"],
            "cost": _blank(figures["cost"]),
            "requests": figures["requests"],
        }
    return [kind, *(by_column.get(column, "") for column in CSV_HEADER)]


def _blank(value) -> str:
    return "" if value is None else str(value)
