"""Presentation of endpoints: the status badge, time in state, the stuck flag and the
suggested fix (computed by deployments.endpoints.page). No queries, no business rules."""

from django import template
from django.utils import timezone

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
