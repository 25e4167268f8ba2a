"""portal.promhttp: kept-alive connections to Prometheus, against a real local HTTP/1.1 server
(connections counted, closed, slow, chunked); the adapter's behaviour against the real
Prometheus is in test_prometheus_integration.py."""

import base64
import http.client
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal import promhttp
from portal.prometheus import PrometheusClient, PrometheusUnavailable


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.connections += 1

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        body = b'{"status": "success", "data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Path", self.path)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.server.close_after_answer:  # as a server closing an idle connection does
            self.close_connection = True

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, piece in enumerate(self.server.pieces):
            if i:  # the next piece only once the test has read the one before
                self.server.next_piece.wait(5)
                self.server.next_piece.clear()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that leaves an answer unread on purpose closes the socket under the
        handler's last write: not worth socketserver's traceback in the test log."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server():
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.connections, httpd.seen, httpd.close_after_answer = 0, [], False
    httpd.pieces, httpd.next_piece, httpd.received = [], threading.Event(), threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.next_piece.set()
    httpd.shutdown()
    httpd.server_close()


def url(server, userinfo=""):
    return f"http://{userinfo}127.0.0.1:{server.server_address[1]}"


def test_requests_share_one_kept_connection(server):
    transport = promhttp.Transport(url(server), timeout=5)
    for _ in range(3):
        resp = transport.get("/api/v1/series", {"match[]": ["a", "b"], "start": "1"})
        assert resp.status == 200 and resp.body.startswith(b'{"status"')
    assert server.connections == 1
    assert server.seen[0][0] == "/api/v1/series?match%5B%5D=a&match%5B%5D=b&start=1"


def test_a_connection_the_server_closed_is_opened_again(server):
    server.close_after_answer = True
    transport = promhttp.Transport(url(server), timeout=5)
    for path in ("/a", "/b", "/c"):
        time.sleep(0.05)  # the server has closed the kept connection by now
        assert transport.get(path, {}).body  # sent again once, on a new connection
    assert server.connections == 3
    assert [path for path, _ in server.seen] == ["/a?", "/b?", "/c?"]


def test_requests_sent_ahead_are_answered_in_any_order_on_kept_connections(server):
    """Three requests in flight from one thread, each on a connection of its own, read in the
    reverse order; the connections are kept for the next ones once their answers were read."""
    transport = promhttp.Transport(url(server), timeout=5)
    for round_ in range(2):
        sent = [transport.send("GET", f"/r{round_}/{i}") for i in range(3)]
        deadline = time.monotonic() + 5
        while len(server.seen) < 3 * (round_ + 1) and time.monotonic() < deadline:
            time.sleep(0.01)  # all three answered before any is read: sent when asked to be
        assert len(server.seen) == 3 * (round_ + 1)
        for i, request in reversed(list(enumerate(sent))):
            resp = request.response()
            assert resp.headers["X-Path"] == f"/r{round_}/{i}" and resp.body.startswith(b"{")
        assert sorted(path for path, _ in server.seen[-3:]) == [f"/r{round_}/{i}" for i in range(3)]
    assert server.connections == 3
    assert transport.get("/after", {}).status == 200  # the thread's own connection: a fourth
    assert server.connections == 4


def test_a_request_sent_ahead_on_a_connection_the_server_closed_is_sent_again(server):
    server.close_after_answer = True
    transport = promhttp.Transport(url(server), timeout=5)
    for path in ("/a", "/b"):
        time.sleep(0.05)  # the server has closed the kept connection by now
        assert transport.send("GET", path).response().headers["X-Path"] == path
    assert server.connections == 2
    assert [path for path, _ in server.seen] == ["/a", "/b"]


def test_a_request_sent_ahead_fails_when_its_answer_is_read():
    sent = promhttp.Transport(f"http://127.0.0.1:{_closed_port()}", timeout=2).send("GET", "/x")
    with pytest.raises(promhttp.TransportError) as caught:
        sent.response()
    assert not caught.value.timed_out


def test_an_answer_sent_ahead_and_left_unread_spoils_nothing(server):
    transport = promhttp.Transport(url(server), timeout=5)
    transport.send("GET", "/left")  # never read: its connection is not kept
    assert transport.send("GET", "/next").response().headers["X-Path"] == "/next"
    assert transport.get("/own", {}).headers["X-Path"] == "/own?"


