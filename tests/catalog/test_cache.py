"""The per-process catalog cache (catalog.cache): a change is seen at once in this process
and within CATALOG_CACHE_SECONDS elsewhere. Its use by POST /api/v1/endpoints/ is tested in
tests/deployments/endpoints/test_api_endpoints.py."""

from decimal import Decimal

import pytest
import time_machine

from catalog import cache as catalog_cache
from catalog.models import GpuRate, GpuType
from catalog.pricing import cheapest_offering
from tests.factories import GpuRateFactory, InstanceOfferingFactory

pytestmark = pytest.mark.dates


@pytest.fixture
def clock(monkeypatch):
    """The catalog cache's monotonic clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(catalog_cache.time, "monotonic", lambda: now[0])
    return now


def test_off_when_the_ttl_is_zero(settings, db):
    settings.CATALOG_CACHE_SECONDS = 0
    calls = []
    for _ in range(2):
        catalog_cache.cached("k", lambda: calls.append(1) or "v")
    assert len(calls) == 2


def test_entries_expire_after_the_ttl(settings, clock):
    settings.CATALOG_CACHE_SECONDS = 10
    values = iter(["old", "new"])
    assert catalog_cache.cached("k", lambda: next(values)) == "old"
    clock[0] += 9.9
    assert catalog_cache.cached("k", lambda: next(values)) == "old"
    clock[0] += 0.2
    assert catalog_cache.cached("k", lambda: next(values)) == "new"


def test_a_missing_row_is_not_remembered(settings, db):
    settings.CATALOG_CACHE_SECONDS = 60
    assert catalog_cache.cached("k", lambda: None) is None
    assert catalog_cache.cached("k", lambda: "found") == "found"


def test_a_new_price_is_used_at_once_in_this_process(gpu_l4, settings, db):
    settings.CATALOG_CACHE_SECONDS = 3600
    before = cheapest_offering(gpu_l4, "on-demand", 1)
    offering = before.offering
    GpuRateFactory(offering=offering, capacity_type="on-demand", hourly_price=Decimal("0.10"))
    assert cheapest_offering(gpu_l4, "on-demand", 1).hourly_price == Decimal("0.10")


def test_a_change_without_signals_shows_within_the_ttl(gpu_l4, settings, clock, db):
    """As another process's change would: no signal here, only the TTL."""
    settings.CATALOG_CACHE_SECONDS = 10
    old = cheapest_offering(gpu_l4, "on-demand", 1).hourly_price
    GpuRate.objects.filter(offering__gpu_type=gpu_l4).update(hourly_price=Decimal("9.99"))
    assert cheapest_offering(gpu_l4, "on-demand", 1).hourly_price == old
    clock[0] += 11
    assert cheapest_offering(gpu_l4, "on-demand", 1).hourly_price == Decimal("9.99")


def test_a_future_price_takes_over_when_it_starts(gpu_l4, settings, db):
    """Which rate is in force is decided at each call, not when the rows were cached."""
    from datetime import timedelta

    from django.utils import timezone

    settings.CATALOG_CACHE_SECONDS = 3600
    offering = InstanceOfferingFactory(gpu_type=gpu_l4, instance_type="cheap.l4", gpus_per_node=1)
    start = timezone.now() + timedelta(hours=1)
    GpuRateFactory(
        offering=offering,
        capacity_type="on-demand",
        hourly_price=Decimal("0.01"),
        effective_from=start,
    )
    assert cheapest_offering(gpu_l4, "on-demand", 1).offering != offering
    with time_machine.travel(start + timedelta(seconds=1)):
        assert cheapest_offering(gpu_l4, "on-demand", 1).offering == offering


def test_committed_change_clears_again_after_commit(
    gpu_l4, settings, db, django_capture_on_commit_callbacks
):
    """A reader between the save and the commit could have cached the old rows: the commit
    clears once more."""
    settings.CATALOG_CACHE_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        GpuType.objects.filter(pk=gpu_l4.pk).first().save()
        catalog_cache.cached("k", lambda: "read between save and commit")
    assert catalog_cache.cached("k", lambda: "fresh") == "read between save and commit"
    for callback in callbacks:
        callback()
    assert catalog_cache.cached("k", lambda: "fresh") == "fresh"
