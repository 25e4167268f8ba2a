"""The metrics pages: endpoint Metrics tab, team overview, fleet view.

Happy paths read the real Prometheus with the backfilled scenarios (tests/metrics_scenarios.py);
access rules, bad input and a dead Prometheus need no server."""

import socket

import pytest
from django.core.cache import cache
from django.urls import reverse
from prometheus_client import REGISTRY

from deployments.endpoints.choices import EndpointStatus
from portal.models import Membership
from tests.factories import EndpointFactory, MembershipFactory, TeamFactory


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dead_prometheus(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.PROMETHEUS_URL = f"http://127.0.0.1:{port}"
    settings.PROMETHEUS_TIMEOUT = 1.0
    return settings.PROMETHEUS_URL


@pytest.fixture
def live(settings, recent_metrics):
    settings.PROMETHEUS_URL = recent_metrics["url"]
    settings.PROMETHEUS_CACHE_SECONDS = 0
    return recent_metrics


def _team_for(case_ns: str, **kwargs):
    slug = case_ns.removeprefix("mp-")
    return TeamFactory(name=f"Team {slug}", slug=slug, **kwargs)


@pytest.fixture
def scenario_team(live, member, outsider):
    """The team whose namespace holds the 'steady' and 'idle' scenario endpoints... as two teams
    share nothing, each case gets its own team; `member` belongs to steady's and idle's."""
    ns_steady, model_steady, _, _ = live["cases"]["steady"]
    ns_idle, model_idle, _, _ = live["cases"]["idle"]
    steady_team = _team_for(ns_steady)
    idle_team = _team_for(ns_idle)
    for t in (steady_team, idle_team):
        MembershipFactory(team=t, user=member, role=Membership.Role.MEMBER)
    return {
        "steady": EndpointFactory(team=steady_team, name=model_steady),
        "idle": EndpointFactory(team=idle_team, name=model_idle),
    }


def _url(endpoint, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("deployments:endpoint_metrics", args=[endpoint.uuid]) + (
        f"?{query}" if query else ""
    )


# ---------------------------------------------------------------------------------- endpoint tab
@pytest.mark.prometheus
def test_member_sees_tiles_charts_slo_and_window_figures(member_client, scenario_team, live):
    ep = scenario_team["steady"]
    resp = member_client.get(_url(ep, window="6h"))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "<html" in body and 'id="metrics-fragment"' in body
    assert body.count("data-chart=") == 7
    assert 'data-tile="generation_tokens_per_s"' in body
    assert "data-error-scope" in body and "refuses before the engine sees them" in body
    page = resp.context["page"]
    assert not page.stale
    summary = page.data["summary"]
    _, _, pods, scenario = live["cases"]["steady"]
    assert (
        page.data["start"] < scenario.start and page.data["end"] > scenario.end
    )  # whole scenario inside
    tokens_made = scenario.truth[pods[0]].generation_tokens
    assert summary["generation_tokens_per_s"] == pytest.approx(tokens_made / (6 * 3600), rel=1e-9)
    assert summary["queue_depth_mean"] == 1.0
    assert [s["state"] for s in page.data["slo"]] == [
        "met",
        "breached",
    ]  # p95 0.43 s; 2 % aborts > 1 %
    tokens = next(c for c in page.data["charts"] if c["key"] == "tokens")
    assert len(tokens["x"]) == len(tokens["series"][0]["values"])
    assert any(v and v > 300 for v in tokens["series"][0]["values"])


@pytest.mark.prometheus
def test_htmx_poll_gets_only_the_fragment(member_client, scenario_team):
    resp = member_client.get(_url(scenario_team["steady"]), HTTP_HX_REQUEST="true")
    body = resp.content.decode()
    assert resp.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="metrics-fragment"')
    assert 'hx-trigger="every 15s"' in body


@pytest.mark.prometheus
def test_old_image_still_shows_every_tile(member_client, live, member):
    ns, model, _, _ = live["cases"]["oldnames"]
    team = _team_for(ns)
    MembershipFactory(team=team, user=member)
    ep = EndpointFactory(team=team, name=model)
    tiles = {
        t["key"]: t for t in member_client.get(_url(ep, window="6h")).context["page"].data["tiles"]
    }
    for key in (
        "generation_tokens_per_s",
        "ttft_p95_s",
        "itl_p95_s",
        "kv_cache_usage",
        "prefix_cache_hit_rate",
    ):
        assert tiles[key]["current"] is not None, key


def test_outsider_gets_404(outsider_client, team):
    ep = EndpointFactory(team=team)
    assert outsider_client.get(_url(ep)).status_code == 404


def test_anonymous_is_sent_to_login(client, team):
    ep = EndpointFactory(team=team)
    resp = client.get(_url(ep))
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]


def test_post_is_405(member_client, team, member):
    ep = EndpointFactory(team=team)
    assert member_client.post(_url(ep)).status_code == 405


def test_dead_prometheus_never_read_is_a_calm_setup_state_not_500(
    member_client, team, member, dead_prometheus
):
    ep = EndpointFactory(team=team)
    resp = member_client.get(_url(ep))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'data-setup="unreachable"' in body and "Prometheus has not answered yet" in body
    assert "Who fixes it: the platform team" in body
    assert "notice-red" not in body and "Prometheus is not answering" not in body


def test_unset_prometheus_url_is_a_setup_state_saying_what_is_missing(
    member_client, team, member, settings
):
    settings.PROMETHEUS_URL = ""
    ep = EndpointFactory(team=team)
    resp = member_client.get(_url(ep))
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'data-setup="not_configured"' in body and "No Prometheus connected yet" in body
    assert "PROMETHEUS_URL</code> is not set" in body and "the platform team sets" in body
    assert "notice-red" not in body and "No metrics yet" not in body
    assert body.count("—") == 0  # no tiles or rows of dashes


@pytest.mark.prometheus
def test_prometheus_going_down_shows_last_values_marked_stale(
    member_client, scenario_team, settings
):
    ep = scenario_team["steady"]
    good = member_client.get(_url(ep))
    good_tokens = good.context["page"].data["summary"]["generation_tokens_per_s"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
    resp = member_client.get(_url(ep), HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    page = resp.context["page"]
    assert page.stale and page.data["summary"]["generation_tokens_per_s"] == good_tokens
    body = resp.content.decode()
    assert 'data-stale="true"' in body and "Showing the last known values" in body
    assert body.count("stale</span>") >= 10


def test_unknown_window_falls_back_with_a_message(member_client, team, member, dead_prometheus):
    ep = EndpointFactory(team=team)
    resp = member_client.get(_url(ep, window="3y"))
    assert resp.status_code == 200
    assert "Unknown window “3y”" in resp.content.decode()
    assert resp.context["window"].key == "1h"


# ---------------------------------------------------------------------------------- team page
@pytest.mark.prometheus
def test_team_page_flags_the_idle_endpoint_with_gpu_hours(member_client, scenario_team, live):
    team = scenario_team["idle"].team
    resp = member_client.get(reverse("portal:team_metrics", args=[team.slug]))
    assert resp.status_code == 200
    [row] = resp.context["rows"]
    assert row["metrics"]["idle"] is True
    # GPU-hours = GPUs requested x the span of each kube-state-metrics sample in [start, end)
    # (the scenario scrapes every 30 s; the span of the last one is that interval too)
    _, _, pods, scenario = live["cases"]["idle"]
    start, end = resp.context["page"].data["start"], resp.context["page"].data["end"]
    [gpus] = scenario.find(
        "kube_pod_container_resource_requests", pod=pods[0], resource="nvidia_com_gpu"
    )
    times = [t for t, _ in gpus.samples]
    spans = [b - a for a, b in zip(times, times[1:], strict=False)] + [30]
    held = sum(
        v * s / 3600 for (t, v), s in zip(gpus.samples, spans, strict=True) if start <= t < end
    )
    assert held > 1.5  # two GPUs for most of the hour
    assert row["metrics"]["gpu_hours"] == pytest.approx(held, rel=1e-9)
    assert 'data-idle="idle-llm"' in resp.content.decode()


@pytest.mark.prometheus
def test_busy_endpoint_is_not_idle(member_client, scenario_team):
    team = scenario_team["steady"].team
    [row] = member_client.get(reverse("portal:team_metrics", args=[team.slug])).context["rows"]
    assert row["metrics"]["idle"] is False
    assert row["metrics"]["tokens_per_s"] > 100
    assert row["metrics"]["tokens_generated"] > 100_000


def _queries_sent():
    return sum(
        REGISTRY.get_sample_value("modelport_prometheus_queries_total", {"kind": k}) or 0
        for k in ("query", "query_range")
    )


@pytest.mark.prometheus
@pytest.mark.parametrize("extra", [0, 30])
def test_team_page_query_count_does_not_grow_with_endpoints(member_client, scenario_team, extra):
    team = scenario_team["steady"].team
    EndpointFactory.create_batch(extra, team=team)
    before = _queries_sent()
    resp = member_client.get(reverse("portal:team_metrics", args=[team.slug]))
    assert resp.status_code == 200
    assert len(resp.context["rows"]) == 1 + extra
    assert _queries_sent() - before == 7


def test_team_page_outsider_gets_404(outsider_client, team):
    assert outsider_client.get(reverse("portal:team_metrics", args=[team.slug])).status_code == 404


def test_team_page_post_is_405(member_client, team):
    assert member_client.post(reverse("portal:team_metrics", args=[team.slug])).status_code == 405


def test_team_without_endpoints_asks_prometheus_nothing(member_client, team, dead_prometheus):
    resp = member_client.get(reverse("portal:team_metrics", args=[team.slug]))
    assert resp.status_code == 200
    assert "No running endpoints" in resp.content.decode()
    assert not resp.context["page"].stale


def test_team_page_partial_and_dead_prometheus(member_client, team, dead_prometheus):
    EndpointFactory(team=team, name="chat")
    EndpointFactory(team=team, name="gone", status=EndpointStatus.DELETED)
    resp = member_client.get(
        reverse("portal:team_metrics", args=[team.slug]), HTTP_HX_REQUEST="true"
    )
    body = resp.content.decode()
    assert resp.status_code == 200 and "<html" not in body
    assert 'data-setup="unreachable"' in body and "notice-red" not in body
    # no table of endpoints with a dash in every column
    assert 'data-endpoint="chat"' not in body and "—" not in body


def test_team_page_without_prometheus_url_is_the_setup_state(member_client, team, settings):
    settings.PROMETHEUS_URL = ""
    EndpointFactory(team=team, name="chat")
    body = member_client.get(reverse("portal:team_metrics", args=[team.slug])).content.decode()
    assert 'data-setup="not_configured"' in body and 'data-endpoint="chat"' not in body


# ---------------------------------------------------------------------------------- fleet
def test_fleet_is_staff_only(member_client):
    assert member_client.get(reverse("portal:fleet_metrics")).status_code == 404


@pytest.mark.prometheus
def test_staff_sees_every_team_and_unclaimed_series(staff_client, scenario_team, live):
    resp = staff_client.get(reverse("portal:fleet_metrics"), {"window": "6h"})
    assert resp.status_code == 200
    rows = resp.context["rows"]
    claimed = {r["endpoint"].name for r in rows if r["endpoint"]}
    assert {"steady-llm", "idle-llm"} <= claimed
    unclaimed = {r["key"] for r in rows if not r["endpoint"]}
    ns, model, _, _ = live["cases"]["burst"]
    assert f"{ns}/{model}" in unclaimed


def test_hanging_prometheus_answers_within_the_page_budget(member_client, team, settings):
    """A Prometheus that accepts connections and never replies: 200 with the banner, fast."""
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        settings.PROMETHEUS_URL = f"http://127.0.0.1:{s.getsockname()[1]}"
        settings.PROMETHEUS_TIMEOUT = 1.0
        ep = EndpointFactory(team=team)
        started = time.monotonic()
        resp = member_client.get(_url(ep))
        elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert "did not answer within" in resp.content.decode()
    # 26 queries, but the first timeout ends the page: one 1 s budget, not 26 (26 s); the
    # margin holds on a loaded 2-core machine
    assert 1.0 <= elapsed < 13


@pytest.mark.parametrize("count", [1, 40])
def test_team_and_fleet_pages_use_a_fixed_number_of_db_queries(
    member_client, staff_client, team, count, dead_prometheus, django_assert_max_num_queries
):
    EndpointFactory.create_batch(count, team=team)
    with django_assert_max_num_queries(10):
        assert (
            member_client.get(reverse("portal:team_metrics", args=[team.slug])).status_code == 200
        )
    with django_assert_max_num_queries(10):
        assert staff_client.get(reverse("portal:fleet_metrics")).status_code == 200
