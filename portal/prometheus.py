"""The one module that speaks to Prometheus (STYLE §1.4, §3).

Everything else calls :func:`get_client` and gets plain Python lists back::

    client = get_client()
    client.query('sum by (namespace, model_name) (vllm:num_requests_waiting)')
    # [{"labels": {"namespace": "mp-search", "model_name": "chat"}, "value": 3.0}, ...]
    client.query_range("...", start, end, step=60)
    # [{"labels": {...}, "values": [(1764201600.0, 1.5), ...]}, ...]

Every HTTP call has a timeout. Failures become one of two exceptions:

* :class:`PrometheusUnavailable` – not configured, connection refused, timeout, HTTP 5xx, or
  an answer that is not the Prometheus API (wrong URL, proxy page). Pages show a banner and
  the last known values; nothing is the user's fault.
* :class:`PrometheusQueryError` – Prometheus understood the request and rejected the PromQL
  (HTTP 400 ``bad_data``, 422 ``execution``). That is a bug in our query builders.

Identical requests within ``PROMETHEUS_CACHE_SECONDS`` are answered from the Django cache, so
a page polled by several people costs one query per signal. Each request sent and each
failure is counted on the portal's own ``/metrics``.

Instant queries (the window figures and tiles) go through prometheus-api-client's
``PrometheusConnect`` with its retries switched off: a retry with backoff inside one call would
blow a page's time budget. Its non-200 answers arrive as one exception type; the status and
Prometheus' error body are read back from it so the unavailable/bad-query split above holds.
Range queries and the series API are sent by the adapter itself: ``custom_query_range``
rounds the window bounds to whole seconds (the exact window maths needs them as given) and the
library has no time-bounded series call. Raw samples in bulk (billing's month of GPU requests)
come through the remote read API as the TSDB's own chunks (:meth:`PrometheusClient.read_runs`,
decoded by portal/promchunks.py), with the query API as the fallback. Those three go over
kept-alive ``http.client`` connections (portal/promhttp.py: a fifth of requests' Python per
request, and a remote read sent before its answer is awaited), or through the session where
a proxy applies or a session was given (the unit tests' fake).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import struct
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.cache import cache
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from prometheus_client import Counter, Histogram
from urllib3.util.retry import Retry

from . import promchunks, promhttp
from .logutil import redact

logger = logging.getLogger(__name__)

QUERIES = Counter(
    "modelport_prometheus_queries",
    "PromQL requests the portal sent to Prometheus (cache hits are not counted).",
    ["kind"],
)
QUERY_ERRORS = Counter(
    "modelport_prometheus_query_errors",
    "PromQL requests that failed, by reason (unavailable or query).",
    ["reason"],
)
QUERY_SECONDS = Histogram(
    "modelport_prometheus_query_seconds",
    "Time Prometheus took to answer the portal's PromQL requests.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

CACHE_PREFIX = "prom:v1:"
# No retries, and read errors raised as themselves (requests' own default), so a read timeout
# stays a timeout instead of becoming a "max retries exceeded" connection error.
NO_RETRY = Retry(total=0, read=False)


class PrometheusError(Exception):
    """Base class of the adapter's errors."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus cannot answer right now (or is not configured)."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query (bad PromQL or an execution error)."""


class RemoteReadUnsupported(PrometheusError):
    """The server (or the selector) cannot be read through remote read: use the query API."""


class _CallerFailed(Exception):
    """Carries an exception raised by a caller's ``each`` out of the stream's decoding, whose
    own ValueErrors mean "not understood"."""


Timestamp = datetime | float | int


