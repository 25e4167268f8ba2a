"""The `dates` marker stays honest: a test module that reads the wall clock, freezes it or does
calendar arithmetic carries it (so scripts/dates.sh runs it at shifted instants under
libfaketime), unless it is listed below with the reason its answer does not depend on the date.
A cheap static check: it reads the test sources, nothing runs."""

import re
from pathlib import Path

TESTS = Path(__file__).parent
CALENDAR = re.compile(
    r"timezone\.now\(|datetime\.now\(|date\.today\(|localdate\(|time\.time\(\)|time_machine"
    r"|month_start|next_month|month_hours|close_month|working_seconds"
)
# module -> why it reads the clock without depending on the date
NOT_DATES = {
    "browser/test_endpoint_page_browser.py": "time in state relative to now (42 min ago)",
    "browser/test_route_flow.py": "Prometheus samples placed relative to now",
    "browser/test_tiering_flow.py": "Prometheus samples placed relative to now",
    "billing/test_tiering_statement.py": "samples relative to now; the window is clipped to the "
    "month of its end, computed by the test (a run just after the 1st crosses it correctly)",
    "billing/test_gpu_inventory.py": "Prometheus samples placed relative to now",
    "billing/test_savings_advisor_wording.py": "a fixed 730-hour month in its inputs, no clock",
    "billing/test_tiering_views.py": "samples relative to now; the month of their end is computed",
    "portal/test_webhook_ssrf.py": "a self-signed certificate valid from five minutes ago",
    "deployments/routing/test_route_saving.py": "Prometheus samples in an explicit window",
    "deployments/test_no_cluster.py": "an apply older than the re-apply delay (elapsed time)",
    "deployments/endpoints/test_cluster_engine.py": "a load window measured on the real clock",
    "deployments/endpoints/test_cluster_engine_autoscaling.py": "elapsed seconds between the "
    "load falling and the HPA's lastScaleTime, both on the real clock",
    "deployments/nodepools/test_cluster_scale_to_zero.py": "KEDA's cron trigger runs on its own "
    "real clock: every window is computed from the moment the test runs, every day of the week",
    "deployments/endpoints/test_restarts_chart.py": "Prometheus samples placed relative to now",
    "deployments/endpoints/test_unit_cost.py": "a rate in force from tomorrow (relative to now)",
    "deployments/endpoints/test_observability.py": "reconcile lag and sync age (elapsed, frozen)",
    "portal/test_api_token_view.py": "a token that expired a second ago (elapsed time)",
    "portal/test_brute_force.py": "a token that expired a second ago (elapsed time)",
    "portal/test_promchunks.py": "Prometheus samples placed relative to now",
    "portal/test_prometheus_integration.py": "Prometheus samples placed relative to now",
    "test_infra_prometheus.py": "Prometheus samples placed relative to now",
}


def _modules():
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.name != Path(__file__).name:
            yield path.relative_to(TESTS).as_posix(), path.read_text()


def test_every_module_that_reads_the_calendar_is_marked_dates_or_says_why_not():
    unmarked = [
        name
        for name, text in _modules()
        if CALENDAR.search(text) and "pytest.mark.dates" not in text and name not in NOT_DATES
    ]
    assert not unmarked, (
        "These test modules read the clock or do calendar arithmetic: freeze the instant they "
        "depend on (@pytest.mark.time_machine) and add pytestmark = pytest.mark.dates, or list "
        f"them in NOT_DATES with the reason their answer does not depend on the date: {unmarked}"
    )


def test_the_exceptions_still_exist_and_still_read_the_clock():
    modules = dict(_modules())
    stale = [n for n in NOT_DATES if n not in modules or not CALENDAR.search(modules[n])]
    assert not stale, f"remove from NOT_DATES: {stale}"
    marked = [n for n in NOT_DATES if "pytest.mark.dates" in modules[n]]
    assert not marked, f"marked dates and listed as not depending on the date: {marked}"
