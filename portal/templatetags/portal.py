"""Presentation helpers: badges, money and GPU-hours. No queries, no business rules."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()

# A glyph next to the colour so status never depends on colour alone.
_STATUS_ICONS = {
    "green": "●",
    "blue": "◔",
    "amber": "◷",
    "red": "✕",
    "grey": "○",
}


def badge(label: str, colour: str, value: str, busy: bool = False) -> str:
    """<span class="badge badge-green" data-status="ready">● Ready</span>: a coloured badge
    with a glyph, so a state never depends on colour alone."""
    return format_html(
        '<span class="badge badge-{}{}" data-status="{}"><span aria-hidden="true">{}</span> {}</span>',
        colour,
        " badge-busy" if busy else "",
        value,
        _STATUS_ICONS.get(colour, "○"),
        label,
    )


@register.filter
def money(value, currency: str | None = None) -> str:
    """1234.5 -> "$1,234.50" (USD) or "1,234.50 EUR"; empty for None."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    currency = currency or settings.BILLING_CURRENCY
    text = f"{amount:,.2f}"
    if amount < 0:
        text = text[1:]
        sign = "-"
    else:
        sign = ""
    if currency == "USD":
        return f"{sign}${text}"
    return f"{sign}{text} {currency}"


@register.filter
def gpu_hours(seconds) -> str:
    """Integer GPU-seconds -> "12.5 GPU-h"."""
    if seconds in (None, ""):
        return "—"
    try:
        hours = Decimal(int(seconds)) / Decimal(3600)
    except (TypeError, ValueError):
        return str(seconds)
    return f"{hours.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):,} GPU-h"


@register.filter
def duration(seconds) -> str:
    """Seconds -> "3m 12s" / "2h 5m" / "4d 1h"."""
    if seconds in (None, ""):
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec}s" if sec else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


@register.filter
def ago(value) -> str:
    """A past time as "just now" (under a minute) or "5 minutes ago", never "0 minutes ago"."""
    if not value:
        return ""
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value)} ago"


_TOKEN_COLOURS = {"active": "green", "expired": "amber", "revoked": "grey"}


@register.filter
def token_badge(token, now) -> str:
    """An API token's state (active, expired, revoked) at `now` as a badge."""
    state = token.state(now)
    return badge(state.capitalize(), _TOKEN_COLOURS[state], state)


@register.filter
def thousands(value) -> str:
    """131072 -> "131,072" (an integer with thousands separators; other values as they are)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