def to_unix(value: Timestamp) -> float:
    """Unix seconds of an aware datetime or a number (naive datetimes are refused)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Timestamps must be timezone-aware (UTC).")
        return value.timestamp()
    return float(value)


def _step_seconds(step: float | int | str) -> float:
    if isinstance(step, str):
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
        for suffix in ("ms", "s", "m", "h", "d"):
            if step.endswith(suffix) and step[: -len(suffix)].replace(".", "", 1).isdigit():
                return float(step[: -len(suffix)]) * units[suffix]
        return float(step)
    return float(step)


class PrometheusClient:
    """A small Prometheus HTTP API client with timeouts, error mapping and a short cache."""

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        cache_seconds: int = 0,
        session: requests.Session | None = None,
    ):
        if not url:
            raise PrometheusUnavailable("PROMETHEUS_URL is not set")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.cache_seconds = int(cache_seconds)
        self.session = session or _session(self.url)
        # range, series and remote read requests: kept-alive http.client connections, unless a
        # session was given (the unit tests' fake) or requests must carry them (a proxy)
        self._http = promhttp.for_url(self.url, self.timeout) if session is None else None
        self._major: int | None = None
        self._api = PrometheusConnect(
            url=self.url, session=self.session, retry=NO_RETRY, timeout=self.timeout
        )

    def __repr__(self) -> str:
        return f"PrometheusClient({redact(self.url)!r}, timeout={self.timeout})"

    # ------------------------------------------------------------------ public API
    def query(self, promql: str, at: Timestamp | None = None) -> list[dict[str, Any]]:
        """Instant query. Returns ``[{"labels": {...}, "value": float}]`` (scalars: ``labels={}``)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = _fmt_time(to_unix(at))
        data = self._get("query", params)
        return _parse_instant(data)

    def query_range(
        self, promql: str, start: Timestamp, end: Timestamp, step: float | int | str
    ) -> list[dict[str, Any]]:
        """Range query. Returns ``[{"labels": {...}, "values": [(ts, float), ...]}]``."""
        return self.query_range_ahead(promql, start, end, step)()

    def query_range_ahead(
        self, promql: str, start: Timestamp, end: Timestamp, step: float | int | str
    ) -> Callable[[], list[dict[str, Any]]]:
        """:meth:`query_range` sent now, its answer read and parsed when the function returned
        is called, on this thread (portal/promhttp.py: the thread's own work runs while
        Prometheus answers). Without a transport of its own (a proxy, a session given) or with
        a response cache, the request is made when its answer is asked for."""
        start_s, end_s, step_s = to_unix(start), to_unix(end), _step_seconds(step)
        if step_s <= 0:
            raise PrometheusQueryError("step must be positive")
        if end_s < start_s:
            raise PrometheusQueryError("end must not be before start")
        params = {
            "query": promql,
            "start": _fmt_time(start_s),
            "end": _fmt_time(end_s),
            "step": _fmt_time(step_s),
        }
        answer = self._get_ahead("query_range", params)

        def parsed() -> list[dict[str, Any]]:
            data = answer()
            kind = data.get("resultType") if isinstance(data, dict) else type(data).__name__
            if kind != "matrix":
                raise PrometheusUnavailable(f"Unexpected range result type {kind!r}")
            return [
                {
                    "labels": dict(s.get("metric", {})),
                    "values": [(float(t), float(v)) for t, v in s.get("values", [])],
                }
                for s in data.get("result", [])
            ]

        return parsed

    def series(
        self, match: str | list[str], start: Timestamp, end: Timestamp
    ) -> list[dict[str, str]]:
        """Label sets of the series matching ``match`` (one selector, or several: their union,
        in one request) with samples in [start, end].

        Answered from the TSDB index without reading samples, so it is cheap even over a
        month (billing uses it for kube_pod_labels / kube_node_labels)."""
        return self.series_ahead(match, start, end)()

    def series_ahead(
        self, match: str | list[str], start: Timestamp, end: Timestamp
    ) -> Callable[[], list[dict[str, str]]]:
        """:meth:`series` sent now, its answer read when the function returned is called (as
        :meth:`query_range_ahead`)."""
        params = {
            "match[]": match,
            "start": _fmt_time(to_unix(start)),
            "end": _fmt_time(to_unix(end)),
        }
        answer = self._get_ahead("series", params)

        def parsed() -> list[dict[str, str]]:
            data = answer()
            if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
                raise PrometheusUnavailable("Unexpected series answer")
            return data

        return parsed

    def read_runs(
        self, selector: str, start_ms: int, end_ms: int
    ) -> list[tuple[dict[str, str], list[promchunks.Run]]]:
        """Every stored sample of ``selector`` in ``[start_ms, end_ms)`` as runs
        (portal/promchunks.py), through the remote read API's streamed XOR chunks: the TSDB's
        own compressed chunks, ~1-2 bytes per regular sample instead of ~25 of JSON.

        Raises :class:`RemoteReadUnsupported` when the selector is not a plain one or the
        server does not stream chunks (then read the samples with :meth:`query`)."""
        return self.read_runs_many([selector], start_ms, end_ms)[0]

    def read_runs_many(
        self,
        selectors: list[str],
        start_ms: int,
        end_ms: int,
        labels: frozenset[str] | None = None,
        while_waiting: Callable[[], object] | None = None,
        each: Callable[[int, dict[str, str], list[promchunks.Run]], object] | None = None,
    ) -> list[list[tuple[dict[str, str], list[promchunks.Run]]]]:
        """:meth:`read_runs` of several selectors over the same range in one request (one
        round trip; the server answers the queries in order in one stream). One list per
        selector, in the order given. With ``labels``, each series keeps only the labels of
        those names (the others are not decoded). ``while_waiting`` is called once the request
        is sent, before its answer is read (the caller's work overlaps the server's); not at
        all when the selectors cannot be read this way. ``each(selector index, labels, runs)``:
        called with every series as soon as it is decoded, instead of keeping it (the lists
        stay empty), so the caller's work on a series fills the wait for the next frame; when
        the read then fails, what it was given is incomplete."""
        try:
            matchers = [promchunks.parse_selector(s) for s in selectors]
        except promchunks.UnsupportedSelector as exc:
            raise RemoteReadUnsupported(str(exc)) from exc
        body = promchunks.read_request_many(matchers, start_ms, end_ms - 1)
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
        }
        QUERIES.labels("read").inc()
        started = time.monotonic()
        try:
            answer = self._streamed("/api/v1/read", body, headers, while_waiting)
            with answer as (status, kind, pieces):
                if status != 200 or not kind.startswith("application/x-streamed-protobuf"):
                    raise RemoteReadUnsupported(
                        f"remote read answered HTTP {status} ({kind or 'no type'})"
                    )
                out: list[list] = [[] for _ in selectors]
                for message in promchunks.frames(pieces):
                    index, series = promchunks.decoded_response(message, labels, start_ms, end_ms)
                    found = out[index]
                    for label_set, runs in series:
                        if each is None:
                            found.append((label_set, runs))
                            continue
                        try:
                            each(index, label_set, runs)
                        except Exception as exc:  # the caller's own: not a stream not understood
                            raise _CallerFailed from exc
                return out
        except _CallerFailed as failed:
            raise failed.__cause__ from None
        except PrometheusUnavailable:
            QUERY_ERRORS.labels("unavailable").inc()
            raise
        except (ValueError, IndexError, struct.error) as exc:  # a stream or chunk not understood
            raise RemoteReadUnsupported(f"remote read answer not understood: {exc}") from exc
        finally:
            QUERY_SECONDS.labels("read").observe(time.monotonic() - started)

    @contextlib.contextmanager
    def _streamed(
        self, path: str, body: bytes, headers: dict[str, str], while_waiting: Callable | None
    ):
        """(status, content type, the body's pieces as they arrive) of a POST; the transport's
        failures become :class:`PrometheusUnavailable`, while reading too. ``while_waiting``:
        called between sending and reading (through requests, before sending)."""
        if self._http is not None:
            try:
                with self._http.request("POST", path, body, headers, while_waiting) as resp:
                    yield resp.status, resp.headers.get("Content-Type", ""), resp.pieces()
            except promhttp.TransportError as exc:
                raise self._unreachable(exc) from exc
            return
        if while_waiting is not None:
            while_waiting()
        try:
            with self.session.post(
                f"{self.url}{path}", data=body, headers=headers, timeout=self.timeout, stream=True
            ) as resp:
                kind = resp.headers.get("Content-Type", "")
                yield resp.status_code, kind, resp.iter_content(1 << 16)
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc

    def build_info(self) -> dict[str, str]:
        """The server's ``/api/v1/status/buildinfo`` (version, revision, ...)."""
        data = self._get("status/buildinfo", {})
        if not isinstance(data, dict):
            raise PrometheusUnavailable("Unexpected build info answer")
        return {k: str(v) for k, v in data.items()}

    def major_version(self) -> int:
        """The server's major version, asked once per client (Prometheus 3 made range selectors
        left-open). A version that is not ``N.x.y`` (a fork, a dev build) counts as 2."""
        if self._major is None:
            version = self.build_info().get("version", "")
            head = version.lstrip("v").split(".", 1)[0]
            self._major = int(head) if head.isdigit() else 2
        return self._major

    # ------------------------------------------------------------------ HTTP
    def _get_ahead(self, kind: str, params: dict[str, str]) -> Callable[[], Any]:
        """The request's data, sent now where it can be (:meth:`_ahead`); with a response cache,
        looked up and made when asked for."""
        if self.cache_seconds > 0:
            return lambda: self._get(kind, params)
        return self._ahead(kind, params)

    def _get(self, kind: str, params: dict[str, str]) -> dict:
        if self.cache_seconds <= 0:
            return self._request(kind, params)
        key = self._cache_key(kind, params)
        hit = cache.get(key)
        if hit is not None:
            return hit
        data = self._request(kind, params)
        cache.set(key, data, self.cache_seconds)
        return data

    def _cache_key(self, kind: str, params: dict[str, str]) -> str:
        raw = json.dumps([self.url, kind, sorted(params.items())])
        return CACHE_PREFIX + hashlib.sha256(raw.encode()).hexdigest()

    def _request(self, kind: str, params: dict[str, str]) -> dict:
        return self._ahead(kind, params)()

    def _ahead(self, kind: str, params: dict[str, str]) -> Callable[[], Any]:
        """Send the request now through the transport (range and series requests), and give a
        function that reads its answer's data; an instant query, or any request without the
        transport, is made when the function is called. Counted when sent, timed until its
        answer was read."""
        QUERIES.labels(kind).inc()
        started = time.monotonic()
        # Ask Prometheus to give up a little before we do, so slow queries come back as a
        # clean 503 "timeout" instead of a half-read socket.
        params = {**params, "timeout": _fmt_time(max(self.timeout * 0.9, 0.1))}
        if kind != "query" and self._http is not None:
            sent = self._http.send("GET", f"/api/v1/{kind}?{urlencode(params, doseq=True)}")
            return lambda: self._answered(kind, params, started, lambda: self._read(sent))
        return lambda: self._answered(kind, params, started, lambda: self._send(kind, params))

    def _answered(
        self, kind: str, params: dict[str, str], started: float, answer: Callable[[], dict]
    ) -> Any:
        """``answer()``'s data; its failure counted and logged, its time observed."""
        try:
            body = answer()
        except PrometheusUnavailable as exc:
            QUERY_ERRORS.labels("unavailable").inc()
            logger.warning("prometheus %s unavailable: %s", kind, exc)
            raise
        except PrometheusQueryError as exc:
            QUERY_ERRORS.labels("query").inc()
            logger.error(
                "prometheus %s rejected query: %s (query=%s)", kind, exc, params.get("query")
            )
            raise
        finally:
            QUERY_SECONDS.labels(kind).observe(time.monotonic() - started)
        return body["data"]

    def _send(self, kind: str, params: dict[str, str]) -> dict:
        """The request made now through prometheus-api-client (instant queries) or the
        session (the rest, where there is no transport)."""
        try:
            if kind == "query":
                return self._send_instant(params)
            resp = self.session.get(
                f"{self.url}/api/v1/{kind}", params=params, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        return self._checked(resp.status_code, body)

    def _read(self, sent: promhttp.Sent) -> dict:
        """The checked API body of a request sent through the transport."""
        try:
            resp = sent.response()
            body = resp.body
        except promhttp.TransportError as exc:
            raise self._unreachable(exc) from exc
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        return self._checked(resp.status, decoded)

    def _unreachable(
        self, exc: promhttp.TransportError | requests.RequestException
    ) -> PrometheusUnavailable:
        """The one message for a request that got no answer, through either client. Never the
        URL or requests' text: they carry PROMETHEUS_URL and its credentials into pages, API
        bodies and logs (the transport's own errors hold neither)."""
        if isinstance(exc, requests.RequestException):
            timed_out, reason = isinstance(exc, requests.Timeout), type(exc).__name__
        else:
            timed_out, reason = exc.timed_out, str(exc)
        if timed_out:
            return PrometheusUnavailable(f"Prometheus did not answer within {self.timeout:g} s")
        return PrometheusUnavailable(f"Cannot reach Prometheus ({reason})")

    def _send_instant(self, params: dict[str, str]) -> dict:
        query = params["query"]
        extra = {k: v for k, v in params.items() if k != "query"}
        try:
            result = self._api.custom_query(query, params=extra)
        except PrometheusApiClientException as exc:
            return self._checked(*_error_answer(exc))
        except requests.exceptions.JSONDecodeError:
            return self._checked(200, None)
        except requests.RequestException:
            raise
        except (ValueError, KeyError, TypeError):  # a 200 that is not the Prometheus API
            return self._checked(200, None)
        return {"status": "success", "data": {"resultType": _result_type(result), "result": result}}

    def _checked(self, status: int, body: Any) -> dict:
        """The API body of a successful answer; otherwise the matching adapter error."""
        if not isinstance(body, dict) or "status" not in body:
            raise PrometheusUnavailable(
                f"Prometheus answered HTTP {status} without a Prometheus API body"
            )
        if status >= 500 or body.get("errorType") in ("timeout", "canceled", "unavailable"):
            raise PrometheusUnavailable(
                f"Prometheus error {status} {body.get('errorType')}: {body.get('error')}"
            )
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{body.get('errorType')}: {body.get('error')}")
        return body


_CLIENT_ERROR = re.compile(r"HTTP Status Code (\d{3}) \((.*)\)\Z", re.S)


def _error_answer(exc: PrometheusApiClientException) -> tuple[int, Any]:
    """(HTTP status, decoded Prometheus error body or None) from prometheus-api-client's
    exception, whose message is ``HTTP Status Code <status> (<repr of the body bytes>)``."""
    match = _CLIENT_ERROR.match(str(exc))
    if match is None:
        return 599, None
    try:
        return int(match.group(1)), json.loads(ast.literal_eval(match.group(2)))
    except (ValueError, SyntaxError):
        return int(match.group(1)), None


def _result_type(result: Any) -> str:
    """PrometheusConnect returns only ``data.result``: a scalar is ``[ts, "value"]``, a range
    selector evaluated at an instant gives series with ``values``, a vector series with ``value``."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return "scalar"
    if result and isinstance(result[0], dict) and "values" in result[0]:
        return "matrix"
    return "vector"


def _session(url: str) -> requests.Session:
    """A session with the environment's settings for ``url`` (proxies, CA bundle, .netrc) read
    once: with ``trust_env`` requests reads them again on every call (~0.2 ms of a billing
    request's ~1 ms of Python)."""
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    return session


def _fmt_time(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _parse_instant(data: dict) -> list[dict[str, Any]]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        return [
            {"labels": dict(s.get("metric", {})), "value": float(s["value"][1])} for s in result
        ]
    if kind == "scalar":
        return [{"labels": {}, "value": float(result[1])}]
    if kind == "matrix":  # a range selector at an instant: keep every sample
        return [
            {
                "labels": dict(s.get("metric", {})),
                "values": [(float(t), float(v)) for t, v in s.get("values", [])],
            }
            for s in result
        ]
    raise PrometheusUnavailable(f"Unexpected result type {kind!r}")


_clients: dict[tuple, PrometheusClient] = {}
_clients_lock = threading.Lock()


def get_client() -> PrometheusClient:
    """The client for ``settings.PROMETHEUS_URL`` (one per settings, so sessions are reused)."""
    url = settings.PROMETHEUS_URL
    if not url:
        raise PrometheusUnavailable("PROMETHEUS_URL is not set")
    key = (url, float(settings.PROMETHEUS_TIMEOUT), int(settings.PROMETHEUS_CACHE_SECONDS))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = PrometheusClient(url, key[1], key[2])
        return client


def is_finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value) and not math.isinf(value)
