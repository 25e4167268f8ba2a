"""Presentation of batch jobs: the status badge and shard counts. No queries."""

from django import template

from portal.templatetags.portal import badge

from ..choices_batch import BATCH_FINAL_STATUSES, BATCH_STATUS_COLOURS, BatchJobStatus

register = template.Library()


@register.simple_tag
def batch_status_badge(status: str) -> str:
    try:
        label = BatchJobStatus(status).label
    except ValueError:
        label = str(status or "Unknown")
    return badge(
        label, BATCH_STATUS_COLOURS.get(status, "grey"), status, status not in BATCH_FINAL_STATUSES
    )


@register.filter
def percent(part, whole) -> int:
    return int(100 * (part or 0) / whole) if whole else 0
