"""portal.prometheus: result parsing, error mapping, timeouts, the short cache, error counters.

Unit tests swap the HTTP session for a fake (one seam); test_prometheus_integration.py runs the
same client against the real server."""

import json
import math
from datetime import UTC, datetime

import pytest
import requests
from prometheus_client import REGISTRY

from portal import prometheus
from portal.prometheus import (
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailable,
    get_client,
)


class FakeResponse:
    def __init__(self, status, body):
        self.status_code = status
        self._body = body
        self.content = (body if isinstance(body, str) else json.dumps(body)).encode()

    def json(self):
        if isinstance(self._body, str):  # an HTML error page from a proxy
            return json.loads(self._body)  # raises ValueError like requests does
        return self._body


class FakeSession:
    """The requests.Session surface the adapter and prometheus-api-client use."""

    verify = True
    cert = None

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def mount(self, prefix, adapter):
        pass

    def request(self, method, url, params=None, timeout=None, **kwargs):
        assert method == "GET"
        return self.get(url, params=params, timeout=timeout)

    def get(self, url, params=None, timeout=None):
        self.calls.append({"url": url, "params": params, "timeout": timeout})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(result_type, result):
    return FakeResponse(
        200, {"status": "success", "data": {"resultType": result_type, "result": result}}
    )


def client_with(*answers, cache_seconds=0):
    session = FakeSession(*answers)
    return PrometheusClient(
        "http://prom:9090/", timeout=2.5, cache_seconds=cache_seconds, session=session
    ), session


def errors(reason):
    return (
        REGISTRY.get_sample_value("modelport_prometheus_query_errors_total", {"reason": reason})
        or 0.0
    )


def test_vector_becomes_labels_and_float_values():
    client, session = client_with(
        ok(
            "vector",
            [
                {
                    "metric": {"namespace": "mp-a", "model_name": "chat"},
                    "value": [1700000000, "3.5"],
                },
                {
                    "metric": {"namespace": "mp-a", "model_name": "code"},
                    "value": [1700000000, "NaN"],
                },
            ],
        )
    )
    rows = client.query("sum by (namespace, model_name) (x)")
    assert rows[0] == {"labels": {"namespace": "mp-a", "model_name": "chat"}, "value": 3.5}
    assert math.isnan(rows[1]["value"])
    assert session.calls[0]["url"] == "http://prom:9090/api/v1/query"
    assert session.calls[0]["timeout"] == 2.5


def test_scalar_result_has_empty_labels():
    client, _ = client_with(ok("scalar", [1700000000, "42"]))
    assert client.query("scalar(vector(42))") == [{"labels": {}, "value": 42.0}]


def test_query_at_sends_unix_time_of_an_aware_datetime():
    client, session = client_with(ok("vector", []))
    client.query("up", at=datetime(2026, 1, 1, tzinfo=UTC))
    assert session.calls[0]["params"]["time"] == "1767225600"


def test_naive_datetimes_are_refused():
    client, _ = client_with()
    with pytest.raises(ValueError):
        client.query("up", at=datetime(2026, 1, 1))


def test_query_range_returns_timestamped_values():
    client, session = client_with(
        ok(
            "matrix",
            [
                {
                    "metric": {"model_name": "chat"},
                    "values": [[1700000000, "1"], [1700000060, "2.5"]],
                },
            ],
        )
    )
    rows = client.query_range("x", 1700000000, 1700000060, step="1m")
    assert rows == [
        {"labels": {"model_name": "chat"}, "values": [(1700000000.0, 1.0), (1700000060.0, 2.5)]}
    ]
    assert session.calls[0]["params"]["step"] == "60"


def test_query_range_refuses_reversed_window_without_a_request():
    client, session = client_with()
    with pytest.raises(PrometheusQueryError):
        client.query_range("x", 20, 10, step=5)
    assert session.calls == []


@pytest.mark.parametrize("status,error_type", [(400, "bad_data"), (422, "execution")])
def test_rejected_promql_is_a_query_error(status, error_type):
    client, _ = client_with(
        FakeResponse(
            status, {"status": "error", "errorType": error_type, "error": "parse error at char 3"}
        )
    )
    before = errors("query")
    with pytest.raises(PrometheusQueryError, match="parse error"):
        client.query("sum(")
    assert errors("query") == before + 1


@pytest.mark.parametrize(
    "answer",
    [
        requests.ConnectionError("refused"),
        requests.ReadTimeout("slow"),
        FakeResponse(503, {"status": "error", "errorType": "timeout", "error": "query timed out"}),
        FakeResponse(502, "<html>bad gateway</html>"),
        FakeResponse(200, {"unexpected": True}),
    ],
)
def test_unreachable_slow_or_broken_prometheus_is_unavailable(answer):
    client, _ = client_with(answer)
    before = errors("unavailable")
    with pytest.raises(PrometheusUnavailable):
        client.query("up")
    assert errors("unavailable") == before + 1


