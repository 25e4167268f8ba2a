"""Presentation of endpoints: the status badge, time in state, the stuck flag and the
suggested fix (computed by deployments.endpoints.page). No queries, no business rules."""

from django import template
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html

from deployments.endpoints import page as endpoint_page

register = template.Library()
status_badge = register.simple_tag(endpoint_page.status_badge, name="status_badge")


@register.filter
def time_in_state(endpoint) -> int:
    """Seconds the endpoint has been in its current status."""
    return endpoint_page.time_in_state(endpoint, timezone.now())


@register.filter
def stuck(endpoint):
    """The Stuck verdict (endpoint_page.stuck) or None."""
    return endpoint_page.stuck(endpoint, timezone.now())


@register.inclusion_tag("deployments/partials/endpoint_health.html")
def endpoint_health(endpoint):
    """Time in state, a stuck flag and a suggested fix for the overview."""
    now = timezone.now()
    return {
        "endpoint": endpoint,
        "in_state": endpoint_page.time_in_state(endpoint, now),
        "expected": endpoint_page.expected_seconds(endpoint),
        "stuck": endpoint_page.stuck(endpoint, now),
        "fix": endpoint_page.suggested_fix(endpoint),
    }


@register.simple_tag(takes_context=True)
def event_time(context, value):
    """The timeline's ``<time>``: what ``|date:'c'``, ``|date:'Y-m-d H:i:s'`` and
    ``|date:"M j, H:i:s"`` of `value` write (in the template's local time), formatted once
    in Python: the three ``date`` filters were ~a quarter of a 30-event timeline's render."""
    if value in (None, ""):
        shown = iso = full = ""
    else:
        local = timezone.template_localtime(value, context.use_tz)
        iso = local.isoformat()
        clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
        full = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {clock}"
        shown = f"{MONTHS_3[local.month].title()} {local.day}, {clock}"
    return format_html('<time datetime="{}" title="{} UTC">{}</time>', iso, full, shown)
