"""Presentation of endpoints: the status badge. No queries, no business rules."""

from django import template

from portal.templatetags.portal import badge

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
