"""The chargeback against a real Prometheus with backfilled kube-state-metrics, DCGM and vLLM
series. Expected answers come from the scenario inputs (tests/billing/scenarios.py)."""

import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing import queries

from .scenarios import (
    HOUR,
    MIN,
    aligned_start,
    expected,
    iso,
    mixed_scenario,
    price_entries_json,
    save_price_table,
)

pytestmark = [pytest.mark.dates, pytest.mark.prometheus, pytest.mark.django_db]

REL = 0.001  # the bar: within 0.1 %
DREL = Decimal("0.001")


@pytest.fixture(scope="module")
def mixed(prometheus_server):
    t0 = aligned_start(hours_back=6)
    scenario, teams, prices = mixed_scenario(t0)
    prometheus_server.backfill(scenario.openmetrics())
    return scenario, teams, prices


@pytest.fixture
def billing_settings(settings, prometheus_server, mixed):
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{mixed[0].cluster_labels["test_run"]}"'
    return settings


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _run(*args) -> dict:
    out = io.StringIO()
    call_command("chargeback", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def _assert_matches(data: dict, want: dict) -> None:
    got = {t["team"]: t for t in data["teams"]}
    assert set(got) == set(want["teams"])
    for team, exp in want["teams"].items():
        t = got[team]
        assert t["gpu_hours"] == pytest.approx(exp["gpu_seconds"] / HOUR, rel=REL), team
        assert Decimal(t["cost"]) == pytest.approx(exp["cost"], rel=DREL), team
        assert t["unpriced_gpu_hours"] == pytest.approx(
            exp["unpriced"] / HOUR, rel=REL, abs=1e-9
        ), team
        assert t["gpu_hours_by_capacity_type"] == pytest.approx(
            {k: v / HOUR for k, v in exp["by_capacity"].items()}, rel=REL
        ), team
    assert data["idle"]["gpu_hours"] == pytest.approx(want["idle"]["gpu_seconds"] / HOUR, rel=REL)
    assert Decimal(data["idle"]["cost"]) == pytest.approx(want["idle"]["cost"], rel=DREL)
    assert data["idle"]["unpriced_gpu_hours"] == pytest.approx(
        want["idle"]["unpriced"] / HOUR, rel=REL
    )


def test_every_team_matches_the_exact_answer_with_price_history(billing_settings, mixed):
    scenario, teams, prices = mixed
    save_price_table(prices)
    data = _run("--start", iso(scenario.start), "--end", iso(scenario.end))
    want = expected(scenario, teams, prices, scenario.start, scenario.end)
    _assert_matches(data, want)
    # the cases the scenario is made of are really in there
    got = {t["team"]: t for t in data["teams"]}
    assert set(got) == {"alpha", "beta", "team-c", "delta"}
    assert set(got["alpha"]["gpu_hours_by_capacity_type"]) == {"spot", "on-demand"}
    assert got["delta"]["cost"] == "0.000000" and got["delta"][
        "unpriced_gpu_hours"
    ] == pytest.approx(6.0)
    assert data["unpriced"] == [
        {
            "instance_type": "x9.mystery",
            "capacity_type": "on-demand",
            "gpu_hours": pytest.approx(8.0),
        }
    ]  # 6 allocated + 2 idle


def test_prices_file_replaces_the_database_table(billing_settings, mixed, tmp_path):
    scenario, teams, prices = mixed
    save_price_table(prices)
    flat = [
        p.__class__(p.instance_type, p.capacity_type, p.gpus_per_node, [(0, Decimal("9.99"))])
        for p in prices
    ]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(price_entries_json(flat)))
    data = _run("--start", iso(scenario.start), "--end", iso(scenario.end), "--prices", str(path))
    _assert_matches(data, expected(scenario, teams, flat, scenario.start, scenario.end))


def test_a_period_that_cuts_hours_and_pods_in_the_middle(billing_settings, mixed):
    scenario, teams, prices = mixed
    save_price_table(prices)
    start, end = scenario.start + 76 * MIN, scenario.start + 2 * HOUR + 45 * MIN
    data = _run("--start", iso(start), "--end", iso(end))
    _assert_matches(data, expected(scenario, teams, prices, start, end))