def test_the_adapter_reads_a_series_or_range_answer_sent_ahead_when_asked(server):
    client = PrometheusClient(url(server), timeout=5)
    series = client.series_ahead("up", 0, 1)
    ranged = client.query_range_ahead("up", 0, 60, 15)
    with pytest.raises(PrometheusUnavailable, match="range result type 'list'"):
        ranged()  # this server answers every GET with a list
    assert series() == [] and server.connections == 2
    down = PrometheusClient(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    answer = down.series_ahead("up", 0, 1)  # a failure is the answer's, read when asked for
    with pytest.raises(PrometheusUnavailable):
        answer()


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(server):
    transport = promhttp.Transport(url(server, "admin:s%40cret@"), timeout=5)
    transport.get("/api/v1/query", {})
    assert server.seen[0][1] == "Basic " + base64.b64encode(b"admin:s@cret").decode()
    closed = promhttp.Transport(f"http://admin:s%40cret@127.0.0.1:{_closed_port()}", timeout=2)
    with pytest.raises(promhttp.TransportError) as caught:
        closed.get("/api/v1/query", {})
    assert "cret" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_streamed_answer_arrives_piece_by_piece(server):
    server.pieces = [b"first", b"second"]
    transport = promhttp.Transport(url(server), timeout=5)
    with transport.request("POST", "/api/v1/read", b"body") as resp:
        pieces = resp.pieces()
        assert next(pieces) == b"first"  # before the server sends the second
        server.next_piece.set()
        assert list(pieces) == [b"second"]
    assert transport.get("/after", {}).status == 200
    assert server.connections == 1


def test_the_callers_work_runs_while_the_server_answers(server):
    server.pieces = [b"answer"]
    transport = promhttp.Transport(url(server), timeout=5)
    seen = []
    with transport.request(
        "POST", "/api/v1/read", b"body", while_waiting=lambda: seen.append(server.received.wait(5))
    ) as resp:
        assert list(resp.pieces()) == [b"answer"]
    assert seen == [True]  # the server had the request before the caller's work ran

    class Failed(Exception):
        pass

    def fails():
        raise Failed

    with pytest.raises(Failed):  # the caller's failure stays its own
        transport.request("POST", "/api/v1/read", b"body", while_waiting=fails)
    assert transport.get("/after", {}).status == 200  # on a new connection: the answer unread
    assert server.connections == 2


def test_an_answer_left_unread_does_not_spoil_the_next_request(server):
    server.pieces = [b"first", b"second"]
    transport = promhttp.Transport(url(server), timeout=5)
    with transport.request("POST", "/api/v1/read", b"body") as resp:
        assert next(resp.pieces()) == b"first"
    server.next_piece.set()
    assert transport.get("/after", {}).status == 200
    assert server.connections == 2


def test_a_server_that_never_answers_times_out():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        transport = promhttp.Transport(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.3)
        with pytest.raises(promhttp.TransportError) as caught:
            transport.get("/api/v1/series", {})
    assert caught.value.timed_out


def test_a_closed_port_is_not_a_timeout():
    with pytest.raises(promhttp.TransportError) as caught:
        promhttp.Transport(f"http://127.0.0.1:{_closed_port()}", timeout=2).get("/", {})
    assert not caught.value.timed_out and str(caught.value) == "ConnectionRefusedError"


def test_a_forked_process_opens_its_own_connection(server):
    transport = promhttp.Transport(url(server), timeout=5)
    assert transport.get("/parent", {}).body
    pid = os.fork()
    if pid == 0:  # the child: must not write on the parent's socket
        try:
            ok = transport.get("/child", {}).status == 200
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert transport.get("/parent-again", {}).body
    assert server.connections == 2
    assert [path for path, _ in server.seen] == ["/parent?", "/child?", "/parent-again?"]


def test_a_missing_ca_bundle_fails_the_request_not_the_client(monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    transport = promhttp.Transport("https://prom.example:9090", timeout=1)
    with pytest.raises(promhttp.TransportError, match="FileNotFoundError"):
        transport.get("/api/v1/series", {})


def test_a_proxy_leaves_the_requests_to_the_session(monkeypatch, server):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "prom.local")
    assert promhttp.for_url("http://prom.example:9090", 5) is None
    assert promhttp.for_url("http://prom.local:9090", 5) is not None
    assert promhttp.for_url("ftp://prom.local", 5) is None
    assert PrometheusClient("http://prom.example:9090")._http is None


def test_the_adapter_sends_range_and_series_requests_through_the_transport(server):
    client = PrometheusClient(url(server), timeout=5)
    assert client.series("up", 0, 1) == [] and client.series("up", 0, 1) == []
    assert server.connections == 1
    closed = PrometheusClient(f"http://127.0.0.1:{_closed_port()}", timeout=2)
    with pytest.raises(PrometheusUnavailable, match=r"Cannot reach Prometheus \(\w+\)"):
        closed.series("up", 0, 1)
    with pytest.raises(PrometheusUnavailable, match=r"Cannot reach Prometheus \(\w+\)"):
        closed.read_runs_many(["up"], 0, 1)


def _reader(data: bytes, step: int):
    """A read function giving ``data`` ``step`` bytes at a time (what a socket may do)."""
    pos = 0

    def read(size):
        nonlocal pos
        piece = data[pos : pos + min(step, size)]
        pos += len(piece)
        return piece

    return read


BODY = b"5\r\nfirst\r\n6;ext=1\r\nsecond\r\n1\r\n!\r\n0\r\nTrailer: x\r\n\r\n"


@pytest.mark.parametrize("step", [1, 2, 3, 7, 16, len(BODY)])
def test_a_chunked_body_is_the_same_however_it_arrives(step):
    pieces = list(promhttp._dechunked(_reader(BODY, step), 1 << 16))
    assert b"".join(pieces) == b"firstsecond!"
    if step == len(BODY):  # arrived at once: one piece, not one per HTTP chunk
        assert pieces == [b"firstsecond!"]
    assert all(pieces)


def test_a_chunked_body_cut_short_is_an_error():
    for cut in (len(BODY) - 3, 12, 3):
        with pytest.raises(http.client.IncompleteRead):
            list(promhttp._dechunked(_reader(BODY[:cut], 5), 1 << 16))