def test_timeout_message_names_the_budget():
    client, _ = client_with(requests.ReadTimeout("slow"))
    with pytest.raises(PrometheusUnavailable, match="2.5 s"):
        client.query("up")


def test_identical_queries_within_the_cache_time_send_one_request():
    client, session = client_with(
        ok("vector", [{"metric": {}, "value": [1, "1"]}]),
        ok("vector", [{"metric": {}, "value": [1, "2"]}]),
        cache_seconds=30,
    )
    first = client.query("up{job='cache-test-1'}")
    second = client.query("up{job='cache-test-1'}")
    assert first == second
    assert len(session.calls) == 1
    assert client.query("up{job='cache-test-2'}")[0]["value"] == 2.0
    assert len(session.calls) == 2


def test_failures_are_not_cached():
    client, session = client_with(
        requests.ConnectionError("down"),
        ok("vector", [{"metric": {}, "value": [1, "1"]}]),
        cache_seconds=30,
    )
    with pytest.raises(PrometheusUnavailable):
        client.query("up{job='cache-test-3'}")
    assert client.query("up{job='cache-test-3'}")[0]["value"] == 1.0


def test_get_client_without_url_says_so(settings):
    settings.PROMETHEUS_URL = ""
    with pytest.raises(PrometheusUnavailable, match="PROMETHEUS_URL is not set"):
        get_client()


def test_get_client_reuses_one_client_per_settings(settings):
    settings.PROMETHEUS_URL = "http://prom.example:9090"
    settings.PROMETHEUS_TIMEOUT = 3.0
    assert get_client() is get_client()
    assert get_client().timeout == 3.0
    settings.PROMETHEUS_TIMEOUT = 4.0
    assert get_client().timeout == 4.0


def test_requests_count_on_the_portal_metrics():
    client, _ = client_with(ok("vector", []))
    before = (
        REGISTRY.get_sample_value("modelport_prometheus_queries_total", {"kind": "query"}) or 0.0
    )
    client.query("up")
    assert (
        REGISTRY.get_sample_value("modelport_prometheus_queries_total", {"kind": "query"})
        == before + 1
    )


def test_step_strings_are_understood():
    assert prometheus._step_seconds("30s") == 30
    assert prometheus._step_seconds("5m") == 300
    assert prometheus._step_seconds("1h") == 3600
    assert prometheus._step_seconds(15) == 15


def test_instant_queries_go_through_prometheus_api_client_without_retries(monkeypatch):
    from prometheus_api_client import PrometheusConnect

    seen = []
    original = PrometheusConnect.custom_query

    def spy(self, query, params=None, timeout=None):
        seen.append((query, params))
        return original(self, query, params=params, timeout=timeout)

    monkeypatch.setattr(PrometheusConnect, "custom_query", spy)
    client, session = client_with(ok("vector", []))
    assert client.query("up", at=1764201600) == []
    assert seen == [("up", {"time": "1764201600", "timeout": "2.25"})]
    assert session.calls[0]["timeout"] == 2.5
    assert client._api._session is session


def test_prometheus_error_body_is_read_back_from_the_client_exception():
    from prometheus_api_client import PrometheusApiClientException

    body = {"status": "error", "errorType": "bad_data", "error": 'it\'s "quoted"'}
    exc = PrometheusApiClientException(f"HTTP Status Code 400 ({json.dumps(body).encode()!r})")
    assert prometheus._error_answer(exc) == (400, body)
    assert prometheus._error_answer(PrometheusApiClientException("odd")) == (599, None)


def test_a_range_selector_at_an_instant_keeps_every_sample():
    series = [{"metric": {"pod": "a"}, "values": [[1.0, "1"], [2.0, "3"]]}]
    client, _ = client_with(ok("matrix", series))
    assert client.query("x[1m]") == [{"labels": {"pod": "a"}, "values": [(1.0, 1.0), (2.0, 3.0)]}]


def test_the_environment_proxy_and_ca_bundle_are_read_once_per_client(monkeypatch, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "prom.local")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    far = PrometheusClient("https://prom.example:9090")
    assert far.session.proxies["https"] == "http://proxy.internal:3128"
    assert far.session.verify == str(tmp_path / "ca.pem") and not far.session.trust_env
    assert "https" not in PrometheusClient("https://prom.local:9090").session.proxies
