"""HTTP to Prometheus over kept-alive ``http.client`` connections: the transport of the adapter's
range, series and remote read requests (portal/prometheus.py; no Django, no parsing).

A request through ``requests.Session`` costs ~0.5-0.9 ms of Python before a byte is sent or
after the last one arrives (request preparation, hooks, the environment merge, urllib3's pool
and its chunked reader): more than Prometheus needs to answer a small range query, and a
billing collection makes three such requests while its own decoding waits for the GIL. The same
request over ``http.client`` costs ~0.15 ms. What requests would add is read once here, from
the URL and the environment, when the transport is made:

* credentials in the URL (``http://user:pass@host``) or ``~/.netrc``: HTTP Basic, as requests
  sends them;
* ``https`` with the system CAs, or ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``;
* a proxy that applies to the URL (``HTTP(S)_PROXY``, ``NO_PROXY``): :func:`for_url` gives
  None and the adapter keeps its requests session for everything.

Each thread keeps one connection per transport (a page's query threads, billing's request
threads), and a process forked from another (a Celery worker) opens its own. A connection the
server closed while idle fails before any answer is read: the request is sent again once, on
a new connection.

A request can also be sent ahead (:meth:`Transport.send`) on a connection of its own and its
answer read later, on the same thread: billing sends its series and range requests that way
next to its remote read, and reads their answers once it has decoded the stream. Threads
reading them would each wait for the GIL the decoding holds (their requests went out up to
milliseconds late and their answers were parsed later still); an answer sent ahead waits in
the socket instead. Connections sent ahead on are kept (a few per thread) once their answer
was read to its end.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urlencode, urlsplit

import requests


class TransportError(Exception):
    """The request did not get an answer: ``timed_out`` tells a timeout from the rest. The
    message is the exception's class name only (never the URL: it may carry credentials)."""

    def __init__(self, reason: str, timed_out: bool = False):
        super().__init__(reason)
        self.timed_out = timed_out


class Response:
    """An answer's status and headers, its body read whole (:attr:`body`) or streamed
    (:meth:`pieces`). Use as a context manager when streaming: the connection is reused only
    once the body was read to its end."""

    def __init__(
        self,
        transport: Transport,
        conn,
        resp: http.client.HTTPResponse,
        done: Callable[[http.client.HTTPConnection], None] | None = None,
    ):
        self._transport, self._conn, self._resp = transport, conn, resp
        self._done = done  # given the connection once the body was read to its end
        self.status = resp.status
        self.headers = resp.headers

    @property
    def body(self) -> bytes:
        try:
            body = self._resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._transport.failed(exc) from exc
        self._read()
        return body

    def _read(self) -> None:
        if self._done is not None and self._resp.isclosed():
            self._done(self._conn)
            self._done = None

    def pieces(self, size: int = 1 << 16) -> Iterator[bytes]:
        """The body as it arrives, in pieces of what has arrived (up to ``size`` bytes read at
        a time). A chunked answer is de-chunked here rather than by ``http.client``, whose
        ``read1`` gives one HTTP chunk per call: a remote read streams a chunk per series
        (~300 bytes), and that cost ~10 µs of Python and a system call per chunk."""
        resp = self._resp
        try:
            if resp.chunked and resp.fp is not None:
                yield from _dechunked(resp.fp.read1, size)
                resp.close()  # read to its end: the connection carries the next request
                self._read()
                return
            while piece := resp.read1(size):
                yield piece
            self._read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._transport.failed(exc) from exc

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc) -> None:
        if not self._resp.isclosed():  # left unread: the connection cannot carry another request
            self._transport.discard(self._conn)


def _dechunked(read: Callable[[int], bytes], size: int) -> Iterator[bytes]:
    """The payload of a chunked HTTP body (RFC 9112 §7.1) read with ``read``: each piece joins
    the chunks that had arrived whole, yielded before waiting for more. Chunk extensions are
    ignored and trailers dropped; a body cut short raises ``IncompleteRead``."""
    buf, pos, out = b"", 0, []
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end >= 0:
            n = int(buf[pos:line_end].split(b";", 1)[0], 16)
            start = line_end + 2
            if n == 0:  # the last chunk: then trailer lines up to an empty one
                end = buf.find(b"\r\n\r\n", line_end)
                if end >= 0 or buf.startswith(b"\r\n", start):
                    if out:
                        yield b"".join(out)
                    return
            elif len(buf) >= start + n + 2:
                if buf[start + n : start + n + 2] != b"\r\n":
                    raise http.client.IncompleteRead(buf[start : start + n])
                out.append(buf[start : start + n])
                pos = start + n + 2
                continue
        if out:  # what arrived whole, before waiting for the rest
            yield b"".join(out)
            out = []
        more = read(size)
        if not more:
            raise http.client.IncompleteRead(buf[pos:])
        buf, pos = buf[pos:] + more, 0


