"""The ingress stand-in: what a cluster's ingress gateway does for an InferenceService's URL.

KServe writes `status.url` = `http://<isvc>-<namespace>.<ingress domain>` (here
`example.com`); on a cluster the ingress gateway receives requests for that host (DNS points
the name at it) and forwards them, path unchanged, to a ready predictor pod's port 8080. No DNS
knows those names here, so this is an HTTP forward proxy: clients reach it through
`HTTP_PROXY`/`http_proxy` (curl, `requests` and the `openai` client's httpx all honour it) and
send the absolute URL as they would to the gateway; the proxy maps the host to `<pod IP>:8080`
with `resolve(host)` and streams the answer back unchanged (server-sent events included).
That host -> pod mapping is the only substitution: the URL, the path, the body and the snippets
are used verbatim.

With `passthrough=True` (the local cluster, where the portal and its worker run with this
proxy set) a host that is no InferenceService's is reached directly, so other plain-HTTP calls
(alert webhooks) still work.

`kserve_resolver(cluster)` looks the host up in the apiserver: the InferenceService whose
`status.url` has that host, then a Ready pod labelled `serving.kserve.io/inferenceservice=<name>`
in its namespace (as the predictor Service selects them). Unknown host or no ready pod: 502.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SERVING_PORT = 8080
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
              "proxy-authorization", "te", "trailer"}  # fmt: skip


class IngressProxy:
    def __init__(
        self, resolve: Callable[[str], str | None], timeout: float = 120.0, passthrough=False
    ):
        self.resolve = resolve
        self.passthrough = passthrough
        self.timeout = timeout
        self.requests: list[tuple[str, str, str]] = []  # (host, path, backend)
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """What a client process needs to go through this ingress (curl reads only the
        lower-case name for http); local addresses bypass it."""
        return {"HTTP_PROXY": self.url, "http_proxy": self.url,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}  # fmt: skip

    def start(self) -> IngressProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def log_message(self, *args):
                pass

            def _forward(self):
                parts = urlsplit(self.path)
                host = parts.hostname or (self.headers.get("Host") or "").split(":")[0]
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                try:
                    backend = proxy.resolve(host) if host else None
                except OSError:  # the apiserver did not answer
                    backend = None
                if backend is None and proxy.passthrough and host:
                    backend = f"{host}:{parts.port or 80}"
                if backend is None:
                    self.send_error(502, f"no ready backend for host {host!r}")
                    return
                proxy.requests.append((host, path, backend))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                conn = http.client.HTTPConnection(backend, timeout=proxy.timeout)
                try:
                    conn.request(self.command, path, body=body, headers=headers)
                    resp = conn.getresponse()
                except OSError as exc:
                    self.send_error(502, f"backend {backend}: {exc}")
                    return
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    while chunk := resp.read1(65536):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                finally:
                    conn.close()

            do_GET = do_POST = _forward

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def kserve_resolver(
    get_json: Callable[[str], dict], port: int = SERVING_PORT
) -> Callable[[str], str | None]:
    """host -> `<ready predictor pod IP>:<port>`, read from the apiserver (`get_json(path)`)."""

    def resolve(host: str) -> str | None:
        for isvc in get_json("/apis/serving.kserve.io/v1beta1/inferenceservices").get("items", []):
            url = (isvc.get("status") or {}).get("url") or ""
            if urlsplit(url).hostname != host:
                continue
            meta = isvc["metadata"]
            selector = f"serving.kserve.io/inferenceservice={meta['name']}"
            pods = get_json(f"/api/v1/namespaces/{meta['namespace']}/pods?labelSelector={selector}")
            for pod in pods.get("items", []):
                status = pod.get("status") or {}
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                )
                if ready and status.get("podIP"):
                    return f"{status['podIP']}:{port}"
        return None

    return resolve
