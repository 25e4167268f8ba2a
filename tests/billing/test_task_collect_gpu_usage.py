"""Hourly collection against the real Prometheus: rows per hour, reruns overwrite, late
scrapes are corrected without double counting, attribution resolves to Team/Endpoint rows."""

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import UsageKind, UsageRecord
from billing.tasks import collect_gpu_usage
from tests.factories import (
    EndpointFactory,
    TeamFactory,
)

from .scenarios import (
    HOUR,
    MIN,
    aligned_start,
    expected,
    filter_samples,
    mixed_scenario,
    save_price_table,
)

pytestmark = [pytest.mark.dates, pytest.mark.prometheus, pytest.mark.django_db]


@pytest.fixture(scope="module")
def late(prometheus_server):
    """The mixed scenario, of which only the samples before t0 + 1h30m are in Prometheus yet."""
    t0 = aligned_start(hours_back=6)
    scenario, teams, prices = mixed_scenario(t0)
    text = scenario.openmetrics()
    cut = t0 + 90 * MIN
    prometheus_server.backfill(filter_samples(text, lambda t: t < cut))
    return scenario, teams, prices, text, cut


@pytest.fixture
def setup(settings, prometheus_server, late):
    scenario, teams, prices, _, _ = late
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{scenario.cluster_labels["test_run"]}"'
    settings.BILLING_RECOLLECT_HOURS = 4
    settings.KUBE_NAMESPACE_PREFIX = "team-"
    save_price_table(prices)
    alpha = TeamFactory(slug="alpha", name="Alpha")
    TeamFactory(slug="beta", name="Beta")
    TeamFactory(slug="c", name="C (namespace team-c)")
    llama = EndpointFactory(team=alpha, name="llama")
    return {"end": datetime.fromtimestamp(scenario.end, tz=UTC).isoformat(), "llama": llama}


def _snapshot():
    return sorted(
        UsageRecord.objects.values_list(
            "pk",
            "hour",
            "kind",
            "team_key",
            "endpoint_key",
            "instance_type",
            "capacity_type",
            "gpu_seconds",
            "cost",
            "unpriced_gpu_seconds",
            "used_gpu_seconds",
            "prompt_tokens",
        )
    )


def _team_totals():
    out = defaultdict(lambda: [0, Decimal("0")])
    for r in UsageRecord.objects.all():
        key = r.team_key if r.kind == UsageKind.ALLOCATED else "(idle)"
        out[key][0] += r.gpu_seconds
        out[key][1] += r.cost
    return dict(out)


def test_rerun_overwrites_and_late_scrapes_are_corrected(setup, late, prometheus_server):
    scenario, teams, prices, text, cut = late
    collect_gpu_usage(setup["end"])
    first = _snapshot()
    collect_gpu_usage(setup["end"])
    assert _snapshot() == first  # same rows, same ids: an upsert, not an insert

    partial = expected(scenario, teams, prices, scenario.start, cut)
    totals = _team_totals()
    for team, want in partial["teams"].items():
        assert totals[team][0] == pytest.approx(want["gpu_seconds"], rel=1e-3), team

    prometheus_server.backfill(filter_samples(text, lambda t: t >= cut))  # the late scrapes land
    collect_gpu_usage(setup["end"])
    full = expected(scenario, teams, prices, scenario.start, scenario.end)
    totals = _team_totals()
    for team, want in full["teams"].items():
        assert totals[team][0] == pytest.approx(want["gpu_seconds"], rel=1e-3), team
        assert totals[team][1] == pytest.approx(want["cost"], rel=Decimal("0.001")), team
    assert totals["(idle)"][0] == pytest.approx(full["idle"]["gpu_seconds"], rel=1e-3)
    keys = [r[1:7] for r in _snapshot()]
    assert len(keys) == len(set(keys))  # one row per key and hour


def test_rows_are_hourly_and_resolve_teams_and_endpoints(setup, late, prometheus_server):
    scenario = late[0]
    collect_gpu_usage(setup["end"])
    rows = UsageRecord.objects.filter(kind=UsageKind.ALLOCATED)
    assert {r.hour.minute for r in rows} == {0}
    assert {r.hour for r in rows} <= {
        datetime.fromtimestamp(scenario.start + h * HOUR, tz=UTC) for h in range(4)
    }
    by_key = {r.team_key: r.team for r in rows}
    assert by_key["alpha"].slug == "alpha" and by_key["beta"].slug == "beta"
    assert by_key["team-c"].slug == "c"  # namespace name = KUBE_NAMESPACE_PREFIX + slug
    assert by_key["delta"] is None  # no such team in the portal: kept, shown as unmatched
    llama_rows = rows.filter(endpoint_key="llama")
    assert llama_rows and all(r.endpoint == setup["llama"] for r in llama_rows)
    spot = rows.filter(team_key="alpha", capacity_type="spot")
    assert spot and all(r.used_gpu_seconds is not None for r in spot)
    mystery = rows.get(team_key="delta", hour=datetime.fromtimestamp(scenario.start + HOUR, tz=UTC))
    assert mystery.cost == 0 and mystery.unpriced_gpu_seconds == mystery.gpu_seconds == 2 * HOUR


