"""Formatting for the metrics pages: values with units, SLO badges, trend arrows."""

import math

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

SLO_BADGES = {
    "met": ("green", "●", "Met"),
    "at_risk": ("amber", "◷", "At risk"),
    "breached": ("red", "✕", "Breached"),
    "no_data": ("grey", "○", "No data"),
}
TREND_ARROWS = {"up": "↑", "down": "↓", "flat": "→"}
_TREND_WORDS = {"up": "rising", "down": "falling", "flat": "steady"}
# Fixed fragments (no user data), built once: the team table prints them for every row.
_SLO_BADGE_HTML = {
    state: mark_safe(
        f'<span class="badge badge-{colour}" data-slo="{state}">'
        f'<span aria-hidden="true">{icon}</span> {label}</span>'
    )
    for state, (colour, icon, label) in SLO_BADGES.items()
}
_TREND_HTML = {
    d: f'<span class="trend trend-{d}" title="{_TREND_WORDS[d]} against the start of the window">'
    f'<span aria-hidden="true">{arrow}</span>'
    for d, arrow in TREND_ARROWS.items()
}


def _missing(value) -> bool:
    """None, '' (a missing key in a template), NaN and infinities show as a dash."""
    if type(value) is float:
        return value != value or value in (math.inf, -math.inf)
    if value is None or value == "":
        return True
    try:
        value = float(value)
    except (TypeError, ValueError):
        return True
    return math.isnan(value) or math.isinf(value)


@register.filter
def metric(value, unit: str = "") -> str:
    """397.1 + "tokens/s" -> "397 tokens/s"; 0.4262 + "s" -> "426 ms"; 0.4 + "ratio" -> "40.0 %"."""
    if _missing(value):
        return "—"
    value = float(value)
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "count":
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    if unit in ("tokens/s", "req/s"):
        text = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
        return f"{text} {unit}"
    if unit == "gpu-h":
        return f"{value:.1f} GPU-h"
    return f"{value:.3g}"


@register.simple_tag
def slo_badge(state: str) -> str:
    return _SLO_BADGE_HTML.get(state, _SLO_BADGE_HTML["no_data"])


@register.simple_tag
def trend_arrow(direction: str, change=None) -> str:
    if direction not in TREND_ARROWS:
        direction = "flat"
    text = "" if _missing(change) else f" {float(change) * 100:+.0f} %"
    return mark_safe(_TREND_HTML[direction] + text + "</span>")


@register.filter
def sparkline_points(values, size: str = "120x28") -> str:
    """SVG polyline points for a small sparkline (no JavaScript needed)."""
    values = [v for v in values or [] if not _missing(v)]
    if len(values) < 2:
        return ""
    width, height = (float(x) for x in size.split("x"))
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )


def _badge_or_blank(state) -> str:
    return "" if state is None else slo_badge(state)


def _spark_svg(values) -> str:
    pts = sparkline_points(values)
    if not pts:
        return ""
    return (
        '<svg class="spark" viewBox="0 0 120 28" width="120" height="28" aria-hidden="true">'
        f'<polyline points="{pts}"/></svg>'
    )


@register.simple_tag
def overview_row(row: dict, fleet: bool = False, stale: bool = False) -> str:
    """One <tr> of the team/fleet table, built in Python: a 50-endpoint table rendered through a
    dozen template tags per row cost a third of the page's PromQL time (bench/metrics_page.py).
    Every text that is not our own number formatting goes through escape()."""
    m, ep = row["metrics"], row["endpoint"]
    name = escape(ep.name if ep else row["key"])
    if ep:
        label = escape(f"{ep.team.slug}/{ep.name}" if fleet else ep.name)
        head = f'<a href="{escape(row["url"])}">{label}</a>'
        badge = row["badge"]
    else:
        head = f'<code>{name}</code> <span class="tag">not in portal</span>'
        badge = "—"
    if m.get("idle"):
        head += ' <span class="tag tag-idle">idle</span>'
    stale_tag = ' <span class="stale-tag">stale</span>' if stale else ""
    idle_class = ' class="is-idle"' if m.get("idle") else ""
    trend = (
        f"{trend_arrow(m.get('trend'), m.get('change'))}{_spark_svg(m.get('spark'))}" if m else ""
    )
    return mark_safe(
        f'<tr data-endpoint="{name}"{idle_class}>'
        f'<th scope="row">{head}</th><td>{badge}</td>'
        f'<td data-col="tokens">{metric(m.get("tokens_per_s"), "tokens/s")}{stale_tag}</td>'
        f"<td>{trend}</td>"
        f'<td data-col="ttft">{metric(m.get("ttft_p95_s"), "s")} {_badge_or_blank(row["ttft_state"])}</td>'
        f'<td data-col="errors">{metric(m.get("error_rate"), "ratio")} {_badge_or_blank(row["error_state"])}</td>'
        f'<td data-col="kv">{metric(m.get("kv_cache_usage"), "ratio")}</td>'
        f'<td data-col="queue">{metric(m.get("queue_depth"), "count")}</td>'
        f'<td data-col="gpu">{metric(m.get("gpu_util"), "ratio")}</td>'
        f'<td data-col="gpu-hours">{metric(m.get("gpu_hours"), "gpu-h")}</td></tr>'
    )
