"""Presentation of endpoints: the status badge, time in state, the stuck flag and the
suggested fix (computed by deployments.endpoint_page). No queries, no business rules."""

from django import template
from django.utils import timezone

from portal.templatetags.portal import badge

from .. import endpoint_page
from ..choices import FINAL_STATUSES, STATUS_COLOURS, EndpointStatus

register = template.Library()


@register.simple_tag
def status_badge(status: str) -> str:
    """<span class="badge badge-green">● Ready</span> from an EndpointStatus value."""
    try:
        label = EndpointStatus(status).label
    except ValueError:
        label = str(status or "Unknown")
    return badge(label, STATUS_COLOURS.get(status, "grey"), status, status not in FINAL_STATUSES)


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