def test_endpoints_get_their_own_lines_and_tokens(billing_settings, mixed):
    scenario, teams, prices = mixed
    save_price_table(prices)
    data = _run("--start", iso(scenario.start), "--end", iso(scenario.end))
    alpha = next(t for t in data["teams"] if t["team"] == "alpha")
    assert [e["endpoint"] for e in alpha["endpoints"]] == ["llama"]
    truth = scenario.truth["llama-a-1"], scenario.truth["llama-a-2"]
    generated = sum(t.generation_tokens for t in truth)
    # increase() extrapolates inside each hour: close, not exact
    assert alpha["endpoints"][0]["generation_tokens"] == pytest.approx(generated, rel=0.05)
    beta = next(t for t in data["teams"] if t["team"] == "beta")
    assert {e["endpoint"] for e in beta["endpoints"]} == {"mistral", ""}


def test_both_token_kinds_read_in_one_query_equal_their_own_queries(billing_settings, mixed):
    from billing.services import PriceTable, billing_client, fetch_usage, split_windows
    from billing.services.usage.fetch import _config

    scenario = mixed[0]
    client = billing_client()
    windows = split_windows(_dt(scenario.start), _dt(scenario.end))
    data, _ = fetch_usage(client, windows, PriceTable({}, {}))
    selector = billing_settings.BILLING_PROMQL_SELECTOR
    window = queries.range_ms(3600, _config(client)["left_open"])
    for kind, attr in (("prompt", "prompt_tokens"), ("generation", "generation_tokens")):
        promql = queries.token_increase(window, selector, kind)
        for w, m in zip(windows, data, strict=True):
            alone = {
                (s["labels"]["namespace"], s["labels"]["pod"]): s["value"]
                for s in client.query(promql, at=w.end.timestamp() - 0.001)
            }
            assert getattr(m, attr) == alone, (kind, w)
    assert any(m.prompt_tokens for m in data) and any(m.generation_tokens for m in data)
    assert any(m.prompt_tokens != m.generation_tokens for m in data)


def test_bad_input_is_a_clear_error(billing_settings, mixed, tmp_path):
    with pytest.raises(CommandError, match="time zone"):
        _run("--start", "2026-11-01T00:00:00", "--end", "2026-11-02T00:00:00Z")
    with pytest.raises(CommandError, match="not an ISO 8601"):
        _run("--start", "yesterday", "--end", "2026-11-02T00:00:00Z")
    with pytest.raises(CommandError, match="End must be after start"):
        _run("--start", "2026-11-02T00:00:00Z", "--end", "2026-11-01T00:00:00Z")
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {
                    "instance_type": "g6.xlarge",
                    "capacity_type": "spot",
                    "gpus_per_node": 0,
                    "hourly_price": "1",
                }
            ]
        )
    )
    with pytest.raises(CommandError, match="gpus_per_node must be a positive integer"):
        _run(
            "--start", "2026-11-01T00:00:00Z", "--end", "2026-11-02T00:00:00Z", "--prices", str(bad)
        )
    with pytest.raises(CommandError, match="Cannot read the price file"):
        _run(
            "--start",
            "2026-11-01T00:00:00Z",
            "--end",
            "2026-11-02T00:00:00Z",
            "--prices",
            str(tmp_path / "no"),
        )


def test_prometheus_down_is_a_clear_error(settings, mixed):
    settings.PROMETHEUS_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="Prometheus at http://127.0.0.1:9"):
        _run("--start", "2026-11-01T00:00:00Z", "--end", "2026-11-01T01:00:00Z")


def test_off_grid_pods_stay_within_one_scrape_interval(settings, prometheus_server):
    """The stated error bound: < scrape interval × GPUs per pod lifetime (here 30 s)."""
    from .scenarios import offgrid_scenario

    t0 = aligned_start(hours_back=4)
    scenario, teams = offgrid_scenario(t0)
    prometheus_server.backfill(scenario.openmetrics())
    settings.PROMETHEUS_URL = prometheus_server.url
    settings.BILLING_PROMQL_SELECTOR = f'test_run="{scenario.cluster_labels["test_run"]}"'
    from billing import services

    rows = services.measure_usage(
        _dt(scenario.start),
        _dt(scenario.end),
        prices=services.PriceTable.from_entries(
            [
                {
                    "instance_type": "g6.12xlarge",
                    "capacity_type": "on-demand",
                    "gpus_per_node": 4,
                    "hourly_price": "4.60",
                }
            ]
        ),
    )
    measured = sum(r.gpu_seconds for r in rows if r.kind == "allocated")
    truth = sum(t.gpu_seconds for t in scenario.truth.values())
    bound = sum(30 * p.gpus for p in scenario.pods.values())
    assert abs(measured - truth) < bound
    assert measured != 0
    idle = sum(r.gpu_seconds for r in rows if r.kind == "idle")
    assert (
        measured + idle == 4 * 2 * HOUR
    )  # capacity is conserved: allocated + idle = node GPUs × time


