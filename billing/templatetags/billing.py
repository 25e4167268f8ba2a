"""Billing presentation filters: percent, cost per 1M tokens, token counts. No queries."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

from catalog.pricing import to_unit_price

register = template.Library()


@register.filter
def percent(value, places: int = 1) -> str:
    """A ratio (0.123) as "12.3 %"; "—" when unknown."""
    if value is None or value == "":
        return "—"
    quantum = Decimal(1).scaleb(-int(places))
    return f"{(Decimal(value) * 100).quantize(quantum, rounding=ROUND_HALF_UP)} %"


@register.filter
def per_million(value) -> str:
    """Cost per 1M tokens as a unit price, 4 decimals (catalog.pricing.to_unit_price, the rule
    the batch cost report uses too); "—" when there were no tokens."""
    if value is None:
        return "—"
    return str(to_unit_price(Decimal(value)))


@register.filter
def tokens(value) -> str:
    """1234567 -> "1.23 M" (tokens are counted in millions on cost pages)."""
    if value in (None, ""):
        return "—"
    value = int(value)
    if value >= 1_000_000_000:
        return f"{value / 1e9:.2f} B"
    if value >= 1_000_000:
        return f"{value / 1e6:.2f} M"
    if value >= 10_000:
        return f"{value / 1e3:.1f} k"
    return str(value)