class Transport:
    """Requests to one Prometheus base URL (``http`` or ``https``, no proxy)."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a Prometheus URL is http(s)://host[:port][/path]")
        self.timeout = float(timeout)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path.rstrip("/")
        self._headers = {"Accept-Encoding": "identity", "User-Agent": "modelport"}
        auth = _credentials(parts) or requests.utils.get_netrc_auth(url)
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._ssl: ssl.SSLContext | None = None  # made on the first https connection
        self._local = threading.local()

    def get(self, path: str, params: dict) -> Response:
        """GET ``path`` (below the base URL) with ``params`` (lists repeat the name)."""
        return self.request("GET", f"{path}?{urlencode(params, doseq=True)}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        while_waiting: Callable[[], object] | None = None,
    ) -> Response:
        """Send the request and read the answer's status and headers (the body is left to the
        caller). ``while_waiting`` is called once the request is sent, before the answer is
        read: the caller's own work runs while the server works. A kept connection the server
        had closed is replaced once."""
        headers = {**self._headers, **(headers or {})}
        for attempt in (0, 1):
            try:
                conn, reused = self._connection()
            except OSError as exc:  # the CA bundle cannot be read
                raise self.failed(exc) from exc
            try:
                conn.request(method, self._path + path, body=body, headers=headers)
            except (OSError, http.client.HTTPException) as exc:
                self._give_up(conn, exc, retry=reused and not attempt)
                continue
            if while_waiting is not None:
                try:
                    while_waiting()
                except BaseException:  # the caller's own failure: the answer is left unread
                    self.discard(conn)
                    raise
                while_waiting = None
            try:
                return Response(self, conn, conn.getresponse())
            except (OSError, http.client.HTTPException) as exc:
                self._give_up(conn, exc, retry=reused and not attempt)
        raise AssertionError("unreachable")

    def send(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Sent:
        """Send the request now, on a connection of its own, and leave its answer to
        :meth:`Sent.response`, to be read later on this thread: several requests in flight from
        one thread, their answers waiting in their sockets while it works. A failure to send
        is raised when the answer is asked for."""
        sent = Sent(self, method, self._path + path, body, {**self._headers, **(headers or {})})
        sent.send()
        return sent

    def _spare(self) -> tuple[http.client.HTTPConnection, bool]:
        """A kept connection of this thread's for a request sent ahead (and whether it was used
        before), or a new one."""
        spares = self._spares()
        if spares:
            return spares.pop(), True
        return self._open(), False

    def _spares(self) -> list:
        kept = getattr(self._local, "spares", None)
        if kept is None or kept[0] != os.getpid():
            kept = self._local.spares = (os.getpid(), [])
        return kept[1]

    def _drop_spares(self) -> None:
        spares = self._spares()
        while spares:
            spares.pop().close()

    def _keep_spare(self, conn) -> None:
        spares = self._spares()
        if len(spares) < _SPARES:
            spares.append(conn)
        else:
            conn.close()

    def _give_up(self, conn, exc: Exception, retry: bool) -> None:
        """Drop a connection that failed; raise, unless it is a kept one the server had closed
        and may be sent again."""
        self.discard(conn)
        if not (retry and isinstance(exc, _STALE)):
            raise self.failed(exc) from exc

    def failed(self, exc: Exception) -> TransportError:
        return TransportError(type(exc).__name__, timed_out=isinstance(exc, TimeoutError))

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection (opened in this process), and whether it was used before."""
        kept = getattr(self._local, "conn", None)
        if kept is not None and kept[0] == os.getpid():
            # not polled for a close first: that system call gives the GIL away, and the
            # request threads' parsing kept it for milliseconds; a closed one fails the
            # request before any answer, and it is sent again
            return kept[1], True
        conn = self._open()
        self._local.conn = (os.getpid(), conn)
        return conn, False

    def _open(self) -> http.client.HTTPConnection:
        if self._https:
            if self._ssl is None:  # a missing CA bundle fails the request, as with requests
                self._ssl = ssl.create_default_context(cafile=self._bundle or None)
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=self._ssl
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return conn

    def discard(self, conn) -> None:
        conn.close()
        kept = getattr(self._local, "conn", None)
        if kept is not None and kept[1] is conn:
            self._local.conn = None


class Sent:
    """A request sent ahead (:meth:`Transport.send`): its answer is read by :meth:`response`."""

    def __init__(self, transport: Transport, method: str, target: str, body, headers: dict):
        self._transport = transport
        self._request = (method, target, body, headers)
        self._conn: http.client.HTTPConnection | None = None
        self._reused = False
        self._failed: Exception | None = None

    def send(self) -> None:
        try:
            self._conn, self._reused = self._transport._spare()
        except OSError as exc:  # the CA bundle cannot be read
            self._failed = exc
            return
        method, target, body, headers = self._request
        try:
            self._conn.request(method, target, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as exc:
            self._failed = exc

    def response(self) -> Response:
        """The answer's status and headers (its body read as :class:`Response` says); a kept
        connection the server had closed is replaced once, and the request sent again."""
        transport = self._transport
        for attempt in (0, 1):
            if self._failed is None:
                try:
                    resp = self._conn.getresponse()
                    return Response(transport, self._conn, resp, done=transport._keep_spare)
                except (OSError, http.client.HTTPException) as exc:
                    self._failed = exc
            exc, self._failed = self._failed, None
            if self._conn is not None:
                self._conn.close()
            if attempt or not (self._reused and isinstance(exc, _STALE)):
                raise transport.failed(exc) from exc
            self._conn, self._reused = None, False
            transport._drop_spares()  # kept as long as this one: closed as well, likely
            self.send()
        raise AssertionError("unreachable")


# Connections kept per thread for requests sent ahead.
_SPARES = 4

# What a kept connection the server closed while idle raises on its next request (or one left
# with an answer unread): opened again once.
_STALE = (
    http.client.RemoteDisconnected,
    http.client.ImproperConnectionState,
    ConnectionResetError,
    BrokenPipeError,
)


def for_url(url: str, timeout: float) -> Transport | None:
    """A transport for ``url``, or None where requests must carry the request (a proxy applies
    to it, or it is not a plain http(s) URL)."""
    if requests.utils.get_environ_proxies(url):
        return None
    try:
        return Transport(url, timeout)
    except ValueError:
        return None


def _credentials(parts) -> tuple[str, str] | None:
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")
