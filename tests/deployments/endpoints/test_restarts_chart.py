"""The restarts chart of an endpoint's Metrics tab on a real Prometheus: a restart whose counter
moves between two chart points' ranges is still counted (promql._restarts' range)."""

import time

from deployments.endpoints import promql

NS, POD = "mp-restart-gap", "chat-predictor-7d9f-x1"
STEP, SCRAPE = 30, 2


def _counter(start: int, jump_after: int, end: int) -> str:
    """A kube-state-metrics restart counter scraped every SCRAPE s, 1 s off the chart's grid
    (scrapes are not aligned to it): 0 up to `jump_after` (a chart point's time), 1 from the
    scrape right after it."""
    lines = ["# TYPE kube_pod_container_status_restarts counter"]
    for t in range(start + 1, end, SCRAPE):
        lines.append(
            f'kube_pod_container_status_restarts_total{{namespace="{NS}",pod="{POD}",'
            f'container="kserve-container"}} {int(t > jump_after)} {t}'
        )
    return "\n".join([*lines, "# EOF", ""])


def test_a_restart_between_two_points_ranges_shows_on_the_chart(prometheus_server):
    now = int(time.time()) // 3600 * 3600 - 2 * 3600  # whole hours, well before the head
    point = now + 20 * STEP  # a chart point; the counter moves in the scrape right after it
    prometheus_server.backfill(_counter(now, point, now + 40 * STEP))
    window = promql.WINDOWS["1h"].scraped_every(SCRAPE)
    query = promql.chart_queries([(NS, "chat")], window)["restarts"]
    rows = prometheus_server.query_range(query, now + 5 * STEP, now + 35 * STEP, STEP)
    [row] = rows
    assert row["metric"]["model_name"] == "chat"
    values = {int(float(t)): float(v) for t, v in row["values"]}
    # Within the points that may hold it, the restart counts once (an increase extrapolated
    # by at most one scrape over the range); every other point is 0.
    assert 1.0 <= max(values[point], values[point + STEP]) <= 1.1, values
    assert all(v == 0 for t, v in values.items() if t not in (point, point + STEP)), values
