"""The savings advisor's arithmetic: each kind of suggestion against an answer worked out here
by hand (hours counted on the calendar, prices multiplied out), never from the clock."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import ReferencePrice, SavingsDismissal
from billing.services import advisor
from billing.services.advisor import dismissals, rules
from tests.factories import (
    CatalogModelFactory,
    EndpointFactory,
    GpuRateFactory,
    TeamFactory,
    UserFactory,
)

from .advisor_helpers import END, NOW, START, add_rows, existed_since, frozen_now, price_catalog

pytestmark = [pytest.mark.dates, pytest.mark.django_db]

MONTH = Decimal(720)  # November 2026, the frozen month
WINDOW = Decimal(14 * 24)  # 336 hours


def _cents(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _office(hour) -> bool:  # weekdays 08:00-19:00 UTC
    return hour.weekday() < 5 and 8 <= hour.hour < 19


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    frozen_now(time_machine)  # the price in force and the factories' times too


@pytest.fixture
def catalog():
    return price_catalog()


def _endpoint(catalog, offering="g6.xlarge", **fields):
    offering = catalog[offering]
    defaults = {
        "gpu_type": offering.gpu_type,
        "offering": offering,
        "model": CatalogModelFactory(),  # Llama 3.1 8B shape, bf16 and fp8 allowed
        "cold_start_seconds": 900,  # 15-minute pre-warm
        "min_replicas": 1,
    }
    defaults.update(fields)
    ep = EndpointFactory(**defaults)
    return existed_since(ep, START - timedelta(days=30))


def _advice(team):
    return advisor.team_advice(team, NOW)


def _kind(advice, kind, endpoint=None):
    found = [s for s in advice.suggestions if s.kind == kind and s.endpoint == endpoint]
    return found[0] if found else None


def test_off_hours_saving_is_the_cost_of_the_hours_a_schedule_would_not_run(catalog):
    ep = _endpoint(catalog)
    add_rows(ep, lambda h: (3600, "0.80", 50_000 if _office(h) else 0))
    s = _kind(_advice(ep.team), "off_hours", ep)
    # A week off the schedule: weekdays 24 - 11 working hours - 1/4 h of pre-warm (07:45),
    # both weekend days whole: 5 x 12.75 + 2 x 24 = 111.75 h; the window has two weeks.
    off_hours = Decimal("111.75") * 2
    assert s is not None
    assert s.monthly_saving == _cents(off_hours * Decimal("0.80") * MONTH / WINDOW)  # 383.14
    assert s.monthly_saving == Decimal("383.14")
    assert s.current_monthly_cost == _cents(Decimal("0.80") * MONTH)
    assert s.proposal["schedule_start"] == "08:00" and s.proposal["schedule_weekdays_only"]


def test_near_idle_off_hours_still_get_the_schedule_but_busy_ones_do_not(catalog):
    quiet = _endpoint(catalog, name="quiet")
    add_rows(quiet, lambda h: (3600, "0.80", 50_000 if _office(h) else 60))
    busy = _endpoint(catalog, name="busy", team=quiet.team)
    add_rows(busy, lambda h: (3600, "0.80", 50_000 if _office(h) else 400))
    advice = _advice(quiet.team)
    s = _kind(advice, "off_hours", quiet)
    assert s is not None and s.monthly_saving == Decimal("383.14")
    assert "near-idle (60 generated tokens per GPU-hour)" in s.detail
    assert _kind(advice, "off_hours", busy) is None


def test_an_endpoint_with_a_schedule_gets_no_schedule_suggestion(catalog):
    ep = _endpoint(
        catalog,
        schedule_enabled=True,
        schedule_timezone="UTC",
        schedule_start="08:00",
        schedule_end="19:00",
    )
    add_rows(ep, lambda h: (3600, "0.80", 50_000 if _office(h) else 0))
    assert _kind(_advice(ep.team), "off_hours", ep) is None


def test_spot_saving_is_the_on_demand_gpu_hours_at_the_spot_price_difference(catalog):
    ep = _endpoint(catalog, min_replicas=2, max_replicas=3)
    add_rows(ep, lambda h: (7200, "1.60", 50_000))  # two replicas all the time
    s = _kind(_advice(ep.team), "spot", ep)
    # 336 h x 2 GPUs x (0.80 - 0.30) = 336.00 in two weeks: 720.00 a month.
    assert s.monthly_saving == _cents(Decimal(336 * 2) * Decimal("0.50") * MONTH / WINDOW)
    assert s.monthly_saving == Decimal("720.00")


def test_a_single_replica_endpoint_does_not_tolerate_spot(catalog):
    ep = _endpoint(catalog, min_replicas=1)
    add_rows(ep, lambda h: (3600, "0.80", 50_000))
    assert _kind(_advice(ep.team), "spot", ep) is None


def test_spot_time_is_not_counted_again(catalog):
    ep = _endpoint(catalog, min_replicas=0)
    add_rows(ep, lambda h: (3600, "0.30", 50_000), capacity="spot")
    assert _kind(_advice(ep.team), "spot", ep) is None


def test_an_oversized_gpu_moves_to_the_cheapest_offering_that_fits(catalog):
    ep = _endpoint(catalog, offering="nc24ads")  # 8B bf16 on an 80 GiB A100 at 3.67/h
    add_rows(ep, lambda h: (3600, "3.67", 50_000))
    advice = _advice(ep.team)
    s = _kind(advice, "right_size", ep)
    # bf16: 14.96 GiB weights + 8 sequences x 1 GiB KV (8192 tokens) + 2 GiB = 24.96 GiB:
    # not one L4 (21.6 usable), two L4 on a g6.12xlarge = 2 x 1.15 = 2.30, one L40S = 1.86.
    assert s.proposal == {
        "gpu_type": "L40S",
        "gpu_count": 1,
        "quantization": "bf16",
        "instance_type": "g6e.xlarge",
    }
    assert s.monthly_saving == _cents(MONTH * (Decimal("3.67") - Decimal("1.86")))  # 1321.30
    # fp8: 7.48 + 8 + 2 = 17.48 GiB fits one L4 at 0.80, cheaper than the L40S.
    f = _kind(advice, "fp8", ep)
    assert f.proposal["gpu_type"] == "L4" and f.proposal["gpu_count"] == 1
    assert f.monthly_saving == _cents(MONTH * (Decimal("3.67") - Decimal("0.80")))  # 2066.40
    assert "Quality" in f.caveat


def test_dcgm_peak_memory_lets_a_smaller_gpu_fit(catalog, monkeypatch):
    ep = _endpoint(catalog, offering="g6e.xlarge")  # 8B bf16 on one L40S at 1.86/h
    add_rows(ep, lambda h: (3600, "1.86", 50_000))
    assert _kind(_advice(ep.team), "right_size", ep) is None  # 8 sequences need 24.96 GiB
    # DCGM: a replica never held more than 17 GiB: weights + overhead + 1 sequence's KV.
    monkeypatch.setattr(advisor.facts, "memory_peaks", lambda team, endpoints, end: {ep.pk: 17.0})
    s = _kind(_advice(ep.team), "right_size", ep)
    # 14.96 + 1 + 2 = 17.96 GiB fits one L4 (21.6): 720 x (1.86 - 0.80).
    assert s.proposal["gpu_type"] == "L4" and s.proposal["gpu_count"] == 1
    assert s.monthly_saving == _cents(MONTH * (Decimal("1.86") - Decimal("0.80")))  # 773.80
    assert "DCGM: at most 17.0 GiB" in s.detail


def test_fp8_is_not_suggested_when_the_model_does_not_allow_it(catalog):
    ep = _endpoint(
        catalog, offering="g6e.xlarge", model=CatalogModelFactory(allowed_quantizations=["bf16"])
    )
    add_rows(ep, lambda h: (3600, "1.86", 50_000))
    assert _kind(_advice(ep.team), "fp8", ep) is None


def test_a_new_endpoint_is_scaled_from_the_hours_it_existed(catalog):
    ep = _endpoint(catalog, min_replicas=2)
    existed_since(ep, END - timedelta(hours=48))
    add_rows(ep, lambda h: (7200, "1.60", 50_000) if h >= END - timedelta(hours=48) else None)
    s = _kind(_advice(ep.team), "spot", ep)
    # 48 h x 2 GPUs x 0.50 = 48.00, over 48 hours: x 720 / 48.
    assert s.monthly_saving == _cents(Decimal(48 * 2) * Decimal("0.50") * MONTH / 48)


def test_the_total_adds_up_the_best_suggestion_of_each_endpoint(catalog):
    big = _endpoint(catalog, offering="nc24ads", name="big")
    add_rows(big, lambda h: (3600, "3.67", 50_000 if _office(h) else 0))
    pair = _endpoint(catalog, name="pair", team=big.team, min_replicas=2)
    add_rows(pair, lambda h: (7200, "1.60", 50_000))
    advice = _advice(big.team)
    assert {s.kind for s in advice.suggestions if s.endpoint == big} == {
        "off_hours",
        "right_size",
        "fp8",
    }
    # big: fp8 on one L4, 720 x (3.67 - 0.80) = 2066.40 is its best; pair: spot 720.00.
    assert advice.total_monthly_saving == Decimal("2066.40") + Decimal("720.00")
    assert advice.for_endpoint(pair).total_monthly_saving == Decimal("720.00")


def test_break_even_against_the_reference_api():
    reference = ReferencePrice(
        name="API", input_per_million=Decimal("0.20"), output_per_million=Decimal("0.60")
    )
    factor = MONTH / WINDOW
    view = rules.break_even(Decimal("100"), 100_000_000, 50_000_000, reference, factor)
    # API: 100M x 0.20 + 50M x 0.60 = 50.00 in the window; GPUs: 100.00.
    assert view.self_hosted_monthly == _cents(100 * factor)  # 214.29
    assert view.api_monthly == _cents(50 * factor)  # 107.14
    assert view.cheaper == "api" and not view.above_rule_of_thumb
    assert view.cost_per_million == _cents(Decimal(100) / 150)  # 0.67 here
    assert view.api_per_million == _cents(Decimal(50) / 150)  # 0.33 there
    # The API costs what the GPUs cost at twice the tokens: 2 x 150M x 720 / 336.
    assert view.break_even_tokens_monthly == round(2 * 150_000_000 * 720 / 336)
    s = rules.api_suggestion(view)
    assert s.kind == "api" and s.monthly_saving == Decimal("214.29") - Decimal("107.14")


def test_break_even_above_the_rule_of_thumb_is_cheaper_here():
    reference = ReferencePrice(
        name="API", input_per_million=Decimal("2.50"), output_per_million=Decimal("10.00")
    )
    view = rules.break_even(Decimal("10000"), 10**10, 4 * 10**9, reference, Decimal(1))
    # 10,000M x 2.50 + 4,000M x 10 = 65,000 a month at the API against 10,000 here.
    assert view.api_monthly == Decimal("65000.00") and view.cheaper == "here"
    assert view.above_rule_of_thumb
    assert rules.api_suggestion(view) is None


def test_team_break_even_uses_every_usage_row_of_the_window(catalog):
    ep = _endpoint(catalog)
    add_rows(ep, lambda h: (3600, "0.80", 1_000_000))  # 1M prompt + 1M generated an hour
    ReferencePrice.objects.create(
        name="Hosted",
        input_per_million=Decimal("0.20"),
        output_per_million=Decimal("0.60"),
        is_default=True,
    )
    view = _advice(ep.team).break_even
    # An hour: 0.80 here, 0.20 + 0.60 = 0.80 at the API: a tie is cheaper here.
    assert view.self_hosted_monthly == view.api_monthly == _cents(Decimal("0.80") * MONTH)
    assert view.cheaper == "here"


def test_a_dismissed_suggestion_stays_hidden_until_its_saving_changes_materially(catalog):
    ep = _endpoint(catalog, min_replicas=2)
    add_rows(ep, lambda h: (7200, "1.60", 50_000))
    user = UserFactory()
    advisor.dismiss_suggestion(ep.team, user, "spot", ep, NOW)
    d = SavingsDismissal.objects.get()
    assert (d.monthly_saving, d.dismissed_by, d.dismissed_at) == (Decimal("720.00"), user, NOW)
    advice = _advice(ep.team)
    assert _kind(advice, "spot", ep) is None
    assert [s.kind for s in advice.dismissed] == ["spot"]
    # The same dismissal against other savings: within 25 % hidden, beyond shown again.
    assert dismissals.hides(d, Decimal("720.00") * Decimal("1.25"), NOW)
    assert not dismissals.hides(d, Decimal("720.00") * Decimal("1.26"), NOW)
    assert not dismissals.hides(d, Decimal("720.00") * Decimal("0.74"), NOW)
    # ... and for 90 days.
    assert dismissals.hides(d, d.monthly_saving, NOW + timedelta(days=89))
    assert not dismissals.hides(d, d.monthly_saving, NOW + timedelta(days=90))


def test_a_dismissed_suggestion_comes_back_when_a_price_change_moves_its_saving(catalog):
    ep = _endpoint(catalog, min_replicas=2)
    add_rows(ep, lambda h: (7200, "1.60", 50_000))
    advisor.dismiss_suggestion(ep.team, UserFactory(), "spot", ep, NOW)
    assert _kind(_advice(ep.team), "spot", ep) is None
    # Spot at 0.10 from a day ago: 336 h x 2 x (0.80 - 0.10) x 720 / 336 = 1008.00 (+40 %).
    GpuRateFactory(
        offering=catalog["g6.xlarge"],
        capacity_type="spot",
        hourly_price=Decimal("0.10"),
        effective_from=NOW - timedelta(days=1),
    )
    s = _kind(_advice(ep.team), "spot", ep)
    assert s is not None and s.monthly_saving == Decimal("1008.00")


def test_dismissing_a_suggestion_the_advisor_does_not_make_is_an_error(catalog):
    team = TeamFactory()
    with pytest.raises(advisor.AdvisorError):
        advisor.dismiss_suggestion(team, UserFactory(), "api", None, NOW)
    assert not SavingsDismissal.objects.exists()