@pytest.mark.parametrize("refused_after", [0, 5])
def test_the_query_api_fallback_gives_the_same_rows_as_remote_read(
    billing_settings, mixed, monkeypatch, refused_after
):
    """Refused at once, or after some series were decoded and integrated (a frame not
    understood mid-stream): what they added is dropped, and the query API gives every row."""
    from billing import services
    from portal.prometheus import PrometheusClient, RemoteReadUnsupported

    scenario, _, prices = mixed
    save_price_table(prices)
    start, end = _dt(scenario.start), _dt(scenario.end)
    by_chunks = services.measure_usage(start, end)
    sent = []
    read = PrometheusClient.read_runs_many

    def refused(self, selectors, start_ms, end_ms, labels=None, while_waiting=None, each=None):
        sent.append(selectors)
        if refused_after:
            answer = read(self, selectors, start_ms, end_ms, labels, while_waiting)
            series = [(i, *s) for i, found in enumerate(answer) for s in found]
            assert len(series) > refused_after
            for i, labels_, runs in series[:refused_after]:
                each(i, labels_, runs)
        raise RemoteReadUnsupported("test: no remote read")

    monkeypatch.setattr(PrometheusClient, "read_runs_many", refused)
    by_queries = services.measure_usage(start, end)
    assert len(sent) == 1 and len(sent[0]) == 4  # every gauge asked in one request
    assert by_queries == by_chunks and any(r.gpu_seconds for r in by_chunks)


@pytest.mark.parametrize("remote_read", [True, False])
def test_the_collection_reads_the_database_once_while_prometheus_works(
    billing_settings, mixed, monkeypatch, remote_read
):
    """The price table and the stored digests are read once, on the collecting thread, after
    the remote read is sent and before its answer is read; where remote read is refused, once
    all the same (before the query API's answers). After the read's answer, only the rows'
    endpoints and batch jobs are left to read (not the teams)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing import services
    from billing.services.usage import collect
    from portal.models import Team
    from portal.prometheus import PrometheusClient, RemoteReadUnsupported

    scenario, _, prices = mixed
    save_price_table(prices)
    events = []
    prefetch, read = collect.prefetch, PrometheusClient.read_runs_many

    def prefetch_noted(*args):
        events.append("database")
        return prefetch(*args)

    def read_noted(self, selectors, start_ms, end_ms, labels=None, while_waiting=None, each=None):
        events.append("read sent")
        if not remote_read:
            raise RemoteReadUnsupported("test: no remote read")
        answer = read(self, selectors, start_ms, end_ms, labels, while_waiting, each)
        answered.append(len(captured.captured_queries))
        return answer

    monkeypatch.setattr(collect, "prefetch", prefetch_noted)
    monkeypatch.setattr(PrometheusClient, "read_runs_many", read_noted)
    answered: list[int] = []
    with CaptureQueriesContext(connection) as captured:
        result = services.collect_gpu_usage(_dt(scenario.start), _dt(scenario.end))
    assert events == ["read sent", "database"]
    if remote_read:
        later = [q["sql"] for q in captured.captured_queries[answered[0] :]]
        assert later and not any(Team._meta.db_table in sql for sql in later)
    assert result.rows and result.hours == (scenario.end - scenario.start) // HOUR


def test_a_collection_of_hours_asks_prometheus_from_its_own_thread_only(
    billing_settings, mixed, monkeypatch
):
    """The hours' series and token requests are sent ahead from the collecting thread next to
    its remote read, and read there once the stream is decoded: no request thread is asked
    (their waits for the GIL the decoding holds cost a tenth of the hourly task). The rows are
    those the threads gave (a pool of one thread reading them, the month's way)."""
    from billing import services
    from billing.services.usage import fetch

    scenario, _, prices = mixed
    save_price_table(prices)
    start, end = _dt(scenario.start), _dt(scenario.end)
    hours = (scenario.end - scenario.start) // HOUR
    billing_settings.BILLING_PROMETHEUS_CONCURRENCY = 3
    assert hours > 3
    chunks = fetch._chunks
    with monkeypatch.context() as hourly:  # a range request per hour: more than go at once
        hourly.setattr(fetch, "_chunks", lambda first, last: chunks(first, last, hours=1))
        through_pool = services.measure_usage(start, end)

    class NoThreads:
        def submit(self, *args):
            raise AssertionError("a request thread was asked")

    monkeypatch.setattr(fetch, "_requests_pool", lambda: NoThreads())
    assert services.measure_usage(start, end) == through_pool
    assert any(r.gpu_seconds for r in through_pool) and any(r.prompt_tokens for r in through_pool)
