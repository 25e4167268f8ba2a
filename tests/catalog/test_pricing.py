"""The money rules of catalog.pricing, the one place code rounds or prices money: cents and
micro-units with banker's rounding, unit prices to 4 places, GPU time and API tokens priced
exactly."""

from decimal import Decimal

import pytest

from catalog import pricing


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("1.005", "1.00"), ("1.015", "1.02"), ("1.0151", "1.02"), ("-0.125", "-0.12")],
)
def test_cents_round_half_to_even(amount, cents):
    assert pricing.to_cents(Decimal(amount)) == Decimal(cents)


@pytest.mark.parametrize(
    ("amount", "micros"),
    [("0.6172825", "0.617282"), ("0.6172835", "0.617284"), ("2", "2.000000")],
)
def test_micros_round_half_to_even_like_cents(amount, micros):
    assert str(pricing.to_micros(Decimal(amount))) == micros


def test_a_unit_price_has_four_places():
    assert str(pricing.to_unit_price(Decimal("3.5") / 3)) == "1.1667"


def test_gpu_seconds_cost_is_one_exact_division():
    # an 8-GPU node at 98.32/h: one GPU for an hour is 12.29
    assert pricing.gpu_seconds_cost(Decimal("98.32"), 8, 3600) == Decimal("12.29")
    assert pricing.gpu_seconds_cost(Decimal("1"), 3, 1) * 3 * 3600 == pytest.approx(Decimal(1))


def test_api_tokens_cost_prices_prompt_and_generated_tokens_apart():
    cost = pricing.api_tokens_cost(2_000_000, 500_000, Decimal("0.15"), Decimal("0.60"))
    assert cost == Decimal("0.60")  # 2 x 0.15 + 0.5 x 0.60


def test_per_million_tokens_cost_is_a_unit_price():
    assert pricing.per_million_tokens_cost(Decimal("1.00"), 3_000_000) == Decimal("0.3333")
