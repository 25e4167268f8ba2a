"""The first run with sample history (issue 28): seed_demo + sample_metrics (a real Prometheus
filled with promtool), then the overview, the team costs and the Fleet page as platform staff,
in headless Chromium. Screenshots: first-run-overview-charts.png, first-run-team-costs.png,
first-run-fleet.png (MODELPORT_SCREENSHOT_DIR=docs/screenshots)."""

import io
import time

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from portal.models import User

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]


@pytest.fixture
def first_run(transactional_db, settings, tmp_path):
    pytest.importorskip("tests.infra.prom").find_prometheus()
    settings.KUBECONFIG, settings.KUBE_IN_CLUSTER = "", False
    call_command("seed_demo", stdout=io.StringIO())
    env = tmp_path / "sample.env"
    started = time.monotonic()
    call_command(
        "sample_metrics",
        workdir=str(tmp_path / "prom"),
        env_file=str(env),
        hours=3,
        no_wait=True,
        stdout=io.StringIO(),
    )
    return env, time.monotonic() - started


def test_first_run_shows_charts_and_costs_labelled_as_sample_data(
    first_run, login_context, live_server, settings, tmp_path, screenshot_path
):
    from tests.infra.prom import PrometheusServer

    env, seconds = first_run
    # Prometheus was stopped (--no-wait); start it again on the same data for the pages.
    prom = PrometheusServer(workdir=str(tmp_path / "prom")).start()
    try:
        settings.PROMETHEUS_URL = prom.url
        settings.SAMPLE_METRICS = True
        demo = User.objects.get(username="demo")
        page = login_context(demo, width=1280, height=1100).new_page()
        timings = {}
        for name, path in [
            ("overview", "/"),
            ("team costs", "/costs/teams/search/"),
            ("fleet", "/platform/metrics/"),
        ]:
            t0 = time.monotonic()
            page.goto(f"{live_server.url}{path}")
            timings[name] = time.monotonic() - t0
            expect(page.get_by_test_id("sample-data-notice")).to_be_visible()
            expect(page.locator("body")).not_to_contain_text("No Prometheus connected")
        page.goto(f"{live_server.url}/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=screenshot_path("first-run-overview-charts.png"), full_page=True)
        page.goto(f"{live_server.url}/costs/teams/search/")
        expect(page.locator("body")).not_to_contain_text("No GPU time recorded")
        page.screenshot(path=screenshot_path("first-run-team-costs.png"), full_page=True)
        page.goto(f"{live_server.url}/platform/metrics/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=screenshot_path("first-run-fleet.png"), full_page=True)
        print(f"sample_metrics {seconds:.1f} s; page loads {timings}")
    finally:
        prom.stop()
