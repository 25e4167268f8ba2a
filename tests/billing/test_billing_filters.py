"""The billing page filters: a cost per 1M tokens shows the digits the batch cost report and
catalog.pricing.to_unit_price give (it rounded half-up on its own before)."""

from decimal import Decimal

from billing.templatetags.billing import per_million, percent
from catalog.pricing import per_million_tokens_cost


def test_cost_per_million_on_the_page_matches_the_batch_report_at_a_tie():
    cost, tokens = Decimal("0.00025"), 2_000_000  # 0.000125 per 1M: a tie at 4 places
    assert per_million(cost * 1_000_000 / tokens) == str(per_million_tokens_cost(cost, tokens))
    assert per_million(Decimal("0.000125")) == "0.0001"


def test_unknown_values_show_a_dash():
    assert per_million(None) == "—" and percent(None) == "—"


def test_percent_of_a_ratio():
    assert percent(Decimal("0.1234")) == "12.3 %"
