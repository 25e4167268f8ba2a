"""Presentation of batch jobs: the status badge and shard counts. No queries."""

from django import template

from deployments.batch.choices import batch_status_badge as _badge

register = template.Library()
batch_status_badge = register.simple_tag(_badge, name="batch_status_badge")


@register.filter
def percent(part, whole) -> int:
    return int(100 * (part or 0) / whole) if whole else 0
