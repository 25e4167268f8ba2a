"""GET /api/v1/endpoints/{uuid}/metrics/: the contract numbers over ?start=&end=."""

import socket
from decimal import Decimal

import pytest
from django.core.management import call_command

from portal.models import Membership
from tests.factories import EndpointFactory, GpuRateFactory, MembershipFactory, TeamFactory
from tests.metrics_scenarios import close, expected


def _url(ep):
    return f"/api/v1/endpoints/{ep.uuid}/metrics/"


@pytest.fixture
def oom_endpoint(settings, backfilled_metrics, member):
    settings.PROMETHEUS_URL = backfilled_metrics["url"]
    ns, model, pods, scenario = backfilled_metrics["cases"]["oom"]
    team = TeamFactory(slug=ns.removeprefix("mp-"))
    MembershipFactory(team=team, user=member, role=Membership.Role.VIEWER)
    return EndpointFactory(team=team, name=model), pods, scenario


def _iso(t):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()


@pytest.mark.prometheus
def test_api_answers_the_contract_for_the_window(api_client, oom_endpoint, backfilled_metrics):
    ep, pods, scenario = oom_endpoint
    start, end = backfilled_metrics["start"], backfilled_metrics["end"]
    resp = api_client.get(_url(ep), {"start": _iso(start), "end": _iso(end)})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    want = expected(scenario, pods, start, end)
    assert {k for k in want} <= set(body)
    assert all(close(body[k], v) for k, v in want.items()), (body, want)
    assert body["namespace"] == ep.namespace and body["model_name"] == ep.name
    assert body["window_seconds"] == end - start


@pytest.mark.prometheus
def test_api_and_command_print_the_same_numbers(
    api_client, oom_endpoint, backfilled_metrics, capsys
):
    import json

    ep, _, _ = oom_endpoint
    start, end = _iso(backfilled_metrics["start"]), _iso(backfilled_metrics["end"])
    api = api_client.get(_url(ep), {"start": start, "end": end}).json()
    call_command(
        "endpoint_metrics",
        "--namespace",
        ep.namespace,
        "--model",
        ep.name,
        "--start",
        start,
        "--end",
        end,
        "--json",
    )
    cli = json.loads(capsys.readouterr().out)
    for key, value in cli.items():
        if key in ("start", "end"):
            continue
        assert api[key] == pytest.approx(value) if value is not None else api[key] is None, key


@pytest.mark.prometheus
def test_api_prices_the_windows_tokens_at_the_endpoints_rate(
    api_client, oom_endpoint, backfilled_metrics
):
    ep, _, _ = oom_endpoint
    GpuRateFactory(offering=ep.offering, capacity_type=ep.capacity_type,
                   hourly_price=Decimal("3.6000"))  # fmt: skip
    start, end = backfilled_metrics["start"], backfilled_metrics["end"]
    body = api_client.get(_url(ep), {"start": _iso(start), "end": _iso(end)}).json()
    per_s = body["prompt_tokens_per_s"] + body["generation_tokens_per_s"]
    tokens = round(per_s * (end - start))
    assert body["tokens"] == tokens > 0
    cost = Decimal("3.6") * Decimal(end - start) / 3600  # one replica (the floor) on one GPU
    assert Decimal(body["cost"]) == cost.quantize(Decimal("0.01"))
    assert Decimal(body["cost_per_million_tokens"]) == (cost * 10**6 / tokens).quantize(
        Decimal("0.01")
    )


def test_outsider_gets_404(outsider, api_client_for, team):
    ep = EndpointFactory(team=team)
    assert api_client_for(outsider).get(_url(ep)).status_code == 404


def test_anonymous_gets_401_or_403(client, team):
    ep = EndpointFactory(team=team)
    assert client.get(_url(ep)).status_code in (401, 403)


def test_post_is_405(api_client, team):
    ep = EndpointFactory(team=team)
    assert api_client.post(_url(ep)).status_code == 405


@pytest.mark.parametrize(
    "params,message",
    [
        ({"start": "yesterday"}, "start is not an ISO 8601 date-time"),
        (
            {"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "end must be after start",
        ),
        ({"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "at most 31 days"),
    ],
)
def test_bad_window_is_400_with_a_message(api_client, team, params, message):
    ep = EndpointFactory(team=team)
    resp = api_client.get(_url(ep), params)
    assert resp.status_code == 400
    assert message in resp.json()["detail"]


def test_dead_prometheus_is_503_with_a_message(api_client, team, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    ep = EndpointFactory(team=team)
    resp = api_client.get(_url(ep))
    assert resp.status_code == 503
    assert "Prometheus is unavailable" in resp.json()["detail"]