def test_backfill_command_writes_the_same_rows_as_the_task(setup, late, prometheus_server):
    import io

    from django.core.management import call_command

    scenario = late[0]
    prometheus_server.backfill(
        filter_samples(late[3], lambda t: t >= late[4])
    )  # all samples (idempotent)
    out = io.StringIO()
    call_command(
        "backfill_usage",
        "--start",
        datetime.fromtimestamp(scenario.start, tz=UTC).isoformat(),
        "--end",
        setup["end"],
        "--chunk-hours",
        "3",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert "rows written" in out.getvalue()
    by_command = [r[1:] for r in _snapshot()]
    UsageRecord.objects.all().delete()
    collect_gpu_usage(setup["end"])
    assert [r[1:] for r in _snapshot()] == by_command


def test_collection_records_the_hours_it_measured_once(setup):
    from datetime import timedelta

    from billing.models import CollectedHour
    from portal.timeutil import floor_hour

    collect_gpu_usage(setup["end"])
    first = list(CollectedHour.objects.values_list("hour", "collected_at"))
    collect_gpu_usage(setup["end"])
    hours = list(CollectedHour.objects.values_list("hour", flat=True))
    last = floor_hour(datetime.fromisoformat(setup["end"]))
    assert hours == [last - timedelta(hours=n) for n in (4, 3, 2, 1)]  # BILLING_RECOLLECT_HOURS
    # a re-run adds no hour; the hours it measured as they were are not written again
    assert list(CollectedHour.objects.values_list("hour", "collected_at")) == first


def _by_hour(model, *fields):
    out = defaultdict(set)
    for hour, *values in model.objects.values_list("hour", *fields):
        out[hour].add(tuple(values))
    return out


def test_only_the_hour_whose_samples_changed_is_rewritten(settings, prometheus_server):
    """Late scrapes of one hour land between two runs: that hour is rewritten to the exact
    answer, the others are not written at all (rows, ids and times kept)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.models import CollectedHour

    t0 = aligned_start(hours_back=7)
    scenario, teams, prices = mixed_scenario(t0)
    text = scenario.openmetrics()
    late = (t0 + 2 * HOUR + 30 * MIN, t0 + 3 * HOUR)  # the second half of the third hour
    prometheus_server.backfill(filter_samples(text, lambda t: not late[0] <= t < late[1]))
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{scenario.cluster_labels["test_run"]}"'
    settings.BILLING_RECOLLECT_HOURS = 4
    save_price_table(prices)
    end = datetime.fromtimestamp(t0 + 4 * HOUR, tz=UTC).isoformat()
    changed = datetime.fromtimestamp(t0 + 2 * HOUR, tz=UTC)
    fields = ("pk", "kind", "team_key", "endpoint_key", "gpu_seconds", "cost", "collected_at")

    collect_gpu_usage(end)
    rows, hours = _by_hour(UsageRecord, *fields), _by_hour(CollectedHour, "collected_at")
    with CaptureQueriesContext(connection) as rerun:
        collect_gpu_usage(end)  # nothing changed: nothing written
    assert {q["sql"].split(None, 1)[0].upper() for q in rerun.captured_queries} == {"SELECT"}

    prometheus_server.backfill(filter_samples(text, lambda t: late[0] <= t < late[1]))
    collect_gpu_usage(end)
    rows_after, hours_after = (
        _by_hour(UsageRecord, *fields),
        _by_hour(CollectedHour, "collected_at"),
    )
    assert set(rows_after) == set(rows) and len(rows) == 4
    for hour in rows:
        if hour != changed:
            assert rows_after[hour] == rows[hour] and hours_after[hour] == hours[hour], hour
    assert hours_after[changed] != hours[changed]
    want = expected(scenario, teams, prices, t0 + 2 * HOUR, t0 + 3 * HOUR)
    got = defaultdict(int)
    for r in UsageRecord.objects.filter(hour=changed, kind=UsageKind.ALLOCATED):
        got[r.team_key] += r.gpu_seconds
    assert set(got) == set(want["teams"])
    for team, exp in want["teams"].items():
        assert got[team] == pytest.approx(exp["gpu_seconds"], rel=1e-3), team
    before = sum(r[4] for r in rows[changed] if r[1] == UsageKind.ALLOCATED)
    assert before < sum(got.values())  # the half hour that was missing is counted now
