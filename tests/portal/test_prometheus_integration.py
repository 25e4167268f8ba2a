"""portal.prometheus against the real Prometheus: answers, rejected PromQL, down and slow."""

import socket
import time

import pytest

from portal.prometheus import PrometheusClient, PrometheusQueryError, PrometheusUnavailable

pytestmark = pytest.mark.prometheus


def test_instant_and_range_queries_answer_plain_lists(prometheus_server):
    client = PrometheusClient(prometheus_server.url, timeout=10)
    now = time.time()
    rows = client.query('label_replace(vector(2.5), "model_name", "chat", "", "")', at=now)
    assert rows == [{"labels": {"model_name": "chat"}, "value": 2.5}]
    series = client.query_range("vector(1)", now - 120, now, step=60)
    assert len(series) == 1
    assert [v for _, v in series[0]["values"]] == [1.0, 1.0, 1.0]


def test_bad_promql_is_a_query_error(prometheus_server):
    client = PrometheusClient(prometheus_server.url, timeout=10)
    with pytest.raises(PrometheusQueryError, match="bad_data"):
        client.query("sum by (")


def test_closed_port_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(PrometheusUnavailable, match="Cannot reach"):
        client.query("up")


def test_a_server_that_never_answers_times_out_on_budget():
    with socket.socket() as s:  # accepts connections (backlog) but never replies
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        client = PrometheusClient(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(PrometheusUnavailable, match="did not answer within 0.5 s"):
            client.query("up")
        # the 0.5 s budget ended it, not a hang (no timeout would wait forever); loose enough
        # for a 2-core machine at load 10
        assert 0.5 <= time.monotonic() - started < 15
